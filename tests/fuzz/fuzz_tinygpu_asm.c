/* libFuzzer target: the tiny-gpu assembler on arbitrary text; what assembles must disassemble into a listing
 * that assembles back to the same words. */
#include <stdlib.h>
#include <string.h>

#include "qwglm_tinygpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static qwglm_tinygpu_program p, q;
    static char listing[QWGLM_TINYGPU_LISTING_MAX];
    if (qwglm_tinygpu_assemble((const char *)data, size, &p, NULL) != QWGLM_OK) return 0;
    size_t len = qwglm_tinygpu_listing(p.words, p.n_words, listing, sizeof listing);
    if (len >= sizeof listing) abort();
    if (qwglm_tinygpu_assemble(listing, len, &q, NULL) != QWGLM_OK) abort();
    if (q.n_words != p.n_words || memcmp(q.words, p.words, sizeof p.words) != 0) abort();
    return 0;
}
