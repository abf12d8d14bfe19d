/* cmd_run.c - the commands that evaluate a graph against its cache: run
 * (with the no-op fast path of snapshot.c), status, explain and show. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "cli_int.h"
#include "err.h"
#include "explain.h"
#include "graph.h"
#include "registry.h"
#include "run.h"
#include "scheduler.h"
#include "snapshot.h"
#include "strbuf.h"

/* --- commands ------------------------------------------------------------ */


#define PROF(what) do { if (getenv("POVID_PROFILE")) { double t1_ = progress_now(); fprintf(stderr, "%-12s %6.1f ms\n", what, (t1_ - t0) * 1e3); t0 = t1_; } } while (0)
static void fill_snapshot_args(const struct opts *o, const char *graph_real, int jobs, int gpus,
                               struct snapshot_args *a)
{
  memset(a, 0, sizeof *a);
  a->graph_real = graph_real;
  a->overrides = o->sets;
  a->noverrides = o->nsets;
  a->targets = o->pos + 1;
  a->ntargets = o->npos - 1;
  a->argc = o->argc;
  a->argv = o->argv;
  a->jobs = jobs;
  a->gpus = gpus;
}

/* --- --dry-run notes ------------------------------------------------------- */

static const char *resolve_cached(void *arg, const struct val *v)
{
  struct pd_err err = { 0 };
  return sched_output_path(arg, v->u.ref.node, v->u.ref.output, &err);
}

/* Appends to line the kind's dry-run note (registry.h, dry_run) for task t,
 * which would run with every input present. An error becomes the note: a
 * dry run lists what it can and fails no task. */
static void dry_run_note(struct cache *c, const struct graph *g, struct sched *s, int t,
                         struct strbuf *line)
{
  const struct task *task = &g->tasks[t];
  struct task_run r;
  struct strbuf note;
  if (!task->kind->dry_run)
    return;
  memset(&r, 0, sizeof r);
  r.task = task;
  r.threads = 1;
  r.cache = c;
  r.frac = -1;
  r.resolve = resolve_cached;
  r.resolve_arg = s;
  pthread_mutex_init(&r.mu, NULL);
  strbuf_init(&note, 128);
  if (task->kind->dry_run(&r, &note) < 0) {
    strbuf_reset(&note);
    strbuf_addf(&note, "cannot count what it would do: %s",
                r.err.msg[0] ? r.err.msg : "unknown error");
  }
  if (note.len)
    strbuf_addf(line, "; %s", note.buf);
  strbuf_release(&note);
  pthread_mutex_destroy(&r.mu);
}

int cli__run(struct opts *o)
{
  struct graph g;
  struct cache *c = NULL;
  struct sched *s = NULL;
  struct sched_opts so;
  struct snapshot_args sa;
  struct pd_err err = { 0 };
  int *targets = NULL;
  size_t nt, i, executed, cached, failed, skipped, stale;
  double t0 = progress_now();
  char *real = NULL, *dir;
  int rc;

  memset(&g, 0, sizeof g);
  if (o->npos < 1)
    return cli__usage_error(o->cmd, "run needs a graph FILE");
  cli__fill_sched_opts(o, &so, NULL, 0, o->dry_run);
  /* The no-op fast path needs only the cache, found beside the graph. */
  if (!o->dry_run && !getenv("POVID_NO_SNAPSHOT") && (real = realpath(o->pos[0], NULL))) {
    char run_id[32];
    size_t ntasks;
    dir = xstrdup(real);
    *strrchr(dir, '/') = '\0';
    rc = cli__open_cache(o, *dir ? dir : "/", &c);
    free(dir);
    if (rc) {
      free(real);
      return rc;
    }
    fill_snapshot_args(o, real, so.jobs, so.gpus, &sa);
    if (snapshot_run(c, &sa, run_id, &ntasks)) {
      if (o->progress != PROGRESS_QUIET)
        fprintf(stderr, "povid-dag: 0 executed, %zu cached, 0 failed, 0 skipped in %.2fs (run %s)\n",
                ntasks, progress_now() - t0, run_id);
      PROF("snapshot");
#ifdef PD_FREE_ON_EXIT
      cache_close(c);
      free(real);
#endif
      return 0;
    }
    PROF("snapshot miss");
  }
  if ((rc = cli__load_graph(o, &g))) {
    /* graph_load released g already */
    free(real);
    if (c)
      cache_close(c);
    return rc;
  }
  PROF("load");
  if (!c && (rc = cli__open_cache(o, g.dir, &c)))
    goto out;
  if ((rc = cli__resolve_targets(o, &g, 1, &targets, &nt)))
    goto out;
  cli__fill_sched_opts(o, &so, targets, nt, o->dry_run);
  rc = sched_run(&g, c, &so, &s, &err);
  PROF("sched");
  if (rc < 0) {
    fprintf(stderr, "%s%s\n", rc == PD_EUSAGE ? "" : "povid-dag: error: ", err.msg);
    rc = rc == PD_EUSAGE ? 2 : 1;
    goto out;
  }
  sched_counts(s, &executed, &cached, &failed, &skipped, &stale);
  if (o->dry_run) {
    size_t blocked = 0;
    struct strbuf line;
    strbuf_init(&line, 256);
    for (i = 0; i < g.ntasks; i++) {
      int t = g.topo[i];
      struct sched_task_info info;
      char *why;
      sched_task(s, t, &info);
      if (info.state != TASK_STALE && info.state != TASK_BLOCKED)
        continue;
      blocked += info.state == TASK_BLOCKED;
      why = explain_short(c, &g, s, t);
      strbuf_reset(&line);
      strbuf_addf(&line, "%s %s (%s)", info.state == TASK_STALE ? "would run:" : "then:     ",
                  g.tasks[t].name, why);
      /* Stale: its key is known, so every dependency is cached and its
       * inputs exist. Blocked ones wait on a stale dependency: no note. */
      if (info.state == TASK_STALE)
        dry_run_note(c, &g, s, t, &line);
      puts(line.buf);
      free(why);
    }
    strbuf_release(&line);
    printf("%zu would run, %zu cached\n", stale, cached);
    if (blocked)
      printf("%zu more run after a stale dependency, unless its outputs come out unchanged "
             "(early cutoff)\n", blocked);
    rc = 0;
    goto out;
  }
  rc = sched_exit_code(s);
  if (real) {
    fill_snapshot_args(o, real, so.jobs, so.gpus, &sa);
    snapshot_save(c, &sa, &g, s);
  }
  if (o->progress != PROGRESS_QUIET || rc)
    fprintf(stderr, "povid-dag: %zu executed, %zu cached, %zu failed, %zu skipped in %.2fs (run %s)\n",
            executed, cached, failed, skipped, progress_now() - t0, sched_run_id(s));
out:
#ifndef PD_FREE_ON_EXIT
  /* The process ends right after this: freeing 10,000 tasks' worth of small
   * allocations only costs time (ninja does the same). Sanitizer builds
   * free everything, so leaks stay visible there. Every commit is durable
   * already, so the cache needs no closing either. */
  if (s)
    return rc;
#endif
  free(real);
  free(targets);
  sched_free(s);
  if (c)
    cache_close(c);
  graph_release(&g);
  return rc;
}

int cli__status(struct opts *o)
{
  struct graph g;
  struct cache *c = NULL;
  struct sched *s = NULL;
  cJSON *arr = NULL;
  size_t i;
  int rc;

  if ((rc = cli__load_graph(o, &g)))
    return rc;
  if ((rc = cli__open_cache(o, g.dir, &c)) || (rc = cli__plan(o, &g, c, 1, &s)))
    goto out;
  if (o->json)
    arr = cJSON_CreateArray();
  for (i = 0; i < g.ntasks; i++) {
    int t = g.topo[i];
    struct sched_task_info info;
    char *why = NULL, hex[PD_DIGEST_HEX] = "";
    sched_task(s, t, &info);
    if (info.state == TASK_UNNEEDED)
      continue;
    if (info.state != TASK_CACHED)
      why = explain_short(c, &g, s, t);
    if (info.has_key)
      digest_hex(info.key, hex);
    if (arr) {
      cJSON *obj = cJSON_CreateObject();
      cJSON_AddStringToObject(obj, "task", g.tasks[t].name);
      cJSON_AddStringToObject(obj, "state", task_state_name(info.state));
      if (info.has_key)
        cJSON_AddStringToObject(obj, "key", hex);
      if (why)
        cJSON_AddStringToObject(obj, "why", why);
      cJSON_AddItemToArray(arr, obj);
    } else {
      printf("%-8s %s%s%s%s\n", task_state_name(info.state), g.tasks[t].name,
             why ? " (" : "", why ? why : "", why ? ")" : "");
    }
    free(why);
  }
  if (arr) {
    char *text = cJSON_Print(arr);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(arr);
  }
out:
  sched_free(s);
  if (c)
    cache_close(c);
  graph_release(&g);
  return rc;
}

int cli__explain(struct opts *o)
{
  struct graph g;
  struct cache *c = NULL;
  struct sched *s = NULL;
  struct strbuf sb;
  cJSON *j = NULL;
  int rc, t;

  if (o->npos != 2)
    return cli__usage_error(o->cmd, "explain needs a graph FILE and one TASK");
  if ((rc = cli__load_graph(o, &g)))
    return rc;
  strbuf_init(&sb, 256);
  if ((rc = cli__open_cache(o, g.dir, &c)) || (rc = cli__plan(o, &g, c, 1, &s)))
    goto out;
  t = graph_find_task(&g, o->pos[1]);
  explain_long(c, &g, s, t, &sb, o->json ? &j : NULL);
  if (j) {
    char *text = cJSON_Print(j);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(j);
  } else {
    fputs(sb.buf, stdout);
  }
out:
  strbuf_release(&sb);
  sched_free(s);
  if (c)
    cache_close(c);
  graph_release(&g);
  return rc;
}

static int cat_file(const char *path)
{
  char buf[65536];
  size_t got;
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "povid-dag: error: cannot open '%s': %s\n", path, strerror(errno));
    return 1;
  }
  while ((got = fread(buf, 1, sizeof buf, f)) > 0)
    fwrite(buf, 1, got, stdout);
  fclose(f);
  return 0;
}

int cli__show(struct opts *o)
{
  struct graph g;
  struct cache *c = NULL;
  struct sched *s = NULL;
  struct sched_task_info info;
  struct pd_err err = { 0 };
  char *name, *dot;
  const char *path;
  int rc, t;
  size_t k;

  if (o->npos != 2)
    return cli__usage_error(o->cmd, "show needs a graph FILE and TASK[.OUTPUT]");
  if ((rc = cli__load_graph(o, &g)))
    return rc;
  name = xstrdup(o->pos[1]);
  dot = strchr(name, '.');
  if (dot)
    *dot++ = '\0';
  t = graph_find_task(&g, name);
  if (t < 0) {
    rc = cli__usage_error(o->cmd, "no task '%s' in '%s'", name, o->pos[0]);
    goto out;
  }
  if (dot && task_find_output(&g.tasks[t], dot) < 0) {
    rc = cli__usage_error(o->cmd, "task '%s' has no output '%s'", name, dot);
    goto out;
  }
  o->pos[1] = name; /* plan only this task's closure */
  if ((rc = cli__open_cache(o, g.dir, &c)) || (rc = cli__plan(o, &g, c, 1, &s)))
    goto out;
  sched_task(s, t, &info);
  if (info.state != TASK_CACHED) {
    char *why = explain_short(c, &g, s, t);
    fprintf(stderr, "povid-dag: error: task '%s' is not up to date (%s); run it first\n", name, why);
    free(why);
    rc = 1;
    goto out;
  }
  if (!dot && g.tasks[t].noutputs != 1) {
    for (k = 0; k < g.tasks[t].noutputs; k++) {
      path = sched_output_path(s, t, g.tasks[t].outputs[k].name, &err);
      printf("%s\t%s\n", g.tasks[t].outputs[k].name, path ? path : err.msg);
    }
    goto out;
  }
  path = sched_output_path(s, t, dot ? dot : g.tasks[t].outputs[0].name, &err);
  if (!path) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    rc = 1;
    goto out;
  }
  if (o->cat)
    rc = cat_file(path);
  else
    printf("%s\n", path);
out:
  free(name);
  sched_free(s);
  if (c)
    cache_close(c);
  graph_release(&g);
  return rc;
}
