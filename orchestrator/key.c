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

struct named_digest {
  char *name;
  uint8_t d[PD_DIGEST_LEN];
};

struct collect {
  struct named_digest *ins, *srcs;
  size_t nins, nsrcs;
  struct cache *c;
  key_input_cb *cb;
  void *arg;
  int missing;
};

static void nd_add(struct named_digest **v, size_t *n, char *name, const uint8_t d[PD_DIGEST_LEN])
{
  /* Duplicates are dropped after sorting, in nd_json. */
  *v = xrealloc(*v, (*n + 1) * sizeof **v);
  (*v)[*n].name = name;
  memcpy((*v)[*n].d, d, PD_DIGEST_LEN);
  (*n)++;
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
    nd_add(&co->ins, &co->nins, xasprintf("%s.%s", v->u.ref.task, v->u.ref.output), p);
    return 0;
  case V_FILE:
  case V_DIR:
    rc = v->kind == V_FILE ? cache_file_digest(co->c, v->u.src.path, d, err)
                           : cache_dir_digest(co->c, v->u.src.path, d, err);
    if (rc < 0)
      return rc;
    nd_add(&co->srcs, &co->nsrcs, xstrdup(v->u.src.rel), d);
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

static int nd_cmp(const void *a, const void *b)
{
  return strcmp(((const struct named_digest *)a)->name, ((const struct named_digest *)b)->name);
}

static void nd_json(struct strbuf *sb, const char *field, struct named_digest *v, size_t n)
{
  char hex[PD_DIGEST_HEX];
  size_t i;
  if (n > 1)
    qsort(v, n, sizeof *v, nd_cmp);
  strbuf_addf(sb, ",\"%s\":{", field);
  for (i = 0; i < n; i++) {
    if (i && strcmp(v[i].name, v[i - 1].name) == 0)
      continue; /* the same input named twice */
    if (i)
      strbuf_addch(sb, ',');
    strbuf_add_json_str(sb, v[i].name, strlen(v[i].name));
    digest_hex(v[i].d, hex);
    strbuf_addf(sb, ":\"%s\"", hex);
  }
  strbuf_addch(sb, '}');
}

static void nd_free(struct named_digest *v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    free(v[i].name);
  free(v);
}

int key_compute(struct cache *c, const struct task *t, key_input_cb *cb, void *arg,
                struct strbuf *pre, uint8_t key[PD_DIGEST_LEN], struct pd_err *err)
{
  struct collect co;
  const char *salt = getenv("POVID_CACHE_SALT");
  size_t i, first = 1;
  int rc;

  memset(&co, 0, sizeof co);
  co.c = c;
  co.cb = cb;
  co.arg = arg;
  if ((rc = collect(&co, &t->params, err)) < 0 || co.missing) {
    nd_free(co.ins, co.nins);
    nd_free(co.srcs, co.nsrcs);
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
  nd_json(pre, "inputs", co.ins, co.nins);
  nd_json(pre, "sources", co.srcs, co.nsrcs);
  strbuf_addch(pre, '}');
  digest_buf(pre->buf, pre->len, key);
  nd_free(co.ins, co.nins);
  nd_free(co.srcs, co.nsrcs);
  return 0;
}
