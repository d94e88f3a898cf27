/*
 * hex.h: lowercase hexadecimal text of bytes, and the SHA-256 of bytes as
 * such text (payload hashes in the journal, webhook event ids, signatures).
 */
#ifndef FR_CORE_HEX_H
#define FR_CORE_HEX_H

#include "core/common.h"

#define FR_SHA256_HEX_LEN 64

/* Writes the 2n hex digits of in[0..n) and a NUL to out (2n + 1 bytes). */
void fr_hex_encode(const unsigned char *in, size_t n, char *out);

/* SHA-256 of data as 64 hex digits and a NUL. data may be NULL when len is 0. */
void fr_sha256_hex(const void *data, size_t len, char out[FR_SHA256_HEX_LEN + 1]);

#endif
