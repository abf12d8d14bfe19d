/* exec.c - the `exec` kind: a command (argv list; a shell only when asked)
 * that writes its declared outputs under ${out}.
 *
 * The command sees a clean environment: the declared `env`, plus PATH and
 * HOME and the names listed in `inherit_env`. Values of inherited variables
 * are not part of the action key (they may be secrets); their names are.
 * Running the process is the scheduler's job (orchestrator/proc.c); this
 * file validates the parameters and renders argv and the environment.
 */
#include "exec.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "graph.h"
#include "registry.h"
#include "strbuf.h"

static const struct kind_param exec_params[] = {
  { "command", PT_ANY, NULL, 0, -1, NULL, 0,
    "argv: a list of strings, references (task.output), file(), dir() and \"${out}/...\"; "
    "a list inside it is spliced in, one argument per item ([for s in seeds : "
    "\"b_${s}\".out]); a single string when shell = true" },
  { "outputs", PT_ANY, "[]", 0, -1, NULL, 0,
    "paths the command writes under ${out}: a list (each named by its stem, "
    "\"index.json\" -> index; a trailing / marks a directory) or a map name = path" },
  { "env", PT_MAP, "{}", 0, -1, NULL, 0,
    "environment of the command; nothing else is inherited but PATH, HOME and inherit_env" },
  { "inherit_env", PT_LIST, "[]", 0, -1, NULL, 0,
    "names of variables passed through from povid-dag's environment (names are in the key, values are not)" },
  { "shell", PT_BOOL, "false", 0, -1, NULL, 0,
    "run command (a string) with /bin/sh -c" },
  { "timeout", PT_FLOAT, "0", 0, 1e9, NULL, KP_NOKEY,
    "seconds before the command is killed and the attempt fails (0 = no limit)" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

static int is_ident(const char *s)
{
  if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
    return 0;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_'))
      return 0;
  return 1;
}

/* Argument and env values: scalars, strings, references, sources, ${out}. */
static int check_arg(const struct val *v, struct pd_err *err)
{
  switch (v->kind) {
  case V_STR: case V_INT: case V_FLOAT: case V_BOOL:
  case V_REF: case V_FILE: case V_DIR: case V_OUT: case V_CONCAT:
    return 0;
  default:
    return graph_error_at(err, PD_EGRAPH, &v->loc,
                          "a command argument must be a string, number, reference, "
                          "file(), dir() or ${out}, not a %s", val_kind_name(v->kind));
  }
}

static int check_output_path(const struct val *v, struct pd_err *err)
{
  const char *p;
  if (v->kind != V_STR)
    return graph_error_at(err, PD_EGRAPH, &v->loc,
                          "an output path must be a plain string, not a %s",
                          val_kind_name(v->kind));
  p = v->u.str.s;
  if (!*p || *p == '/')
    return graph_error_at(err, PD_EGRAPH, &v->loc,
                          "output path '%s' must be relative to ${out}", p);
  if (strstr(p, "..") && (strncmp(p, "../", 3) == 0 || strstr(p, "/../") ||
                          strcmp(p, "..") == 0))
    return graph_error_at(err, PD_EGRAPH, &v->loc,
                          "output path '%s' leaves ${out}", p);
  return 0;
}

/* "dir/index.json" -> "index"; "images/" -> "images". Caller frees. */
static char *path_stem(const char *p)
{
  size_t n = strlen(p);
  const char *base, *dot;
  while (n > 0 && p[n - 1] == '/')
    n--;
  base = p + n;
  while (base > p && base[-1] != '/')
    base--;
  dot = memchr(base, '.', (size_t)(p + n - base));
  return xstrndup(base, (size_t)((dot ? dot : p + n) - base));
}

static void add_output(struct task *t, char *name, const char *path)
{
  t->outputs = xrealloc(t->outputs, (t->noutputs + 1) * sizeof *t->outputs);
  t->outputs[t->noutputs].name = name;
  t->outputs[t->noutputs].path = xstrdup(path);
  t->noutputs++;
}

static int exec_check(struct graph *g, struct task *t, struct pd_err *err)
{
  const struct val *cmd = task_param(t, "command");
  const struct val *outs = task_param(t, "outputs");
  const struct val *env = task_param(t, "env");
  const struct val *inh = task_param(t, "inherit_env");
  const struct val *shell = task_param(t, "shell");
  size_t i, j;
  int rc;
  (void)g;

  if (shell && shell->u.b) {
    if (cmd->kind != V_STR && cmd->kind != V_CONCAT && cmd->kind != V_LIST)
      return graph_error_at(err, PD_EGRAPH, &cmd->loc,
                            "command must be a string or a list, not a %s",
                            val_kind_name(cmd->kind));
  } else if (cmd->kind != V_LIST) {
    return graph_error_at(err, PD_EGRAPH, &cmd->loc,
                          "command must be a list of arguments (or set shell = true "
                          "to run a string), not a %s", val_kind_name(cmd->kind));
  }
  if (cmd->kind == V_LIST) {
    size_t nargs = 0;
    for (i = 0; i < cmd->u.list.n; i++) {
      const struct val *a = &cmd->u.list.v[i];
      if (a->kind == V_LIST) { /* spliced: [for s in seeds : "b_${s}".out] */
        for (j = 0; j < a->u.list.n; j++)
          if ((rc = check_arg(&a->u.list.v[j], err)) < 0)
            return rc;
        nargs += a->u.list.n;
      } else {
        if ((rc = check_arg(a, err)) < 0)
          return rc;
        nargs++;
      }
    }
    if (nargs == 0)
      return graph_error_at(err, PD_EGRAPH, &cmd->loc, "command is empty");
  }

  for (i = 0; i < env->u.map.n; i++) {
    if (!is_ident(env->u.map.k[i]))
      return graph_error_at(err, PD_EGRAPH, &env->u.map.v[i].loc,
                            "'%s' is not a valid environment variable name", env->u.map.k[i]);
    if ((rc = check_arg(&env->u.map.v[i], err)) < 0)
      return rc;
  }
  for (i = 0; i < inh->u.list.n; i++) {
    const struct val *v = &inh->u.list.v[i];
    if (v->kind != V_STR || !is_ident(v->u.str.s))
      return graph_error_at(err, PD_EGRAPH, &v->loc,
                            "inherit_env takes variable names (strings)");
  }

  if (outs->kind == V_LIST) {
    for (i = 0; i < outs->u.list.n; i++) {
      const struct val *v = &outs->u.list.v[i];
      char *stem;
      if ((rc = check_output_path(v, err)) < 0)
        return rc;
      stem = path_stem(v->u.str.s);
      if (!is_ident(stem)) {
        rc = graph_error_at(err, PD_EGRAPH, &v->loc,
                            "output '%s' has no usable name ('%s'); use a map: "
                            "outputs = { name = \"%s\" }", v->u.str.s, stem, v->u.str.s);
        free(stem);
        return rc;
      }
      for (j = 0; j < t->noutputs; j++)
        if (strcmp(t->outputs[j].name, stem) == 0) {
          rc = graph_error_at(err, PD_EGRAPH, &v->loc,
                              "two outputs are named '%s'; use a map to name them", stem);
          free(stem);
          return rc;
        }
      add_output(t, stem, v->u.str.s);
    }
  } else if (outs->kind == V_MAP) {
    for (i = 0; i < outs->u.map.n; i++) {
      const struct val *v = &outs->u.map.v[i];
      if ((rc = check_output_path(v, err)) < 0)
        return rc;
      if (!is_ident(outs->u.map.k[i]))
        return graph_error_at(err, PD_EGRAPH, &v->loc,
                              "output name '%s' is not an identifier", outs->u.map.k[i]);
      add_output(t, xstrdup(outs->u.map.k[i]), v->u.str.s);
    }
  } else {
    return graph_error_at(err, PD_EGRAPH, &outs->loc,
                          "outputs must be a list of paths or a map name = path, not a %s",
                          val_kind_name(outs->kind));
  }
  return 0;
}

const struct task_kind exec_kind = {
  .name = "exec",
  .version = 1,
  .doc = "Runs a command as a child process; its declared outputs under ${out} "
         "become artifacts, its stdout and stderr the task's log.",
  .params = exec_params,
  .outputs = NULL,
  .flags = KIND_PROCESS,
  .check = exec_check,
  .run = NULL,
};

/* --- rendering ---------------------------------------------------------- */

static int render_arg(const struct val *v, exec_input_path_cb *cb, void *arg,
                      const char *outdir, struct strbuf *sb, struct pd_err *err)
{
  const char *p;
  size_t i;
  switch (v->kind) {
  case V_STR: strbuf_add(sb, v->u.str.s, v->u.str.n); return 0;
  case V_INT: strbuf_addf(sb, "%lld", (long long)v->u.i); return 0;
  case V_FLOAT: strbuf_addf(sb, "%.17g", v->u.f); return 0;
  case V_BOOL: strbuf_addstr(sb, v->u.b ? "true" : "false"); return 0;
  case V_FILE: case V_DIR: strbuf_addstr(sb, v->u.src.path); return 0;
  case V_OUT: strbuf_addstr(sb, outdir); return 0;
  case V_REF:
    p = cb(arg, v->u.ref.node, v->u.ref.output, err);
    if (!p)
      return err->code ? err->code : PD_ETASK;
    strbuf_addstr(sb, p);
    return 0;
  case V_CONCAT:
    for (i = 0; i < v->u.list.n; i++) {
      int rc = render_arg(&v->u.list.v[i], cb, arg, outdir, sb, err);
      if (rc < 0)
        return rc;
    }
    return 0;
  default:
    return ERR_SET(err, PD_EGRAPH, "cannot render a %s as an argument", val_kind_name(v->kind));
  }
}

static char **strv_push(char **v, size_t *n, char *s)
{
  v = xrealloc(v, (*n + 2) * sizeof *v);
  v[(*n)++] = s;
  v[*n] = NULL;
  return v;
}

int exec_render(const struct task *t, exec_input_path_cb *cb, void *arg,
                const char *outdir, struct exec_cmd *cmd, struct pd_err *err)
{
  const struct val *c = task_param(t, "command");
  const struct val *env = task_param(t, "env");
  const struct val *inh = task_param(t, "inherit_env");
  const struct val *shell = task_param(t, "shell");
  static const char *const always[] = { "PATH", "HOME" };
  struct strbuf sb, disp;
  size_t na = 0, ne = 0, i;
  int rc = 0;

  memset(cmd, 0, sizeof *cmd);
  strbuf_init(&sb, 64);
  strbuf_init(&disp, 128);
  if (shell->u.b) {
    cmd->argv = strv_push(cmd->argv, &na, xstrdup("/bin/sh"));
    cmd->argv = strv_push(cmd->argv, &na, xstrdup("-c"));
  }
  if (c->kind == V_LIST) {
    size_t k = 0, j;
    for (i = 0; i < c->u.list.n; i++) {
      /* A list item (a for expression, say) is spliced: its items are
       * arguments of their own. */
      const struct val *it = &c->u.list.v[i];
      size_t n = it->kind == V_LIST ? it->u.list.n : 1;
      for (j = 0; j < n; j++, k++) {
        strbuf_reset(&sb);
        if ((rc = render_arg(it->kind == V_LIST ? &it->u.list.v[j] : it, cb, arg, outdir, &sb,
                             err)) < 0)
          goto fail;
        if (shell->u.b && k > 0) {
          /* With a shell, list items are joined by spaces into one script. */
          char *prev = cmd->argv[na - 1];
          cmd->argv[na - 1] = xasprintf("%s %s", prev, sb.buf);
          free(prev);
        } else {
          cmd->argv = strv_push(cmd->argv, &na, xstrdup(sb.buf));
        }
      }
    }
  } else {
    if ((rc = render_arg(c, cb, arg, outdir, &sb, err)) < 0)
      goto fail;
    cmd->argv = strv_push(cmd->argv, &na, xstrdup(sb.buf));
  }
  for (i = 0; i < na; i++)
    strbuf_addf(&disp, "%s%s", i ? " " : "", cmd->argv[i]);

  cmd->env = strv_push(cmd->env, &ne, NULL);
  ne = 0;
  for (i = 0; i < sizeof always / sizeof always[0]; i++) {
    const char *v = getenv(always[i]);
    if (v && !val_map_get(env, always[i]))
      cmd->env = strv_push(cmd->env, &ne, xasprintf("%s=%s", always[i], v));
  }
  for (i = 0; i < inh->u.list.n; i++) {
    const char *name = inh->u.list.v[i].u.str.s;
    const char *v = getenv(name);
    if (v && !val_map_get(env, name))
      cmd->env = strv_push(cmd->env, &ne, xasprintf("%s=%s", name, v));
  }
  for (i = 0; i < env->u.map.n; i++) {
    strbuf_reset(&sb);
    if ((rc = render_arg(&env->u.map.v[i], cb, arg, outdir, &sb, err)) < 0)
      goto fail;
    cmd->env = strv_push(cmd->env, &ne, xasprintf("%s=%s", env->u.map.k[i], sb.buf));
  }
  cmd->display = strbuf_detach(&disp, NULL);
  strbuf_release(&sb);
  strbuf_release(&disp);
  return 0;
fail:
  strbuf_release(&sb);
  strbuf_release(&disp);
  exec_cmd_release(cmd);
  return rc;
}

void exec_cmd_release(struct exec_cmd *cmd)
{
  char **p;
  if (cmd->argv)
    for (p = cmd->argv; *p; p++)
      free(*p);
  if (cmd->env)
    for (p = cmd->env; *p; p++)
      free(*p);
  free(cmd->argv);
  free(cmd->env);
  free(cmd->display);
  memset(cmd, 0, sizeof *cmd);
}
