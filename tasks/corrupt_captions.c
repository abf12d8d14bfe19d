/* corrupt_captions.c - the `corrupt_captions` kind: POVID's text
 * dispreference. Every ground-truth answer of a split is rewritten into a
 * plausible hallucination; the output is preference pairs (prompt, chosen,
 * rejected) for DPO.
 *
 * Backends: `rules` (default), offline and deterministic, edits the true
 * object list with the world's co-occurrence statistics (corrupt_rules.h:
 * insert an absent co-occurring object, replace a category, recolour, move);
 * `openai` (an OpenAI-compatible chat API with the image attached, memoized
 * per item; corrupt_openai.h) rewrites each description with a model.
 *
 * Chosen answers are the *true* ground truth: a description turn's chosen
 * answer is rendered from the item's "objects" in the world's description
 * style, so the label noise of the training descriptions (mentions flagged
 * "noise", absent partners) is left out; for a clean item this is the
 * original text byte for byte. The rejected answer is the same rendering
 * after the edits, so the pair differs only where the edits are.
 *
 * Which turns: description turns (the human turn starts with "Describe")
 * always; yes/no turns ("Yes." / "No." answers to "Is there a X in the
 * image?") only with questions = true, rejected = the flipped answer (it
 * denies a present object or asserts an absent one). Off by default: a
 * flipped one-word answer teaches little about how to describe, and POVID
 * corrupts descriptions; `questions` lets an ablation try it.
 *
 * Never a non-corruption: every candidate edit is checked against the
 * ground truth, and every rejected answer is checked again (it must differ
 * from the chosen one and name at least one (category, colour, position)
 * that no object has); an answer that cannot be corrupted is left out of
 * the pairs and counted, with the reason, in the summary and the log.
 *
 * Randomness: Philox (shapes.h) keyed by seed, with the counter holding the
 * SHA-256 of the item id, the turn and a stream number: an item's edits do
 * not depend on the thread count or its line number (they do depend on the
 * statistics, which world.json measures over the whole training split).
 * Items are processed in blocks, in parallel within a block, written in
 * order: the same bytes for any thread count.
 *
 * Files: corrupt_captions.c (the kind, reading, threads, summary),
 * corrupt_pairs.c (one item into its pairs), corrupt_rules.c (world.json,
 * items, the renderer and the rules), corrupt_openai.c (the API backend).
 *
 * Left out: count and shape
 * attributes (the built-in world has neither), relations beyond absolute
 * positions.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "corrupt_openai.h"
#include "corrupt_pairs.h"
#include "graph.h"
#include "registry.h"
#include "run.h"
#include "strbuf.h"
#include "train_util.h"

#define BLOCK 4096        /* items read, processed in parallel and written at a time */
#define CHUNK 32          /* items a worker takes at a time */
#define EXAMPLES 20       /* skipped answers listed by id */

static const struct kind_param corrupt_params[] = {
  { "data", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "the answers to corrupt: a fetch_subset split (a directory holding items.jsonl) or an "
    "items.jsonl file; each item needs its ground-truth \"objects\"" },
  { "world", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "world.json (fetch_subset's world output): categories, synonyms, typical colours, "
    "positions and the co-occurrence statistics measured on the training split" },
  { "backend", PT_STRING, "\"rules\"", 0, -1, "rules|openai", 0,
    "rules: offline edits of the true object list, deterministic by seed; openai: an "
    "OpenAI-compatible chat API rewrites each description, the image attached, every "
    "response memoized per item (give it threads = 0, pool = \"api\")" },
  { "seed", PT_INT, "1", 0, 1e15, NULL, 0,
    "seed of the rules: an item's edits depend on (seed, item id, turn) and the statistics" },
  { "edits", PT_INT, "1", 1, CORRUPT_MAXEDITS, NULL, 0,
    "edits per rejected answer, each of a kind drawn from the mix; an answer with fewer "
    "possible edits gets as many as apply (counted as short in the summary)" },
  { "insert", PT_FLOAT, "0.4", 0, 1e6, NULL, 0,
    "weight of inserting an absent object, drawn by its co-occurrence with the objects present "
    "(weights are normalised over the four kinds)" },
  { "replace", PT_FLOAT, "0.2", 0, 1e6, NULL, 0,
    "weight of replacing an object's category by an absent one, drawn by co-occurrence" },
  { "recolour", PT_FLOAT, "0.2", 0, 1e6, NULL, 0,
    "weight of changing an object's colour (to its category's typical colour half the time)" },
  { "move", PT_FLOAT, "0.2", 0, 1e6, NULL, 0,
    "weight of moving an object to another position (swapping with the object there)" },
  { "cooccurrence_power", PT_FLOAT, "2", 0, 16, NULL, 0,
    "inserted and replacing categories are drawn with weight co-occurrence^power: 0 picks "
    "uniformly among the absent categories, 1 in proportion to P(c | present), larger "
    "values favour the strongest partners (2: they win over the many weak ones)" },
  { "questions", PT_BOOL, "false", 0, -1, NULL, 0,
    "also make pairs of the yes/no turns, the rejected answer flipped; off: only the "
    "descriptions are corrupted, as in POVID" },
  { "cooccurrence", PT_STRING, "\"objects\"", 0, -1, "objects|mentions", 0,
    "statistics that weight inserted and replacing categories: objects (what the training "
    "images hold) or mentions (what their descriptions name, label noise included)" },
  /* The openai backend. */
  { "base_url", PT_STRING, "\"\"", 0, -1, NULL, 0,
    "openai: the API's base URL, requests go to BASE_URL/chat/completions "
    "(\"https://api.openai.com/v1\", \"http://127.0.0.1:8000/v1\" for vLLM...)" },
  { "model", PT_STRING, "\"\"", 0, -1, NULL, 0, "openai: the model name sent with each request" },
  { "api_key_env", PT_STRING, "\"OPENAI_API_KEY\"", 0, -1, NULL, KP_NOKEY,
    "openai: the environment variable holding the API key (the key never enters the graph, "
    "logs or cache); unset is allowed for a loopback base_url, \"\" sends no key" },
  { "prompt", PT_ANY, "\"\"", 0, -1, NULL, 0,
    "openai: the prompt template, file(\"...\") (hashed: editing it reruns), with {answer}, "
    "{objects} and {question}; empty: the built-in template asking for POVID's three edit "
    "kinds (absent co-occurring objects, wrong relations or positions, wrong attributes)" },
  { "temperature", PT_FLOAT, "0", 0, 2, NULL, 0, "openai: sampling temperature" },
  { "max_tokens", PT_INT, "256", 1, 1e6, NULL, 0, "openai: completion tokens per answer" },
  { "timeout", PT_INT, "120", 1, 3600, NULL, KP_NOKEY, "openai: seconds per request attempt" },
  { "concurrency", PT_INT, "16", 1, 1024, NULL, KP_NOKEY, "openai: requests in flight" },
  { "rpm", PT_FLOAT, "0", 0, 1e9, NULL, KP_NOKEY, "openai: requests per minute, 0 = no limit" },
  { "tpm", PT_FLOAT, "0", 0, 1e12, NULL, KP_NOKEY,
    "openai: tokens per minute (estimated, corrected by the usage returned), 0 = no limit" },
  { "max_attempts", PT_INT, "5", 1, 100, NULL, KP_NOKEY,
    "openai: attempts per answer (429, 5xx, resets, invalid responses are retried with "
    "backoff, Retry-After honoured)" },
  { "replay", PT_BOOL, "false", 0, -1, NULL, 0,
    "openai: serve only from the per-item memo, never ask the API; a missing item is an "
    "error naming it" },
  { "price_prompt", PT_FLOAT, "0", 0, 1e6, NULL, 0,
    "openai: dollars per million prompt tokens, for the summary's cost (0 = unknown)" },
  { "price_completion", PT_FLOAT, "0", 0, 1e6, NULL, 0,
    "openai: dollars per million completion tokens (0 = unknown)" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

enum { OUT_PAIRS, OUT_SUMMARY, NOUT };
static const struct kind_output corrupt_outputs[NOUT + 1] = {
  { "pairs", "preference pairs, a directory: pairs.jsonl, one pair per line: {\"id\" (the "
             "item id for turn 1, the description; ID-tTURN for others), "
             "\"image\" (the item's image key, as in index.tsv and distort_images' noisy "
             "rows), \"turn\", \"prompt\" (the human turn, with \"<image>\\n\"), \"chosen\" "
             "(the ground truth, label noise removed), \"rejected\", \"edits\": [{\"kind\": "
             "insert|replace|recolour|move|flip, \"object\", \"detail\"}]}" },
  { "summary", "JSON: items, pairs, edits per kind and their shares, answers that could not "
               "be corrupted by reason (no_objects, no_edit, still_true, no_description, "
               "unknown_question, disagrees; with the first ids), label noise removed from the "
               "chosen answers" },
  { NULL, NULL },
};

static const char *const mix_names[CORRUPT_NRULE] = { "insert", "replace", "recolour", "move" };

static double num(const struct val *v)
{
  return v->kind == V_INT ? (double)v->u.i : v->u.f;
}

/* --- a block in parallel ---------------------------------------------------- */

struct block {
  const struct corrupt_ctx *c;
  struct corrupt_item *items; /* parsed on the reading thread: cJSON's parser writes a global */
  struct corrupt_line *res;
  size_t n;
  atomic_size_t next;
};

static void *block_worker(void *arg)
{
  struct block *b = arg;
  for (;;) {
    size_t i, i0 = atomic_fetch_add(&b->next, CHUNK), i1;
    if (i0 >= b->n)
      return NULL;
    i1 = i0 + CHUNK < b->n ? i0 + CHUNK : b->n;
    for (i = i0; i < i1; i++)
      corrupt_pairs_item(b->c, &b->items[i], &b->res[i]);
  }
}

static void block_run(struct block *b, int threads)
{
  pthread_t tid[64];
  int k, started = 0;
  if ((size_t)threads > (b->n + CHUNK - 1) / CHUNK)
    threads = (int)((b->n + CHUNK - 1) / CHUNK);
  if (threads > 64)
    threads = 64;
  atomic_init(&b->next, 0);
  /* A thread that cannot start leaves its share to the others. */
  for (k = 1; k < threads; k++)
    if (pthread_create(&tid[started], NULL, block_worker, b) == 0)
      started++;
  block_worker(b);
  for (k = 0; k < started; k++)
    pthread_join(tid[k], NULL);
}

/* --- summary ------------------------------------------------------------- */

static double share(size_t a, size_t b)
{
  return b ? (double)a / (double)b : 0.0;
}

struct example {
  char id[48];
  int turn, skip;
};

static void write_summary(struct strbuf *sb, const struct corrupt_ctx *c,
                          const struct corrupt_counts *n, const struct example *ex, size_t nex)
{
  size_t total = 0, k;
  double wsum = 0;
  for (k = 0; k < CORRUPT_NRULE; k++) {
    total += n->edits[k];
    wsum += c->o.mix[k];
  }
  strbuf_addf(sb, "{\"backend\":\"rules\",\"seed\":%llu,\"edits_per_answer\":%d,"
              "\"cooccurrence\":\"%s\",\"cooccurrence_power\":%g,\"questions\":%s,"
              "\n\"mix\":{", (unsigned long long)c->seed, c->o.edits,
              c->o.cooc == CORRUPT_COOC_MENTIONS ? "mentions" : "objects", c->o.power,
              c->questions ? "true" : "false");
  for (k = 0; k < CORRUPT_NRULE; k++)
    strbuf_addf(sb, "%s\"%s\":%.4f", k ? "," : "", mix_names[k], c->o.mix[k] / wsum);
  strbuf_addf(sb, "},\n\"items\":%zu,\"pairs\":%zu,\"description_pairs\":%zu,"
              "\"question_pairs\":%zu,\n\"edits\":{", n->items, n->pairs, n->described, n->asked);
  for (k = 0; k < CORRUPT_NKIND; k++)
    strbuf_addf(sb, "%s\"%s\":%zu", k ? "," : "", corrupt_kind_names[k], n->edits[k]);
  strbuf_addstr(sb, "},\n\"shares\":{");
  for (k = 0; k < CORRUPT_NRULE; k++)
    strbuf_addf(sb, "%s\"%s\":%.4f", k ? "," : "", mix_names[k], share(n->edits[k], total));
  strbuf_addf(sb, "},\n\"most_cooccurring\":{\"insert\":%.4f,\"replace\":%.4f},"
              "\n\"short\":{\"answers\":%zu,\"edits_missing\":%zu},"
              "\n\"label_noise_removed\":{\"items\":%zu,\"mentions\":%zu},"
              "\n\"ignored_turns\":%zu,"
              "\n\"skipped\":{\"answers\":%zu,\"items\":%zu,\"reasons\":{",
              share(n->top[CORRUPT_INSERT], n->edits[CORRUPT_INSERT]),
              share(n->top[CORRUPT_REPLACE], n->edits[CORRUPT_REPLACE]), n->short_answers,
              n->missing, n->noisy_items, n->noisy_mentions, n->ignored_turns, n->skipped,
              n->skipped_items);
  for (k = 0; k < CORRUPT_NSKIP; k++)
    strbuf_addf(sb, "%s\"%s\":%zu", k ? "," : "", corrupt_skip_keys[k], n->skip[k]);
  strbuf_addstr(sb, "},\"first\":[");
  for (k = 0; k < nex; k++) {
    strbuf_addf(sb, "%s{\"id\":", k ? "," : "");
    strbuf_add_json_str(sb, ex[k].id, strlen(ex[k].id));
    strbuf_addf(sb, ",\"turn\":%d,\"reason\":\"%s\"}", ex[k].turn,
                corrupt_skip_keys[ex[k].skip]);
  }
  strbuf_addstr(sb, "]}}\n");
}

static void log_summary(FILE *log, const struct corrupt_counts *n, const struct example *ex,
                        size_t nex)
{
  size_t total = 0, k;
  for (k = 0; k < CORRUPT_NRULE; k++)
    total += n->edits[k];
  fprintf(log, "%zu items: %zu pairs (%zu descriptions, %zu yes/no)\n", n->items, n->pairs,
          n->described, n->asked);
  fprintf(log, "description edits:");
  for (k = 0; k < CORRUPT_NRULE; k++)
    fprintf(log, " %s %zu (%.3f)", mix_names[k], n->edits[k], share(n->edits[k], total));
  fprintf(log, "\ninserted the most co-occurring absent category %.3f of the time, replaced "
          "by it %.3f\n", share(n->top[CORRUPT_INSERT], n->edits[CORRUPT_INSERT]),
          share(n->top[CORRUPT_REPLACE], n->edits[CORRUPT_REPLACE]));
  if (n->short_answers)
    fprintf(log, "%zu answers got fewer edits than asked (%zu missing)\n", n->short_answers,
            n->missing);
  fprintf(log, "chosen answers: label noise left out of %zu items (%zu mentions)\n",
          n->noisy_items, n->noisy_mentions);
  fprintf(log, "could not corrupt %zu answers (%zu items left without a pair)\n", n->skipped,
          n->skipped_items);
  for (k = 0; k < CORRUPT_NSKIP; k++)
    if (n->skip[k])
      fprintf(log, "  %s: %zu\n", corrupt_skip_names[k], n->skip[k]);
  for (k = 0; k < nex; k++)
    fprintf(log, "  skipped %s turn %d: %s\n", ex[k].id, ex[k].turn,
            corrupt_skip_names[ex[k].skip]);
}

/* --- run --------------------------------------------------------------------- */

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reads and parses the items in blocks, makes each block's pairs in
 * parallel, appends them to out in order. */
static int corrupt_all(struct task_run *r, const struct corrupt_ctx *c, const char *path,
                       FILE *in, FILE *out, off_t size, struct corrupt_counts *n,
                       struct example *ex, size_t *nex)
{
  struct block b;
  char *line = NULL, why[200];
  size_t cap = 0, lineno = 0, i;
  ssize_t len;
  int rc = 0, eof = 0;

  memset(&b, 0, sizeof b);
  b.c = c;
  b.items = xcalloc(BLOCK, sizeof *b.items);
  b.res = xcalloc(BLOCK, sizeof *b.res);
  while (!eof && rc == 0) {
    if (task_run_cancelled(r)) {
      rc = ERR_SET(&r->err, PD_EINTR, "cancelled");
      break;
    }
    for (b.n = 0; b.n < BLOCK && rc == 0;) {
      if ((len = getline(&line, &cap, in)) < 0) {
        eof = 1;
        break;
      }
      lineno++;
      while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
      if (len == 0)
        continue; /* blank lines are not items */
      if (corrupt_item_parse(&b.items[b.n], c->w, line, (size_t)len, why, sizeof why) < 0)
        rc = ERR_SET(&r->err, PD_ECORRUPT, "'%s':%zu: %s", path, lineno, why);
      else
        strbuf_init(&b.res[b.n++].out, 512);
    }
    if (rc == 0 && ferror(in))
      rc = ERR_SET(&r->err, PD_EIO, "cannot read '%s'", path);
    if (rc == 0)
      block_run(&b, r->threads > 0 ? r->threads : 1);
    for (i = 0; i < b.n; i++) {
      struct corrupt_line *res = &b.res[i];
      if (rc == 0 && fwrite(res->out.buf, 1, res->out.len, out) != res->out.len)
        rc = ERR_SET(&r->err, PD_EIO, "cannot write the pairs");
      corrupt_counts_add(n, &res->c);
      if (res->id[0] && *nex < EXAMPLES) {
        memcpy(ex[*nex].id, res->id, sizeof ex[*nex].id);
        ex[*nex].turn = res->skip_turn;
        ex[(*nex)++].skip = res->skip;
      }
      strbuf_release(&res->out);
      corrupt_item_release(&b.items[i]);
      memset(res, 0, sizeof *res);
    }
    if (rc == 0)
      task_run_progress(r, size > 0 ? 0.05 + 0.9 * (double)ftello(in) / (double)size : -1,
                        "%zu items", n->items);
  }
  free(line);
  free(b.items);
  free(b.res);
  return rc;
}

static int corrupt_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *backend = task_param(t, "backend")->u.str.s;
  const char *data = task_run_input(r, "data"), *wpath = task_run_input(r, "world");
  struct corrupt_world w;
  struct corrupt_ctx c;
  struct corrupt_counts n;
  struct example ex[EXAMPLES];
  struct strbuf sb;
  struct stat st;
  char *items = NULL, *dir = NULL, *pairs = NULL, *summary = NULL;
  FILE *in = NULL, *out = NULL;
  size_t nex = 0;
  double t0 = now();
  int k, rc;

  if (strcmp(backend, "openai") == 0)
    return corrupt_openai_run(r);
  if (!data || !wpath)
    return ERR_SET(&r->err, PD_EUSAGE, "parameters 'data' and 'world' must be artifacts");
  if ((rc = corrupt_world_load(&w, wpath, &r->err)) < 0)
    return rc;
  memset(&c, 0, sizeof c);
  memset(&n, 0, sizeof n);
  c.w = &w;
  c.seed = (uint64_t)task_param(t, "seed")->u.i;
  c.questions = task_param(t, "questions")->u.b;
  c.o.edits = (int)task_param(t, "edits")->u.i;
  c.o.cooc = strcmp(task_param(t, "cooccurrence")->u.str.s, "mentions") == 0
                 ? CORRUPT_COOC_MENTIONS : CORRUPT_COOC_OBJECTS;
  c.o.power = num(task_param(t, "cooccurrence_power"));
  for (k = 0; k < CORRUPT_NRULE; k++)
    c.o.mix[k] = num(task_param(t, mix_names[k]));
  strbuf_init(&sb, 4096);

  if (stat(data, &st) < 0) {
    rc = ERR_SET(&r->err, -errno, "cannot open '%s': %s", data, strerror(errno));
    goto out;
  }
  items = S_ISDIR(st.st_mode) ? xasprintf("%s/items.jsonl", data) : xstrdup(data);
  if (!(in = fopen(items, "r")) || fstat(fileno(in), &st) < 0) {
    rc = ERR_SET(&r->err, -errno, "cannot open '%s': %s", items, strerror(errno));
    goto out;
  }
  dir = task_run_output(r, "pairs");
  summary = task_run_output(r, "summary");
  pairs = xasprintf("%s/pairs.jsonl", dir);
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
    rc = ERR_SET(&r->err, -errno, "cannot create '%s': %s", dir, strerror(errno));
    goto out;
  }
  if (!(out = fopen(pairs, "wb"))) {
    rc = ERR_SET(&r->err, -errno, "cannot create '%s': %s", pairs, strerror(errno));
    goto out;
  }
  fprintf(r->log, "rules backend, seed %llu, %d edit%s per answer, mix insert %g replace %g "
          "recolour %g move %g, %s co-occurrence of %zu training images to the power %g, "
          "questions %s\n",
          (unsigned long long)c.seed, c.o.edits, c.o.edits == 1 ? "" : "s", c.o.mix[0],
          c.o.mix[1], c.o.mix[2], c.o.mix[3],
          c.o.cooc == CORRUPT_COOC_MENTIONS ? "mention" : "object", w.images, c.o.power,
          c.questions ? "on" : "off");
  task_run_progress(r, 0.05, "corrupting");
  if ((rc = corrupt_all(r, &c, items, in, out, st.st_size, &n, ex, &nex)) < 0)
    goto out;
  k = fclose(out);
  out = NULL;
  if (k != 0) {
    rc = ERR_SET(&r->err, PD_EIO, "cannot write '%s'", pairs);
    goto out;
  }
  write_summary(&sb, &c, &n, ex, nex);
  if ((rc = task_write_file(summary, sb.buf, sb.len, &r->err)) < 0)
    goto out;
  log_summary(r->log, &n, ex, nex);
  fprintf(r->log, "done in %.3fs on %d thread%s\n", now() - t0, r->threads,
          r->threads == 1 ? "" : "s");
  task_run_progress(r, 1.0, "%zu pairs", n.pairs);
out:
  if (in)
    fclose(in);
  if (out)
    fclose(out);
  free(items);
  free(dir);
  free(pairs);
  free(summary);
  strbuf_release(&sb);
  corrupt_world_release(&w);
  return rc;
}

static int corrupt_check(struct graph *g, struct task *t, struct pd_err *err)
{
  const struct val *prompt = task_param(t, "prompt");
  double sum = 0;
  int k;
  (void)g;
  if (strcmp(task_param(t, "backend")->u.str.s, "openai") == 0) {
    if (!task_param(t, "model")->u.str.s[0] || !task_param(t, "base_url")->u.str.s[0])
      return graph_error_at(err, PD_EGRAPH, &task_param(t, "backend")->loc,
                            "backend \"openai\" needs 'model' and 'base_url'");
    if (task_param(t, "questions")->u.b)
      return graph_error_at(err, PD_EGRAPH, &task_param(t, "questions")->loc,
                            "questions = true is not supported by backend \"openai\"");
    if (!(prompt->kind == V_STR && prompt->u.str.n == 0) && prompt->kind != V_FILE &&
        prompt->kind != V_REF)
      return graph_error_at(err, PD_EGRAPH, &prompt->loc,
                            "parameter 'prompt' must be a file(\"...\") or a task's output");
    return 0;
  }
  for (k = 0; k < CORRUPT_NRULE; k++)
    sum += num(task_param(t, mix_names[k]));
  if (!(sum > 0))
    return graph_error_at(err, PD_EGRAPH, &task_param(t, "insert")->loc,
                          "the edit weights insert, replace, recolour and move sum to 0");
  return 0;
}

/* The openai summary holds run statistics beside the results: how many
 * requests, retries and memo hits this run made, what it spent, whether it
 * replayed. An audit's replay makes none of the requests, so those differ by
 * design; the rest (items, pairs, usage and cost of the responses, skips)
 * must match exactly. */
static int corrupt_audit_compare(const struct task *t, const char *output, const char *run_path,
                                 const char *now_path, char **detail)
{
  static const char *const stats[] = { "requests", "retries", "memo_hits", "responses",
                                       "spent", "replay" };
  struct pd_err err = { 0 };
  char *ta = NULL, *tb = NULL;
  cJSON *a = NULL, *b = NULL;
  size_t k;
  int same = 0;
  if (strcmp(output, "summary") != 0 ||
      strcmp(task_param(t, "backend")->u.str.s, "openai") != 0) {
    *detail = xstrdup("compared bit for bit");
    return 0;
  }
  if ((ta = train_read_text(run_path, &err)) && (tb = train_read_text(now_path, &err)) &&
      (a = cJSON_Parse(ta)) && (b = cJSON_Parse(tb))) {
    for (k = 0; k < sizeof stats / sizeof stats[0]; k++) {
      cJSON_DeleteItemFromObjectCaseSensitive(a, stats[k]);
      cJSON_DeleteItemFromObjectCaseSensitive(b, stats[k]);
    }
    same = cJSON_Compare(a, b, 1);
    *detail = xstrdup(same ? "the same results; run statistics (requests, retries, memo hits, "
                             "spending, replay) set aside"
                           : "the results differ (run statistics set aside)");
  } else {
    *detail = xasprintf("cannot compare: %s", err.msg[0] ? err.msg : "not JSON");
  }
  cJSON_Delete(a);
  cJSON_Delete(b);
  free(ta);
  free(tb);
  return same;
}

/* --dry-run: the openai backend counts what it would request and what the
 * memo serves; the rules backend has nothing to add. */
static int corrupt_dry_run(struct task_run *r, struct strbuf *out)
{
  if (strcmp(task_param(r->task, "backend")->u.str.s, "openai") != 0)
    return 0;
  return corrupt_openai_dry_run(r, out);
}

const struct task_kind corrupt_captions_kind = {
  .name = "corrupt_captions",
  .version = 1,
  .doc = "POVID's text dispreference: each ground-truth answer rewritten into a plausible "
         "hallucination (an absent co-occurring object, a wrong category, colour or "
         "position); outputs preference pairs with the true answer as chosen.",
  .params = corrupt_params,
  .outputs = corrupt_outputs,
  .flags = 0,
  .check = corrupt_check,
  .run = corrupt_run,
  .audit_compare = corrupt_audit_compare,
  .dry_run = corrupt_dry_run,
};
