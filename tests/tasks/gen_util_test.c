/* gen_util_test.c - tests of tasks/gen_util.c on a random tiny model (its
 * answers vary from image to image, unlike a barely trained one's): the
 * generation prompt is the training template's prefix; greedy answers are
 * the same for batch 1, 4 and 32 with prompts of two lengths mixed;
 * sampled answers do not depend on batch and do depend on the seed; a
 * prompt too long for the model and bad split files fail with errors that
 * name the file and line. */
#include "tasks_test_util.h"

#include "digest.h"
#include "gen_util.h"
#include "llava.h"
#include "llava_io.h"
#include "safetensors.h"
#include "strbuf.h"
#include "tokenizer.h"

#define NIMG 6
#define S 16

static char *dir;
static char cwd0[4096];

static void write_split(const char *d, const char *items, const char *index)
{
  static uint8_t px[NIMG * S * S * 3];
  int64_t shape[4] = { NIMG, S, S, 3 };
  struct st_write_tensor t = { "images", "U8", 4, shape, px };
  struct pd_err err = { 0 };
  char *p;
  size_t i;
  uint64_t x = 42;
  for (i = 0; i < sizeof px; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    px[i] = (uint8_t)(x >> 56);
  }
  mkdir(d, 0755);
  p = xasprintf("%s/images.safetensors", d);
  CHECK(safetensors_write(p, &t, 1, NULL, &err));
  free(p);
  p = xasprintf("%s/items.jsonl", d);
  write_str(p, items);
  free(p);
  p = xasprintf("%s/index.tsv", d);
  write_str(p, index);
  free(p);
}

static const char items6[] =
  "{\"id\": \"e0\", \"image\": \"img0\"}\n{\"id\": \"e1\", \"image\": \"img1\"}\n"
  "{\"image\": \"img2\"}\n\n{\"id\": \"e3\", \"image\": \"img3\"}\n"
  "{\"id\": \"e4\", \"image\": \"img4\"}\n{\"id\": \"e5\", \"image\": \"img5\"}\n";
static const char index6[] =
  "image\trow\nimg5\t5\nimg0\t0\nimg1\t1\nimg2\t2\nimg3\t3\nimg4\t4\n";

static int setup(void **state)
{
  static const char *const texts[] = {
    "Describe this image.", "There is a red circle in the top left.",
    "Is there a blue square in the image?", "Yes.", "No.", "a green star and a white ring",
  };
  struct llava_config cfg;
  struct llava m;
  struct tokenizer tk;
  struct pd_err err = { 0 };
  (void)state;
  dir = scratch_dir("gen_util_test");
  if (!getcwd(cwd0, sizeof cwd0) || chdir(dir) != 0)
    return -1;
  write_split("sp", items6, index6);
  CHECK(tokenizer_build_word(&tk, texts, sizeof texts / sizeof texts[0], 64, &err));
  llava_config_default(&cfg);
  cfg.image_size = S;
  cfg.patch_size = 8;
  cfg.v_width = 16;
  cfg.v_layers = 2;
  cfg.v_heads = 2;
  cfg.v_mlp = 32;
  cfg.width = 32;
  cfg.layers = 2;
  cfg.heads = 2;
  cfg.hidden = 64;
  cfg.vocab = tk.vocab;
  cfg.max_seq = 4 + 16;
  cfg.init_std = 0.5f; /* random answers that differ between images */
  CHECK(llava_init(&m, &cfg, 7, &err));
  mkdir("model", 0755);
  CHECK(llava_save(&m, "model/model.safetensors", &err));
  CHECK(tokenizer_save(&tk, "model/vocab.json", &err));
  llava_free(&m);
  tokenizer_release(&tk);
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

static void test_prompt(void **state)
{
  struct gen_model gm;
  struct pd_err err = { 0 };
  int tok[64], tgt[64], n, n2, *p, *p2, i;
  float w[64];
  uint8_t d[PD_DIGEST_LEN];
  char hex[PD_DIGEST_HEX];
  uint64_t size;
  (void)state;
  CHECK(gen_model_load(&gm, "model", &err));
  CHECK(digest_file("model/model.safetensors", d, &size, &err));
  digest_hex(d, hex);
  assert_string_equal(gm.digest, hex);
  p = gen_prompt(&gm, "Describe this image.", &n);
  /* The training sequence for the same prompt starts with exactly these. */
  tokenizer_example(&gm.tk, "<image>\nDescribe this image.", "There is a red circle.", 64, tok,
                    tgt, w);
  assert_int_equal(n, 3 + 4 + 1); /* <s> USER: <image> describe this image . ASSISTANT: */
  for (i = 0; i < n; i++)
    assert_int_equal(p[i], tok[i]);
  assert_int_equal(p[0], TOK_BOS);
  assert_int_equal(p[2], TOK_IMAGE);
  assert_int_equal(p[n - 1], TOK_ASSISTANT);
  assert_true(w[n - 2] == 0.0f && w[n - 1] == 1.0f); /* the answer starts right after */
  /* "<image>" in the prompt is dropped: the template places the image. */
  p2 = gen_prompt(&gm, "<image>\nDescribe this image.", &n2);
  assert_int_equal(n2, n);
  assert_memory_equal(p, p2, (size_t)n * sizeof *p);
  free(p);
  free(p2);
  gen_model_release(&gm);
}

#define NREQ (2 * NIMG)
#define MAXNEW 10

/* Every image asked two prompts of different lengths, interleaved. */
static void run_all_threads(struct gen_model *gm, const struct gen_split *s, int batch,
                            float temp, uint64_t seed, int threads, int *out, int *len)
{
  struct gen_req reqs[NREQ];
  struct gen_opts o = { MAXNEW, batch, 0.0f, temp, 0.9f, seed, threads };
  struct pd_err err = { 0 };
  int *pa, *pb, na, nb, i;
  pa = gen_prompt(gm, "Describe this image.", &na);
  pb = gen_prompt(gm, "Is there a blue square in the image?", &nb);
  assert_int_not_equal(na, nb);
  for (i = 0; i < NREQ; i++) {
    reqs[i].row = s->items[i / 2].row;
    reqs[i].prompt = i % 2 ? pb : pa;
    reqs[i].Tp = i % 2 ? nb : na;
    reqs[i].out = out + i * MAXNEW;
    reqs[i].len = -1;
  }
  CHECK(gen_run(gm, s, reqs, NREQ, &o, NULL, NULL, &err));
  for (i = 0; i < NREQ; i++) {
    len[i] = reqs[i].len;
    assert_true(len[i] >= 0 && len[i] <= MAXNEW);
  }
  free(pa);
  free(pb);
}

static void run_all(struct gen_model *gm, const struct gen_split *s, int batch, float temp,
                    uint64_t seed, int *out, int *len)
{
  run_all_threads(gm, s, batch, temp, seed, 1, out, len);
}

static void test_batch_independent(void **state)
{
  struct gen_model gm;
  struct gen_split s;
  struct pd_err err = { 0 };
  int out1[NREQ * MAXNEW], out4[NREQ * MAXNEW], out32[NREQ * MAXNEW];
  int len1[NREQ], len4[NREQ], len32[NREQ], i, differ = 0;
  (void)state;
  CHECK(gen_model_load(&gm, "model", &err));
  CHECK(gen_split_read(&s, "sp", 0, NULL, NULL, &err));
  assert_int_equal(s.n, NIMG);
  assert_string_equal(s.items[2].id, "img2"); /* no "id": the image */
  assert_int_equal(s.items[3].line, 5);       /* the blank line counts */
  assert_int_equal(s.items[5].row, 5);
  run_all(&gm, &s, 1, 0.0f, 1, out1, len1);
  run_all(&gm, &s, 4, 0.0f, 1, out4, len4);
  run_all(&gm, &s, 32, 0.0f, 1, out32, len32);
  assert_memory_equal(out1, out4, sizeof out1);
  assert_memory_equal(out1, out32, sizeof out1);
  assert_memory_equal(len1, len4, sizeof len1);
  assert_memory_equal(len1, len32, sizeof len1);
  /* Batches on 2 and 3 threads (each batch whole on one): the same answers. */
  run_all_threads(&gm, &s, 4, 0.0f, 1, 3, out4, len4);
  assert_memory_equal(out1, out4, sizeof out1);
  assert_memory_equal(len1, len4, sizeof len1);
  run_all_threads(&gm, &s, 1, 0.0f, 1, 2, out4, len4);
  assert_memory_equal(out1, out4, sizeof out1);
  assert_memory_equal(len1, len4, sizeof len1);
  /* The answers differ between images: the comparison means something. */
  for (i = 2; i < NREQ; i += 2)
    differ |= memcmp(out1, out1 + i * MAXNEW, MAXNEW * sizeof *out1) != 0;
  assert_true(differ);
  gen_split_release(&s);
  gen_model_release(&gm);
}

static void test_sampling(void **state)
{
  struct gen_model gm;
  struct gen_split s;
  struct pd_err err = { 0 };
  int a[NREQ * MAXNEW], b[NREQ * MAXNEW], c[NREQ * MAXNEW], g[NREQ * MAXNEW];
  int la[NREQ], lb[NREQ], lc[NREQ], lg[NREQ];
  (void)state;
  CHECK(gen_model_load(&gm, "model", &err));
  CHECK(gen_split_read(&s, "sp", 0, NULL, NULL, &err));
  run_all(&gm, &s, 1, 1.5f, 3, a, la);
  run_all(&gm, &s, 5, 1.5f, 3, b, lb);
  run_all(&gm, &s, 5, 1.5f, 4, c, lc);
  run_all(&gm, &s, 5, 0.0f, 3, g, lg);
  assert_memory_equal(a, b, sizeof a);
  assert_memory_equal(la, lb, sizeof la);
  run_all_threads(&gm, &s, 5, 1.5f, 3, 3, b, lb); /* 3 threads */
  assert_memory_equal(a, b, sizeof a);
  assert_memory_equal(la, lb, sizeof la);
  assert_true(memcmp(a, c, sizeof a) != 0); /* another seed */
  assert_true(memcmp(a, g, sizeof a) != 0); /* not greedy */
  gen_split_release(&s);
  gen_model_release(&gm);
}

static void test_errors(void **state)
{
  struct gen_model gm;
  struct gen_split s;
  struct pd_err err;
  struct gen_req q;
  struct gen_opts o = { 4, 8, 0.0f, 0.0f, 1.0f, 1, 1 };
  int out[4], *p, n;
  (void)state;
  /* limit */
  memset(&err, 0, sizeof err);
  CHECK(gen_split_read(&s, "sp", 2, NULL, NULL, &err));
  assert_int_equal(s.n, 2);
  gen_split_release(&s);
  /* an item whose image is not in index.tsv: file and line */
  write_split("bad1", "{\"image\": \"img0\"}\n{\"image\": \"nope\"}\n", index6);
  memset(&err, 0, sizeof err);
  assert_int_equal(gen_split_read(&s, "bad1", 0, NULL, NULL, &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "bad1/items.jsonl':2: image 'nope' is not in index.tsv"));
  /* a bad index line */
  write_split("bad2", items6, "image\trow\nimg0\t0\nimg1\t99\n");
  memset(&err, 0, sizeof err);
  assert_int_equal(gen_split_read(&s, "bad2", 0, NULL, NULL, &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "bad2/index.tsv':3"));
  /* a line that is not an item */
  write_split("bad3", "{\"image\": \"img0\"}\n[1, 2]\n", index6);
  memset(&err, 0, sizeof err);
  assert_int_equal(gen_split_read(&s, "bad3", 0, NULL, NULL, &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "bad3/items.jsonl':2"));
  /* missing files */
  memset(&err, 0, sizeof err);
  assert_true(gen_split_read(&s, "nowhere", 0, NULL, NULL, &err) < 0);
  assert_non_null(strstr(err.msg, "nowhere/images.safetensors"));
  memset(&err, 0, sizeof err);
  assert_true(gen_model_load(&gm, "nowhere", &err) < 0);
  assert_non_null(strstr(err.msg, "nowhere/model.safetensors"));
  /* a prompt too long for max_seq (4 patches + 16) */
  memset(&err, 0, sizeof err);
  CHECK(gen_model_load(&gm, "model", &err));
  CHECK(gen_split_read(&s, "sp", 0, NULL, NULL, &err));
  p = gen_prompt(&gm, "a red circle a red circle a red circle a red circle a red circle", &n);
  q.row = 0;
  q.prompt = p;
  q.Tp = n;
  q.out = out;
  assert_int_equal(gen_run(&gm, &s, &q, 1, &o, NULL, NULL, &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "does not fit the model"));
  free(p);
  gen_split_release(&s);
  gen_model_release(&gm);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_prompt),
    cmocka_unit_test(test_batch_independent),
    cmocka_unit_test(test_sampling),
    cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
