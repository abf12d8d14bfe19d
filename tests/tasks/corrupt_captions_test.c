/* corrupt_captions_test.c - tests of tasks/corrupt_captions.c with its
 * parts (tasks/corrupt_pairs.c, tasks/corrupt_rules.c), mostly through the
 * front end, on splits of the built-in world generated here: every
 * rejected answer differs from the chosen one and, parsed back into
 * (category, colour, position) mentions, says something false of the
 * image; chosen answers are the ground truth without label noise (eval:
 * the original text); edit shares follow the mix; inserted objects are
 * absent and co-occurring ones preferred; the same bytes for a seed and any
 * thread count; yes/no pairs; skips counted with
 * their reasons; bad inputs named with file and line. */
#include "tasks_test_util.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "corrupt_rules.h"
#include "dataset.h"
#include "graph.h"
#include "registry.h"
#include "run.h"
#include "shapes.h"
#include "strbuf.h"
#include "world.h"

#define NTRAIN 1500
#define NEVAL 200

static char *dir;
static char cwd0[4096];
static struct dataset train, evals;
static struct world_stats wtrain;

/* Runs the graph's first task into outdir (created) as the scheduler would,
 * on this thread. */
static int run(const char *text, int threads, const char *outdir, int cancel, struct pd_err *err)
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
  r->threads = threads;
  r->log = fopen("/dev/null", "w");
  r->frac = -1;
  atomic_init(&r->cancel, cancel);
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

/* corrupt_captions on data and world (graph-language values) with extra lines. */
static int corrupt(const char *data, const char *world, const char *extra, int threads,
                   const char *outdir, struct pd_err *err)
{
  char *g = xasprintf("task c = corrupt_captions {\n  data = %s\n  world = %s\n%s}\n", data,
                      world, extra);
  int rc = run(g, threads, outdir, 0, err);
  free(g);
  return rc;
}

static void must(int rc, const struct pd_err *err)
{
  if (rc != 0)
    fail_msg("run failed: %d: %s", rc, err->msg);
}

/* The default split: dir("fs/train") with file("fs/world.json"). */
static void corrupt_train(const char *extra, int threads, const char *outdir)
{
  struct pd_err err;
  must(corrupt("dir(\"fs/train\")", "file(\"fs/world.json\")", extra, threads, outdir, &err),
       &err);
}

static int setup(void **state)
{
  struct shapes_params p;
  struct pd_err err = { 0 };
  (void)state;
  dir = scratch_dir("corrupt_captions_test");
  if (!getcwd(cwd0, sizeof cwd0) || chdir(dir) != 0)
    return -1;
  shapes_params_default(&p);
  if (dataset_generate(&train, &p, SHAPES_TRAIN, NTRAIN, 2, NULL, NULL, &err) != 0 ||
      dataset_generate(&evals, &p, SHAPES_EVAL, NEVAL, 2, NULL, NULL, &err) != 0)
    return -1;
  world_stats_of(&wtrain, &train);
  if (mkdir("fs", 0755) != 0 || dataset_write(&train, &p, "builtin:shapes", "fs/train", &err) ||
      dataset_write(&evals, &p, "builtin:shapes", "fs/eval", &err) ||
      world_write("fs/world.json", &p, "builtin:shapes", &wtrain, NULL, &err))
    return -1;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  dataset_release(&train);
  dataset_release(&evals);
  if (chdir(cwd0) != 0)
    return -1;
  cache_rmtree(dir);
  free(dir);
  return 0;
}

/* --- reading the outputs back ------------------------------------------------ */

/* pairs.jsonl of outdir, one cJSON per line; *n lines. */
static cJSON **read_pairs(const char *outdir, size_t *n)
{
  char *path = xasprintf("%s/pairs/pairs.jsonl", outdir), *text = read_all(path, NULL), *p, *nl;
  cJSON **v = NULL;
  *n = 0;
  for (p = text; *p; p = nl + 1) {
    nl = strchr(p, '\n');
    assert_non_null(nl); /* every line ends */
    v = xrealloc(v, (*n + 1) * sizeof *v);
    v[*n] = cJSON_ParseWithLength(p, (size_t)(nl - p));
    if (!v[*n])
      fail_msg("%s: line %zu is not JSON", path, *n + 1);
    (*n)++;
  }
  free(text);
  free(path);
  return v;
}

static void free_pairs(cJSON **v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    cJSON_Delete(v[i]);
  free(v);
}

static cJSON *read_summary(const char *outdir)
{
  char *path = xasprintf("%s/summary", outdir), *text = read_all(path, NULL);
  cJSON *j = cJSON_Parse(text);
  assert_non_null(j);
  free(text);
  free(path);
  return j;
}

static const char *sget(const cJSON *o, const char *k)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static double nget(const cJSON *o, const char *path)
{
  char key[64], *dot;
  const cJSON *v = o;
  snprintf(key, sizeof key, "%s", path);
  for (char *k = key; k; k = dot ? dot + 1 : NULL) {
    if ((dot = strchr(k, '.')))
      *dot = '\0';
    v = cJSON_GetObjectItemCaseSensitive(v, k);
    if (!v)
      fail_msg("summary lacks '%s'", path);
  }
  assert_true(cJSON_IsNumber(v));
  return v->valuedouble;
}

/* The scene of a pair ("train-000042" -> train.scenes[42]). */
static const struct shapes_scene *scene_of(const cJSON *pair)
{
  const char *id = sget(pair, "image");
  int split = strncmp(id, "train-", 6) == 0 ? SHAPES_TRAIN : SHAPES_EVAL;
  const struct dataset *d = split == SHAPES_TRAIN ? &train : &evals;
  size_t i = (size_t)atol(strchr(id, '-') + 1);
  assert_true(i < d->n);
  return &d->scenes[i];
}

/* Parses "There is a red circle in the top left, ... and a blue square in
 * the bottom right." back into mentions, independently of the renderer.
 * Returns the count, or -1 when the text is not in that form. */
static int parse_description(const char *text, struct shapes_mention *m, int max)
{
  char buf[1024], *p, *end, *cut, *in;
  int n = 0, k;
  if (strncmp(text, "There is ", 9) != 0 || strlen(text) >= sizeof buf)
    return -1;
  snprintf(buf, sizeof buf, "%s", text + 9);
  end = buf + strlen(buf);
  if (end == buf || end[-1] != '.')
    return -1;
  end[-1] = '\0';
  for (p = buf; p; n++) {
    char *comma = strstr(p, ", "), *and = strstr(p, " and ");
    const char *article, *colour, *cat;
    cut = comma && (!and || comma < and) ? comma : and;
    if (cut)
      *cut = '\0';
    if (n == max)
      return -1;
    /* "a red circle in the top left" */
    article = p;
    if (!(colour = strchr(p, ' ')))
      return -1;
    *(char *)colour++ = '\0';
    if (!(cat = strchr(colour, ' ')))
      return -1;
    *(char *)cat++ = '\0';
    if (!(in = strstr(cat, " in the ")))
      return -1;
    *in = '\0';
    if (strcmp(article, shapes_article(colour)) != 0)
      return -1;
    m[n].cat = shapes_find_category(cat);
    m[n].colour = m[n].slot = -1;
    for (k = 0; k < SHAPES_NCOLOUR; k++)
      if (strcmp(shapes_colours[k].name, colour) == 0)
        m[n].colour = k;
    for (k = 0; k < SHAPES_NSLOT; k++)
      if (strcmp(shapes_positions[k], in + 8) == 0)
        m[n].slot = k;
    if (m[n].cat < 0 || m[n].colour < 0 || m[n].slot < 0)
      return -1;
    p = cut ? cut + (cut == comma ? 2 : 5) : NULL;
  }
  return n;
}

static int true_of(const struct shapes_scene *s, const struct shapes_mention *m)
{
  int i;
  for (i = 0; i < s->n; i++)
    if (s->obj[i].cat == m->cat && s->obj[i].colour == m->colour && s->obj[i].slot == m->slot)
      return 1;
  return 0;
}

/* The clean description of s: its objects, no label noise. */
static void clean_description(const struct shapes_scene *s, struct strbuf *out)
{
  struct shapes_scene c = *s;
  int i;
  c.nmention = s->n;
  for (i = 0; i < s->n; i++) {
    c.mention[i].cat = s->obj[i].cat;
    c.mention[i].colour = s->obj[i].colour;
    c.mention[i].slot = s->obj[i].slot;
    c.mention[i].noise = 0;
  }
  strbuf_reset(out);
  shapes_describe(&c, out);
}

/* Checks every description pair of outdir: chosen = the clean truth,
 * rejected differs and says something false; returns the pairs' count.
 * kinds[] receives the edits per kind. */
static size_t check_descriptions(const char *outdir, int edits, size_t kinds[CORRUPT_NKIND])
{
  struct shapes_mention m[16];
  struct strbuf sb;
  cJSON **v, *e;
  size_t n, i, count = 0;
  int nm, k, wrong, nedit;

  strbuf_init(&sb, 256);
  memset(kinds, 0, CORRUPT_NKIND * sizeof *kinds);
  v = read_pairs(outdir, &n);
  for (i = 0; i < n; i++) {
    const struct shapes_scene *s = scene_of(v[i]);
    const char *rejected = sget(v[i], "rejected");
    if (cJSON_GetObjectItem(v[i], "turn")->valueint != 1)
      continue;
    count++;
    assert_string_equal(sget(v[i], "id"), sget(v[i], "image"));
    assert_string_equal(sget(v[i], "prompt"), "<image>\nDescribe this image.");
    clean_description(s, &sb);
    assert_string_equal(sget(v[i], "chosen"), sb.buf);
    assert_string_not_equal(rejected, sb.buf);
    if ((nm = parse_description(rejected, m, 16)) < 1)
      fail_msg("%s: cannot parse '%s'", sget(v[i], "id"), rejected);
    for (k = 0, wrong = 0; k < nm; k++)
      wrong += !true_of(s, &m[k]);
    if (wrong == 0)
      fail_msg("%s: '%s' is true of the image", sget(v[i], "id"), rejected);
    nedit = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(v[i], "edits")) {
      const char *kind = sget(e, "kind");
      for (k = 0; k < CORRUPT_NKIND; k++)
        if (strcmp(kind, corrupt_kind_names[k]) == 0)
          kinds[k]++;
      /* Inserted and replacing categories are absent. */
      if (strcmp(kind, "insert") == 0)
        assert_false(shapes_has(s, shapes_find_category(sget(e, "object"))));
      assert_true(strlen(sget(e, "detail")) > 3);
      nedit++;
    }
    assert_true(nedit >= 1 && nedit <= edits);
    /* No more mentions false than edits could make (a swap makes two). */
    assert_true(wrong <= 2 * nedit);
  }
  free_pairs(v, n);
  strbuf_release(&sb);
  return count;
}

/* --- tests ----------------------------------------------------------------- */

static void test_kind_tables(void **state)
{
  const struct task_kind *k = registry_find("corrupt_captions");
  const struct kind_param *p;
  (void)state;
  assert_non_null(k);
  assert_non_null(k->run);
  assert_string_equal(k->outputs[0].name, "pairs");
  assert_string_equal(k->outputs[1].name, "summary");
  assert_null(k->outputs[2].name);
  for (p = k->params; p->name; p++) {
    assert_true(p->def != NULL || strcmp(p->name, "data") == 0 || strcmp(p->name, "world") == 0);
    assert_true(strlen(p->doc) > 10);
  }
  assert_string_equal(registry_param(k, "edits")->def, "1");
  assert_string_equal(registry_param(k, "insert")->def, "0.4");
  assert_string_equal(registry_param(k, "questions")->def, "false");
}

static void test_default_run(void **state)
{
  size_t kinds[CORRUPT_NKIND], n, k;
  cJSON *s;
  (void)state;
  corrupt_train("", 2, "out");
  n = check_descriptions("out", 1, kinds);
  assert_int_equal(n, NTRAIN); /* nothing skipped */
  s = read_summary("out");
  assert_int_equal(nget(s, "items"), NTRAIN);
  assert_int_equal(nget(s, "pairs"), NTRAIN);
  assert_int_equal(nget(s, "skipped.answers"), 0);
  assert_int_equal(nget(s, "label_noise_removed.mentions"), wtrain.noisy);
  for (k = 0; k < CORRUPT_NRULE; k++) {
    char key[32];
    snprintf(key, sizeof key, "edits.%s", corrupt_kind_names[k]);
    assert_int_equal(nget(s, key), kinds[k]);
  }
  /* The default mix: 40% insert, 20% each of the others. */
  printf("default mix on %d items: insert %.3f replace %.3f recolour %.3f move %.3f\n", NTRAIN,
         nget(s, "shares.insert"), nget(s, "shares.replace"), nget(s, "shares.recolour"),
         nget(s, "shares.move"));
  assert_true(fabs(nget(s, "shares.insert") - 0.4) < 0.04);
  assert_true(fabs(nget(s, "shares.replace") - 0.2) < 0.04);
  assert_true(fabs(nget(s, "shares.recolour") - 0.2) < 0.04);
  assert_true(fabs(nget(s, "shares.move") - 0.2) < 0.04);
  cJSON_Delete(s);
}

/* Eval items are clean: the chosen answer is the original text. */
static void test_chosen_is_original_when_clean(void **state)
{
  char *text = read_all("fs/eval/items.jsonl", NULL), *line, *save = NULL;
  cJSON **v;
  size_t n, i = 0, kinds[CORRUPT_NKIND];
  struct pd_err err;
  (void)state;
  must(corrupt("dir(\"fs/eval\")", "file(\"fs/world.json\")", "", 1, "ev", &err), &err);
  assert_int_equal(check_descriptions("ev", 1, kinds), NEVAL);
  v = read_pairs("ev", &n);
  for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
    cJSON *item = cJSON_Parse(line), *gpt;
    gpt = cJSON_GetArrayItem(cJSON_GetObjectItem(item, "conversations"), 1);
    assert_string_equal(sget(v[i], "chosen"), sget(gpt, "value"));
    cJSON_Delete(item);
  }
  assert_int_equal(i, NEVAL);
  free_pairs(v, n);
  free(text);
}

static void test_mix(void **state)
{
  size_t kinds[CORRUPT_NKIND];
  cJSON *s;
  (void)state;
  corrupt_train("  insert = 0\n  replace = 0\n  move = 0\n", 2, "rc");
  assert_int_equal(check_descriptions("rc", 1, kinds), NTRAIN);
  assert_int_equal(kinds[CORRUPT_RECOLOUR], NTRAIN);
  /* Weights are normalised: 3 : 1 is 0.75 : 0.25. */
  corrupt_train("  insert = 3\n  replace = 0\n  recolour = 0\n  move = 1\n", 2, "im");
  assert_int_equal(check_descriptions("im", 1, kinds), NTRAIN);
  assert_int_equal(kinds[CORRUPT_INSERT] + kinds[CORRUPT_MOVE], NTRAIN);
  assert_true(fabs((double)kinds[CORRUPT_INSERT] / NTRAIN - 0.75) < 0.04);
  s = read_summary("im");
  assert_true(fabs(nget(s, "mix.insert") - 0.75) < 1e-9);
  cJSON_Delete(s);
  /* The description statistics (label noise included) weight the draws
   * instead; the pairs keep every guarantee. */
  corrupt_train("  cooccurrence = \"mentions\"\n", 2, "mn");
  assert_int_equal(check_descriptions("mn", 1, kinds), NTRAIN);
}

/* Several edits per answer: never more than asked, each answer still
 * false; an answer that runs out of edits is short, not skipped. */
static void test_many_edits(void **state)
{
  size_t kinds[CORRUPT_NKIND], total = 0, k;
  cJSON *s;
  (void)state;
  corrupt_train("  edits = 3\n", 3, "e3");
  assert_int_equal(check_descriptions("e3", 3, kinds), NTRAIN);
  for (k = 0; k < CORRUPT_NKIND; k++)
    total += kinds[k];
  s = read_summary("e3");
  assert_int_equal(total + (size_t)nget(s, "short.edits_missing"), 3 * NTRAIN);
  cJSON_Delete(s);
  /* Only moves, 3 of them: a one-object image has one to make. */
  corrupt_train("  edits = 3\n  insert = 0\n  replace = 0\n  recolour = 0\n", 1, "m3");
  assert_int_equal(check_descriptions("m3", 3, kinds), NTRAIN);
  s = read_summary("m3");
  assert_true(nget(s, "short.answers") > 0);
  assert_int_equal(nget(s, "skipped.answers"), 0);
  cJSON_Delete(s);
}

/* Mean co-occurrence with the objects present of the inserted categories,
 * and of a uniform pick among the absent ones, over the pairs of outdir
 * (all inserts). */
static void insert_scores(const char *outdir, double *picked, double *uniform)
{
  cJSON **v, *e;
  size_t n, i, kinds[CORRUPT_NKIND];
  int a, c, k, cands;
  assert_int_equal(check_descriptions(outdir, 1, kinds), NTRAIN);
  assert_int_equal(kinds[CORRUPT_INSERT], NTRAIN);
  *picked = *uniform = 0;
  v = read_pairs(outdir, &n);
  for (i = 0; i < n; i++) {
    const struct shapes_scene *s = scene_of(v[i]);
    double score[SHAPES_NCAT] = { 0 }, sum = 0;
    e = cJSON_GetArrayItem(cJSON_GetObjectItem(v[i], "edits"), 0);
    c = shapes_find_category(sget(e, "object"));
    for (cands = 0, a = 0; a < SHAPES_NCAT; a++) {
      if (shapes_has(s, a))
        continue;
      for (k = 0; k < s->n; k++)
        score[a] += (double)wtrain.co[s->obj[k].cat][a] / (double)wtrain.count[s->obj[k].cat];
      score[a] /= s->n;
      sum += score[a];
      cands++;
    }
    *picked += score[c] / (double)n;
    *uniform += sum / cands / (double)n;
  }
  free_pairs(v, n);
}

/* Inserted objects are absent (check_descriptions) and drawn by
 * co-occurrence: by default the inserted categories co-occur with the
 * objects present far more than a uniform pick among the absent ones would;
 * with cooccurrence_power = 0 they are that uniform pick. */
static void test_inserts_cooccur(void **state)
{
  double picked, uniform, p1, u1, p0, u0;
  (void)state;
  corrupt_train("  insert = 1\n  replace = 0\n  recolour = 0\n  move = 0\n", 2, "ins");
  insert_scores("ins", &picked, &uniform);
  corrupt_train("  insert = 1\n  replace = 0\n  recolour = 0\n  move = 0\n"
                "  cooccurrence_power = 1\n", 2, "ins1");
  insert_scores("ins1", &p1, &u1);
  corrupt_train("  insert = 1\n  replace = 0\n  recolour = 0\n  move = 0\n"
                "  cooccurrence_power = 0\n", 2, "ins0");
  insert_scores("ins0", &p0, &u0);
  printf("mean co-occurrence of inserted objects %.3f (power 2), %.3f (power 1), %.3f "
         "(power 0); of a uniform pick %.3f\n", picked, p1, p0, uniform);
  assert_true(picked > 2.0 * uniform);
  assert_true(picked > p1 && p1 > 1.4 * uniform);
  assert_true(fabs(p0 / uniform - 1) < 0.15);
}

static void assert_same_file(const char *a, const char *b)
{
  size_t na, nb;
  char *x = read_all(a, &na), *y = read_all(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(x, y, na);
  free(x);
  free(y);
}

static void test_determinism(void **state)
{
  size_t na, nb;
  char *x, *y;
  (void)state;
  corrupt_train("  seed = 5\n", 1, "t1");
  corrupt_train("  seed = 5\n", 3, "t3");
  corrupt_train("  seed = 5\n", 8, "t8");
  corrupt_train("  seed = 5\n", 1, "t1b");
  assert_same_file("t1/pairs/pairs.jsonl", "t3/pairs/pairs.jsonl");
  assert_same_file("t1/pairs/pairs.jsonl", "t8/pairs/pairs.jsonl");
  assert_same_file("t1/pairs/pairs.jsonl", "t1b/pairs/pairs.jsonl");
  assert_same_file("t1/summary", "t8/summary");
  corrupt_train("  seed = 6\n", 3, "s6");
  x = read_all("t1/pairs/pairs.jsonl", &na);
  y = read_all("s6/pairs/pairs.jsonl", &nb);
  assert_true(na != nb || memcmp(x, y, na) != 0);
  free(x);
  free(y);
}

static void test_questions(void **state)
{
  cJSON **v, *s;
  size_t n, i, kinds[CORRUPT_NKIND], flips = 0;
  (void)state;
  corrupt_train("  questions = true\n", 2, "q");
  assert_int_equal(check_descriptions("q", 1, kinds), NTRAIN);
  v = read_pairs("q", &n);
  assert_int_equal(n, 3 * NTRAIN);
  for (i = 0; i < n; i++) {
    const struct shapes_scene *sc = scene_of(v[i]);
    int turn = cJSON_GetObjectItem(v[i], "turn")->valueint, cat, yes;
    cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(v[i], "edits"), 0);
    char want[64];
    if (turn == 1)
      continue;
    snprintf(want, sizeof want, "%s-t%d", sget(v[i], "image"), turn);
    assert_string_equal(sget(v[i], "id"), want);
    assert_string_equal(sget(e, "kind"), "flip");
    cat = shapes_find_category(sget(e, "object"));
    yes = shapes_has(sc, cat);
    assert_string_equal(sget(v[i], "chosen"), yes ? "Yes." : "No.");
    assert_string_equal(sget(v[i], "rejected"), yes ? "No." : "Yes.");
    assert_true(strncmp(sget(v[i], "prompt"), "<image>\nIs there ", 17) == 0);
    flips++;
  }
  assert_int_equal(flips, 2 * NTRAIN);
  s = read_summary("q");
  assert_int_equal(nget(s, "edits.flip"), 2 * NTRAIN);
  assert_int_equal(nget(s, "question_pairs"), 2 * NTRAIN);
  cJSON_Delete(s);
  free_pairs(v, n);
}

/* Items that cannot be corrupted are left out and counted with the reason. */
static void test_skips(void **state)
{
  char *text = read_all("fs/train/items.jsonl", NULL), *nl;
  struct strbuf sb;
  cJSON *s, *first;
  size_t n;
  cJSON **v;
  (void)state;
  strbuf_init(&sb, 4096);
  /* Line 1: no objects; line 2: no description; then 3 good items. */
  strbuf_addstr(&sb, "{\"id\":\"empty\",\"conversations\":[{\"from\":\"human\",\"value\":"
                     "\"<image>\\nDescribe this image.\"},{\"from\":\"gpt\",\"value\":"
                     "\"There is nothing.\"}],\"objects\":[]}\n");
  strbuf_addstr(&sb, "{\"id\":\"nodesc\",\"conversations\":[],\"objects\":[{\"category\":"
                     "\"circle\",\"colour\":\"red\",\"position\":\"top left\"}]}\n\n");
  nl = text;
  for (int k = 0; k < 3; k++)
    nl = strchr(nl, '\n') + 1;
  strbuf_add(&sb, text, (size_t)(nl - text));
  write_str("skips.jsonl", sb.buf);
  {
    struct pd_err err;
    must(corrupt("file(\"skips.jsonl\")", "file(\"fs/world.json\")", "", 2, "sk", &err), &err);
  }
  v = read_pairs("sk", &n);
  assert_int_equal(n, 3);
  assert_string_equal(sget(v[0], "id"), "train-000000");
  free_pairs(v, n);
  s = read_summary("sk");
  assert_int_equal(nget(s, "items"), 5);
  assert_int_equal(nget(s, "skipped.answers"), 2);
  assert_int_equal(nget(s, "skipped.items"), 2);
  assert_int_equal(nget(s, "skipped.reasons.no_objects"), 1);
  assert_int_equal(nget(s, "skipped.reasons.no_description"), 1);
  first = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "skipped"), "first");
  assert_int_equal(cJSON_GetArraySize(first), 2);
  assert_string_equal(sget(cJSON_GetArrayItem(first, 0), "id"), "empty");
  assert_string_equal(sget(cJSON_GetArrayItem(first, 1), "id"), "nodesc");
  assert_string_equal(sget(cJSON_GetArrayItem(first, 1), "reason"), "no_description");
  cJSON_Delete(s);
  strbuf_release(&sb);
  free(text);
}

static void expect_run_error(const char *data, const char *world, const char *extra,
                             const char *want, const char *want2)
{
  struct pd_err err;
  assert_int_not_equal(corrupt(data, world, extra, 2, "bad", &err), 0);
  if (!strstr(err.msg, want) || (want2 && !strstr(err.msg, want2)))
    fail_msg("'%s' lacks '%s'%s%s", err.msg, want, want2 ? " or " : "", want2 ? want2 : "");
}

static void test_bad_inputs(void **state)
{
  struct corrupt_world w;
  struct pd_err err = { 0 };
  char *text = read_all("fs/train/items.jsonl", NULL), *p;
  int k;
  (void)state;
  /* A missing world.json, named. */
  assert_int_not_equal(corrupt_world_load(&w, "fs/nope/world.json", &err), 0);
  assert_non_null(strstr(err.msg, "cannot open 'fs/nope/world.json'"));
  write_str("noworld.json", "{\"positions\":[\"left\"]}");
  expect_run_error("dir(\"fs/train\")", "file(\"noworld.json\")", "", "noworld.json' lacks",
                   "\"colours\"");
  write_str("notjson.json", "{\"positions\":");
  expect_run_error("dir(\"fs/train\")", "file(\"notjson.json\")", "", "notjson.json' is not JSON",
                   NULL);
  /* A split without items.jsonl. */
  assert_int_equal(mkdir("nosplit", 0755), 0);
  expect_run_error("dir(\"nosplit\")", "file(\"fs/world.json\")", "", "cannot open",
                   "nosplit/items.jsonl");

  /* A malformed third line, then an unknown colour on line 2. */
  for (p = text, k = 0; k < 2; k++)
    p = strchr(p, '\n') + 1;
  p[1] = 'x';
  write_str("bad.jsonl", text);
  expect_run_error("file(\"bad.jsonl\")", "file(\"fs/world.json\")", "", "bad.jsonl':3: ",
                   "not a JSON object");
  strchr(text, '\n')[1] = '\0'; /* the first line, then an unknown colour */
  p = xasprintf("%s{\"id\":\"x\",\"conversations\":[],\"objects\":[{\"category\":"
                "\"circle\",\"colour\":\"teal\",\"position\":\"top left\"}]}\n", text);
  write_str("bad.jsonl", p);
  free(p);
  expect_run_error("file(\"bad.jsonl\")", "file(\"fs/world.json\")", "", "bad.jsonl':2: ",
                   "unknown colour");
  free(text);

  /* The openai backend: a remote URL whose key variable is unset. */
  expect_run_error("dir(\"fs/train\")", "file(\"fs/world.json\")",
                   "  backend = \"openai\"\n  model = \"m\"\n"
                   "  base_url = \"https://api.example.invalid/v1\"\n"
                   "  api_key_env = \"PD_TEST_NO_SUCH_KEY\"\n",
                   "environment variable 'PD_TEST_NO_SUCH_KEY' (api_key_env) is not set", NULL);
}

static void expect_load_error(const char *body, const char *want)
{
  struct graph g;
  struct pd_err err = { 0 };
  char *text = xasprintf("task c = corrupt_captions {\n  data = dir(\"fs/train\")\n"
                         "  world = file(\"fs/world.json\")\n%s\n}\n", body);
  write_str("g.dag", text);
  assert_int_not_equal(graph_load(&g, "g.dag", NULL, 0, &err), 0);
  if (!strstr(err.msg, want))
    fail_msg("for '%s': '%s' lacks '%s'", body, err.msg, want);
  free(text);
}

static void test_bad_params(void **state)
{
  (void)state;
  expect_load_error("  insert = 0\n  replace = 0\n  recolour = 0\n  move = 0",
                    "the edit weights insert, replace, recolour and move sum to 0");
  expect_load_error("  edits = 0", "parameter 'edits'");
  expect_load_error("  edits = 9", "parameter 'edits'");
  expect_load_error("  move = -1", "parameter 'move'");
  expect_load_error("  backend = \"gpt\"", "gpt");
  expect_load_error("  cooccurrence = \"pixels\"", "pixels");
}

/* The rules alone: a full 2x2 grid moves by swapping, a one-category world
 * cannot insert or replace, and a world with one position cannot move. */
static void test_rules(void **state)
{
  struct corrupt_world w;
  struct corrupt_opts o = { { 0, 0, 0, 1 }, 1, CORRUPT_COOC_OBJECTS, 2 };
  struct corrupt_mention full[4] = { { 0, 0, 0 }, { 1, 1, 1 }, { 2, 2, 2 }, { 3, 3, 3 } };
  struct corrupt_result res;
  struct shapes_rng rng;
  struct pd_err err = { 0 };
  int k;
  (void)state;
  CHECK(corrupt_world_load(&w, "fs/world.json", &err));
  assert_int_equal(w.ncat, SHAPES_NCAT);
  assert_int_equal(corrupt_world_category(&w, "disc"), 0); /* synonyms */
  for (k = 0; k < 50; k++) {
    shapes_rng_init(&rng, 1, 0, 16, (uint64_t)k);
    assert_int_equal(corrupt_rules_apply(&w, &o, full, 4, &rng, &res), 1);
    assert_int_equal(res.nm, 4);
    assert_int_equal(corrupt_false_mentions(full, 4, res.m, res.nm), 2); /* a swap */
    assert_non_null(strstr(res.edit[0].detail, "swapped with the"));
  }
  /* Two moves on two objects: the second may not undo the first. */
  o.edits = 2;
  for (k = 0; k < 50; k++) {
    shapes_rng_init(&rng, 1, 0, 16, (uint64_t)k);
    corrupt_rules_apply(&w, &o, full, 2, &rng, &res);
    assert_true(corrupt_false_mentions(full, 2, res.m, res.nm) >= 1);
  }
  /* One position: nothing to move to. */
  w.npos = 1;
  o.edits = 1;
  full[0].pos = 0;
  assert_int_equal(corrupt_rules_apply(&w, &o, full, 1, &rng, &res), 0);
  /* Every category present: nothing to insert; the draw falls to recolour. */
  o.mix[CORRUPT_INSERT] = 1;
  o.mix[CORRUPT_RECOLOUR] = 1;
  w.ncat = 1;
  assert_int_equal(corrupt_rules_apply(&w, &o, full, 1, &rng, &res), 1);
  assert_int_equal(res.edit[0].kind, CORRUPT_RECOLOUR);
  w.ncat = SHAPES_NCAT;
  w.npos = SHAPES_NSLOT;
  corrupt_world_release(&w);
}

static void test_cancel(void **state)
{
  struct pd_err err = { 0 };
  (void)state;
  assert_int_equal(run("task c = corrupt_captions {\n  data = dir(\"fs/train\")\n"
                       "  world = file(\"fs/world.json\")\n}\n", 2, "can", 1, &err), PD_EINTR);
  assert_non_null(strstr(err.msg, "cancelled"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_kind_tables),
    cmocka_unit_test(test_default_run),
    cmocka_unit_test(test_chosen_is_original_when_clean),
    cmocka_unit_test(test_mix),
    cmocka_unit_test(test_many_edits),
    cmocka_unit_test(test_inserts_cooccur),
    cmocka_unit_test(test_determinism),
    cmocka_unit_test(test_questions),
    cmocka_unit_test(test_skips),
    cmocka_unit_test(test_bad_inputs),
    cmocka_unit_test(test_bad_params),
    cmocka_unit_test(test_rules),
    cmocka_unit_test(test_cancel),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
