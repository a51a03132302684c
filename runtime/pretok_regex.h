/* runtime/pretok_regex.h — the small regex engine the pre-tokenizer rules run
 * on (internal to the runtime).
 *
 * It matches the way llama.cpp runs a pre-tokenizer regex through std::regex
 * (ECMAScript: leftmost match, alternatives in order, greedy backtracking
 * quantifiers, atomic lookahead) on code points, in one of its two views:
 *   - a pattern with \p{L} \p{N} \p{P} \p{M} \p{S} (or \p{Lu} ...) sees the
 *     "collapsed" text: ASCII as itself, any other code point as its category
 *     class only (White_Space as \v), so \p{Lu} is every letter and [^a-z]
 *     is any non-ASCII letter; the pattern must then be ASCII;
 *   - any other pattern sees code points as they are, White_Space above
 *     ASCII as \v (std::wregex's \s is ASCII only).
 * Syntax: | ( (?: (?= (?! [..] [^..] a-b . ^ $ \b \B \s \S \d \D \w \W \r \n
 * \t \v \f \p{X} \<punct>, quantifiers ? * + {n} {n,} {n,m} (greedy only).
 * \p{Han} (CJK ideographs) is kiln's own, for the Kimi K2 rules. */
#ifndef KILN_RUNTIME_PRETOK_REGEX_H
#define KILN_RUNTIME_PRETOK_REGEX_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

typedef struct kiln_regex kiln_regex;

/* Compiles pattern; an unsupported or malformed pattern fails by message. */
kiln_status kiln_regex_compile(const char *pattern, kiln_regex **out);
void kiln_regex_free(kiln_regex *re);

/* The first match in cp[from..end) of a search over the segment
 * cp[begin..end) (lookarounds see nothing outside it), as std::regex_search
 * finds it. not_null_at_from: a match starting at from must not be empty
 * (std::regex_iterator's retry after an empty match).
 * Returns 1 with *mb, *me set, 0 when there is none, -1 when the text is too
 * deep for the backtracking stack (the error is set). */
int kiln_regex_search(const kiln_regex *re, const uint32_t *cp, size_t begin, size_t end, size_t from,
                      int not_null_at_from, size_t *mb, size_t *me);

#endif
