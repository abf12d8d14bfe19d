/* generate_task.c - the `generate` kind: answers one prompt about every
 * image of a split with a trained model (a train_sft `model` directory).
 *
 * Each image gets the chat template's prompt <s> USER: <image> {prompt}
 * ASSISTANT: (exactly the prefix train_sft trains on) and up to
 * max_new_tokens new tokens (model/generate.h): greedy at temperature 0,
 * else temperature + top-p sampling. Greedy rows run `batch` images per
 * call; sampled ones one image per call with the Philox key
 * splitmix64(seed, item index), so that `batch` never changes the answers
 * (it is not part of the key). eos_bias is added to the </s> logit at
 * every step (> 0: shorter answers).
 *
 * Output `answers`: JSON lines in the split's item order,
 * {"id", "image", "prompt", "answer", "tokens"}, tokens = the answer's
 * token count (</s> not included).
 *
 * Left out: several prompts per image, per-item prompts from the split's
 * conversations, a per-item memo (a rerun regenerates everything).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_util.h"
#include "graph.h"
#include "registry.h"
#include "run.h"
#include "strbuf.h"
#include "train_util.h"

static const struct kind_param gen_params[] = {
  { "model", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "a trained model directory (train_sft's `model`: model.safetensors and vocab.json)" },
  { "data", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "a split directory (fetch_subset's train or eval): one answer per item, in its order" },
  { "prompt", PT_STRING, "\"Describe this image.\"", 0, -1, NULL, 0,
    "the question asked about every image (the template adds the image)" },
  { "max_new_tokens", PT_INT, "48", 1, 4096, NULL, 0, "longest answer in tokens" },
  { "temperature", PT_FLOAT, "0", 0, 100, NULL, 0, "0: greedy; > 0: sampling at this temperature" },
  { "top_p", PT_FLOAT, "1", 1e-6, 1, NULL, 0,
    "sampling: keep the most likely tokens whose probability reaches top_p (1: all)" },
  { "seed", PT_INT, "1", 0, 1e15, NULL, 0,
    "sampling: the seed; each item's stream is derived from (seed, item index)" },
  { "eos_bias", PT_FLOAT, "0", -100, 100, NULL, 0,
    "added to the </s> logit at every step: > 0 shortens the answers, < 0 lengthens them" },
  { "batch", PT_INT, "32", 1, 4096, NULL, 0,
    "images per forward pass when greedy (sampling runs one at a time); part of the key: "
    "OpenBLAS may pick other kernels for other matrix sizes, which can change a near-tie" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

static const struct kind_output gen_outputs[] = {
  { "answers", "JSON lines, one per item in the split's order: {\"id\", \"image\", \"prompt\", "
               "\"answer\", \"tokens\"} (tokens: the answer's token count)" },
  { NULL, NULL },
};

struct gen_progress {
  struct task_run *r;
  double t0;
};

static int on_progress(void *arg, size_t done, size_t total, size_t tokens)
{
  struct gen_progress *p = arg;
  double el = train_now() - p->t0;
  task_run_progress(p->r, (double)done / (double)total, "%zu/%zu images, %.0f tokens/s", done,
                    total, (double)tokens / (el > 1e-9 ? el : 1e-9));
  return task_run_cancelled(p->r);
}

static int gen_task_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *mdir = task_run_input(r, "model"), *ddir = task_run_input(r, "data");
  const char *text = task_param(t, "prompt")->u.str.s;
  struct gen_opts o;
  struct gen_model gm;
  struct gen_split s;
  struct gen_req *reqs = NULL;
  struct gen_progress pr;
  struct strbuf sb;
  int *prompt = NULL, *out = NULL, Tp = 0, have_model = 0, have_split = 0, rc;
  char *path = task_run_output(r, "answers");
  size_t i, tokens = 0;
  double t0 = train_now();

  strbuf_init(&sb, 0);
  memset(&o, 0, sizeof o);
  o.max_new_tokens = train_iparam(t, "max_new_tokens");
  o.batch = train_iparam(t, "batch");
  o.threads = r->threads;
  o.eos_bias = train_fparam(t, "eos_bias");
  o.temperature = train_fparam(t, "temperature");
  o.top_p = train_fparam(t, "top_p");
  o.seed = (uint64_t)task_param(t, "seed")->u.i;

  task_run_progress(r, 0, "loading");
  if ((rc = gen_model_load(&gm, mdir, &r->err)) < 0)
    goto out;
  have_model = 1;
  if ((rc = gen_split_read(&s, ddir, 0, NULL, NULL, &r->err)) < 0)
    goto out;
  have_split = 1;
  prompt = gen_prompt(&gm, text, &Tp);
  reqs = xcalloc(s.n, sizeof *reqs);
  out = xmalloc(s.n * (size_t)o.max_new_tokens * sizeof *out);
  for (i = 0; i < s.n; i++) {
    reqs[i].row = s.items[i].row;
    reqs[i].prompt = prompt;
    reqs[i].Tp = Tp;
    reqs[i].out = out + i * (size_t)o.max_new_tokens;
  }
  fprintf(r->log, "model '%s' (sha256 %s, %zu parameters); %zu images from '%s'; prompt of %d "
          "tokens; %s, max_new_tokens %d, eos_bias %g, batch %d\n", mdir, gm.digest,
          gm.m.num_parameters, s.n, ddir, Tp,
          o.temperature > 0 ? "sampling" : "greedy", o.max_new_tokens, (double)o.eos_bias,
          o.temperature > 0 ? 1 : o.batch);
  if (o.temperature > 0)
    fprintf(r->log, "sampling: temperature %g, top_p %g, seed %llu\n", (double)o.temperature,
            (double)o.top_p, (unsigned long long)o.seed);
  pr.r = r;
  pr.t0 = train_now();
  if ((rc = gen_run(&gm, &s, reqs, s.n, &o, on_progress, &pr, &r->err)) < 0)
    goto out;

  for (i = 0; i < s.n; i++) {
    struct strbuf ans;
    strbuf_init(&ans, 0);
    tokenizer_decode(&gm.tk, reqs[i].out, (size_t)reqs[i].len, &ans);
    strbuf_addstr(&sb, "{\"id\":");
    strbuf_add_json_str(&sb, s.items[i].id, strlen(s.items[i].id));
    strbuf_addstr(&sb, ",\"image\":");
    strbuf_add_json_str(&sb, s.items[i].image, strlen(s.items[i].image));
    strbuf_addstr(&sb, ",\"prompt\":");
    strbuf_add_json_str(&sb, text, strlen(text));
    strbuf_addstr(&sb, ",\"answer\":");
    strbuf_add_json_str(&sb, ans.buf ? ans.buf : "", ans.len);
    strbuf_addf(&sb, ",\"tokens\":%d}\n", reqs[i].len);
    tokens += (size_t)reqs[i].len;
    strbuf_release(&ans);
  }
  if ((rc = task_write_file(path, sb.buf, sb.len, &r->err)) < 0)
    goto out;
  {
    double el = train_now() - t0;
    fprintf(r->log, "%zu answers, %.2f tokens on average, in %.2fs (%.0f tokens/s)\n", s.n,
            (double)tokens / (double)s.n, el, (double)tokens / (el > 1e-9 ? el : 1e-9));
  }
  task_run_progress(r, 1.0, "done");
out:
  free(path);
  free(prompt);
  free(reqs);
  free(out);
  if (have_split)
    gen_split_release(&s);
  if (have_model)
    gen_model_release(&gm);
  strbuf_release(&sb);
  return rc;
}

const struct task_kind generate_kind = {
  .name = "generate",
  .version = 2,
  .doc = "Answers one prompt about every image of a split with a trained model (greedy, or "
         "temperature + top-p sampling), as JSON lines.",
  .params = gen_params,
  .outputs = gen_outputs,
  .flags = 0,
  .check = NULL,
  .run = gen_task_run,
};
