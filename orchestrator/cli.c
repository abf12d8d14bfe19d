/* cli.c - the povid-dag command line.
 *
 * Exit codes: 0 success, 1 a task failed (or a runtime error), 2 usage or
 * graph error, 130 interrupted. Commands that concern a graph take its FILE
 * first; its cache defaults to .povid/ beside it, or --cache DIR, or
 * $POVID_CACHE. log and cache use ./.povid the same way.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "err.h"
#include "graph.h"
#include "registry.h"
#include "scheduler.h"
#include "snapshot.h"
#include "strbuf.h"
#include "version.h"

/* --- options --------------------------------------------------------------- */

struct opts {
  const char *cmd;
  char **pos;                /* positional arguments */
  size_t npos;
  struct override *sets;
  size_t nsets;
  const char *cache;
  int jobs, gpus, keep_going, dry_run, json, cat, help, verbose;
  enum progress_mode progress;
  const char *format;
  long keep;
  uint64_t max_size;
  int argc;
  char **argv;
};

static const char *const usage_main =
  "usage: povid-dag COMMAND [ARGS]\n"
  "\n"
  "Runs POVID-style preference fine-tuning as a declarative task graph with a\n"
  "content-addressed cache: reruns do only the work whose inputs changed.\n"
  "\n"
  "commands:\n"
  "  run FILE [TASK...]        run the graph (or the named tasks and what they need)\n"
  "  status FILE [TASK...]     each task: cached | stale (why) | blocked\n"
  "  explain FILE TASK         why a task would rerun: the diff of its key\n"
  "  graph FILE                the graph as dot (default) or json\n"
  "  tasks [KIND]              task kinds, their parameters and outputs\n"
  "  show FILE TASK[.OUTPUT]   path of an artifact (--cat: its contents)\n"
  "  log [RUN]                 past runs\n"
  "  cache verify|gc|stats     check, trim or measure the cache\n"
  "\n"
  "povid-dag COMMAND --help shows a command's options; --version the version.\n";

static const struct {
  const char *cmd;
  const char *text;
} usages[] = {
  { "run", "usage: povid-dag run FILE [TASK...] [options]\n"
           "  --set NAME=VALUE   override a param (typed like its default); repeatable\n"
           "  -j, --jobs N       cpu slots (default: number of cores)\n"
           "  --gpus N           gpu slots (default: GPUs found, 0 without CUDA)\n"
           "  -n, --dry-run      list what would run and why; run nothing\n"
           "  -k, --keep-going   after a failure, run everything that does not depend on it\n"
           "  --progress MODE    auto (default), tty, plain or quiet\n"
           "  -v, --verbose      show each command as it starts\n"
           "  --cache DIR        cache directory (default: .povid beside FILE, or $POVID_CACHE)\n" },
  { "status", "usage: povid-dag status FILE [TASK...] [--set NAME=VALUE]... [--json] [--cache DIR]\n"
              "  each task: cached, stale (and why) or blocked (waits on a stale task)\n" },
  { "explain", "usage: povid-dag explain FILE TASK [--set NAME=VALUE]... [--json] [--cache DIR]\n"
               "  why TASK would rerun: the diff of its action key against its last run\n" },
  { "graph", "usage: povid-dag graph FILE [--format dot|json] [--set NAME=VALUE]...\n" },
  { "tasks", "usage: povid-dag tasks [KIND]\n"
             "  lists the task kinds, or one kind's parameters and outputs\n" },
  { "show", "usage: povid-dag show FILE TASK[.OUTPUT] [--cat] [--set NAME=VALUE]... [--cache DIR]\n"
            "  prints the path of a cached artifact; --cat prints a file's contents\n" },
  { "log", "usage: povid-dag log [RUN] [--json] [--cache DIR]\n"
           "  lists past runs, or shows one\n" },
  { "cache", "usage: povid-dag cache verify|gc|stats [--cache DIR]\n"
             "  verify              re-hash every blob and report damage\n"
             "  gc [--keep N] [--max-size SIZE]\n"
             "                      keep what the newest N runs (default 5) and pinned runs\n"
             "                      need; then drop old runs while above SIZE (e.g. 10G)\n"
             "  stats               counts and sizes\n" },
};

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fputs("povid-dag: error: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see 'povid-dag %s--help')\n", cmd ? cmd : "");
  return 2;
}

static const char *usage_of(const char *cmd)
{
  size_t i;
  for (i = 0; i < sizeof usages / sizeof usages[0]; i++)
    if (strcmp(usages[i].cmd, cmd) == 0)
      return usages[i].text;
  return usage_main;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
  char *end;
  double v = strtod(s, &end);
  double mul = 1;
  if (end == s || v < 0)
    return -1;
  switch (*end) {
  case 'k': case 'K': mul = 1024.0; end++; break;
  case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
  case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
  case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
  default: break;
  }
  if (*end == 'B' || *end == 'b')
    end++;
  if (*end)
    return -1;
  *out = (uint64_t)(v * mul);
  return 0;
}

/* Takes the value of an option given as --opt=V, --opt V, -jN or -j N. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, size_t skip)
{
  const char *a = argv[*i];
  if (a[skip] == '=')
    return a + skip + 1;
  if (a[skip])
    return a + skip;
  if (*i + 1 >= argc)
    return NULL;
  (void)name;
  return argv[++*i];
}

static int is_opt(const char *a, const char *name)
{
  size_t n = strlen(name);
  return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
  int i;
  long v;
  const char *val;
  o->pos = xcalloc((size_t)argc + 1, sizeof *o->pos);
  o->sets = xcalloc((size_t)argc + 1, sizeof *o->sets);
  o->jobs = -1;
  o->gpus = -1;
  o->keep = 5;
  o->progress = PROGRESS_AUTO;
  for (i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      for (i++; i < argc; i++)
        o->pos[o->npos++] = argv[i];
      break;
    }
    if (a[0] != '-' || a[1] == '\0') {
      o->pos[o->npos++] = argv[i];
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      o->help = 1;
    } else if (is_opt(a, "--set")) {
      const char *eq;
      if (!(val = opt_value(argc, argv, &i, "--set", 5)))
        return usage_error(o->cmd, "--set needs NAME=VALUE");
      eq = strchr(val, '=');
      if (!eq || eq == val)
        return usage_error(o->cmd, "--set %s: expected NAME=VALUE", val);
      o->sets[o->nsets].name = xstrndup(val, (size_t)(eq - val));
      o->sets[o->nsets].value = eq + 1;
      o->nsets++;
    } else if (strncmp(a, "-j", 2) == 0 || is_opt(a, "--jobs")) {
      val = opt_value(argc, argv, &i, "-j", a[1] == 'j' ? 2 : 6);
      if (!val || parse_int(val, 1, 4096, &v) < 0)
        return usage_error(o->cmd, "-j needs a number of jobs from 1 to 4096");
      o->jobs = (int)v;
    } else if (is_opt(a, "--gpus")) {
      val = opt_value(argc, argv, &i, "--gpus", 6);
      if (!val || parse_int(val, 0, 1024, &v) < 0)
        return usage_error(o->cmd, "--gpus needs a number from 0 to 1024");
      o->gpus = (int)v;
    } else if (strcmp(a, "-n") == 0 || strcmp(a, "--dry-run") == 0) {
      o->dry_run = 1;
    } else if (strcmp(a, "-k") == 0 || strcmp(a, "--keep-going") == 0) {
      o->keep_going = 1;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      o->verbose = 1;
    } else if (strcmp(a, "--json") == 0) {
      o->json = 1;
    } else if (strcmp(a, "--cat") == 0) {
      o->cat = 1;
    } else if (is_opt(a, "--progress")) {
      if (!(val = opt_value(argc, argv, &i, "--progress", 10)))
        return usage_error(o->cmd, "--progress needs auto, tty, plain or quiet");
      if (strcmp(val, "auto") == 0) o->progress = PROGRESS_AUTO;
      else if (strcmp(val, "tty") == 0) o->progress = PROGRESS_TTY;
      else if (strcmp(val, "plain") == 0) o->progress = PROGRESS_PLAIN;
      else if (strcmp(val, "quiet") == 0) o->progress = PROGRESS_QUIET;
      else return usage_error(o->cmd, "--progress %s: expected auto, tty, plain or quiet", val);
    } else if (is_opt(a, "--cache")) {
      if (!(o->cache = opt_value(argc, argv, &i, "--cache", 7)))
        return usage_error(o->cmd, "--cache needs a directory");
    } else if (is_opt(a, "--format")) {
      if (!(o->format = opt_value(argc, argv, &i, "--format", 8)))
        return usage_error(o->cmd, "--format needs dot or json");
    } else if (is_opt(a, "--keep")) {
      val = opt_value(argc, argv, &i, "--keep", 6);
      if (!val || parse_int(val, 0, 1000000, &o->keep) < 0)
        return usage_error(o->cmd, "--keep needs a number of runs");
    } else if (is_opt(a, "--max-size")) {
      val = opt_value(argc, argv, &i, "--max-size", 10);
      if (!val || parse_size(val, &o->max_size) < 0)
        return usage_error(o->cmd, "--max-size needs a size such as 500M or 10G");
    } else {
      return usage_error(o->cmd, "unknown option '%s'", a);
    }
  }
  return 0;
}

static void opts_release(struct opts *o)
{
  size_t i;
  for (i = 0; i < o->nsets; i++)
    free((char *)o->sets[i].name);
  free(o->sets);
  free(o->pos);
}

/* --- shared steps ----------------------------------------------------------- */

static char *cache_dir_for(const struct opts *o, const char *graph_dir)
{
  const char *env = getenv("POVID_CACHE");
  if (o->cache)
    return xstrdup(o->cache);
  if (env && *env)
    return xstrdup(env);
  if (graph_dir)
    return xasprintf("%s/.povid", graph_dir);
  return xstrdup(".povid");
}

static int load_graph(const struct opts *o, struct graph *g)
{
  struct pd_err err = { 0 };
  int rc;
  if (o->npos < 1)
    return usage_error(o->cmd, "%s needs a graph FILE", o->cmd);
  rc = graph_load(g, o->pos[0], o->sets, o->nsets, &err);
  if (rc < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return rc == PD_EPARSE || rc == PD_EGRAPH || rc == PD_ECYCLE || rc == PD_EUSAGE ||
           rc == UV_ENOENT || rc == UV_EACCES || rc == UV_EISDIR ? 2 : 1;
  }
  return 0;
}

static int open_cache(const struct opts *o, const char *graph_dir, struct cache **c)
{
  struct pd_err err = { 0 };
  char *dir = cache_dir_for(o, graph_dir);
  int rc = cache_open(c, dir, &err);
  free(dir);
  if (rc < 0) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    return 1;
  }
  return 0;
}

/* Task names on the command line -> indices; errors suggest near names. */
static int resolve_targets(const struct opts *o, const struct graph *g, size_t first,
                           int **targets, size_t *n)
{
  size_t i;
  *targets = xcalloc(o->npos + 1, sizeof **targets);
  *n = 0;
  for (i = first; i < o->npos; i++) {
    int t = graph_find_task(g, o->pos[i]);
    if (t < 0) {
      const char **names = xcalloc(g->ntasks + 1, sizeof *names);
      const char *near;
      size_t k;
      for (k = 0; k < g->ntasks; k++)
        names[k] = g->tasks[k].name;
      near = closest_name(o->pos[i], names, g->ntasks);
      if (near)
        usage_error(o->cmd, "no task '%s' in '%s'; did you mean '%s'?", o->pos[i], o->pos[0], near);
      else
        usage_error(o->cmd, "no task '%s' in '%s'", o->pos[i], o->pos[0]);
      free(names);
      free(*targets);
      *targets = NULL;
      return 2;
    }
    (*targets)[(*n)++] = t;
  }
  return 0;
}

static int default_gpus(void);

static void fill_sched_opts(const struct opts *o, struct sched_opts *so, const int *targets,
                            size_t ntargets, int plan)
{
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  memset(so, 0, sizeof *so);
  so->jobs = o->jobs > 0 ? o->jobs : (int)(ncpu > 0 ? ncpu : 1);
  so->gpus = o->gpus >= 0 ? o->gpus : default_gpus();
  so->keep_going = o->keep_going;
  so->plan = plan;
  so->progress = o->progress;
  so->verbose = o->verbose;
  so->targets = targets;
  so->ntargets = ntargets;
  so->overrides = o->sets;
  so->noverrides = o->nsets;
  so->argc = o->argc;
  so->argv = o->argv;
}

#include "device.h"
static int default_gpus(void)
{
  char buf[256];
  device_describe(buf, sizeof buf);
  return strcmp(buf, "none") == 0 ? 0 : atoi(buf);
}

/* Runs the scheduler in plan mode over the targets (all when none). */
static int plan(const struct opts *o, struct graph *g, struct cache *c, size_t first,
                struct sched **s)
{
  struct sched_opts so;
  struct pd_err err = { 0 };
  int *targets;
  size_t nt;
  int rc = resolve_targets(o, g, first, &targets, &nt);
  if (rc)
    return rc;
  fill_sched_opts(o, &so, targets, nt, 1);
  rc = sched_run(g, c, &so, s, &err);
  free(targets);
  if (rc < 0) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    return rc == PD_EUSAGE ? 2 : 1;
  }
  return 0;
}

/* --- commands ------------------------------------------------------------ */

#include "explain.h"

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

static int cmd_run(struct opts *o)
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
    return usage_error(o->cmd, "run needs a graph FILE");
  fill_sched_opts(o, &so, NULL, 0, o->dry_run);
  /* The no-op fast path needs only the cache, found beside the graph. */
  if (!o->dry_run && !getenv("POVID_NO_SNAPSHOT") && (real = realpath(o->pos[0], NULL))) {
    char run_id[32];
    size_t ntasks;
    dir = xstrdup(real);
    *strrchr(dir, '/') = '\0';
    rc = open_cache(o, *dir ? dir : "/", &c);
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
  if ((rc = load_graph(o, &g))) {
    /* graph_load released g already */
    free(real);
    if (c)
      cache_close(c);
    return rc;
  }
  PROF("load");
  if (!c && (rc = open_cache(o, g.dir, &c)))
    goto out;
  if ((rc = resolve_targets(o, &g, 1, &targets, &nt)))
    goto out;
  fill_sched_opts(o, &so, targets, nt, o->dry_run);
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
    for (i = 0; i < g.ntasks; i++) {
      int t = g.topo[i];
      struct sched_task_info info;
      char *why;
      sched_task(s, t, &info);
      if (info.state != TASK_STALE && info.state != TASK_BLOCKED)
        continue;
      blocked += info.state == TASK_BLOCKED;
      why = explain_short(c, &g, s, t);
      printf("%s %s (%s)\n", info.state == TASK_STALE ? "would run:" : "then:     ",
             g.tasks[t].name, why);
      free(why);
    }
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

static int cmd_status(struct opts *o)
{
  struct graph g;
  struct cache *c = NULL;
  struct sched *s = NULL;
  cJSON *arr = NULL;
  size_t i;
  int rc;

  if ((rc = load_graph(o, &g)))
    return rc;
  if ((rc = open_cache(o, g.dir, &c)) || (rc = plan(o, &g, c, 1, &s)))
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

static int cmd_explain(struct opts *o)
{
  struct graph g;
  struct cache *c = NULL;
  struct sched *s = NULL;
  struct strbuf sb;
  cJSON *j = NULL;
  int rc, t;

  if (o->npos != 2)
    return usage_error(o->cmd, "explain needs a graph FILE and one TASK");
  if ((rc = load_graph(o, &g)))
    return rc;
  strbuf_init(&sb, 256);
  if ((rc = open_cache(o, g.dir, &c)) || (rc = plan(o, &g, c, 1, &s)))
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

static void dot_quote(const char *s)
{
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      putchar('\\');
    putchar(*s);
  }
  putchar('"');
}

static int cmd_graph(struct opts *o)
{
  struct graph g;
  size_t i, k;
  int rc;
  const char *fmt = o->format ? o->format : "dot";
  if (strcmp(fmt, "dot") != 0 && strcmp(fmt, "json") != 0)
    return usage_error(o->cmd, "--format %s: expected dot or json", fmt);
  if ((rc = load_graph(o, &g)))
    return rc;
  if (strcmp(fmt, "dot") == 0) {
    printf("digraph povid {\n  rankdir=LR;\n  node [shape=box];\n");
    for (i = 0; i < g.ntasks; i++) {
      printf("  ");
      dot_quote(g.tasks[i].name);
      printf(" [label=\"%s\\n(%s)\"];\n", g.tasks[i].name, g.tasks[i].kind->name);
    }
    for (i = 0; i < g.ntasks; i++)
      for (k = 0; k < g.tasks[i].ndeps; k++) {
        printf("  ");
        dot_quote(g.tasks[g.tasks[i].deps[k]].name);
        printf(" -> ");
        dot_quote(g.tasks[i].name);
        printf(";\n");
      }
    printf("}\n");
  } else {
    cJSON *root = cJSON_CreateObject(), *tasks = cJSON_AddArrayToObject(root, "tasks");
    char *text;
    cJSON_AddStringToObject(root, "graph", g.path);
    for (i = 0; i < g.ntasks; i++) {
      const struct task *t = &g.tasks[i];
      cJSON *obj = cJSON_CreateObject(), *deps, *outs;
      struct strbuf sb;
      cJSON_AddStringToObject(obj, "name", t->name);
      cJSON_AddStringToObject(obj, "kind", t->kind->name);
      cJSON_AddStringToObject(obj, "pool", t->pool);
      cJSON_AddNumberToObject(obj, "threads", t->threads);
      deps = cJSON_AddArrayToObject(obj, "deps");
      for (k = 0; k < t->ndeps; k++)
        cJSON_AddItemToArray(deps, cJSON_CreateString(g.tasks[t->deps[k]].name));
      outs = cJSON_AddArrayToObject(obj, "outputs");
      for (k = 0; k < t->noutputs; k++)
        cJSON_AddItemToArray(outs, cJSON_CreateString(t->outputs[k].name));
      strbuf_init(&sb, 256);
      val_to_json(&t->params, &sb);
      cJSON_AddRawToObject(obj, "params", sb.buf);
      strbuf_release(&sb);
      cJSON_AddItemToArray(tasks, obj);
    }
    text = cJSON_Print(root);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(root);
  }
  graph_release(&g);
  return 0;
}

static void print_kind(const struct task_kind *k)
{
  const struct kind_output *out;
  const struct kind_param *tables[2] = { k->params, registry_common_params }, *p;
  size_t t;
  printf("%s (version %d)\n  %s\n\nparameters:\n", k->name, k->version, k->doc);
  for (t = 0; t < 2; t++) {
    if (t == 1)
      printf("common to every kind:\n");
    for (p = tables[t]; p->name; p++) {
      char range[128] = "";
      if (p->min <= p->max && (p->type == PT_INT || p->type == PT_FLOAT))
        snprintf(range, sizeof range, " in [%g, %g]", p->min, p->max);
      else if (p->choices)
        snprintf(range, sizeof range, " one of %s", p->choices);
      printf("  %-14s %-8s %s%s%s\n", p->name, ptype_name(p->type),
             p->def ? "= " : "(required)", p->def ? p->def : "", range);
      printf("      %s%s\n", p->doc, (p->flags & KP_NOKEY) ? " (not part of the action key)" : "");
    }
  }
  printf("\noutputs:\n");
  if (!k->outputs || !k->outputs->name)
    printf("  declared by the task's 'outputs' parameter\n");
  for (out = k->outputs; out && out->name; out++)
    printf("  %-14s %s\n", out->name, out->doc);
}

static int cmd_tasks(struct opts *o)
{
  size_t n, i;
  const struct task_kind *const *all = registry_all(&n);
  if (o->npos > 1)
    return usage_error(o->cmd, "tasks takes at most one KIND");
  if (o->npos == 1) {
    const struct task_kind *k = registry_find(o->pos[0]);
    if (!k) {
      const char **names = xcalloc(n + 1, sizeof *names);
      const char *near;
      for (i = 0; i < n; i++)
        names[i] = all[i]->name;
      near = closest_name(o->pos[0], names, n);
      usage_error(o->cmd, "no task kind '%s'%s%s%s", o->pos[0], near ? "; did you mean '" : "",
                  near ? near : "", near ? "'?" : "");
      free(names);
      return 2;
    }
    print_kind(k);
    return 0;
  }
  for (i = 0; i < n; i++)
    printf("%-16s %s\n", all[i]->name, all[i]->doc);
  return 0;
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

static int cmd_show(struct opts *o)
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
    return usage_error(o->cmd, "show needs a graph FILE and TASK[.OUTPUT]");
  if ((rc = load_graph(o, &g)))
    return rc;
  name = xstrdup(o->pos[1]);
  dot = strchr(name, '.');
  if (dot)
    *dot++ = '\0';
  t = graph_find_task(&g, name);
  if (t < 0) {
    rc = usage_error(o->cmd, "no task '%s' in '%s'", name, o->pos[0]);
    goto out;
  }
  if (dot && task_find_output(&g.tasks[t], dot) < 0) {
    rc = usage_error(o->cmd, "task '%s' has no output '%s'", name, dot);
    goto out;
  }
  o->pos[1] = name; /* plan only this task's closure */
  if ((rc = open_cache(o, g.dir, &c)) || (rc = plan(o, &g, c, 1, &s)))
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

static int cmd_log(struct opts *o)
{
  struct cache *c;
  struct pd_err err = { 0 };
  char **ids = NULL;
  size_t n = 0, i;
  int rc;
  if (o->npos > 1)
    return usage_error(o->cmd, "log takes at most one RUN");
  if ((rc = open_cache(o, NULL, &c)))
    return rc;
  if (o->npos == 1) {
    char *json = NULL;
    cJSON *r, *tasks, *t;
    rc = cache_run_get(c, o->pos[0], &json, &err);
    if (rc <= 0) {
      fprintf(stderr, "povid-dag: error: %s\n", rc < 0 ? err.msg : "no such run");
      cache_close(c);
      return 1;
    }
    if (o->json) {
      puts(json);
    } else if ((r = cJSON_Parse(json)) != NULL) {
      printf("run %s: %s\ngraph %s\n", o->pos[0],
             cJSON_GetStringValue(cJSON_GetObjectItem(r, "status")),
             cJSON_GetStringValue(cJSON_GetObjectItem(r, "graph")));
      tasks = cJSON_GetObjectItem(r, "tasks");
      cJSON_ArrayForEach(t, tasks) {
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(t, "key"));
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(t, "error"));
        printf("  %-9s %-24s %.16s%s%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(t, "state")),
               cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), key ? key : "",
               e ? "  " : "", e ? e : "");
      }
      cJSON_Delete(r);
    }
    free(json);
    cache_close(c);
    return 0;
  }
  if (cache_run_list(c, &ids, &n, &err) < 0) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    cache_close(c);
    return 1;
  }
  if (o->json)
    printf("[");
  for (i = 0; i < n; i++) {
    char *json = NULL;
    if (cache_run_get(c, ids[i], &json, &err) == 1) {
      if (o->json) {
        printf("%s%s", i ? ",\n" : "\n", json);
      } else {
        cJSON *r = cJSON_Parse(json);
        cJSON *counts = r ? cJSON_GetObjectItem(r, "counts") : NULL;
        printf("%s  %-11s %5d executed %5d cached %3d failed  %s\n", ids[i],
               r ? cJSON_GetStringValue(cJSON_GetObjectItem(r, "status")) : "?",
               counts ? cJSON_GetObjectItem(counts, "executed")->valueint : 0,
               counts ? cJSON_GetObjectItem(counts, "cached")->valueint : 0,
               counts ? cJSON_GetObjectItem(counts, "failed")->valueint : 0,
               r ? cJSON_GetStringValue(cJSON_GetObjectItem(r, "graph")) : "");
        cJSON_Delete(r);
      }
    }
    free(json);
    free(ids[i]);
  }
  if (o->json)
    printf("\n]\n");
  free(ids);
  cache_close(c);
  return 0;
}

static int cmd_cache(struct opts *o)
{
  struct cache *c;
  struct pd_err err = { 0 };
  int rc;
  if (o->npos != 1)
    return usage_error(o->cmd, "cache needs one of verify, gc, stats");
  if (strcmp(o->pos[0], "verify") && strcmp(o->pos[0], "gc") && strcmp(o->pos[0], "stats"))
    return usage_error(o->cmd, "unknown cache command '%s' (verify, gc or stats)", o->pos[0]);
  if ((rc = open_cache(o, NULL, &c)))
    return rc;
  if (strcmp(o->pos[0], "verify") == 0) {
    uint64_t damaged = 0;
    rc = cache_verify(c, stdout, &damaged, &err);
    if (rc == 0) {
      printf("verify: %llu problem%s found\n", (unsigned long long)damaged, damaged == 1 ? "" : "s");
      rc = damaged ? 1 : 0;
    }
  } else if (strcmp(o->pos[0], "gc") == 0) {
    rc = cache_gc(c, (size_t)o->keep, o->max_size, stdout, &err);
  } else {
    struct cache_stats st;
    rc = cache_stats(c, &st, &err);
    if (rc == 0)
      printf("cache %s\n  actions      %llu\n  blobs        %llu (%llu inline, %llu files, %llu trees)\n"
             "  blob bytes   %llu\n  disk bytes   %llu\n  runs         %llu (%llu pinned)\n",
             cache_path(c), (unsigned long long)st.actions, (unsigned long long)st.blobs,
             (unsigned long long)st.inline_blobs, (unsigned long long)st.file_blobs,
             (unsigned long long)st.trees, (unsigned long long)st.blob_bytes,
             (unsigned long long)st.disk_bytes, (unsigned long long)st.runs,
             (unsigned long long)st.pinned);
  }
  if (rc < 0) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    rc = 1;
  }
  cache_close(c);
  return rc;
}

int cli_main(int argc, char **argv)
{
  static const struct {
    const char *name;
    int (*fn)(struct opts *o);
  } cmds[] = {
    { "run", cmd_run }, { "status", cmd_status }, { "explain", cmd_explain },
    { "graph", cmd_graph }, { "tasks", cmd_tasks }, { "show", cmd_show },
    { "log", cmd_log }, { "cache", cmd_cache },
  };
  struct opts o;
  size_t i;
  int rc;

  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    if (argc >= 3 && strcmp(argv[1], "help") == 0) {
      fputs(usage_of(argv[2]), stdout);
      return 0;
    }
    fputs(usage_main, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("povid-dag %s (%s, %s%s)\n", PD_VERSION, PD_BUILD_TYPE, PD_C_COMPILER,
           PD_HAVE_CUDA ? ", CUDA" : "");
    return 0;
  }
  memset(&o, 0, sizeof o);
  o.cmd = argv[1];
  o.argc = argc;
  o.argv = argv;
  for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    if (strcmp(cmds[i].name, argv[1]) != 0)
      continue;
    rc = parse_opts(argc, argv, &o);
    if (rc == 0 && o.help) {
      fputs(usage_of(o.cmd), stdout);
      rc = 0;
    } else if (rc == 0) {
      rc = cmds[i].fn(&o);
    }
    opts_release(&o);
    return rc;
  }
  {
    const char *names[sizeof cmds / sizeof cmds[0]];
    const char *near;
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
      names[i] = cmds[i].name;
    near = closest_name(argv[1], names, sizeof cmds / sizeof cmds[0]);
    if (near)
      return usage_error(NULL, "unknown command '%s'; did you mean '%s'?", argv[1], near);
    return usage_error(NULL, "unknown command '%s'", argv[1]);
  }
}
