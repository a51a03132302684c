#!/usr/bin/env python3
"""Writes the SmolLM2 tokenizer reference: tests/data/smollm2_tokenizer.inp
(the hard strings below, in llama.cpp's vocab-test format: cases separated by
"\\n__ggml_vocab_test__\\n") and .out (one line of ids per case, as llama.cpp's
llama-tokenize gives them: no BOS, special tokens parsed, no escapes).

    python3 tests/data/smollm2_tokenizer.py LLAMA_TOKENIZE SMOLLM2.gguf

made the committed files with llama.cpp from llama-cpp-python 0.3.36's sdist
(vendor/llama.cpp, built with cmake: bin/llama-tokenize) and the GGUF of
`make models` (smollm2). tests/test_tokenizer.c checks kiln against them."""
import os
import subprocess
import sys
import tempfile

SEP = b"\n__ggml_vocab_test__\n"

CASES = [
    # space runs before digits and punctuation: GPT-2 alone would differ
    b"  1", b"a\n\n1", b"price:   100", b"x =  [1,  22,   333]",
    # code with tabs and runs of spaces
    b"def f(x):\n\tif x  >  10:\n\t\treturn   x**2  # square\n    else:\n        return -1\n",
    b"for (int i = 0; i < n; i++) {\n    sum += a[i];\t// add\n}\n",
    b"    " * 16 + b"deep",
    # numbers
    b"3.14159 1,000,000 -42 0x1F 1e-9 2024-12-07",
    b"12345678901234567890", "\u0661\u0662\u0663 \u00b2\u00b3 \u2163 \u00bd".encode(),
    # emoji (joiners, skin tones, variation selectors)
    "\U0001f999\U0001f680 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f \u2705".encode(),
    # CJK and other scripts
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \ud55c\uad6d\uc5b4".encode(),
    "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947".encode(),
    "e\u0301 caf\u00e9 na\u00efve \u00c5ngstr\u00f6m".encode(),
    # ChatML special tokens, whole and broken
    b"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    b"<|endoftext|>text<|endoftext|>", b"<|im_start|im_end|> <|im_start", b"<repo_name>kiln<file_sep>a.c",
    # malformed UTF-8: stray bytes, truncated sequences, a surrogate; U+10FFFF
    # (a code point past it, e.g. F4 90 80 80, makes llama.cpp throw "invalid
    # codepoint": nothing to compare with)
    b"abc\xff\xfe def", b"\xc3 x \xe2\x82 y", b"\xed\xa0\x80 \xf4\x8f\xbf\xbf \x80\x80",
    # whitespace of all kinds
    " \t \n \r\n  \u00a0\u3000 x  ".encode(), "Hello\u2028World\u0085x\u000b\u000cy".encode(), b"trailing   ",
    # contractions and punctuation runs
    b"I'm, you're, he's, they'll, we've, I'd, DON'T, y'all, it''s",
    b"!!!??? ... --- === *** ```code``` ~~strike~~ @user #tag $5 50%",
]


def main(tokenize, model):
    here = os.path.dirname(os.path.abspath(__file__))
    lines = []
    for case in CASES:
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(case)
        try:
            r = subprocess.run([tokenize, "-m", model, "-f", f.name, "--ids", "--no-bos", "--no-escape",
                                "--log-disable"], capture_output=True, check=True)
        finally:
            os.unlink(f.name)
        ids = r.stdout.decode().strip().splitlines()[-1].strip("[]").replace(",", " ").split()
        lines.append(" ".join(ids))
    with open(os.path.join(here, "smollm2_tokenizer.inp"), "wb") as f:
        f.write(SEP.join(CASES) + SEP)
    with open(os.path.join(here, "smollm2_tokenizer.out"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
