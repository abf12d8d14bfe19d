/* corrupt_openai_io.c - what a run of the `openai` backend reads and writes
 * (corrupt_openai_state.h): items.jsonl into items and one job per
 * description turn (corrupt_pairs_turn, as for the rules), the split's
 * images by id (images.safetensors and index.tsv), and at the end the pairs
 * in item order (so the output does not depend on the order responses
 * arrive) and the summary.
 *
 * Why apart from the driver: none of it runs on the loop; it is the run's
 * before and after.
 *
 * Left out: yes/no turns (questions = true is refused with this backend),
 * checking that a rewrite is false of the image (a model's text cannot be
 * parsed back into objects in general): a rewrite equal to the chosen
 * answer is the only one skipped ("unchanged").
 */
#include "corrupt_openai_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corrupt_pairs.h"
#include "err.h"
#include "run.h"

#define EXAMPLES 20 /* skipped answers listed by id */

static const char *const skip_keys[NSKIP] = { "no_objects", "no_description", "unchanged" };

/* --- images ------------------------------------------------------------------ */

static int name_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

long corrupt_openai__image_row(const struct oa *o, const char *id)
{
  char **p = bsearch(&id, o->names, o->nnames, sizeof *o->names, name_cmp);
  return p ? strtol(*p + strlen(*p) + 1, NULL, 10) : -1;
}

static int read_index(struct oa *o, const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "r");
  char *line = NULL, *tab;
  size_t cap = 0, lineno = 0, alloc = 0;
  ssize_t len;
  if (!f)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  while ((len = getline(&line, &cap, f)) >= 0) {
    if (lineno++ == 0)
      continue; /* header */
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (len == 0 || !(tab = strchr(line, '\t')))
      continue;
    if (o->nnames == alloc) {
      alloc = alloc ? 2 * alloc : 1024;
      o->names = xrealloc(o->names, alloc * sizeof *o->names);
    }
    *tab = '\0';
    o->names[o->nnames] = xmalloc((size_t)len + 1);
    memcpy(o->names[o->nnames++], line, (size_t)len + 1);
  }
  free(line);
  fclose(f);
  qsort(o->names, o->nnames, sizeof *o->names, name_cmp);
  return 0;
}

int corrupt_openai__open_images(struct oa *o, const char *dir, struct pd_err *err)
{
  char *st = xasprintf("%s/images.safetensors", dir), *idx = xasprintf("%s/index.tsv", dir);
  int rc;
  if ((rc = safetensors_open(&o->st, st, err)) < 0)
    goto out;
  o->st_open = 1;
  o->img = safetensors_find(&o->st, "images");
  if (!o->img || strcmp(o->img->dtype, "U8") != 0 || o->img->ndim != 4 ||
      o->img->shape[3] != 3) {
    rc = ERR_SET(err, PD_ECORRUPT, "'%s': expected a tensor 'images', U8 [N, H, W, 3]", st);
    goto out;
  }
  o->H = (int)o->img->shape[1];
  o->W = (int)o->img->shape[2];
  rc = read_index(o, idx, err);
out:
  free(st);
  free(idx);
  return rc;
}

/* --- items and jobs ---------------------------------------------------------- */

int corrupt_openai__read_items(struct oa *o, const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "r");
  char *line = NULL, why[200];
  size_t cap = 0, lineno = 0, alloc = 0, jalloc = 0;
  ssize_t len;
  int rc = 0, t;
  if (!f)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
    struct corrupt_item *it;
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
      len--;
    if (len == 0)
      continue;
    if (o->nitems == alloc) {
      alloc = alloc ? 2 * alloc : 1024;
      o->items = xrealloc(o->items, alloc * sizeof *o->items);
    }
    it = &o->items[o->nitems];
    if (corrupt_item_parse(it, &o->w, line, (size_t)len, why, sizeof why) < 0) {
      rc = ERR_SET(err, PD_ECORRUPT, "'%s':%zu: %s", path, lineno, why);
      break;
    }
    o->nitems++;
    for (t = 1; t < it->nturn; t++) {
      if (corrupt_pairs_turn(it, t) != CORRUPT_TURN_DESCRIBE)
        continue;
      if (o->njobs == jalloc) {
        jalloc = jalloc ? 2 * jalloc : 1024;
        o->jobs = xrealloc(o->jobs, jalloc * sizeof *o->jobs);
      }
      memset(&o->jobs[o->njobs], 0, sizeof *o->jobs);
      o->jobs[o->njobs].item = o->nitems - 1;
      o->jobs[o->njobs].turn = t;
      o->jobs[o->njobs++].question = it->turn[t - 1].value;
    }
  }
  if (rc == 0 && ferror(f))
    rc = ERR_SET(err, PD_EIO, "cannot read '%s'", path);
  free(line);
  fclose(f);
  return rc;
}

/* --- outputs ------------------------------------------------------------------ */

int corrupt_openai__write_outputs(struct oa *o, double price_p, double price_c,
                                  struct pd_err *err)
{
  struct task_run *r = o->r;
  struct strbuf pairs, sum, chosen;
  size_t skip[NSKIP] = { 0 }, npairs = 0, skipped_items = 0, i, j = 0, nex = 0;
  char *dir = task_run_output(r, "pairs"), *path = xasprintf("%s/pairs.jsonl", dir),
       *spath = task_run_output(r, "summary");
  struct { const char *id; int turn, skip; } ex[EXAMPLES];
  int rc;
  double cost = price_p * (double)o->spent_ptok / 1e6 + price_c * (double)o->spent_ctok / 1e6,
         cost_all, asked;

  strbuf_init(&pairs, 1 << 16);
  strbuf_init(&sum, 4096);
  strbuf_init(&chosen, 256);
  for (i = 0; i < o->nitems; i++) {
    const struct corrupt_item *it = &o->items[i];
    size_t before = npairs;
    int any = 0;
    for (; j < o->njobs && o->jobs[j].item == i; j++) {
      struct job *jb = &o->jobs[j];
      int why = -1;
      any = 1;
      if (jb->state == JOB_SKIPPED) {
        why = jb->skip;
      } else {
        strbuf_reset(&chosen);
        corrupt_describe(&o->w, it->obj, it->nobj, &chosen);
        o->ptok += jb->rp.ptok;
        o->ctok += jb->rp.ctok;
        if (strcmp(jb->rp.text, chosen.buf) == 0) {
          why = SKIP_UNCHANGED;
        } else {
          corrupt_pairs_line(&pairs, it, jb->turn, jb->question, chosen.buf, jb->rp.text);
          corrupt_pairs_edit(&pairs, 1, "api", "", o->model);
          strbuf_addstr(&pairs, "]}\n");
          npairs++;
        }
      }
      if (why >= 0) {
        skip[why]++;
        if (nex < EXAMPLES) {
          ex[nex].id = it->id;
          ex[nex].turn = jb->turn;
          ex[nex++].skip = why;
        }
      }
    }
    if (!any) {
      skip[SKIP_NO_DESCRIPTION]++;
      if (nex < EXAMPLES) {
        ex[nex].id = it->id;
        ex[nex].turn = 0;
        ex[nex++].skip = SKIP_NO_DESCRIPTION;
      }
    }
    skipped_items += npairs == before;
  }
  cost_all = price_p * (double)o->ptok / 1e6 + price_c * (double)o->ctok / 1e6;
  asked = (double)(o->njobs - skip[SKIP_NO_OBJECTS]); /* answers with a response */

  if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", dir, strerror(errno));
    goto out;
  }
  if ((rc = task_write_file(path, pairs.buf, pairs.len, err)) < 0)
    goto out;
  strbuf_addstr(&sum, "{\"backend\":\"openai\",\"model\":");
  strbuf_add_json_str(&sum, o->model, strlen(o->model));
  strbuf_addstr(&sum, ",\"base_url\":");
  strbuf_add_json_str(&sum, o->base_url, strlen(o->base_url));
  strbuf_addf(&sum, ",\"temperature\":%g,\"max_tokens\":%ld,\"seed\":%llu,\"replay\":%s,"
              "\n\"items\":%zu,\"answers\":%zu,\"pairs\":%zu,"
              "\n\"requests\":%zu,\"retries\":%zu,\"memo_hits\":%zu,\"responses\":%zu,"
              "\n\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld},"
              "\n\"spent\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld",
              o->temperature, o->max_tokens, (unsigned long long)o->seed,
              o->replay ? "true" : "false", o->nitems, o->njobs, npairs, o->requests,
              o->retries, o->memo_hits, o->sent_done, o->ptok, o->ctok, o->spent_ptok,
              o->spent_ctok);
  if (price_p > 0 || price_c > 0)
    strbuf_addf(&sum, ",\"dollars\":%.6f},\n\"cost\":{\"price_prompt\":%g,"
                "\"price_completion\":%g,\"dollars\":%.6f,\"dollars_per_1000_answers\":%.6f}",
                cost, price_p, price_c, cost_all, asked > 0 ? cost_all * 1000.0 / asked : 0.0);
  else
    strbuf_addstr(&sum, ",\"dollars\":null},\n\"cost\":null");
  strbuf_addf(&sum, ",\n\"skipped\":{\"answers\":%zu,\"items\":%zu,\"reasons\":{",
              skip[0] + skip[1] + skip[2], skipped_items);
  for (i = 0; i < NSKIP; i++)
    strbuf_addf(&sum, "%s\"%s\":%zu", i ? "," : "", skip_keys[i], skip[i]);
  strbuf_addstr(&sum, "},\"first\":[");
  for (i = 0; i < nex; i++) {
    strbuf_addf(&sum, "%s{\"id\":", i ? "," : "");
    strbuf_add_json_str(&sum, ex[i].id, strlen(ex[i].id));
    strbuf_addf(&sum, ",\"turn\":%d,\"reason\":\"%s\"}", ex[i].turn, skip_keys[ex[i].skip]);
  }
  strbuf_addstr(&sum, "]}}\n");
  if ((rc = task_write_file(spath, sum.buf, sum.len, err)) < 0)
    goto out;
  fprintf(r->log, "%zu items, %zu answers: %zu pairs; %zu requests (%zu retries), %zu memo "
          "hits; tokens prompt %ld completion %ld (this run: %ld, %ld)",
          o->nitems, o->njobs, npairs, o->requests, o->retries, o->memo_hits, o->ptok,
          o->ctok, o->spent_ptok, o->spent_ctok);
  if (price_p > 0 || price_c > 0)
    fprintf(r->log, "; estimated $%.4f (this run $%.4f)", cost_all, cost);
  fprintf(r->log, "\nskipped: no objects %zu, no description %zu, unchanged %zu\n",
          skip[SKIP_NO_OBJECTS], skip[SKIP_NO_DESCRIPTION], skip[SKIP_UNCHANGED]);
  task_run_progress(r, 1.0, "%zu pairs", npairs);
out:
  strbuf_release(&pairs);
  strbuf_release(&sum);
  strbuf_release(&chosen);
  free(dir);
  free(path);
  free(spath);
  return rc;
}
