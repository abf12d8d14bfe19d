/* record.c - the run record: what a run did, and on what, for `log` and
 * audits (DESIGN.md, "Run records"). JSON, built directly into a strbuf:
 * it is written on every run, no-op reruns of 10,000 tasks included. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "cache.h"
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

static void add_env(struct strbuf *sb, const struct sched *s)
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
  strbuf_addf(sb, ",\"jobs\":%d,\"gpus\":%d}", s->o.jobs, s->o.gpus);
}

char *record_build(struct sched *s, double wall_end)
{
  struct strbuf sb;
  const struct graph *g = s->g;
  size_t i, k;
  int first = 1;
  const char *status = s->interrupted ? "interrupted" : s->failed_any ? "failed" : "ok";

  strbuf_init(&sb, 256 + 256 * s->needed);
  strbuf_addstr(&sb, "{\"id\":");
  add_str(&sb, s->run_id);
  strbuf_addstr(&sb, ",\"graph\":");
  add_str(&sb, g->path);
  strbuf_addstr(&sb, ",\"graph_digest\":");
  add_hex(&sb, g->digest);
  strbuf_addf(&sb, ",\"started\":%.3f,\"ended\":%.3f,\"status\":\"%s\"", s->wall_t0, wall_end,
              status);
  strbuf_addf(&sb, ",\"counts\":{\"tasks\":%zu,\"executed\":%zu,\"cached\":%zu,\"failed\":%zu,"
                   "\"skipped\":%zu}", s->needed, s->executed, s->cached, s->failed, s->skipped);
  strbuf_addstr(&sb, ",\"argv\":[");
  for (i = 0; i < (size_t)s->o.argc; i++) {
    if (i)
      strbuf_addch(&sb, ',');
    add_str(&sb, s->o.argv[i]);
  }
  strbuf_addstr(&sb, "],\"params\":{");
  for (i = 0; i < g->nparams; i++) {
    if (i)
      strbuf_addch(&sb, ',');
    add_str(&sb, g->params[i].name);
    strbuf_addch(&sb, ':');
    val_to_json(&g->params[i].value, &sb);
  }
  strbuf_addstr(&sb, "},\"overrides\":{");
  for (i = 0; i < s->o.noverrides; i++) {
    if (i)
      strbuf_addch(&sb, ',');
    add_str(&sb, s->o.overrides[i].name);
    strbuf_addch(&sb, ':');
    add_str(&sb, s->o.overrides[i].value);
  }
  strbuf_addstr(&sb, "},\"sources\":[");
  for (i = 0; i < g->nsources; i++) {
    if (i)
      strbuf_addch(&sb, ',');
    add_str(&sb, g->sources[i]);
  }
  strbuf_addstr(&sb, "],");
  add_env(&sb, s);
  strbuf_addstr(&sb, ",\"tasks\":[");
  for (i = 0; i < g->ntasks; i++) {
    const struct sched_node *n = &s->n[i];
    const struct task *t = &g->tasks[i];
    if (!n->needed)
      continue;
    if (!first)
      strbuf_addch(&sb, ',');
    first = 0;
    strbuf_addstr(&sb, "{\"name\":");
    add_str(&sb, t->name);
    strbuf_addstr(&sb, ",\"kind\":");
    add_str(&sb, t->kind->name);
    strbuf_addf(&sb, ",\"version\":%d,\"state\":\"%s\"", t->kind->version,
                task_state_name(n->state));
    if (n->has_key) {
      strbuf_addstr(&sb, ",\"key\":");
      add_hex(&sb, n->key);
    }
    if (n->has_res) {
      strbuf_addstr(&sb, ",\"outputs\":{");
      for (k = 0; k < n->res.nouts; k++) {
        const struct artifact *a = &n->res.outs[k];
        if (k)
          strbuf_addch(&sb, ',');
        add_str(&sb, a->name);
        strbuf_addstr(&sb, ":{\"digest\":");
        add_hex(&sb, a->digest);
        strbuf_addf(&sb, ",\"size\":%llu,\"tree\":%s}", (unsigned long long)a->size,
                    a->is_tree ? "true" : "false");
      }
      strbuf_addch(&sb, '}');
      if (n->res.has_log) {
        strbuf_addstr(&sb, ",\"log\":");
        add_hex(&sb, n->res.log);
      }
    } else if (n->has_log) {
      strbuf_addstr(&sb, ",\"log\":");
      add_hex(&sb, n->log);
    }
    if (n->state == TASK_DONE || n->state == TASK_FAILED)
      strbuf_addf(&sb, ",\"start\":%.3f,\"duration\":%.3f,\"attempts\":%d", n->wall_start,
                  n->duration, n->attempts);
    if (n->error) {
      strbuf_addstr(&sb, ",\"error\":");
      add_str(&sb, n->error);
    }
    strbuf_addch(&sb, '}');
  }
  strbuf_addstr(&sb, "]}");
  return strbuf_detach(&sb, NULL);
}
