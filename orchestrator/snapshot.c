/* snapshot.c - the no-op fast path of `run` (see snapshot.h).
 *
 * Why it is sound: an action key is a function of the kind and its version,
 * the task's parameters (a function of the graph files, the overrides and
 * the task kinds' tables), the digests of file()/dir() sources, the output
 * digests of the task's inputs, and the salt. The snapshot's own key covers
 * the graph path, overrides, targets, salt, povid-dag version and a digest
 * of the kind tables; its body pins the digests of the graph files and of
 * every source. If those all match and every task's key is a hit whose
 * outputs are the ones the snapshot saw, then every input digest matches
 * too, so a full evaluation would compute the same keys and find the same
 * hits: the run is a no-op.
 *
 * Snapshot body (little-endian lengths, all in one memo value):
 *   "PDSNAP1\n"
 *   digest graph_digest
 *   str params_json
 *   u32 nsources, then per source: u8 kind ('g' graph file, 'f' file(),
 *       'd' dir()), str path, digest
 *   u32 ntasks, then per task: str name, str kind, u32 version, digest key,
 *       u32 nouts, then per output: str name, digest
 * where str is a u32 length and the bytes.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "err.h"
#include "graph.h"
#include "progress.h"
#include "record.h"
#include "registry.h"
#include "scheduler.h"
#include "strbuf.h"
#include "version.h"
#include "key.h"

static double wall_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char magic[8] = { 'P', 'D', 'S', 'N', 'A', 'P', '1', '\n' };

/* --- encoding -------------------------------------------------------------- */

static void put_u32(struct strbuf *sb, uint32_t v)
{
  unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                         (unsigned char)(v >> 24) };
  strbuf_add(sb, b, 4);
}

static void put_str(struct strbuf *sb, const char *s)
{
  size_t n = strlen(s);
  put_u32(sb, (uint32_t)n);
  strbuf_add(sb, s, n);
}

struct reader {
  const unsigned char *p, *end;
  int bad;
};

static uint32_t get_u32(struct reader *r)
{
  uint32_t v;
  if (r->end - r->p < 4) {
    r->bad = 1;
    return 0;
  }
  v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
      (uint32_t)r->p[3] << 24;
  r->p += 4;
  return v;
}

/* A string in the body: not NUL-terminated, so it is returned with its
 * length. */
static const char *get_str(struct reader *r, uint32_t *n)
{
  const char *s;
  *n = get_u32(r);
  if (r->bad || (size_t)(r->end - r->p) < *n) {
    r->bad = 1;
    return NULL;
  }
  s = (const char *)r->p;
  r->p += *n;
  return s;
}

static const uint8_t *get_digest(struct reader *r)
{
  const uint8_t *d = r->p;
  if (r->end - r->p < PD_DIGEST_LEN) {
    r->bad = 1;
    return NULL;
  }
  r->p += PD_DIGEST_LEN;
  return d;
}

/* --- the snapshot's key ----------------------------------------------------- */

static void registry_fingerprint(struct strbuf *sb)
{
  size_t n, i;
  const struct task_kind *const *all = registry_all(&n);
  const struct kind_param *p;
  for (i = 0; i < n; i++) {
    strbuf_addf(sb, "kind %s %d\n", all[i]->name, all[i]->version);
    for (p = all[i]->params; p->name; p++)
      strbuf_addf(sb, " %s %d %s %u\n", p->name, (int)p->type, p->def ? p->def : "-", p->flags);
  }
  for (p = registry_common_params; p->name; p++)
    strbuf_addf(sb, " %s %d %s %u\n", p->name, (int)p->type, p->def ? p->def : "-", p->flags);
}

static void snapshot_key(const struct snapshot_args *a, uint8_t key[PD_DIGEST_LEN])
{
  const char *salt = getenv("POVID_CACHE_SALT");
  struct strbuf sb;
  size_t i;
  strbuf_init(&sb, 1024);
  strbuf_addf(&sb, "povid-dag snapshot 1\nversion %s\nkey %d\nsalt %s\ngraph ", PD_VERSION,
              PD_KEY_VERSION, salt ? salt : "");
  strbuf_add(&sb, a->graph_real, strlen(a->graph_real) + 1);
  for (i = 0; i < a->noverrides; i++) {
    strbuf_addstr(&sb, "set ");
    strbuf_add(&sb, a->overrides[i].name, strlen(a->overrides[i].name) + 1);
    strbuf_add(&sb, a->overrides[i].value, strlen(a->overrides[i].value) + 1);
  }
  for (i = 0; i < a->ntargets; i++) {
    strbuf_addstr(&sb, "target ");
    strbuf_add(&sb, a->targets[i], strlen(a->targets[i]) + 1);
  }
  registry_fingerprint(&sb);
  digest_buf(sb.buf, sb.len, key);
  strbuf_release(&sb);
}

/* --- checking ------------------------------------------------------------- */

static int source_matches(struct cache *c, int kind, const char *path, const uint8_t *want)
{
  uint8_t d[PD_DIGEST_LEN];
  struct pd_err err = { 0 };
  int rc = kind == 'd' ? cache_dir_digest(c, path, d, &err) : cache_file_digest(c, path, d, &err);
  return rc == 0 && memcmp(d, want, PD_DIGEST_LEN) == 0;
}

struct snap_task {
  char *name, *kind;
  int version;
  const uint8_t *key;
  struct action_result res;
};

static void remember_last(struct cache *c, const char *graph, const char *task,
                          const uint8_t key[PD_DIGEST_LEN])
{
  uint8_t last[PD_DIGEST_LEN];
  struct pd_err err = { 0 };
  int rc = cache_last_get(c, graph, task, last, &err);
  if (rc == 0 || (rc == 1 && memcmp(last, key, PD_DIGEST_LEN) != 0))
    cache_last_put(c, graph, task, key, &err);
}

static void write_record(struct cache *c, const struct snapshot_args *a, const uint8_t *gdigest,
                         const char *params, char **sources, size_t nsources,
                         struct snap_task *tasks, size_t ntasks, double t0, char run_id[32])
{
  struct record_head h;
  struct strbuf sb;
  struct pd_err err = { 0 };
  size_t i;

  cache_new_run_id(run_id);
  memset(&h, 0, sizeof h);
  h.run_id = run_id;
  h.graph = a->graph_real;
  h.status = "ok";
  h.graph_digest = gdigest;
  h.started = t0;
  h.ended = wall_now();
  h.tasks = h.cached = ntasks;
  h.argc = a->argc;
  h.argv = a->argv;
  h.params_json = params;
  h.overrides = a->overrides;
  h.noverrides = a->noverrides;
  h.sources = (const char *const *)sources;
  h.nsources = nsources;
  h.jobs = a->jobs;
  h.gpus = a->gpus;
  h.snapshot = 1;
  strbuf_init(&sb, 256 + 256 * ntasks);
  record_begin(&sb, &h);
  for (i = 0; i < ntasks; i++) {
    struct record_task rt;
    memset(&rt, 0, sizeof rt);
    rt.name = tasks[i].name;
    rt.kind = tasks[i].kind;
    rt.version = tasks[i].version;
    rt.state = "cached";
    rt.key = tasks[i].key;
    rt.res = &tasks[i].res;
    record_task(&sb, &rt, i == 0);
  }
  record_end(&sb);
  if (cache_run_put(c, run_id, sb.buf, &err) < 0)
    fprintf(stderr, "warning: cannot store the run record: %s\n", err.msg);
  strbuf_release(&sb);
}

int snapshot_run(struct cache *c, const struct snapshot_args *a, char run_id[32],
                 size_t *ntasks_out)
{
  uint8_t skey[PD_DIGEST_LEN];
  struct pd_err err = { 0 };
  struct reader r;
  struct snap_task *tasks = NULL;
  char **sources = NULL, *body = NULL, *params = NULL;
  const uint8_t *gdigest;
  uint32_t n, ns, nt = 0, i, k, len;
  size_t nsources = 0, done = 0;
  double t0 = wall_now();
  int ok = 0;

  size_t blen;

  snapshot_key(a, skey);
  if (cache_memo_get(c, skey, &body, &blen, &err) != 1)
    return 0;
  r.p = (const unsigned char *)body;
  r.end = r.p + blen;
  r.bad = 0;
  if ((size_t)(r.end - r.p) < sizeof magic || memcmp(r.p, magic, sizeof magic) != 0)
    goto out;
  r.p += sizeof magic;
  gdigest = get_digest(&r);
  {
    const char *p = get_str(&r, &len);
    if (r.bad)
      goto out;
    params = xstrndup(p, len);
  }
  ns = get_u32(&r);
  if (r.bad || ns > (uint32_t)(r.end - r.p))
    goto out;
  sources = xcalloc(ns + 1, sizeof *sources);
  for (i = 0; i < ns; i++) {
    int kind;
    const char *p;
    char *path;
    const uint8_t *d;
    if (r.p >= r.end)
      goto out;
    kind = *r.p++;
    p = get_str(&r, &len);
    d = get_digest(&r);
    if (r.bad)
      goto out;
    path = xstrndup(p, len);
    if (!source_matches(c, kind, path, d)) {
      free(path);
      goto out;
    }
    if (kind == 'g')
      sources[nsources++] = path;
    else
      free(path);
  }
  nt = get_u32(&r);
  if (r.bad || nt > (uint32_t)(r.end - r.p))
    goto out;
  tasks = xcalloc(nt + 1, sizeof *tasks);
  for (i = 0; i < nt; i++) {
    struct snap_task *t = &tasks[i];
    const char *p;
    p = get_str(&r, &len);
    if (r.bad)
      goto out;
    t->name = xstrndup(p, len);
    p = get_str(&r, &len);
    if (r.bad)
      goto out;
    t->kind = xstrndup(p, len);
    t->version = (int)get_u32(&r);
    t->key = get_digest(&r);
    n = get_u32(&r);
    if (r.bad || cache_action_get(c, t->key, &t->res, &err) != 1)
      goto out;
    done = i + 1;
    if (t->res.nouts != n)
      goto out;
    for (k = 0; k < n; k++) {
      const uint8_t *d;
      p = get_str(&r, &len);
      d = get_digest(&r);
      if (r.bad || strlen(t->res.outs[k].name) != len ||
          memcmp(t->res.outs[k].name, p, len) != 0 ||
          memcmp(t->res.outs[k].digest, d, PD_DIGEST_LEN) != 0)
        goto out;
    }
  }
  if (r.p != r.end)
    goto out;
  /* Confirmed: a no-op. Keep explain's "last key" pointers current, as a
   * full run would, and record the run. */
  for (i = 0; i < nt; i++)
    remember_last(c, a->graph_real, tasks[i].name, tasks[i].key);
  write_record(c, a, gdigest, params, sources, nsources, tasks, nt, t0, run_id);
  *ntasks_out = nt;
  ok = 1;
out:
  for (i = 0; tasks && i < nt; i++) {
    free(tasks[i].name);
    free(tasks[i].kind);
    if (i < done)
      action_result_release(&tasks[i].res);
  }
  free(tasks);
  for (i = 0; i < nsources; i++)
    free(sources[i]);
  free(sources);
  free(params);
  free(body);
  return ok;
}

/* --- saving --------------------------------------------------------------- */

struct src {
  int kind;
  const char *path;
};

static void collect_sources(const struct val *v, struct src **out, size_t *n)
{
  size_t i;
  switch (v->kind) {
  case V_FILE:
  case V_DIR:
    *out = xrealloc(*out, (*n + 1) * sizeof **out);
    (*out)[*n].kind = v->kind == V_DIR ? 'd' : 'f';
    (*out)[*n].path = v->u.src.path;
    (*n)++;
    return;
  case V_LIST:
  case V_CONCAT:
    for (i = 0; i < v->u.list.n; i++)
      collect_sources(&v->u.list.v[i], out, n);
    return;
  case V_MAP:
    for (i = 0; i < v->u.map.n; i++)
      collect_sources(&v->u.map.v[i], out, n);
    return;
  default:
    return;
  }
}

static int src_cmp(const void *x, const void *y)
{
  const struct src *a = x, *b = y;
  int c = strcmp(a->path, b->path);
  return c ? c : a->kind - b->kind;
}

void snapshot_save(struct cache *c, const struct snapshot_args *a, const struct graph *g,
                   const struct sched *s)
{
  uint8_t skey[PD_DIGEST_LEN], d[PD_DIGEST_LEN];
  struct pd_err err = { 0 };
  struct strbuf sb, params;
  struct src *srcs = NULL;
  size_t nsrcs = 0, i, k, nt = 0, old_n = 0, uniq = 0;
  char *old = NULL;

  if (sched_exit_code(s) != 0)
    return;
  for (i = 0; i < g->ntasks; i++) {
    struct sched_task_info info;
    sched_task(s, (int)i, &info);
    if (info.state == TASK_UNNEEDED)
      continue;
    if ((info.state != TASK_CACHED && info.state != TASK_DONE) || !info.res)
      return;
    collect_sources(&g->tasks[i].params, &srcs, &nsrcs);
    nt++;
  }
  strbuf_init(&sb, 1024 + 128 * nt);
  strbuf_init(&params, 256);
  strbuf_add(&sb, magic, sizeof magic);
  strbuf_add(&sb, g->digest, PD_DIGEST_LEN);
  record_params_json(&params, g);
  put_str(&sb, params.buf);
  if (nsrcs > 1)
    qsort(srcs, nsrcs, sizeof *srcs, src_cmp);
  for (i = 0; i < nsrcs; i++)
    uniq += i == 0 || src_cmp(&srcs[i], &srcs[i - 1]) != 0;
  put_u32(&sb, (uint32_t)(g->nsources + uniq));
  for (i = 0; i < g->nsources; i++) {
    if (cache_file_digest(c, g->sources[i], d, &err) < 0)
      goto out;
    strbuf_addch(&sb, 'g');
    put_str(&sb, g->sources[i]);
    strbuf_add(&sb, d, PD_DIGEST_LEN);
  }
  for (i = 0; i < nsrcs; i++) {
    int rc;
    if (i > 0 && src_cmp(&srcs[i], &srcs[i - 1]) == 0)
      continue;
    rc = srcs[i].kind == 'd' ? cache_dir_digest(c, srcs[i].path, d, &err)
                             : cache_file_digest(c, srcs[i].path, d, &err);
    if (rc < 0)
      goto out;
    strbuf_addch(&sb, srcs[i].kind);
    put_str(&sb, srcs[i].path);
    strbuf_add(&sb, d, PD_DIGEST_LEN);
  }
  put_u32(&sb, (uint32_t)nt);
  for (i = 0; i < g->ntasks; i++) {
    struct sched_task_info info;
    const struct task *t = &g->tasks[i];
    sched_task(s, (int)i, &info);
    if (info.state == TASK_UNNEEDED)
      continue;
    put_str(&sb, t->name);
    put_str(&sb, t->kind->name);
    put_u32(&sb, (uint32_t)t->kind->version);
    strbuf_add(&sb, info.key, PD_DIGEST_LEN);
    put_u32(&sb, (uint32_t)info.res->nouts);
    for (k = 0; k < info.res->nouts; k++) {
      put_str(&sb, info.res->outs[k].name);
      strbuf_add(&sb, info.res->outs[k].digest, PD_DIGEST_LEN);
    }
  }
  snapshot_key(a, skey);
  /* A no-op rerun through the full path writes nothing. */
  if (cache_memo_get(c, skey, &old, &old_n, &err) == 1 && old_n == sb.len &&
      memcmp(old, sb.buf, sb.len) == 0)
    goto out;
  cache_memo_put(c, skey, sb.buf, sb.len, &err);
out:
  free(old);
  free(srcs);
  strbuf_release(&sb);
  strbuf_release(&params);
}
