/* train_sft_test.c - tests of tasks/train_sft.c and model/tokenizer.c: the
 * word tokenizer's round trip, unknown words, cap and vocab.json; the chat
 * template's tokens, targets and weights (padding, cutting); the kind's
 * defaults against llava_config_default; a tiny run on a 32-image
 * fetch_subset split lowering the loss; the same model bytes from two runs
 * and other bytes from another seed; a bad input named in the error;
 * checkpoints: a run cancelled after step 15 resumes from its step-10
 * checkpoint and ends with the bytes of an uninterrupted run; init: the
 * tower's config and bytes from a checkpoint, kept frozen (the default) or
 * trained, bad inits named, and the init's bytes in the checkpoint
 * identity. */
#include "tasks_test_util.h"

#include "cache.h"
#include "graph.h"
#include "llava.h"
#include "llava_io.h"
#include "registry.h"
#include "run.h"
#include "strbuf.h"
#include "tokenizer.h"

static char *dir;
static char cwd0[4096];

/* A progress callback: cancels the run once it is past cancel_frac. */
static double cancel_frac = 2;

static void cancel_notify(void *arg)
{
  struct task_run *r = arg;
  if (r->frac >= cancel_frac)
    atomic_store(&r->cancel, 1);
}

/* Runs the graph's first task into outdir (created), as the scheduler would,
 * with cache c (may be NULL), its log to logpath (NULL: /dev/null). */
static int run_in(const char *text, const char *outdir, struct cache *c, const char *logpath,
                  struct pd_err *err)
{
  struct graph g;
  struct task_run *r;
  int rc;
  write_str("g.dag", text);
  memset(err, 0, sizeof *err);
  if ((rc = graph_load(&g, "g.dag", NULL, 0, err)) != 0)
    fail_msg("graph_load: %s", err->msg);
  cache_rmtree(outdir);
  assert_int_equal(mkdir(outdir, 0755), 0);
  r = xcalloc(1, sizeof *r);
  r->task = &g.tasks[0];
  r->outdir = outdir;
  r->threads = 2;
  r->log = fopen(logpath ? logpath : "/dev/null", "w");
  r->cache = c;
  r->notify = cancel_notify;
  r->notify_arg = r;
  r->frac = -1;
  atomic_init(&r->cancel, 0);
  pthread_mutex_init(&r->mu, NULL);
  rc = g.tasks[0].kind->run(r);
  *err = r->err;
  if (rc == 0)
    assert_true(r->frac == 1.0);
  fclose(r->log);
  pthread_mutex_destroy(&r->mu);
  free(r);
  graph_release(&g);
  return rc;
}

static int run(const char *text, const char *outdir, struct pd_err *err)
{
  return run_in(text, outdir, NULL, NULL, err);
}

static void must(int rc, const struct pd_err *err)
{
  if (rc != 0)
    fail_msg("run failed: %d: %s", rc, err->msg);
}

#define TINY                                                                                   \
  "  data = dir(\"fs/train\")\n  patch_size = 8\n  v_width = 16\n  v_layers = 2\n"             \
  "  v_heads = 2\n  v_mlp = 32\n  width = 32\n  layers = 2\n  heads = 2\n  hidden = 64\n"      \
  "  batch = 8\n  max_len = 32\n  lr = 3e-3\n  warmup = 3\n"

static int sft_in(const char *extra, const char *outdir, struct cache *c, const char *logpath,
                  struct pd_err *err)
{
  char *g = xasprintf("task m = train_sft {\n" TINY "%s}\n", extra);
  int rc = run_in(g, outdir, c, logpath, err);
  free(g);
  return rc;
}

static int sft(const char *extra, const char *outdir, struct pd_err *err)
{
  char *g = xasprintf("task m = train_sft {\n" TINY "%s}\n", extra);
  int rc = run(g, outdir, err);
  free(g);
  return rc;
}

static int setup(void **state)
{
  struct pd_err err;
  (void)state;
  dir = scratch_dir("train_sft_test");
  if (!getcwd(cwd0, sizeof cwd0) || chdir(dir) != 0)
    return -1;
  must(run("task s = fetch_subset {\n  train = 32\n  eval = 1\n}\n", "fs", &err), &err);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  if (chdir(cwd0) != 0)
    return -1;
  cache_rmtree(dir);
  free(dir);
  return 0;
}

static const char *const corpus[] = {
  "<image>\nDescribe this image.", "There is a red circle in the top left.",
  "Is there a star in the image?", "No.", "Is there a circle in the image?", "Yes.",
};

static void build(struct tokenizer *tk, int cap)
{
  struct pd_err err = { 0 };
  CHECK(tokenizer_build_word(tk, corpus, sizeof corpus / sizeof corpus[0], cap, &err));
}

static char *decode(const struct tokenizer *tk, const int *ids, size_t n)
{
  struct strbuf sb;
  strbuf_init(&sb, 0);
  tokenizer_decode(tk, ids, n, &sb);
  return strbuf_detach(&sb, NULL);
}

static void test_tokenizer_round_trip(void **state)
{
  struct tokenizer tk, tk2;
  struct pd_err err = { 0 };
  int ids[64], ids2[64];
  size_t n, k;
  char *s;
  (void)state;
  build(&tk, 512);
  /* specials, then the words by count: "the"... */
  assert_string_equal(tk.ops->type, "word");
  assert_string_equal(tk.ops->token(&tk, TOK_IMAGE), "<image>");
  assert_string_equal(tk.ops->token(&tk, TOK_ASSISTANT), "ASSISTANT:");
  n = tokenizer_encode(&tk, "There is a red circle in the top left.", ids, 64);
  assert_int_equal(n, 10);
  for (k = 0; k < n; k++)
    assert_true(ids[k] >= TOK_NSPECIAL);
  s = decode(&tk, ids, n);
  assert_string_equal(s, "there is a red circle in the top left.");
  free(s);
  /* Unknown words, specials in text, cap smaller than the text. */
  n = tokenizer_encode(&tk, "USER: <image>\nIs there a GREEN star?</s>", ids, 3);
  assert_int_equal(n, 9);
  assert_int_equal(ids[0], TOK_USER);
  assert_int_equal(ids[1], TOK_IMAGE);
  n = tokenizer_encode(&tk, "USER: <image>\nIs there a GREEN star?</s>", ids, 64);
  assert_int_equal(ids[5], TOK_UNK);
  assert_int_equal(ids[8], TOK_EOS);
  s = decode(&tk, ids, n);
  assert_string_equal(s, "USER: <image> is there a <unk> star? </s>");
  free(s);
  /* vocab.json round trip: the same ids. */
  CHECK(tokenizer_save(&tk, "vocab.json", &err));
  CHECK(tokenizer_load(&tk2, "vocab.json", &err));
  assert_int_equal(tk2.vocab, tk.vocab);
  n = tokenizer_encode(&tk, "Is there a red star in the top left?", ids, 64);
  assert_int_equal(tokenizer_encode(&tk2, "Is there a red star in the top left?", ids2, 64), n);
  assert_memory_equal(ids, ids2, n * sizeof *ids);
  tokenizer_release(&tk2);
  tokenizer_release(&tk);
  /* A cap keeps the most frequent words: "." (4 times), then of the words
   * seen 3 times the first in byte order, "a". */
  build(&tk, TOK_NSPECIAL + 2);
  assert_int_equal(tk.vocab, TOK_NSPECIAL + 2);
  assert_int_equal(tokenizer_encode(&tk, ". a there", ids, 64), 3);
  assert_int_equal(ids[0], TOK_NSPECIAL);
  assert_int_equal(ids[1], TOK_NSPECIAL + 1);
  assert_int_equal(ids[2], TOK_UNK);
  tokenizer_release(&tk);
  assert_int_equal(tokenizer_build_word(&tk, corpus, 1, 3, &err), PD_EUSAGE);
  write_str("bad.json", "{\"type\": \"bpe\", \"tokens\": []}");
  memset(&err, 0, sizeof err); /* the first error wins: start afresh */
  assert_int_equal(tokenizer_load(&tk, "bad.json", &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "bpe"));
}

static void test_template(void **state)
{
  struct tokenizer tk;
  int tokens[32], targets[32], seq[40], t, n, ns, a0 = -1;
  float weights[32];
  (void)state;
  build(&tk, 512);
  n = tokenizer_example(&tk, "<image>\nDescribe this image.", "There is a red circle.", 32,
                        tokens, targets, weights);
  /* The same ids as the template written out as text. */
  ns = (int)tokenizer_encode(&tk, "<s>USER: <image>\nDescribe this image. ASSISTANT: There is a "
                             "red circle.</s>", seq, 40);
  assert_int_equal(n, ns);
  assert_int_equal(n, 3 + 4 + 1 + 6 + 1);
  assert_int_equal(seq[0], TOK_BOS);
  for (t = 0; t < n; t++)
    if (seq[t] == TOK_ASSISTANT)
      a0 = t + 1;
  assert_int_equal(a0, 8);
  for (t = 0; t < 32; t++) {
    assert_int_equal(tokens[t], t < n ? seq[t] : TOK_PAD);
    assert_int_equal(targets[t], t + 1 < n ? seq[t + 1] : TOK_PAD);
    /* weight 1 where the target is an answer token or </s> */
    assert_true(weights[t] == (t + 1 >= a0 && t + 1 < n ? 1.0f : 0.0f));
  }
  assert_int_equal(targets[n - 2], TOK_EOS);
  /* Exactly one image token, even if the prompt has none. */
  n = tokenizer_example(&tk, "Is there a star in the image?", "No.", 32, tokens, targets,
                        weights);
  assert_int_equal(tokens[2], TOK_IMAGE);
  for (t = 3; t < 32; t++)
    assert_int_not_equal(tokens[t], TOK_IMAGE);
  /* Cut: T = 6 keeps the prompt's start, no answer weight is past T. */
  n = tokenizer_example(&tk, "<image>\nDescribe this image.", "There is a red circle.", 6,
                        tokens, targets, weights);
  assert_int_equal(n, 15);
  assert_memory_equal(tokens, seq, 6 * sizeof *tokens);
  for (t = 0; t < 6; t++)
    assert_true(weights[t] == 0.0f);
  tokenizer_release(&tk);
}

static int def_int(const struct task_kind *k, const char *name)
{
  const struct kind_param *p = registry_param(k, name);
  assert_non_null(p);
  return atoi(p->def);
}

static void test_kind_defaults(void **state)
{
  const struct task_kind *k = registry_find("train_sft");
  struct llava_config c;
  (void)state;
  assert_non_null(k);
  llava_config_default(&c);
  assert_int_equal(def_int(k, "patch_size"), c.patch_size);
  assert_int_equal(def_int(k, "v_width"), c.v_width);
  assert_int_equal(def_int(k, "v_layers"), c.v_layers);
  assert_int_equal(def_int(k, "v_heads"), c.v_heads);
  assert_int_equal(def_int(k, "v_mlp"), c.v_mlp);
  assert_int_equal(def_int(k, "feature_layer"), c.feature_layer);
  assert_int_equal(def_int(k, "width"), c.width);
  assert_int_equal(def_int(k, "layers"), c.layers);
  assert_int_equal(def_int(k, "heads"), c.heads);
  assert_int_equal(def_int(k, "hidden"), c.hidden);
  assert_int_equal(def_int(k, "vocab_size"), c.vocab);
  assert_int_equal(c.image_token, TOK_IMAGE);
  assert_string_equal(registry_param(k, "freeze_vision")->def, "true");
  assert_string_equal(registry_param(k, "init")->def, "\"\"");
}

/* Mean loss of log's steps [a, b). */
static double mean_loss(const char *log, int a, int b)
{
  char *text = read_all(log, NULL), *line = strchr(text, '\n');
  double sum = 0;
  int n = 0, step;
  double loss;
  while (line && *++line) {
    assert_int_equal(sscanf(line, "%d\t%lf", &step, &loss), 2);
    if (step - 1 >= a && step - 1 < b) {
      sum += loss;
      n++;
    }
    line = strchr(line, '\n');
  }
  free(text);
  assert_int_equal(n, b - a);
  return sum / n;
}

static void test_loss_goes_down(void **state)
{
  struct pd_err err;
  struct llava m;
  double first, last;
  (void)state;
  must(sft("  steps = 30\n", "run1", &err), &err);
  first = mean_loss("run1/log", 0, 7);
  last = mean_loss("run1/log", 23, 30);
  printf("tiny run, 30 steps: mean loss %.4f over the first quarter, %.4f over the last\n",
         first, last);
  assert_true(last < 0.8 * first);
  /* The model reads back with the vocabulary's size. */
  CHECK(llava_load(&m, "run1/model/model.safetensors", &err));
  {
    struct tokenizer tk;
    CHECK(tokenizer_load(&tk, "run1/model/vocab.json", &err));
    assert_int_equal(m.cfg.vocab, tk.vocab);
    assert_int_equal(m.cfg.image_token, TOK_IMAGE);
    assert_int_equal(m.cfg.width, 32);
    tokenizer_release(&tk);
  }
  llava_free(&m);
}

static void test_determinism(void **state)
{
  struct pd_err err;
  char *a, *b, *c;
  size_t na, nb, nc;
  (void)state;
  must(sft("  steps = 6\n", "d1", &err), &err);
  must(sft("  steps = 6\n", "d2", &err), &err);
  must(sft("  steps = 6\n  seed = 2\n", "d3", &err), &err);
  a = read_all("d1/model/model.safetensors", &na);
  b = read_all("d2/model/model.safetensors", &nb);
  c = read_all("d3/model/model.safetensors", &nc);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  assert_int_equal(na, nc);
  assert_memory_not_equal(a, c, na);
  free(a);
  free(b);
  free(c);
  a = read_all("d1/log", &na);
  b = read_all("d2/log", &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  free(a);
  free(b);
}

static void same_file(const char *a, const char *b)
{
  size_t na, nb;
  char *x = read_all(a, &na), *y = read_all(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(x, y, na);
  free(x);
  free(y);
}

static void test_checkpoint_resume(void **state)
{
  static const char *extra = "  steps = 30\n  checkpoint_every = 10\n";
  struct pd_err err = { 0 };
  struct cache *c1, *c2;
  char *log;
  (void)state;
  /* A: straight through (checkpointing into its own cache), and without a cache. */
  CHECK(cache_open(&c1, "ck-cache1", &err));
  must(sft_in(extra, "ckA", c1, "ckA.log", &err), &err);
  log = read_all("ckA.log", NULL);
  assert_non_null(strstr(log, "checkpoint at step 10\n"));
  assert_non_null(strstr(log, "checkpoint at step 20\n"));
  assert_null(strstr(log, "checkpoint at step 30"));
  assert_null(strstr(log, "resumed"));
  free(log);
  cache_close(c1);
  must(sft("  steps = 30\n", "ckN", &err), &err);
  same_file("ckA/model/model.safetensors", "ckN/model/model.safetensors");
  same_file("ckA/log", "ckN/log");

  /* B: a fresh cache, cancelled after step 15, then run again. */
  CHECK(cache_open(&c2, "ck-cache2", &err));
  cancel_frac = 15.0 / 30.0;
  assert_int_equal(sft_in(extra, "ckB", c2, "ckB1.log", &err), PD_EINTR);
  cancel_frac = 2;
  assert_non_null(strstr(err.msg, "cancelled at step 15"));
  log = read_all("ckB1.log", NULL);
  assert_non_null(strstr(log, "checkpoint at step 10\n"));
  assert_null(strstr(log, "checkpoint at step 20"));
  free(log);
  must(sft_in(extra, "ckB", c2, "ckB2.log", &err), &err);
  log = read_all("ckB2.log", NULL);
  assert_non_null(strstr(log, "resumed from step 10\n"));
  assert_non_null(strstr(log, "checkpoint at step 20\n"));
  free(log);
  same_file("ckA/model/model.safetensors", "ckB/model/model.safetensors");
  same_file("ckA/log", "ckB/log");

  /* Another seed is another run: no checkpoint of it, and checkpoint_every = 0 reads none. */
  must(sft_in("  steps = 12\n  checkpoint_every = 10\n  seed = 2\n", "ckC", c2, "ckC.log",
              &err), &err);
  log = read_all("ckC.log", NULL);
  assert_null(strstr(log, "resumed"));
  free(log);
  must(sft_in("  steps = 30\n  checkpoint_every = 0\n", "ckD", c2, "ckD.log", &err), &err);
  log = read_all("ckD.log", NULL);
  assert_null(strstr(log, "resumed"));
  assert_null(strstr(log, "checkpoint at"));
  free(log);
  same_file("ckA/model/model.safetensors", "ckD/model/model.safetensors");
  cache_close(c2);
}

/* Writes an init checkpoint: a tower unlike TINY's (v_width 24, feature
 * layer -1) from seed, with an LM of its own. */
static void write_init(uint64_t seed)
{
  struct llava_config c;
  struct llava m;
  struct pd_err err = { 0 };
  llava_config_default(&c);
  c.patch_size = 8;
  c.v_width = 24;
  c.v_layers = 2;
  c.v_heads = 2;
  c.v_mlp = 48;
  c.feature_layer = -1;
  c.vocab = 16;
  c.width = 16;
  c.layers = 1;
  c.heads = 2;
  c.hidden = 32;
  mkdir("init", 0755);
  CHECK(llava_init(&m, &c, seed, &err));
  CHECK(llava_save(&m, "init/model.safetensors", &err));
  llava_free(&m);
}

/* Whether the saved model's tower is byte for byte the init's. */
static int same_tower(const char *model)
{
  struct llava a, b;
  struct pd_err err = { 0 };
  int same;
  CHECK(llava_load(&a, model, &err));
  CHECK(llava_load(&b, "init/model.safetensors", &err));
  assert_int_equal(a.cfg.v_width, 24);
  assert_int_equal(a.cfg.feature_layer, -1);
  assert_int_equal(a.cfg.v_mlp, 48);
  assert_int_equal(a.cfg.width, 32); /* the LM is TINY's */
  assert_int_equal(a.num_vision_parameters, b.num_vision_parameters);
  same = memcmp(a.params_memory, b.params_memory, a.num_vision_parameters * sizeof(float)) == 0;
  llava_free(&a);
  llava_free(&b);
  return same;
}

/* init: the tower's config and weights come from the checkpoint; frozen
 * (the default) it is saved unchanged, trained it moves; without init a
 * frozen tower is allowed with a warning; bad inits are named. */
static void test_init(void **state)
{
  struct pd_err err;
  struct graph g;
  char *log;
  (void)state;
  write_init(7);
  must(sft_in("  steps = 6\n  init = dir(\"init\")\n", "i1", NULL, "i1.log", &err), &err);
  assert_true(same_tower("i1/model/model.safetensors"));
  log = read_all("i1.log", NULL);
  assert_non_null(strstr(log, "vision parameters are ignored"));
  assert_non_null(strstr(log, "v_width 24"));
  assert_null(strstr(log, "warning"));
  free(log);
  must(sft("  steps = 6\n  init = file(\"init/model.safetensors\")\n  freeze_vision = false\n",
           "i2", &err), &err);
  assert_false(same_tower("i2/model/model.safetensors"));
  must(sft_in("  steps = 2\n", "i3", NULL, "i3.log", &err), &err);
  log = read_all("i3.log", NULL);
  assert_non_null(strstr(log, "warning: freeze_vision without init"));
  free(log);
  /* Not a model: the error names the file. */
  assert_true(sft("  steps = 2\n  init = file(\"fs/train/index.tsv\")\n", "i4", &err) < 0);
  assert_non_null(strstr(err.msg, "index.tsv"));
  /* Not an artifact: a graph error at the value. */
  write_str("g.dag", "task m = train_sft {\n  data = dir(\"fs/train\")\n  init = 3\n}\n");
  memset(&err, 0, sizeof err);
  assert_int_not_equal(graph_load(&g, "g.dag", NULL, 0, &err), 0);
  assert_non_null(strstr(err.msg, "'init'"));
}

/* The init's bytes are part of the checkpoint identity: a run cancelled
 * with one init does not resume with another; back on the first, it
 * resumes and ends with the bytes of an uninterrupted run. */
static void test_init_checkpoint(void **state)
{
  static const char *extra = "  steps = 30\n  checkpoint_every = 10\n  init = dir(\"init\")\n";
  struct pd_err err = { 0 };
  struct cache *c;
  char *log;
  (void)state;
  write_init(7);
  must(sft(extra, "icA", &err), &err);
  CHECK(cache_open(&c, "ick-cache", &err));
  cancel_frac = 15.0 / 30.0;
  assert_int_equal(sft_in(extra, "icB", c, "icB1.log", &err), PD_EINTR);
  cancel_frac = 2;
  write_init(8);
  must(sft_in(extra, "icC", c, "icC.log", &err), &err);
  log = read_all("icC.log", NULL);
  assert_null(strstr(log, "resumed"));
  free(log);
  write_init(7);
  must(sft_in(extra, "icB", c, "icB2.log", &err), &err);
  log = read_all("icB2.log", NULL);
  assert_non_null(strstr(log, "resumed from step 10\n"));
  free(log);
  same_file("icA/model/model.safetensors", "icB/model/model.safetensors");
  same_file("icA/log", "icB/log");
  cache_close(c);
}

static void test_bad_input(void **state)
{
  struct pd_err err;
  (void)state;
  mkdir("empty", 0755);
  assert_int_equal(run("task m = train_sft {\n  data = dir(\"empty\")\n}\n", "bad", &err) < 0, 1);
  assert_non_null(strstr(err.msg, "empty/images.safetensors"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tokenizer_round_trip),
    cmocka_unit_test(test_template),
    cmocka_unit_test(test_kind_defaults),
    cmocka_unit_test(test_loss_goes_down),
    cmocka_unit_test(test_determinism),
    cmocka_unit_test(test_checkpoint_resume),
    cmocka_unit_test(test_init),
    cmocka_unit_test(test_init_checkpoint),
    cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
