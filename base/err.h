/* err.h - povid-dag error codes and the error context a caller owns.
 *
 * Functions return 0 on success or a negative code. Our own codes live in
 * their own range (below -30000) so that UV_E* and -errno values pass through
 * unchanged. Context goes into a struct pd_err owned by the caller; the first
 * error set wins, outer layers add a prefix with ERR_WRAP.
 */
#ifndef PD_ERR_H
#define PD_ERR_H

#include <stddef.h>

#define PD_ERRNO_MAP(XX)                                        \
  XX(EPARSE,   -30001, "syntax error")                          \
  XX(EGRAPH,   -30002, "invalid graph")                         \
  XX(ECYCLE,   -30003, "dependency cycle")                      \
  XX(EUSAGE,   -30004, "usage error")                           \
  XX(ECACHE,   -30005, "cache error")                           \
  XX(ECORRUPT, -30006, "cache data corrupted")                  \
  XX(ETASK,    -30007, "task failed")                           \
  XX(ELMDB,    -30008, "lmdb error")                            \
  XX(ECURL,    -30009, "transfer failed")                       \
  XX(ECUDA,    -30010, "cuda error")                            \
  XX(EINTR,    -30011, "interrupted")                           \
  XX(ENOTFOUND,-30012, "not found")                             \
  XX(ENOMEM,   -30013, "out of memory")                         \
  XX(EIO,      -30014, "input/output error")

enum pd_errno {
#define XX(name, val, str) PD_##name = (val),
  PD_ERRNO_MAP(XX)
#undef XX
};

/* Big enough for a diagnostic with its source line and caret. */
#define PD_ERR_MSG 2048

struct pd_err {
  int code;          /* 0 while no error was set */
  const char *file;  /* where in our source the error was set */
  int line;
  char msg[PD_ERR_MSG];
};

/* Returns a static description of code: ours, a libuv one, or strerror(). */
const char *pd_strerror(int code);

/* Records the first error only (later calls keep the first message) and
 * returns code, so that `return ERR_SET(err, ...)` reads naturally. err may be
 * NULL. */
int pd_err_set(struct pd_err *err, int code, const char *file, int line,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Prefixes the message already in err with "<prefix>: ". Returns err->code. */
int pd_err_wrap(struct pd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pd_err_clear(struct pd_err *err);

#define ERR_SET(err, code, ...) pd_err_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)
#define ERR_WRAP(err, ...) pd_err_wrap((err), __VA_ARGS__)

/* Bugs abort with file:line; library code never calls exit(). */
void pd_bug(const char *file, int line, const char *msg) __attribute__((noreturn));
#define BUG(msg) pd_bug(__FILE__, __LINE__, (msg))
#define ASSERT(cond) do { if (!(cond)) pd_bug(__FILE__, __LINE__, "assertion failed: " #cond); } while (0)

/* Allocation that aborts on failure: out of memory is not recoverable here. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
