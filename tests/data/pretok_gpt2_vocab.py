#!/usr/bin/env python3
"""Writes the reference for every pre-tokenizer kiln runs:
tests/data/pretok_gpt2_vocab.inp (one text: the SmolLM2 hard strings of
smollm2_tokenizer.py joined by newlines) and .out (a line per
tokenizer.ggml.pre name of runtime/pretok_table.c that kiln can run: the name,
then the ids llama.cpp's llama-tokenize gives the text with GPT-2's vocabulary
relabelled with that pre-tokenizer; no BOS, special tokens parsed, no escapes).

    python3 tests/data/pretok_gpt2_vocab.py LLAMA_TOKENIZE ../shared/vocab/ggml-vocab-gpt-2.gguf

made the committed files with llama.cpp from llama-cpp-python 0.3.36's sdist.
The vocabulary is relabelled by rewriting its tokenizer.ggml.pre string in a
copy (a vocab-only GGUF has no tensors, so nothing after it moves in a way that
matters). tests/test_tokenizer_pretok.c checks kiln against the .out."""
import os
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from smollm2_tokenizer import CASES  # noqa: E402

UNSUPPORTED = {"def_spm_style_bpe", "def_digit_groups", "def_with_sep"}


def names():
    table = open(os.path.join(HERE, "..", "..", "runtime", "pretok_table.c"), encoding="utf-8").read()
    return [n for n, d in re.findall(r'\{"([^"]+)", &(def_\w+), ', table) if d not in UNSUPPORTED]


def relabel(gguf, pre):
    key = b"tokenizer.ggml.pre"
    i = gguf.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
    assert struct.unpack("<I", gguf[i:i + 4])[0] == 8, "tokenizer.ggml.pre is not a string"
    n = struct.unpack("<Q", gguf[i + 4:i + 12])[0]
    new = pre.encode()
    return gguf[:i + 4] + struct.pack("<Q", len(new)) + new + gguf[i + 12 + n:]


def main(tokenize, vocab):
    text = b"\n".join(CASES)
    gguf = open(vocab, "rb").read()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "text"), "wb") as f:
            f.write(text)
        for pre in names():
            path = os.path.join(tmp, "vocab.gguf")
            with open(path, "wb") as f:
                f.write(relabel(gguf, pre))
            r = subprocess.run([tokenize, "-m", path, "-f", os.path.join(tmp, "text"), "--ids", "--no-bos",
                                "--no-escape", "--log-disable"], capture_output=True, check=True)
            ids = r.stdout.decode().strip().splitlines()[-1].strip("[]").replace(",", " ").split()
            lines.append(pre + " " + " ".join(ids))
    with open(os.path.join(HERE, "pretok_gpt2_vocab.inp"), "wb") as f:
        f.write(text)
    with open(os.path.join(HERE, "pretok_gpt2_vocab.out"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
