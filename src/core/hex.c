#include "core/common.h"
#include "core/hex.h"

#include <openssl/evp.h>

void fr_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void fr_sha256_hex(const void *data, size_t len, char out[FR_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    FR_ASSERT(EVP_Digest(len ? data : "", len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
    fr_hex_encode(md, mdlen, out);
}
