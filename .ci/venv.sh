#!/usr/bin/env bash
# .ci/venv.sh BUILD — makes BUILD/venv and installs .ci/requirements.txt into it,
# when missing or when the requirements changed. Offline: one notice, and the
# tests that need a package skip with that reason (never a silent pass).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
venv=$build/venv
req=.ci/requirements.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
mkdir -p "$build"
python3 -m venv "$venv" || { echo "kiln: cannot create $venv (python3 -m venv failed)" >&2; exit 1; }
if grep -qv '^\s*\(#\|$\)' "$req"; then
  if ! "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"; then
    echo "kiln: notice: pip could not install .ci/requirements.txt (offline?); tests that need those packages will skip" >&2
    exit 0
  fi
fi
echo "$want" > "$stamp"
