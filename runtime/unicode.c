/* runtime/unicode.c — UTF-8 and category lookups for the tokenizers. */
#include "runtime/unicode.h"

int kiln_utf8_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

uint32_t kiln_utf8_decode(const char *s, size_t n, int *used)
{
    const unsigned char *u = (const unsigned char *)s;
    int len = kiln_utf8_len(u[0]);
    *used = 1;
    if (len == 1) return u[0] < 0x80 ? u[0] : 0xFFFD;
    if ((size_t)len > n) return 0xFFFD;
    uint32_t cp = u[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0xFFFD;
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    *used = len;
    return cp;
}

int kiln_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The class of cp in the generated table (0 when it is in none). */
static unsigned class_of(uint32_t cp)
{
    const kiln_unicode_range *r = kiln_unicode_classes;
    size_t lo = 0, hi = kiln_unicode_classes_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first) hi = mid;
        else if (cp > r[mid].last) lo = mid + 1;
        else return r[mid].cls;
    }
    return 0;
}

/* The \s of llama.cpp's regex engine: White_Space code points. */
static int is_whitespace(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

unsigned kiln_unicode_flags(uint32_t cp)
{
    /* Past U+10FFFF (4-byte sequences from F5-F7 decode there) is "undefined",
     * still a code point, as llama.cpp's flags lookup has it. */
    unsigned f = KILN_UC_DEFINED;
    if (is_whitespace(cp)) f |= KILN_UC_WHITESPACE;
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return f | KILN_UC_LETTER;
        if (cp >= '0' && cp <= '9') return f | KILN_UC_NUMBER;
    }
    return f | (cp <= 0x10FFFF ? class_of(cp) : 0);
}

int kiln_unicode_is_han(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2EBEF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}
