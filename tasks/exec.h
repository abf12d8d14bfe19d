/* exec.h - the `exec` task kind: runs a command as a child process. */
#ifndef PD_EXEC_H
#define PD_EXEC_H

#include <stddef.h>

struct task;
struct pd_err;

/* Resolves an input value to a path for the command line: called for each
 * V_REF (task output), and gives back a borrowed path or NULL with err set. */
typedef const char *exec_input_path_cb(void *arg, int node, const char *output,
                                       struct pd_err *err);

struct exec_cmd {
  char **argv;  /* NULL-terminated, owned */
  char **env;   /* NULL-terminated "NAME=value", owned */
  char *display; /* argv joined for logs, owned */
};

/* Renders the task's command and environment with inputs resolved through
 * cb, ${out} as outdir. The environment is the declared env plus PATH, HOME
 * and the inherit_env names taken from this process's environment. */
int exec_render(const struct task *t, exec_input_path_cb *cb, void *arg,
                const char *outdir, struct exec_cmd *cmd, struct pd_err *err);
void exec_cmd_release(struct exec_cmd *cmd);

#endif
