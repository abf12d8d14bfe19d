/* bundle_int.h - what bundle.c, bundle_export.c and bundle_import.c share:
 * whole-file reads and writes, and a copy that hashes what it copies. */
#ifndef PD_BUNDLE_INT_H
#define PD_BUNDLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "bundle.h"

/* Reads the file at path (malloc'd, NUL-terminated, *n bytes). 0 or an
 * error naming the path. */
int bundle__read_all(const char *path, char **p, size_t *n, struct pd_err *err);
/* Creates path (0644) holding n bytes at p, fsynced. */
int bundle__write_file(const char *path, const void *p, size_t n, struct pd_err *err);
/* Copies src to dst (created), hashing the bytes on the way: *d and *size
 * describe what was copied. */
int bundle__copy_hashed(const char *src, const char *dst, uint8_t d[PD_DIGEST_LEN],
                        uint64_t *size, struct pd_err *err);

#endif
