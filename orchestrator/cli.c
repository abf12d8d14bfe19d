/* cli.c - the povid-dag command line.
 *
 * Exit codes: 0 success, 1 a task failed (or a runtime error), 2 usage or
 * graph error, 130 interrupted. Commands that concern a graph take its FILE
 * first; its cache defaults to .povid/ beside it, or --cache DIR, or
 * $POVID_CACHE. log and cache use ./.povid the same way.
 */
#include "cli.h"
#include "cli_int.h"
#include "device.h"

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
#include "strbuf.h"
#include "version.h"

/* --- options --------------------------------------------------------------- */


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
  "  audit RUN                 integrity, provenance and re-execution of a run\n"
  "  why FILE TASK.OUTPUT      the chain of tasks, parameters and inputs behind an artifact\n"
  "  pin RUN                   keep a run's artifacts through 'cache gc' (--unpin)\n"
  "  export RUN DIR            a run as a self-contained bundle\n"
  "  import DIR                a bundle into the cache\n"
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
  { "audit", "usage: povid-dag audit RUN [--reexecute] [--task T]... [-v] [--json] [--out DIR] [--cache DIR]\n"
             "  checks every artifact of the run: present and re-hashing to its digest\n"
             "  (integrity), traced to its task, parameters, inputs and sources\n"
             "  (provenance); prints a table per task; exit 0 only if all checks pass\n"
             "  --reexecute        run the tasks again in a scratch cache and compare outputs\n"
             "  --task T           audit only task T (repeatable)\n"
             "  -v, --verbose      also print each task's provenance\n"
             "  --json             print the report as JSON\n"
             "  --out DIR          also write DIR/audit.json and DIR/audit.md (full provenance)\n"
             "  -j N, --gpus N, --progress MODE   as for run, when re-executing\n" },
  { "why", "usage: povid-dag why FILE TASK[.OUTPUT] [ITEM] [--json] [--set NAME=VALUE]... [--cache DIR]\n"
           "  the chain of tasks behind a cached artifact: for each, its kind, key,\n"
           "  parameters changed from the defaults, input digests and sources\n" },
  { "pin", "usage: povid-dag pin RUN [--unpin] [--cache DIR]\n"
           "  a pinned run's artifacts survive 'cache gc'\n" },
  { "export", "usage: povid-dag export RUN DIR [--cache DIR]\n"
              "  writes the run record, its action records and preimages and every blob\n"
              "  it names into DIR (new or empty), with a MANIFEST of digests\n" },
  { "import", "usage: povid-dag import DIR [--cache DIR]\n"
              "  checks a bundle made by 'export' and stores it in the cache\n" },
  { "cache", "usage: povid-dag cache verify|gc|stats [--cache DIR]\n"
             "  verify              re-hash every blob and report damage\n"
             "  gc [--keep N] [--max-size SIZE]\n"
             "                      keep what the newest N runs (default 5) and pinned runs\n"
             "                      need; then drop old runs while above SIZE (e.g. 10G)\n"
             "  stats               counts and sizes\n" },
};

int cli__usage_error(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fputs("povid-dag: error: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (cmd)
    fprintf(stderr, "\n(see 'povid-dag %s --help')\n", cmd);
  else
    fprintf(stderr, "\n(see 'povid-dag --help')\n");
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
  o->tasks = xcalloc((size_t)argc + 1, sizeof *o->tasks);
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
        return cli__usage_error(o->cmd, "--set needs NAME=VALUE");
      eq = strchr(val, '=');
      if (!eq || eq == val)
        return cli__usage_error(o->cmd, "--set %s: expected NAME=VALUE", val);
      o->sets[o->nsets].name = xstrndup(val, (size_t)(eq - val));
      o->sets[o->nsets].value = eq + 1;
      o->nsets++;
    } else if (strncmp(a, "-j", 2) == 0 || is_opt(a, "--jobs")) {
      val = opt_value(argc, argv, &i, "-j", a[1] == 'j' ? 2 : 6);
      if (!val || parse_int(val, 1, 4096, &v) < 0)
        return cli__usage_error(o->cmd, "-j needs a number of jobs from 1 to 4096");
      o->jobs = (int)v;
    } else if (is_opt(a, "--gpus")) {
      val = opt_value(argc, argv, &i, "--gpus", 6);
      if (!val || parse_int(val, 0, 1024, &v) < 0)
        return cli__usage_error(o->cmd, "--gpus needs a number from 0 to 1024");
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
    } else if (strcmp(a, "--reexecute") == 0) {
      o->reexecute = 1;
    } else if (strcmp(a, "--unpin") == 0) {
      o->unpin = 1;
    } else if (is_opt(a, "--task")) {
      if (!(val = opt_value(argc, argv, &i, "--task", 6)) || !*val)
        return cli__usage_error(o->cmd, "--task needs a task name");
      o->tasks[o->ntasks++] = val;
    } else if (is_opt(a, "--out")) {
      if (!(o->out = opt_value(argc, argv, &i, "--out", 5)) || !*o->out)
        return cli__usage_error(o->cmd, "--out needs a directory");
    } else if (is_opt(a, "--progress")) {
      if (!(val = opt_value(argc, argv, &i, "--progress", 10)))
        return cli__usage_error(o->cmd, "--progress needs auto, tty, plain or quiet");
      if (strcmp(val, "auto") == 0) o->progress = PROGRESS_AUTO;
      else if (strcmp(val, "tty") == 0) o->progress = PROGRESS_TTY;
      else if (strcmp(val, "plain") == 0) o->progress = PROGRESS_PLAIN;
      else if (strcmp(val, "quiet") == 0) o->progress = PROGRESS_QUIET;
      else return cli__usage_error(o->cmd, "--progress %s: expected auto, tty, plain or quiet", val);
    } else if (is_opt(a, "--cache")) {
      if (!(o->cache = opt_value(argc, argv, &i, "--cache", 7)))
        return cli__usage_error(o->cmd, "--cache needs a directory");
    } else if (is_opt(a, "--format")) {
      if (!(o->format = opt_value(argc, argv, &i, "--format", 8)))
        return cli__usage_error(o->cmd, "--format needs dot or json");
    } else if (is_opt(a, "--keep")) {
      val = opt_value(argc, argv, &i, "--keep", 6);
      if (!val || parse_int(val, 0, 1000000, &o->keep) < 0)
        return cli__usage_error(o->cmd, "--keep needs a number of runs");
    } else if (is_opt(a, "--max-size")) {
      val = opt_value(argc, argv, &i, "--max-size", 10);
      if (!val || parse_size(val, &o->max_size) < 0)
        return cli__usage_error(o->cmd, "--max-size needs a size such as 500M or 10G");
    } else {
      return cli__usage_error(o->cmd, "unknown option '%s'", a);
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
  free(o->tasks);
  free(o->pos);
}

/* --- shared steps ----------------------------------------------------------- */

char *cli__cache_dir_for(const struct opts *o, const char *graph_dir)
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

int cli__load_graph(const struct opts *o, struct graph *g)
{
  struct pd_err err = { 0 };
  int rc;
  if (o->npos < 1)
    return cli__usage_error(o->cmd, "%s needs a graph FILE", o->cmd);
  rc = graph_load(g, o->pos[0], o->sets, o->nsets, &err);
  if (rc < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return rc == PD_EPARSE || rc == PD_EGRAPH || rc == PD_ECYCLE || rc == PD_EUSAGE ||
           rc == UV_ENOENT || rc == UV_EACCES || rc == UV_EISDIR ? 2 : 1;
  }
  return 0;
}

int cli__open_cache(const struct opts *o, const char *graph_dir, struct cache **c)
{
  struct pd_err err = { 0 };
  char *dir = cli__cache_dir_for(o, graph_dir);
  int rc = cache_open(c, dir, &err);
  free(dir);
  if (rc < 0) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    return 1;
  }
  return 0;
}

/* Task names on the command line -> indices; errors suggest near names. */
int cli__resolve_targets(const struct opts *o, const struct graph *g, size_t first,
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
        cli__usage_error(o->cmd, "no task '%s' in '%s'; did you mean '%s'?", o->pos[i], o->pos[0], near);
      else
        cli__usage_error(o->cmd, "no task '%s' in '%s'", o->pos[i], o->pos[0]);
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

void cli__fill_sched_opts(const struct opts *o, struct sched_opts *so, const int *targets,
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

static int default_gpus(void)
{
  char buf[256];
  device_describe(buf, sizeof buf);
  return strcmp(buf, "none") == 0 ? 0 : atoi(buf);
}

/* Runs the scheduler in plan mode over the targets (all when none). */
int cli__plan(const struct opts *o, struct graph *g, struct cache *c, size_t first,
                struct sched **s)
{
  struct sched_opts so;
  struct pd_err err = { 0 };
  int *targets;
  size_t nt;
  int rc = cli__resolve_targets(o, g, first, &targets, &nt);
  if (rc)
    return rc;
  cli__fill_sched_opts(o, &so, targets, nt, 1);
  rc = sched_run(g, c, &so, s, &err);
  free(targets);
  if (rc < 0) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    return rc == PD_EUSAGE ? 2 : 1;
  }
  return 0;
}

int cli_main(int argc, char **argv)
{
  static const struct {
    const char *name;
    int (*fn)(struct opts *o);
  } cmds[] = {
    { "run", cli__run }, { "status", cli__status }, { "explain", cli__explain },
    { "graph", cli__graph }, { "tasks", cli__tasks }, { "show", cli__show },
    { "log", cli__log }, { "cache", cli__cache }, { "audit", cli__audit },
    { "why", cli__why }, { "pin", cli__pin }, { "export", cli__export },
    { "import", cli__import },
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
      return cli__usage_error(NULL, "unknown command '%s'; did you mean '%s'?", argv[1], near);
    return cli__usage_error(NULL, "unknown command '%s'", argv[1]);
  }
}
