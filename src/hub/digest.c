/* Content checks of downloaded files, on OpenSSL's libcrypto: an LFS file must hash (sha256) to the oid the
 * Hub lists, any other file to its git blob id (sha1 of "blob <size>\0" followed by the content). */
#include <inttypes.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "hub.h"

qwglm_status hub_digest_init(struct hub_digest *d, bool lfs, uint64_t size, struct qw_err *e)
{
    d->git_blob = !lfs;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    d->ctx = ctx;
    if (!ctx || EVP_DigestInit_ex(ctx, lfs ? EVP_sha256() : EVP_sha1(), NULL) != 1) {
        hub_digest_free(d);
        return qw_fail(e, QWGLM_ERR_NOMEM, "cannot start a %s digest", lfs ? "sha256" : "sha1");
    }
    if (!lfs) {
        char head[48];
        int n = snprintf(head, sizeof head, "blob %" PRIu64, size);
        EVP_DigestUpdate(ctx, head, (size_t)n + 1); /* the NUL is part of git's header */
    }
    return QWGLM_OK;
}

void hub_digest_update(struct hub_digest *d, const void *p, size_t n)
{
    if (d->ctx && n) EVP_DigestUpdate(d->ctx, p, n);
}

void hub_digest_final(struct hub_digest *d, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    hex[0] = '\0';
    if (d->ctx && EVP_DigestFinal_ex(d->ctx, md, &n) == 1) {
        static const char digits[] = "0123456789abcdef";
        for (unsigned int i = 0; i < n; i++) {
            hex[2 * i] = digits[md[i] >> 4];
            hex[2 * i + 1] = digits[md[i] & 15];
        }
        hex[2 * n] = '\0';
    }
    hub_digest_free(d);
}

void hub_digest_free(struct hub_digest *d)
{
    if (d->ctx) EVP_MD_CTX_free(d->ctx);
    d->ctx = NULL;
}
