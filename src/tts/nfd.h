/* Unicode canonical decomposition (NFD) of UTF-8 text: Piper decomposes espeak's IPA before mapping phonemes to
 * ids (ç -> c + U+0327). */
#ifndef QW_NFD_H
#define QW_NFD_H

#include <stddef.h>
#include <stdint.h>

/* Decomposes s[0..n) into code points: at most cap are written to out, and the count needed is returned (so a
 * result > cap means out was too small). Invalid UTF-8 bytes become U+FFFD. */
size_t nfd_decompose(const char *s, size_t n, uint32_t *out, size_t cap);

/* Code points one input code point can become (bound for sizing: 4 per input byte is always enough). */
#define NFD_MAX_EXPANSION 4

#endif
