/* key.c - computes action keys (see key.h).
 *
 * Inputs are named by reference ("subset.train") rather than folded into the
 * params, so `explain` can say which upstream task changed an input; the
 * digest, not the upstream's key, goes in, which is what gives early cutoff:
 * an upstream rerun that produces the same bytes leaves this key unchanged.
 */
#include "key.h"

#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "err.h"
#include "graph.h"
#include "registry.h"
#include "strbuf.h"

/* An input named "a.b" (a reference: task and output) or "a" (a source: b
 * is NULL). Names are borrowed from the graph, so collecting allocates
 * nothing until a task has more inputs than the stack arrays hold. */
struct named_digest {
  const char *a, *b;
  uint8_t d[PD_DIGEST_LEN];
};

#define KEY_STACK 32

struct nd_vec {
  struct named_digest *v;
  size_t n, cap;
  struct named_digest stack[KEY_STACK];
};

struct collect {
  struct nd_vec ins, srcs;
  struct cache *c;
  key_input_cb *cb;
  void *arg;
  int missing;
};

static void nd_init(struct nd_vec *v)
{
  v->v = v->stack;
  v->n = 0;
  v->cap = KEY_STACK;
}

static void nd_free(struct nd_vec *v)
{
  if (v->v != v->stack)
    free(v->v);
}

static void nd_add(struct nd_vec *v, const char *a, const char *b, const uint8_t d[PD_DIGEST_LEN])
{
  /* Duplicates are dropped after sorting, in nd_json. */
  if (v->n == v->cap) {
    struct named_digest *bigger = xmalloc(2 * v->cap * sizeof *bigger);
    memcpy(bigger, v->v, v->n * sizeof *bigger);
    if (v->v != v->stack)
      free(v->v);
    v->v = bigger;
    v->cap *= 2;
  }
  v->v[v->n].a = a;
  v->v[v->n].b = b;
  memcpy(v->v[v->n].d, d, PD_DIGEST_LEN);
  v->n++;
}

static int collect(struct collect *co, const struct val *v, struct pd_err *err)
{
  uint8_t d[PD_DIGEST_LEN];
  const uint8_t *p;
  size_t i;
  int rc;
  switch (v->kind) {
  case V_REF:
    p = co->cb(co->arg, v->u.ref.node, v->u.ref.output);
    if (!p) {
      co->missing = 1;
      return 0;
    }
    nd_add(&co->ins, v->u.ref.task, v->u.ref.output, p);
    return 0;
  case V_FILE:
  case V_DIR:
    rc = v->kind == V_FILE ? cache_file_digest(co->c, v->u.src.path, d, err)
                           : cache_dir_digest(co->c, v->u.src.path, d, err);
    if (rc < 0)
      return rc;
    nd_add(&co->srcs, v->u.src.rel, NULL, d);
    return 0;
  case V_LIST:
  case V_CONCAT:
    for (i = 0; i < v->u.list.n; i++)
      if ((rc = collect(co, &v->u.list.v[i], err)) < 0)
        return rc;
    return 0;
  case V_MAP:
    for (i = 0; i < v->u.map.n; i++)
      if ((rc = collect(co, &v->u.map.v[i], err)) < 0)
        return rc;
    return 0;
  default:
    return 0;
  }
}

/* Orders names as strcmp orders them joined ("a.b"): task and output names
 * are identifiers, whose characters all sort after '.', so comparing the
 * task names first and then the outputs gives the same order. Sources
 * (b == NULL) are only compared with sources. */
static int nd_cmp(const void *x, const void *y)
{
  const struct named_digest *p = x, *q = y;
  int c = strcmp(p->a, q->a);
  if (c || !p->b || !q->b)
    return c;
  return strcmp(p->b, q->b);
}

static void nd_json(struct strbuf *sb, const char *field, struct nd_vec *vec)
{
  struct named_digest *v = vec->v;
  size_t n = vec->n, i;
  struct strbuf name;
  if (n > 1)
    qsort(v, n, sizeof *v, nd_cmp);
  strbuf_init(&name, 64);
  strbuf_addf(sb, ",\"%s\":{", field);
  for (i = 0; i < n; i++) {
    if (i && nd_cmp(&v[i], &v[i - 1]) == 0)
      continue; /* the same input named twice */
    if (i)
      strbuf_addch(sb, ',');
    strbuf_reset(&name);
    strbuf_addstr(&name, v[i].a);
    if (v[i].b) {
      strbuf_addch(&name, '.');
      strbuf_addstr(&name, v[i].b);
    }
    strbuf_add_json_str(sb, name.buf, name.len);
    strbuf_grow(sb, PD_DIGEST_HEX + 2);
    sb->buf[sb->len++] = ':';
    sb->buf[sb->len++] = '"';
    digest_hex(v[i].d, sb->buf + sb->len);
    sb->len += PD_DIGEST_HEX - 1;
    strbuf_addch(sb, '"');
  }
  strbuf_addch(sb, '}');
  strbuf_release(&name);
}

int key_compute(struct cache *c, const struct task *t, key_input_cb *cb, void *arg,
                struct strbuf *pre, uint8_t key[PD_DIGEST_LEN], struct pd_err *err)
{
  struct collect co;
  const char *salt = getenv("POVID_CACHE_SALT");
  size_t i, first = 1;
  int rc;

  memset(&co, 0, sizeof co);
  nd_init(&co.ins);
  nd_init(&co.srcs);
  co.c = c;
  co.cb = cb;
  co.arg = arg;
  if ((rc = collect(&co, &t->params, err)) < 0 || co.missing) {
    nd_free(&co.ins);
    nd_free(&co.srcs);
    return rc < 0 ? rc : 1;
  }

  strbuf_reset(pre);
  strbuf_addf(pre, "{\"v\":%d,\"salt\":", PD_KEY_VERSION);
  salt = salt && *salt ? salt : "povid-dag";
  strbuf_add_json_str(pre, salt, strlen(salt));
  strbuf_addstr(pre, ",\"kind\":");
  strbuf_add_json_str(pre, t->kind->name, strlen(t->kind->name));
  strbuf_addf(pre, ",\"version\":%d,\"params\":{", t->kind->version);
  for (i = 0; i < t->params.u.map.n; i++) {
    const char *name = t->params.u.map.k[i];
    const struct kind_param *kp = registry_param(t->kind, name);
    if (kp && (kp->flags & KP_NOKEY))
      continue;
    if (!first)
      strbuf_addch(pre, ',');
    first = 0;
    strbuf_add_json_str(pre, name, strlen(name));
    strbuf_addch(pre, ':');
    val_to_json(&t->params.u.map.v[i], pre);
  }
  strbuf_addch(pre, '}');
  nd_json(pre, "inputs", &co.ins);
  nd_json(pre, "sources", &co.srcs);
  strbuf_addch(pre, '}');
  digest_buf(pre->buf, pre->len, key);
  nd_free(&co.ins);
  nd_free(&co.srcs);
  return 0;
}
