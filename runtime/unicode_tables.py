#!/usr/bin/env python3
"""Writes runtime/unicode_tables.c: the general category class of every code
point, as llama.cpp's pre-tokenizers see it (\\p{L}, \\p{N}, \\p{P}, \\p{M},
\\p{S}; everything else is "other"), from Python's unicodedata.

    python3 runtime/unicode_tables.py > runtime/unicode_tables.c
"""
import sys
import unicodedata

CLASSES = {"L": "KILN_UC_LETTER", "N": "KILN_UC_NUMBER", "P": "KILN_UC_PUNCT",
           "M": "KILN_UC_MARK", "S": "KILN_UC_SYMBOL"}


def runs():
    """Maximal runs (first, last, class) of code points in one class."""
    cur = None
    for c in range(0, 0x110000):
        k = unicodedata.category(chr(c))[0]
        k = k if k in CLASSES else None
        if cur and k == cur[2] and c == cur[1] + 1:
            cur[1] = c
            continue
        if cur:
            yield cur
        cur = [c, c, k] if k else None
    if cur:
        yield cur


def main():
    out = sys.stdout
    out.write(f"""/* runtime/unicode_tables.c — the category class of every code point
 * (Unicode {unicodedata.unidata_version}): letters (L*), numbers (N*), punctuation (P*), marks
 * (M*), symbols (S*); a code point in no range is "other" (C*, Z*), as in
 * llama.cpp's unicode_cpt_flags.
 *
 * Generated, do not edit by hand: python3 runtime/unicode_tables.py > runtime/unicode_tables.c */
#include "runtime/unicode.h"

const kiln_unicode_range kiln_unicode_classes[] = {{
""")
    n = 0
    line = "   "
    for first, last, k in runs():
        item = f" {{0x{first:X}, 0x{last:X}, {CLASSES[k]}}},"
        if len(line) + len(item) > 100:
            out.write(line + "\n")
            line = "   "
        line += item
        n += 1
    out.write(line + "\n};\n")
    out.write("const size_t kiln_unicode_classes_count = sizeof kiln_unicode_classes / sizeof kiln_unicode_classes[0];\n")


main()
