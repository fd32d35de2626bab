#include "text/unicode.h"

#include <ctype.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

extern const uint32_t uni_decomp_cp[], uni_decomp_to[][2], uni_comp_to[], uni_fold_cp[], uni_fold_to[];
extern const uint64_t uni_comp_key[];
extern const uint32_t uni_case_cp[], uni_case_table[][3], uni_case_pool[];
extern const size_t uni_n_decomp, uni_n_comp, uni_n_fold, uni_n_case;

/* Hangul syllables are composed and decomposed arithmetically (Unicode 15, section 3.12). */
enum {
    HANGUL_S = 0xac00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11a7,
    HANGUL_L_COUNT = 19, HANGUL_V_COUNT = 21, HANGUL_T_COUNT = 28,
    HANGUL_N_COUNT = HANGUL_V_COUNT * HANGUL_T_COUNT, HANGUL_S_COUNT = HANGUL_L_COUNT * HANGUL_N_COUNT,
};

/* ---- categories ---- */

static const struct {
    const char *name;
    uint32_t mask;
} cat_names[] = {
#define M(c) (1u << UNI_##c)
    {"l", M(LU) | M(LL) | M(LT) | M(LM) | M(LO)}, {"letter", M(LU) | M(LL) | M(LT) | M(LM) | M(LO)},
    {"lu", M(LU)}, {"uppercaseletter", M(LU)}, {"ll", M(LL)}, {"lowercaseletter", M(LL)},
    {"lt", M(LT)}, {"titlecaseletter", M(LT)}, {"lm", M(LM)}, {"modifierletter", M(LM)},
    {"lo", M(LO)}, {"otherletter", M(LO)}, {"lc", M(LU) | M(LL) | M(LT)}, {"casedletter", M(LU) | M(LL) | M(LT)},
    {"m", M(MN) | M(MC) | M(ME)}, {"mark", M(MN) | M(MC) | M(ME)}, {"combiningmark", M(MN) | M(MC) | M(ME)},
    {"mn", M(MN)}, {"nonspacingmark", M(MN)}, {"mc", M(MC)}, {"spacingmark", M(MC)},
    {"me", M(ME)}, {"enclosingmark", M(ME)},
    {"n", M(ND) | M(NL) | M(NO)}, {"number", M(ND) | M(NL) | M(NO)}, {"nd", M(ND)}, {"decimalnumber", M(ND)},
    {"digit", M(ND)}, {"nl", M(NL)}, {"letternumber", M(NL)}, {"no", M(NO)}, {"othernumber", M(NO)},
    {"p", M(PC) | M(PD) | M(PS) | M(PE) | M(PI) | M(PF) | M(PO)},
    {"punctuation", M(PC) | M(PD) | M(PS) | M(PE) | M(PI) | M(PF) | M(PO)},
    {"punct", M(PC) | M(PD) | M(PS) | M(PE) | M(PI) | M(PF) | M(PO)},
    {"pc", M(PC)}, {"connectorpunctuation", M(PC)}, {"pd", M(PD)}, {"dashpunctuation", M(PD)},
    {"ps", M(PS)}, {"openpunctuation", M(PS)}, {"pe", M(PE)}, {"closepunctuation", M(PE)},
    {"pi", M(PI)}, {"initialpunctuation", M(PI)}, {"pf", M(PF)}, {"finalpunctuation", M(PF)},
    {"po", M(PO)}, {"otherpunctuation", M(PO)},
    {"s", M(SM) | M(SC) | M(SK) | M(SO)}, {"symbol", M(SM) | M(SC) | M(SK) | M(SO)},
    {"sm", M(SM)}, {"mathsymbol", M(SM)}, {"sc", M(SC)}, {"currencysymbol", M(SC)},
    {"sk", M(SK)}, {"modifiersymbol", M(SK)}, {"so", M(SO)}, {"othersymbol", M(SO)},
    {"z", M(ZS) | M(ZL) | M(ZP)}, {"separator", M(ZS) | M(ZL) | M(ZP)}, {"zs", M(ZS)}, {"spaceseparator", M(ZS)},
    {"zl", M(ZL)}, {"lineseparator", M(ZL)}, {"zp", M(ZP)}, {"paragraphseparator", M(ZP)},
    {"c", M(CC) | M(CF) | M(CS) | M(CO) | M(CN)}, {"other", M(CC) | M(CF) | M(CS) | M(CO) | M(CN)},
    {"cc", M(CC)}, {"control", M(CC)}, {"cntrl", M(CC)}, {"cf", M(CF)}, {"format", M(CF)},
    {"cs", M(CS)}, {"surrogate", M(CS)}, {"co", M(CO)}, {"privateuse", M(CO)}, {"cn", M(CN)},
    {"unassigned", M(CN)},
#undef M
};

uint32_t uni_cat_mask_parse(const char *name, size_t n)
{
    char key[40];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == ' ' || c == '_' || c == '-') continue;
        if (k + 1 >= sizeof key) return 0;
        key[k++] = (char)tolower(c);
    }
    key[k] = '\0';
    for (size_t i = 0; i < sizeof cat_names / sizeof cat_names[0]; i++)
        if (strcmp(cat_names[i].name, key) == 0) return cat_names[i].mask;
    return 0;
}

/* ---- decoding ---- */

size_t uni_next(const char *s, size_t n, uint32_t *cp)
{
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len = utf8_decode(s, n, cp);
    if (len) return len;
    *cp = UNI_BAD_BYTE + c;
    return 1;
}

size_t uni_prev_len(const char *s, size_t n)
{
    /* A valid sequence ending at n starts with a lead byte 2..4 bytes back; forward decoding from any earlier
     * boundary reaches that lead byte, because no unit can end inside it. */
    for (size_t k = 2; k <= 4 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if ((c & 0xc0) == 0x80) continue;
        uint32_t cp;
        if (c >= 0xc2 && utf8_decode(s + n - k, k, &cp) == k) return k;
        break;
    }
    return 1;
}

/* ---- normalization ---- */

static int ccc_of(uint32_t cp) { return cp > UNI_MAX ? 0 : uni_get(cp)->ccc; }

static const uint32_t *decomp_of(uint32_t cp)
{
    size_t lo = 0, hi = uni_n_decomp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_decomp_cp[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < uni_n_decomp && uni_decomp_cp[lo] == cp ? uni_decomp_to[lo] : NULL;
}

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_L_COUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_V_COUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_V_COUNT + (b - HANGUL_V)) * HANGUL_T_COUNT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_S_COUNT && (a - HANGUL_S) % HANGUL_T_COUNT == 0 && b > HANGUL_T &&
        b < HANGUL_T + HANGUL_T_COUNT)
        return a + (b - HANGUL_T);
    if (a > UNI_MAX || b > UNI_MAX) return 0;
    uint64_t key = (uint64_t)a << 21 | b;
    size_t lo = 0, hi = uni_n_comp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_comp_key[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < uni_n_comp && uni_comp_key[lo] == key ? uni_comp_to[lo] : 0;
}

struct cpbuf {
    uint32_t *v;
    size_t n, cap;
};

static bool cpbuf_push(struct cpbuf *b, uint32_t cp)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64, bytes;
        if (!size_mul_ok(cap, sizeof *b->v, &bytes)) return false;
        uint32_t *v = qw_realloc(b->v, bytes);
        if (!v) return false;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = cp;
    return true;
}

static bool decompose(struct cpbuf *b, uint32_t cp)
{
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_S_COUNT) {
        uint32_t s = cp - HANGUL_S, t = s % HANGUL_T_COUNT;
        if (!cpbuf_push(b, HANGUL_L + s / HANGUL_N_COUNT)) return false;
        if (!cpbuf_push(b, HANGUL_V + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT)) return false;
        return t == 0 || cpbuf_push(b, HANGUL_T + t);
    }
    const uint32_t *d = cp <= UNI_MAX ? decomp_of(cp) : NULL;
    if (!d) return cpbuf_push(b, cp);
    /* Canonical decompositions nest at most a few levels deep. */
    if (!decompose(b, d[0])) return false;
    return d[1] == 0 || decompose(b, d[1]);
}

/* Stable sort of v[0..n) by combining class (all nonzero). Insertion sort for short runs; counting sort beyond,
 * so a hostile run of millions of marks stays linear. */
static bool sort_marks(uint32_t *v, size_t n)
{
    if (n < 32) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = v[i];
            int cx = ccc_of(x);
            size_t j = i;
            while (j > 0 && ccc_of(v[j - 1]) > cx) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return true;
    }
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++) count[ccc_of(v[i]) + 1]++;
    for (int c = 1; c < 257; c++) count[c] += count[c - 1];
    uint32_t *tmp = qw_malloc(n * sizeof *tmp);
    if (!tmp) return false;
    for (size_t i = 0; i < n; i++) tmp[count[ccc_of(v[i])]++] = v[i];
    memcpy(v, tmp, n * sizeof *tmp);
    qw_free(tmp);
    return true;
}

static bool reorder(struct cpbuf *b)
{
    size_t i = 0;
    while (i < b->n) {
        if (ccc_of(b->v[i]) == 0) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < b->n && ccc_of(b->v[j]) != 0) j++;
        if (j - i > 1 && !sort_marks(b->v + i, j - i)) return false;
        i = j;
    }
    return true;
}

static void compose(struct cpbuf *b)
{
    size_t starter = 0, out = 0;
    bool have_starter = false;
    int last = 0; /* class of the last code point kept after the starter; 0 right after it */
    for (size_t i = 0; i < b->n; i++) {
        uint32_t ch = b->v[i];
        int cc = ccc_of(ch);
        if (have_starter && (last < cc || last == 0) && i > 0) {
            uint32_t comp = compose_pair(b->v[starter], ch);
            if (comp) {
                b->v[starter] = comp;
                continue;
            }
        }
        if (cc == 0) {
            starter = out;
            have_starter = true;
        }
        last = cc;
        b->v[out++] = ch;
    }
    b->n = out;
}

static bool emit(struct cpbuf *b, struct qw_str *out)
{
    for (size_t i = 0; i < b->n; i++) {
        char u[4];
        uint32_t cp = b->v[i];
        if (cp >= UNI_BAD_BYTE) {
            u[0] = (char)(cp - UNI_BAD_BYTE);
            if (!qw_str_append(out, u, 1)) return false;
        } else if (!qw_str_append(out, u, utf8_encode(cp, u))) {
            return false;
        }
    }
    b->n = 0;
    return true;
}

/* A code point before which the text can be cut without changing its normalization: a starter that does not
 * combine with what precedes it and does not decompose into something that starts with a mark. */
static bool is_boundary(uint32_t cp, bool nfc)
{
    if (cp < (nfc ? 0x300u : 0xc0u) || cp >= UNI_BAD_BYTE) return true; /* Latin-1 letters decompose in NFD */
    const struct uni_record *r = uni_get(cp);
    if (r->ccc) return false;
    if (nfc) return !(r->flags & (UNI_NFC_NO | UNI_NFC_MAYBE));
    return decomp_of(cp) == NULL && !(cp >= HANGUL_S && cp < HANGUL_S + HANGUL_S_COUNT);
}

static bool normalize(const char *s, size_t n, struct qw_str *out, bool nfc)
{
    struct cpbuf b = {0};
    bool ok = true;
    size_t i = 0, plain = 0; /* s[plain..i) is known normalized and not yet copied */
    while (ok && i < n) {
        uint32_t cp;
        size_t len = uni_next(s + i, n - i, &cp);
        if (is_boundary(cp, nfc)) {
            /* Look ahead: if the next code point is a boundary too, this one stands alone and is final. */
            uint32_t nx;
            size_t nlen = i + len < n ? uni_next(s + i + len, n - i - len, &nx) : 0;
            if (nlen == 0 || is_boundary(nx, nfc)) {
                i += len;
                continue;
            }
        }
        /* A segment that needs work: from this code point up to the next boundary. */
        ok = qw_str_append(out, s + plain, i - plain);
        size_t j = i;
        bool first = true;
        while (ok && j < n) {
            size_t l = uni_next(s + j, n - j, &cp);
            if (!first && is_boundary(cp, nfc)) break;
            ok = decompose(&b, cp);
            j += l;
            first = false;
        }
        ok = ok && reorder(&b);
        if (ok && nfc) compose(&b);
        ok = ok && emit(&b, out);
        i = plain = j;
    }
    ok = ok && qw_str_append(out, s + plain, i - plain);
    qw_free(b.v);
    return ok && !out->failed;
}

bool uni_nfc(const char *s, size_t n, struct qw_str *out) { return normalize(s, n, out, true); }
bool uni_nfd(const char *s, size_t n, struct qw_str *out) { return normalize(s, n, out, false); }

bool uni_nfc_quick(const char *s, size_t n)
{
    int last = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += uni_next(s + i, n - i, &cp);
        if (cp < 0x300 || cp >= UNI_BAD_BYTE) {
            last = 0;
            continue;
        }
        const struct uni_record *r = uni_get(cp);
        if (r->flags & (UNI_NFC_NO | UNI_NFC_MAYBE)) return false;
        if (r->ccc && r->ccc < last) return false;
        last = r->ccc;
    }
    return true;
}

/* ---- case ---- */

static size_t find_u32(const uint32_t *keys, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (keys[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && keys[lo] == cp ? lo : (size_t)-1;
}

uint32_t uni_fold(uint32_t cp)
{
    size_t i = find_u32(uni_fold_cp, uni_n_fold, cp);
    return i == (size_t)-1 ? cp : uni_fold_to[i];
}

size_t uni_fold_class(uint32_t cp, uint32_t *out, size_t cap)
{
    uint32_t f = uni_fold(cp);
    size_t n = 0;
    if (n < cap) out[n++] = f;
    for (size_t i = 0; i < uni_n_fold && n < cap; i++)
        if (uni_fold_to[i] == f && uni_fold_cp[i] != f) out[n++] = uni_fold_cp[i];
    return n;
}

size_t uni_case_map(uint32_t cp, enum uni_case which, uint32_t out[3])
{
    size_t i = find_u32(uni_case_cp, uni_n_case, cp);
    if (i == (size_t)-1) {
        out[0] = cp;
        return 1;
    }
    uint32_t m = uni_case_table[i][which];
    size_t len = m & 3, off = m >> 2;
    for (size_t k = 0; k < len; k++) out[k] = uni_case_pool[off + k];
    return len;
}
