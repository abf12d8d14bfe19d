/* record.c - the run record: what a run did, and on what, for `log` and
 * audits (DESIGN.md, "Run records"). JSON, built directly into a strbuf:
 * it is written on every run, no-op reruns of 10,000 tasks included. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "cache.h"
#include "record.h"
#include "device.h"
#include "graph.h"
#include "registry.h"
#include "scheduler_int.h"
#include "version.h"

static void add_str(struct strbuf *sb, const char *s)
{
  strbuf_add_json_str(sb, s, strlen(s));
}

static void add_hex(struct strbuf *sb, const uint8_t d[PD_DIGEST_LEN])
{
  strbuf_grow(sb, PD_DIGEST_HEX + 2);
  sb->buf[sb->len++] = '"';
  digest_hex(d, sb->buf + sb->len); /* writes 64 digits and a NUL */
  sb->len += PD_DIGEST_HEX - 1;
  sb->buf[sb->len++] = '"';
  sb->buf[sb->len] = '\0';
}

static void add_env(struct strbuf *sb, int jobs, int gpus)
{
  char cpu[256], gpu[512];
  struct utsname u;
  device_cpu_model(cpu, sizeof cpu);
  device_describe(gpu, sizeof gpu);
  strbuf_addstr(sb, "\"env\":{\"tool\":");
  add_str(sb, "povid-dag " PD_VERSION);
  strbuf_addstr(sb, ",\"build\":");
  add_str(sb, PD_BUILD_TYPE);
  strbuf_addstr(sb, ",\"flags\":");
  add_str(sb, PD_BUILD_FLAGS);
  strbuf_addstr(sb, ",\"compiler\":");
  add_str(sb, PD_C_COMPILER);
  strbuf_addstr(sb, ",\"cuda_build\":");
  strbuf_addstr(sb, PD_HAVE_CUDA ? "true" : "false");
  strbuf_addstr(sb, ",\"cpu\":");
  add_str(sb, cpu);
  strbuf_addstr(sb, ",\"gpu\":");
  add_str(sb, gpu);
  if (uname(&u) == 0) {
    strbuf_addstr(sb, ",\"os\":");
    strbuf_addch(sb, '"');
    strbuf_addf(sb, "%s %s %s", u.sysname, u.release, u.machine);
    strbuf_addch(sb, '"');
  }
  strbuf_addf(sb, ",\"jobs\":%d,\"gpus\":%d}", jobs, gpus);
}

void record_params_json(struct strbuf *sb, const struct graph *g)
{
  size_t i;
  strbuf_addch(sb, '{');
  for (i = 0; i < g->nparams; i++) {
    if (i)
      strbuf_addch(sb, ',');
    add_str(sb, g->params[i].name);
    strbuf_addch(sb, ':');
    val_to_json(&g->params[i].value, sb);
  }
  strbuf_addch(sb, '}');
}

void record_begin(struct strbuf *sb, const struct record_head *h)
{
  size_t i;
  strbuf_addstr(sb, "{\"id\":");
  add_str(sb, h->run_id);
  strbuf_addstr(sb, ",\"graph\":");
  add_str(sb, h->graph);
  strbuf_addstr(sb, ",\"graph_digest\":");
  add_hex(sb, h->graph_digest);
  strbuf_addf(sb, ",\"started\":%.3f,\"ended\":%.3f,\"status\":\"%s\"", h->started, h->ended,
              h->status);
  if (h->snapshot)
    strbuf_addstr(sb, ",\"snapshot\":true");
  strbuf_addf(sb, ",\"counts\":{\"tasks\":%zu,\"executed\":%zu,\"cached\":%zu,\"failed\":%zu,"
                  "\"skipped\":%zu}", h->tasks, h->executed, h->cached, h->failed, h->skipped);
  strbuf_addstr(sb, ",\"argv\":[");
  for (i = 0; i < (size_t)h->argc; i++) {
    if (i)
      strbuf_addch(sb, ',');
    add_str(sb, h->argv[i]);
  }
  strbuf_addstr(sb, "],\"params\":");
  strbuf_addstr(sb, h->params_json);
  strbuf_addstr(sb, ",\"overrides\":{");
  for (i = 0; i < h->noverrides; i++) {
    if (i)
      strbuf_addch(sb, ',');
    add_str(sb, h->overrides[i].name);
    strbuf_addch(sb, ':');
    add_str(sb, h->overrides[i].value);
  }
  strbuf_addstr(sb, "},\"sources\":[");
  for (i = 0; i < h->nsources; i++) {
    if (i)
      strbuf_addch(sb, ',');
    add_str(sb, h->sources[i]);
  }
  strbuf_addstr(sb, "],");
  add_env(sb, h->jobs, h->gpus);
  strbuf_addstr(sb, ",\"tasks\":[");
}

void record_task(struct strbuf *sb, const struct record_task *t, int first)
{
  size_t k;
  if (!first)
    strbuf_addch(sb, ',');
  strbuf_addstr(sb, "{\"name\":");
  add_str(sb, t->name);
  strbuf_addstr(sb, ",\"kind\":");
  add_str(sb, t->kind);
  strbuf_addf(sb, ",\"version\":%d,\"state\":\"%s\"", t->version, t->state);
  if (t->key) {
    strbuf_addstr(sb, ",\"key\":");
    add_hex(sb, t->key);
  }
  if (t->res) {
    strbuf_addstr(sb, ",\"outputs\":{");
    for (k = 0; k < t->res->nouts; k++) {
      const struct artifact *a = &t->res->outs[k];
      if (k)
        strbuf_addch(sb, ',');
      add_str(sb, a->name);
      strbuf_addstr(sb, ":{\"digest\":");
      add_hex(sb, a->digest);
      strbuf_addf(sb, ",\"size\":%llu,\"tree\":%s}", (unsigned long long)a->size,
                  a->is_tree ? "true" : "false");
    }
    strbuf_addch(sb, '}');
    if (t->res->has_log) {
      strbuf_addstr(sb, ",\"log\":");
      add_hex(sb, t->res->log);
    }
  } else if (t->log) {
    strbuf_addstr(sb, ",\"log\":");
    add_hex(sb, t->log);
  }
  if (t->timed)
    strbuf_addf(sb, ",\"start\":%.3f,\"duration\":%.3f,\"attempts\":%d", t->start,
                t->duration, t->attempts);
  if (t->error) {
    strbuf_addstr(sb, ",\"error\":");
    add_str(sb, t->error);
  }
  strbuf_addch(sb, '}');
}

void record_end(struct strbuf *sb)
{
  strbuf_addstr(sb, "]}");
}

char *record_build(struct sched *s, double wall_end)
{
  struct strbuf sb, params;
  const struct graph *g = s->g;
  struct record_head h;
  size_t i;
  int first = 1;

  strbuf_init(&params, 256);
  record_params_json(&params, g);
  memset(&h, 0, sizeof h);
  h.run_id = s->run_id;
  h.graph = g->path;
  h.status = s->interrupted ? "interrupted" : s->failed_any ? "failed" : "ok";
  h.graph_digest = g->digest;
  h.started = s->wall_t0;
  h.ended = wall_end;
  h.tasks = s->needed;
  h.executed = s->executed;
  h.cached = s->cached;
  h.failed = s->failed;
  h.skipped = s->skipped;
  h.argc = s->o.argc;
  h.argv = s->o.argv;
  h.params_json = params.buf;
  h.overrides = s->o.overrides;
  h.noverrides = s->o.noverrides;
  h.sources = (const char *const *)g->sources;
  h.nsources = g->nsources;
  h.jobs = s->o.jobs;
  h.gpus = s->o.gpus;
  strbuf_init(&sb, 256 + 256 * s->needed);
  record_begin(&sb, &h);
  for (i = 0; i < g->ntasks; i++) {
    const struct sched_node *n = &s->n[i];
    const struct task *t = &g->tasks[i];
    struct record_task rt;
    if (!n->needed)
      continue;
    memset(&rt, 0, sizeof rt);
    rt.name = t->name;
    rt.kind = t->kind->name;
    rt.version = t->kind->version;
    rt.state = task_state_name(n->state);
    rt.key = n->has_key ? n->key : NULL;
    rt.res = n->has_res ? &n->res : NULL;
    rt.log = n->has_log ? n->log : NULL;
    rt.timed = n->state == TASK_DONE || n->state == TASK_FAILED;
    rt.start = n->wall_start;
    rt.duration = n->duration;
    rt.attempts = n->attempts;
    rt.error = n->error;
    record_task(&sb, &rt, first);
    first = 0;
  }
  record_end(&sb);
  strbuf_release(&params);
  return strbuf_detach(&sb, NULL);
}
