/* write.c - the `write` kind: writes a string to a file artifact.
 *
 * For small inputs that belong in the cache rather than beside the graph:
 * a prompt template, a config file, a list of ids. Builtin, so it runs on a
 * worker thread; it is also the smallest example of a builtin kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "registry.h"
#include "run.h"

static const struct kind_param write_params[] = {
  { "content", PT_STRING, NULL, 0, -1, NULL, 0, "the text to write" },
  { "repeat", PT_INT, "1", 1, 1e9, NULL, 0, "how many times to write it (for tests of large outputs)" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

static const struct kind_output write_outputs[] = {
  { "text", "the file holding content (repeated)" },
  { NULL, NULL },
};

static int write_run(struct task_run *r)
{
  const struct val *content = task_param(r->task, "content");
  int64_t repeat = task_param(r->task, "repeat")->u.i, i;
  char *path = task_run_output(r, "text");
  FILE *f = fopen(path, "wb");
  int rc = 0;
  if (!f) {
    rc = ERR_SET(&r->err, PD_EIO, "cannot create '%s'", path);
    free(path);
    return rc;
  }
  for (i = 0; i < repeat; i++) {
    if (fwrite(content->u.str.s, 1, content->u.str.n, f) != content->u.str.n) {
      rc = ERR_SET(&r->err, PD_EIO, "cannot write '%s'", path);
      break;
    }
    if ((i & 0xffff) == 0) {
      if (task_run_cancelled(r)) {
        rc = ERR_SET(&r->err, PD_EINTR, "cancelled");
        break;
      }
      task_run_progress(r, (double)i / (double)repeat, "%lld of %lld", (long long)i,
                        (long long)repeat);
    }
  }
  if (fclose(f) != 0 && rc == 0)
    rc = ERR_SET(&r->err, PD_EIO, "cannot write '%s'", path);
  fprintf(r->log, "wrote %lld bytes\n", (long long)((int64_t)content->u.str.n * repeat));
  free(path);
  return rc;
}

const struct task_kind write_kind = {
  .name = "write",
  .version = 1,
  .doc = "Writes a string to a file artifact (a prompt template, a config, a list).",
  .params = write_params,
  .outputs = write_outputs,
  .flags = 0,
  .check = NULL,
  .run = write_run,
};
