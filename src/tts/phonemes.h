/* Piper's text front end: the voice config (.onnx.json), phonemes -> ids (voice spec A4), and text -> sentences
 * of phonemes through espeak-ng (A3) where the library is available. */
#ifndef QW_PHONEMES_H
#define QW_PHONEMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/strmap.h"
#include "format/json.h"

#define PIPER_MAX_PHONEME_IDS 4 /* ids one phoneme maps to */

enum piper_phoneme_type { PIPER_PHONEMES_ESPEAK, PIPER_PHONEMES_TEXT };

struct piper_config {
    struct json_doc doc;
    int sample_rate, num_symbols, num_speakers;
    enum piper_phoneme_type phoneme_type;
    const char *espeak_voice; /* in doc */
    float noise_scale, length_scale, noise_w;
    /* phoneme (one code point) -> ids */
    struct strmap id_map;  /* UTF-8 key -> index into ids */
    int32_t (*ids)[PIPER_MAX_PHONEME_IDS + 1]; /* [0] = count */
    int n_ids;
    int32_t pad[PIPER_MAX_PHONEME_IDS + 1], bos[PIPER_MAX_PHONEME_IDS + 1], eos[PIPER_MAX_PHONEME_IDS + 1];
    const struct json_value *phoneme_map;    /* object or NULL */
    const struct json_value *speaker_id_map; /* object or NULL */
    int max_id;                              /* largest id the map uses */
};

/* Parses a Piper voice config. name is used in messages. */
qwglm_status piper_config_parse(struct piper_config *c, const char *json, size_t n, const char *name,
                                struct qw_err *e);
void piper_config_free(struct piper_config *c);
/* The id of a speaker name from speaker_id_map, or -1. */
int piper_speaker_id(const struct piper_config *c, const char *name);

/* A growable list of ids with a hard maximum. */
struct piper_ids {
    int32_t *v;
    int n, cap, max;
    int missing; /* phonemes absent from the map (skipped, as Piper does) */
    uint32_t first_missing;
};
void piper_ids_free(struct piper_ids *ids);

/* ids of one sentence from its phonemes (code points, already NFD): ^ _ (p _)* $. Unknown phonemes are skipped
 * and counted. Fails with QWGLM_ERR_ARG past ids->max (a sentence too long for the model). */
qwglm_status piper_phonemes_to_ids(const struct piper_config *c, const uint32_t *cps, size_t n,
                                   struct piper_ids *ids, struct qw_err *e);
/* The same from a UTF-8 phoneme string (NFD-decomposed first). */
qwglm_status piper_phoneme_string_to_ids(const struct piper_config *c, const char *s, size_t n,
                                         struct piper_ids *ids, struct qw_err *e);

/* Called once per sentence with its phonemes (NFD code points, Piper's punctuation appended). Nonzero stops. */
typedef int (*piper_sentence_fn)(const uint32_t *cps, size_t n, void *user);

/* Splits text into sentences of phonemes per the voice's phoneme_type: espeak-ng clause by clause (spec A3) or
 * the text's own code points. QWGLM_ERR_ARG when espeak-ng is not built in or lacks the voice; text longer than
 * max_bytes is refused. */
qwglm_status piper_phonemize(const struct piper_config *c, const char *text, size_t max_bytes,
                             piper_sentence_fn fn, void *user, struct qw_err *e);

/* The espeak-ng version built in ("1.51" ...), or NULL when there is none. */
const char *piper_espeak_version(void);

#endif
