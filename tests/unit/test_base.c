#include <stdatomic.h>
#include <string.h>

#include "base/fp.h"
#include "base/mem.h"
#include "base/pool.h"
#include "base/str.h"
#include "base/strmap.h"
#include "base/utf8.h"
#include "test.h"

static void test_fp(void)
{
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(f32_to_bf16(1.00390625f) == 0x3f80); /* halfway between 1 and next bf16: ties to even (down) */
    CHECK(f32_to_bf16(1.01171875f) == 0x3f82); /* halfway, odd below: ties to even (up) */
    uint16_t nan = f32_to_bf16(NAN);
    CHECK(isnan(bf16_to_f32(nan)));
    /* every half round-trips through float */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        if (f32_to_f16(f) != h) bad++;
    }
    CHECK(bad == 0);
    CHECK(f16_to_f32(0x3c00) == 1.0f);
    CHECK(f16_to_f32(0x0001) == 5.9604644775390625e-08f);
    CHECK(f32_to_f16(65520.0f) == 0x7c00); /* rounds to infinity */
    CHECK(f32_to_f16(2.9802322387695312e-08f) == 0x0000); /* half of the smallest subnormal: ties to even */
}

static void test_str(void)
{
    struct qw_str s = {0};
    CHECK(qw_str_puts(&s, "ab"));
    CHECK(qw_str_printf(&s, "%d", 42));
    CHECK(s.len == 4 && strcmp(s.data, "ab42") == 0);
    qw_str_clear(&s);
    CHECK(qw_str_json(&s, "a\"\\\n\x01\xff\xc3\xa9", 8));
    CHECK(strcmp(s.data, "\"a\\\"\\\\\\n\\u0001\xef\xbf\xbd\xc3\xa9\"") == 0);
    qw_str_free(&s);
    struct qw_str lim = {.max = 3};
    CHECK(qw_str_puts(&lim, "abc"));
    CHECK(!qw_str_putc(&lim, 'd'));
    CHECK(lim.failed && lim.len == 3);
    qw_str_free(&lim);
}

static void test_utf8(void)
{
    uint32_t cp;
    CHECK(utf8_decode("\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20ac);
    CHECK(utf8_decode("\xe2\x82", 2, &cp) == 0);         /* truncated */
    CHECK(utf8_decode("\xc0\xaf", 2, &cp) == 0);         /* overlong */
    CHECK(utf8_decode("\xed\xa0\x80", 3, &cp) == 0);     /* surrogate */
    CHECK(utf8_decode("\xf4\x90\x80\x80", 4, &cp) == 0); /* above U+10FFFF */
    char buf[4];
    CHECK(utf8_encode(0x1f600, buf) == 4 && memcmp(buf, "\xf0\x9f\x98\x80", 4) == 0);
}

static void test_strmap(void)
{
    struct strmap m;
    REQUIRE(strmap_init(&m, 4));
    static char keys[1000][8];
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        CHECK(strmap_put(&m, keys[i], strlen(keys[i]), i));
    }
    int bad = 0;
    for (int i = 0; i < 1000; i++) bad += strmap_get(&m, keys[i], strlen(keys[i])) != i;
    CHECK(bad == 0);
    CHECK(strmap_get(&m, "nope", 4) == -1);
    CHECK(strmap_put(&m, keys[5], strlen(keys[5]), 7) && strmap_get(&m, "k5", 2) == 7);
    CHECK(m.count == 1000);
    strmap_free(&m);
}

static void test_arena(void)
{
    struct qw_arena a;
    REQUIRE(qw_arena_init(&a, 256));
    void *p = qw_arena_alloc(&a, 10, 1), *q = qw_arena_alloc(&a, 8, 64);
    CHECK(p && q && ((uintptr_t)q & 63) == 0);
    CHECK(qw_arena_alloc(&a, 1000, 1) == NULL);
    qw_arena_reset(&a);
    CHECK(qw_arena_alloc(&a, 256, 1) != NULL);
    qw_arena_free(&a);
}

struct pool_job {
    _Atomic long sum;
    long n;
};

static void pool_fn(void *ctx, int ith, int nth)
{
    struct pool_job *j = ctx;
    long lo, hi, s = 0;
    qw_split_rows(j->n, ith, nth, 1, &lo, &hi);
    for (long i = lo; i < hi; i++) s += i;
    atomic_fetch_add(&j->sum, s);
}

static void test_pool(void)
{
    for (int nt = 1; nt <= 4; nt++) {
        struct qw_pool *p = qw_pool_create(nt);
        REQUIRE(p);
        CHECK(qw_pool_size(p) == nt);
        int bad = 0;
        for (int rep = 0; rep < 300; rep++) {
            struct pool_job j = {0, 1000 + rep};
            qw_pool_run(p, pool_fn, &j);
            bad += j.sum != j.n * (j.n - 1) / 2;
        }
        CHECK(bad == 0);
        qw_pool_free(p);
    }
    /* rows are covered once, aligned, in order */
    for (long n = 0; n < 100; n++)
        for (int nth = 1; nth < 5; nth++) {
            long prev = 0;
            for (int i = 0; i < nth; i++) {
                long lo, hi;
                qw_split_rows(n, i, nth, 8, &lo, &hi);
                CHECK(lo == prev && hi >= lo && (lo % 8 == 0 || lo == n));
                prev = hi;
            }
            CHECK(prev == n);
        }
}

static void test_fault_injection(void)
{
    qw_mem_fail_after(2);
    void *a = qw_malloc(1), *b = qw_malloc(1), *c = qw_malloc(1);
    CHECK(a && b && !c);
    qw_mem_fail_after(-1);
    void *d = qw_malloc(1);
    CHECK(d != NULL);
    qw_free(a);
    qw_free(b);
    qw_free(d);
}

int main(void)
{
    test_fp();
    test_str();
    test_utf8();
    test_strmap();
    test_arena();
    test_pool();
    test_fault_injection();
    return test_report("test_base");
}
