/* runtime/unicode.h — the little Unicode the tokenizers need: UTF-8 decoding
 * and the category classes of GPT-2's pre-tokenizer regex (\p{L}, \p{N}, \s).
 * Internal to the runtime. */
#ifndef KILN_RUNTIME_UNICODE_H
#define KILN_RUNTIME_UNICODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kiln_unicode_range { uint32_t first, last; } kiln_unicode_range;

/* Generated tables (runtime/unicode_tables.c), sorted, non-overlapping. */
extern const kiln_unicode_range kiln_unicode_letters[];
extern const size_t kiln_unicode_letters_count;
extern const kiln_unicode_range kiln_unicode_numbers[];
extern const size_t kiln_unicode_numbers_count;

/* Length in bytes of the UTF-8 sequence starting with byte c (1 for stray
 * continuation or invalid bytes, so that scanning always makes progress). */
int kiln_utf8_len(unsigned char c);
/* Decode one code point at s (n bytes available); *used gets the bytes
 * consumed (>= 1). Malformed sequences decode as U+FFFD, one byte at a time. */
uint32_t kiln_utf8_decode(const char *s, size_t n, int *used);
/* Encode cp into out (4 bytes room); returns the length. */
int kiln_utf8_encode(uint32_t cp, char *out);

/* Category classes, as llama.cpp's pre-tokenizers use them. */
enum {
    KILN_UC_LETTER = 1u << 0,
    KILN_UC_NUMBER = 1u << 1,
    KILN_UC_WHITESPACE = 1u << 2,
    KILN_UC_DEFINED = 1u << 3 /* any code point at all; 0 only past the end of text */
};
unsigned kiln_unicode_flags(uint32_t cp);

#endif
