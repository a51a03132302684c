/* runtime/unicode.h — the little Unicode the tokenizers need: UTF-8 decoding
 * and the category classes of the pre-tokenizer regexes (\p{L}, \p{N},
 * \p{P}, \p{M}, \p{S}, \s, Han). Internal to the runtime. */
#ifndef KILN_RUNTIME_UNICODE_H
#define KILN_RUNTIME_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Code points first..last all have category class cls (one KILN_UC_* bit). */
typedef struct kiln_unicode_range { uint32_t first, last; unsigned cls; } kiln_unicode_range;

/* Generated table (runtime/unicode_tables.c), sorted, non-overlapping. */
extern const kiln_unicode_range kiln_unicode_classes[];
extern const size_t kiln_unicode_classes_count;

/* Length in bytes of the UTF-8 sequence starting with byte c (1 for stray
 * continuation or invalid bytes, so that scanning always makes progress). */
int kiln_utf8_len(unsigned char c);
/* Decode one code point at s (n bytes available); *used gets the bytes
 * consumed (>= 1). Malformed sequences decode as U+FFFD, one byte at a time. */
uint32_t kiln_utf8_decode(const char *s, size_t n, int *used);
/* Encode cp into out (4 bytes room); returns the length. */
int kiln_utf8_encode(uint32_t cp, char *out);

/* Category classes, as llama.cpp's pre-tokenizers use them. A code point has
 * at most one of LETTER..SYMBOL (none: "other", C* and Z*), WHITESPACE when
 * it is White_Space, and DEFINED always. */
enum {
    KILN_UC_LETTER = 1u << 0,
    KILN_UC_NUMBER = 1u << 1,
    KILN_UC_WHITESPACE = 1u << 2,
    KILN_UC_DEFINED = 1u << 3, /* any code point at all; 0 only past the end of text */
    KILN_UC_PUNCT = 1u << 4,
    KILN_UC_MARK = 1u << 5,
    KILN_UC_SYMBOL = 1u << 6,
    KILN_UC_CLASSES = KILN_UC_LETTER | KILN_UC_NUMBER | KILN_UC_PUNCT | KILN_UC_MARK | KILN_UC_SYMBOL
};
unsigned kiln_unicode_flags(uint32_t cp);
/* CJK ideographs (the unified blocks, extensions A-F, compatibility), the
 * \p{Han} of llama.cpp's Kimi K2 pre-tokenizer. */
int kiln_unicode_is_han(uint32_t cp);

#endif
