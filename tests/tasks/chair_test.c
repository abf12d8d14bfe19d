/* chair_test.c - tests of tasks/chair.c: synonym matching (whole words,
 * multi-word synonyms longest first, plurals, case, punctuation), the
 * vocabulary read from a world.json (and its errors), CHAIR arithmetic on
 * hand-made answers against hand-computed counts, POPE parsing as LLaVA's
 * eval_pope.py and its metrics on hand-made answers. */
#include "tasks_test_util.h"

#include <math.h>

#include "chair.h"

/* The builtin world's table (tasks/shapes.c), as world.json writes it. */
static const char world_json[] =
  "{\"categories\": ["
  "{\"name\": \"circle\", \"synonyms\": [\"circle\", \"disc\", \"disk\", \"dot\"]},"
  "{\"name\": \"square\", \"synonyms\": [\"square\", \"box\", \"block\", \"tile\"]},"
  "{\"name\": \"triangle\", \"synonyms\": [\"triangle\", \"wedge\"]},"
  "{\"name\": \"diamond\", \"synonyms\": [\"diamond\", \"rhombus\", \"lozenge\"]},"
  "{\"name\": \"cross\", \"synonyms\": [\"cross\", \"saltire\", \"x shape\"]},"
  "{\"name\": \"plus\", \"synonyms\": [\"plus\", \"plus sign\"]},"
  "{\"name\": \"star\", \"synonyms\": [\"star\", \"pentagram\"]},"
  "{\"name\": \"arrow\", \"synonyms\": [\"arrow\", \"pointer\"]},"
  "{\"name\": \"ring\", \"synonyms\": [\"ring\", \"hoop\", \"donut\", \"annulus\"]},"
  "{\"name\": \"frame\", \"synonyms\": [\"frame\", \"border\"]},"
  "{\"name\": \"heart\", \"synonyms\": [\"heart\"]},"
  "{\"name\": \"bar\", \"synonyms\": [\"bar\", \"stripe\", \"strip\", \"rectangle\"]}"
  "], \"colours\": []}";

enum { CIRCLE, SQUARE, TRIANGLE, DIAMOND, CROSS, PLUS, STAR, ARROW, RING, FRAME, HEART, BAR };

static struct chair_vocab vocab;

static int setup(void **state)
{
  struct pd_err err = { 0 };
  (void)state;
  return chair_vocab_from_world(&vocab, world_json, "world.json", &err);
}

static int teardown(void **state)
{
  (void)state;
  chair_vocab_release(&vocab);
  return 0;
}

/* The categories text mentions, as a string of names in category order. */
static const char *found(const char *text)
{
  static char buf[256];
  unsigned char m[32];
  int k, n;
  assert_true(vocab.ncat <= 32);
  n = chair_mentions(&vocab, text, m);
  buf[0] = '\0';
  for (k = 0; k < vocab.ncat; k++)
    if (m[k]) {
      if (buf[0])
        strcat(buf, " ");
      strcat(buf, vocab.cats[k]);
      n--;
    }
  assert_int_equal(n, 0); /* the return value counts the distinct categories */
  return buf;
}

static void test_vocab(void **state)
{
  (void)state;
  assert_int_equal(vocab.ncat, 12);
  assert_string_equal(vocab.cats[PLUS], "plus");
  assert_int_equal(chair_vocab_find(&vocab, "bar"), BAR);
  assert_int_equal(chair_vocab_find(&vocab, "Bar"), -1);
  assert_int_equal(chair_vocab_find(&vocab, "stripe"), -1); /* a synonym, not a category */
  /* Longest first: the two-word synonyms lead. */
  assert_int_equal(vocab.syn[0].nwords, 2);
  assert_int_equal(vocab.syn[1].nwords, 2);
  assert_int_equal(vocab.syn[2].nwords, 1);
}

static void test_whole_words(void **state)
{
  (void)state;
  assert_string_equal(found("There is a red circle in the top left."), "circle");
  assert_string_equal(found("a discus, a boxer, a barn, starry, hearth, crossing"), "");
  assert_string_equal(found("a disc and a box"), "circle square");
  assert_string_equal(found("DISC.BOX;Heart"), "circle square heart");
  assert_string_equal(found(""), "");
  assert_string_equal(found("...,!"), "");
  assert_string_equal(found("a rectangle-shaped border"), "frame bar");
  /* Words inside digits or letters are not words of their own. */
  assert_string_equal(found("star2 2star"), "");
}

static void test_multi_word(void **state)
{
  (void)state;
  /* "plus sign" is one mention of plus; "x shape" one of cross. */
  assert_string_equal(found("a plus sign in the top left"), "plus");
  assert_string_equal(found("an x shape"), "cross");
  assert_string_equal(found("an X-shape and a plus"), "cross plus");
  /* "x" alone or "shape" alone is nothing. */
  assert_string_equal(found("an x in the shape of nothing"), "");
  /* Across punctuation the words still follow each other. */
  assert_string_equal(found("plus, sign"), "plus");
}

static void test_plurals(void **state)
{
  (void)state;
  assert_string_equal(found("two dots and three stars"), "circle star");
  assert_string_equal(found("crosses, boxes"), "square cross");
  assert_string_equal(found("plus signs"), "plus");
  assert_string_equal(found("x shapes"), "cross");
  /* "es" only after s, x, z, ch, sh; "ss" is not a plural of "s"-less words. */
  assert_string_equal(found("stares hearts rings"), "ring heart");
  assert_string_equal(found("circless bars"), "bar");
  /* The plural applies to the synonym's last word only. */
  assert_string_equal(found("xs shape"), "");
}

static void test_counts_once(void **state)
{
  unsigned char m[32];
  (void)state;
  assert_int_equal(chair_mentions(&vocab, "a dot, a disc, a circle and a disk", m), 1);
  assert_int_equal(chair_mentions(&vocab, "a square box and a ring hoop", m), 2);
  assert_int_equal(m[SQUARE] + m[RING], 2);
}

static void test_words(void **state)
{
  (void)state;
  assert_int_equal(chair_count_words(""), 0);
  assert_int_equal(chair_count_words("There is a red circle in the top left."), 9);
  assert_int_equal(chair_count_words("  a,b  c.  "), 3);
  assert_int_equal(chair_count_words("x-shape"), 2);
}

static void flags(unsigned char *f, const int *cats, int n)
{
  int i;
  memset(f, 0, 32);
  for (i = 0; i < n; i++)
    f[cats[i]] = 1;
}

static void test_chair_arithmetic(void **state)
{
  struct chair_counts c;
  struct chair_scores s;
  unsigned char m[32], gt[32];
  (void)state;
  memset(&c, 0, sizeof c);
  /* 1: truth {circle, square}; says circle (right) and star (wrong). */
  flags(gt, (int[]){ CIRCLE, SQUARE }, 2);
  chair_mentions(&vocab, "a red circle and a yellow star", m);
  chair_counts_add(&c, m, gt, vocab.ncat, 7, 8);
  /* 2: truth {ring}; says ring twice: no hallucination. */
  flags(gt, (int[]){ RING }, 1);
  chair_mentions(&vocab, "a ring, a blue hoop", m);
  chair_counts_add(&c, m, gt, vocab.ncat, 5, 7);
  /* 3: truth {bar, heart, frame}; says nothing. */
  flags(gt, (int[]){ BAR, HEART, FRAME }, 3);
  chair_mentions(&vocab, "nothing here", m);
  chair_counts_add(&c, m, gt, vocab.ncat, 2, 2);
  /* 4: truth {plus}; says cross and diamond (both wrong). */
  flags(gt, (int[]){ PLUS }, 1);
  chair_mentions(&vocab, "an x shape and a lozenge", m);
  chair_counts_add(&c, m, gt, vocab.ncat, 6, 6);

  assert_int_equal(c.answers, 4);
  assert_int_equal(c.mentions, 5);      /* 2 + 1 + 0 + 2 */
  assert_int_equal(c.hallucinated, 3);  /* star, cross, diamond */
  assert_int_equal(c.hallucinated_answers, 2);
  assert_int_equal(c.gt_objects, 7);    /* 2 + 1 + 3 + 1 */
  assert_int_equal(c.covered, 2);       /* circle, ring */
  assert_int_equal(c.words, 20);
  assert_int_equal(c.tokens, 23);
  chair_counts_scores(&c, &s);
  assert_true(fabs(s.chair_i - 3.0 / 5.0) < 1e-12);
  assert_true(fabs(s.chair_s - 2.0 / 4.0) < 1e-12);
  assert_true(fabs(s.recall - 2.0 / 7.0) < 1e-12);
  assert_true(fabs(s.objects_per_answer - 5.0 / 4.0) < 1e-12);
  assert_true(fabs(s.avg_words - 5.0) < 1e-12);
  assert_true(fabs(s.avg_tokens - 23.0 / 4.0) < 1e-12);

  /* No answers, no mentions: zeros, not NaN. */
  memset(&c, 0, sizeof c);
  chair_counts_scores(&c, &s);
  assert_true(s.chair_i == 0 && s.chair_s == 0 && s.recall == 0 && s.avg_words == 0);
}

static void test_pope_parse(void **state)
{
  (void)state;
  assert_int_equal(chair_pope_parse("Yes."), 1);
  assert_int_equal(chair_pope_parse("yes"), 1);
  assert_int_equal(chair_pope_parse("No."), 0);
  assert_int_equal(chair_pope_parse("no"), 0);
  assert_int_equal(chair_pope_parse("NO, there is none"), 0);
  assert_int_equal(chair_pope_parse("There is not a star."), 0);
  /* Only the first sentence counts. */
  assert_int_equal(chair_pope_parse("Yes. There is no star."), 1);
  assert_int_equal(chair_pope_parse("No. Yes."), 0);
  /* Whole words only: "nothing", "note", "know" are not "no". */
  assert_int_equal(chair_pope_parse("nothing to note, I know"), 1);
  /* Anything else, the empty answer included, reads as yes. */
  assert_int_equal(chair_pope_parse(""), 1);
  assert_int_equal(chair_pope_parse("a red circle"), 1);
  assert_int_equal(chair_pope_parse("no!"), 0);
}

static void test_pope_metrics(void **state)
{
  static const struct {
    int label;
    const char *answer;
  } qa[] = {
    { 1, "Yes." }, { 1, "yes" }, { 1, "No." },           /* tp tp fn */
    { 0, "No." }, { 0, "no" }, { 0, "Yes, there is." },  /* tn tn fp */
    { 0, "there is not" }, { 1, "a circle" },            /* tn tp */
  };
  struct chair_pope p;
  struct chair_pope_scores s;
  size_t i;
  double prec = 3.0 / 4.0, rec = 3.0 / 4.0;
  (void)state;
  memset(&p, 0, sizeof p);
  for (i = 0; i < sizeof qa / sizeof qa[0]; i++)
    chair_pope_add(&p, qa[i].label, chair_pope_parse(qa[i].answer));
  assert_int_equal(p.tp, 3);
  assert_int_equal(p.fn, 1);
  assert_int_equal(p.tn, 3);
  assert_int_equal(p.fp, 1);
  chair_pope_scores(&p, &s);
  assert_int_equal(s.questions, 8);
  assert_true(fabs(s.accuracy - 6.0 / 8.0) < 1e-12);
  assert_true(fabs(s.precision - prec) < 1e-12);
  assert_true(fabs(s.recall - rec) < 1e-12);
  assert_true(fabs(s.f1 - 2 * prec * rec / (prec + rec)) < 1e-12);
  assert_true(fabs(s.yes_ratio - 4.0 / 8.0) < 1e-12);

  /* All "no": precision and F1 are 0, not NaN. */
  memset(&p, 0, sizeof p);
  chair_pope_add(&p, 1, 0);
  chair_pope_add(&p, 0, 0);
  chair_pope_scores(&p, &s);
  assert_true(s.precision == 0 && s.f1 == 0 && s.recall == 0);
  assert_true(fabs(s.accuracy - 0.5) < 1e-12);
  assert_true(s.yes_ratio == 0);
}

static void test_world_errors(void **state)
{
  struct chair_vocab v;
  struct pd_err err;
  (void)state;
  memset(&err, 0, sizeof err);
  assert_int_equal(chair_vocab_from_world(&v, "{}", "w.json", &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "'w.json'"));
  memset(&err, 0, sizeof err);
  assert_int_equal(chair_vocab_from_world(&v, "not json", "w.json", &err), PD_EUSAGE);
  memset(&err, 0, sizeof err);
  assert_int_equal(chair_vocab_from_world(&v, "{\"categories\": [{\"name\": \"a\"}, "
                                          "{\"name\": \"a\"}]}", "w.json", &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "twice"));
  memset(&err, 0, sizeof err);
  assert_int_equal(chair_vocab_from_world(&v, "{\"categories\": [{\"name\": \"a\", "
                                          "\"synonyms\": [1]}]}", "w.json", &err), PD_EUSAGE);
  /* A category without synonyms matches its name. */
  memset(&err, 0, sizeof err);
  assert_int_equal(chair_vocab_from_world(&v, "{\"categories\": [{\"name\": \"Tea Cup\"}]}",
                                          "w.json", &err), 0);
  {
    unsigned char m[1];
    assert_int_equal(chair_mentions(&v, "two tea cups", m), 1);
  }
  chair_vocab_release(&v);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_vocab),
    cmocka_unit_test(test_whole_words),
    cmocka_unit_test(test_multi_word),
    cmocka_unit_test(test_plurals),
    cmocka_unit_test(test_counts_once),
    cmocka_unit_test(test_words),
    cmocka_unit_test(test_chair_arithmetic),
    cmocka_unit_test(test_pope_parse),
    cmocka_unit_test(test_pope_metrics),
    cmocka_unit_test(test_world_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
