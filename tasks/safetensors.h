/* safetensors.h - reading and writing the safetensors tensor file format.
 *
 * The format (huggingface/safetensors): 8 bytes of little-endian header
 * length N, N bytes of JSON header, then the raw data. The header maps each
 * tensor name to {"dtype": "U8", "shape": [..], "data_offsets": [begin, end]}
 * (byte offsets into the data, which the tensors tile without holes or
 * overlap) and may hold a "__metadata__" map of string to string. Data is
 * row-major, little-endian. We pad the header with spaces so that the data
 * starts 8-byte aligned, as the reference implementation does.
 *
 * Used for packed image sets (U8 [N, H, W, 3]) and, later, model weights.
 * Reading checks the whole header against the file's size and never loads
 * the data; rows are read with pread. Left out: big-endian hosts.
 */
#ifndef PD_SAFETENSORS_H
#define PD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

struct pd_err;

#define ST_MAXDIM 8

struct st_tensor {
  char *name;
  char dtype[8];       /* "U8", "F32", "BF16", ... */
  int ndim;
  int64_t shape[ST_MAXDIM];
  uint64_t begin, end; /* byte offsets into the data section */
};

struct safetensors {
  char *path;
  int fd;
  uint64_t data_start; /* file offset of the data section: 8 + header length */
  uint64_t data_size;
  struct st_tensor *t; /* in header order */
  size_t nt;
  char **meta_k, **meta_v;
  size_t nmeta;
};

/* Opens path and validates its header. Returns 0, or a negative code (-errno,
 * PD_ECORRUPT) with err naming the file and what is wrong with it; st is then
 * left closed. */
int safetensors_open(struct safetensors *st, const char *path, struct pd_err *err);
void safetensors_close(struct safetensors *st);
/* Borrowed until safetensors_close, or NULL. */
const struct st_tensor *safetensors_find(const struct safetensors *st, const char *name);
const char *safetensors_meta(const struct safetensors *st, const char *key);
/* Reads n bytes at byte offset off of tensor t into buf. Returns 0 or an
 * error (a range outside the tensor is a bug). */
int safetensors_read(const struct safetensors *st, const struct st_tensor *t, uint64_t off,
                     void *buf, size_t n, struct pd_err *err);
/* Bytes per element of dtype, or 0 if unknown. */
size_t safetensors_dtype_size(const char *dtype);

struct st_write_tensor {
  const char *name;
  const char *dtype;
  int ndim;
  const int64_t *shape;
  const void *data; /* prod(shape) * dtype size bytes */
};

/* Writes tensors (data in the order given) and metadata (NULL-terminated
 * pairs key, value, ...; may be NULL) to path. Returns 0 or an error naming
 * the path. */
int safetensors_write(const char *path, const struct st_write_tensor *t, size_t n,
                      const char *const *meta, struct pd_err *err);

#endif
