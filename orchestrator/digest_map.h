/* digest_map.h - a small open-addressing map from SHA-256 digests to ints,
 * for the audit and bundle code (a run names each shared blob, such as an
 * empty log, many times; it is checked or copied once). */
#ifndef PD_DIGEST_MAP_H
#define PD_DIGEST_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct digest_map {
  uint8_t (*keys)[PD_DIGEST_LEN];
  int *vals;
  unsigned char *used;
  size_t cap, n;
};

void digest_map_init(struct digest_map *m);
void digest_map_release(struct digest_map *m);
/* The value slot of d, or NULL when absent. Valid until the next put. */
int *digest_map_get(const struct digest_map *m, const uint8_t d[PD_DIGEST_LEN]);
/* The value slot of d, added with value 0 when absent (*added = 1 then).
 * Valid until the next put. */
int *digest_map_put(struct digest_map *m, const uint8_t d[PD_DIGEST_LEN], int *added);

#endif
