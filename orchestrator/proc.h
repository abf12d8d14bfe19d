/* proc.h - child processes on the loop (uv_spawn), for exec tasks.
 *
 * The child gets its own process group (so cancelling kills a whole shell
 * pipeline), /dev/null as stdin, and log_fd as stdout and stderr. */
#ifndef PD_PROC_H
#define PD_PROC_H

#include <stdint.h>
#include <uv.h>

struct proc;
struct pd_err;

/* Called once when the child has exited and every handle is closed.
 * term_signal is non-zero when a signal ended it; timed_out when our
 * timeout killed it. */
typedef void proc_exit_cb(struct proc *p, int64_t exit_status, int term_signal,
                          int timed_out);

struct proc {
  uv_process_t h;
  uv_timer_t timer;   /* timeout, then the SIGKILL grace period */
  proc_exit_cb *cb;
  void *data;         /* the caller's */
  int64_t exit_status;
  int term_signal;
  int timed_out;
  int killing;        /* SIGTERM sent, SIGKILL pending */
  int open_handles;
  int pid;
};

/* Starts argv[0] (looked up in env's PATH) in cwd. timeout <= 0: none.
 * Returns 0 or an error naming the program. */
int proc_spawn(uv_loop_t *loop, struct proc *p, char **argv, char **env,
               const char *cwd, int log_fd, double timeout, proc_exit_cb *cb,
               struct pd_err *err);
/* Sends SIGTERM to the child's group, then SIGKILL after grace seconds. */
void proc_terminate(struct proc *p, double grace);

#endif
