/* A minimal test harness: CHECK records a failure with file:line and goes on; main returns test_report(). */
#ifndef QW_TEST_H
#define QW_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_checks, test_failures;

#define CHECK(cond)                                                                                                \
    do {                                                                                                           \
        test_checks++;                                                                                             \
        if (!(cond)) {                                                                                             \
            test_failures++;                                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                              \
        }                                                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                                                          \
    do {                                                                                                           \
        test_checks++;                                                                                             \
        if (!(cond)) {                                                                                             \
            test_failures++;                                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                              \
            fprintf(stderr, __VA_ARGS__);                                                                          \
            fputc('\n', stderr);                                                                                   \
        }                                                                                                          \
    } while (0)

/* Stops the test at once: for a failure that makes the rest meaningless (a fixture that did not load). */
#define REQUIRE(cond)                                                                                              \
    do {                                                                                                           \
        test_checks++;                                                                                             \
        if (!(cond)) {                                                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);                            \
            exit(1);                                                                                               \
        }                                                                                                          \
    } while (0)

static inline int test_report(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

/* max|a-b| / max|ref| over n values: the project's relative error measure. */
static inline double rel_err(const float *ours, const float *ref, size_t n)
{
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - (double)ref[i]);
        if (d > max_diff || d != d) max_diff = d != d ? INFINITY : d;
        if (fabs((double)ref[i]) > max_ref) max_ref = fabs((double)ref[i]);
    }
    return max_ref > 0 ? max_diff / max_ref : max_diff;
}

#endif
