/* tokenizer.c - the word-level tokenizer and the chat template (see
 * tokenizer.h). Lookups are a binary search over the ids sorted by string;
 * vocabularies here are small (hundreds of words). */
#include "tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "strbuf.h"

static const char *const specials[TOK_NSPECIAL] = {
  "<pad>", "<image>", "<s>", "</s>", "<unk>", "USER:", "ASSISTANT:",
};

struct word_vocab {
  char **tok;  /* vocab strings, tok[id] */
  int *sorted; /* ids of the non-special tokens, sorted by string */
  int nsorted;
};

/* --- splitting ------------------------------------------------------------------------- */

static int is_word_byte(unsigned char c)
{
  return isalnum(c) || c >= 0x80;
}

/* The next piece of text at *p: returns its length (0 at the end) and sets
 * *start and *special (a TOK_* id, or -1 for a word or punctuation). */
static size_t next_piece(const char **p, const char **start, int *special)
{
  const char *s = *p;
  size_t n;
  int k;
  while (*s && isspace((unsigned char)*s))
    s++;
  *start = s;
  *special = -1;
  if (!*s) {
    *p = s;
    return 0;
  }
  for (k = 1; k < TOK_NSPECIAL; k++) { /* <pad> is never read from text */
    size_t len = strlen(specials[k]);
    if (strncmp(s, specials[k], len) == 0) {
      *special = k;
      *p = s + len;
      return len;
    }
  }
  if (is_word_byte((unsigned char)*s)) {
    for (n = 0; s[n] && is_word_byte((unsigned char)s[n]); n++)
      ;
  } else {
    n = 1;
  }
  *p = s + n;
  return n;
}

static char *lower_dup(const char *s, size_t n)
{
  char *d = xmalloc(n + 1);
  size_t i;
  for (i = 0; i < n; i++)
    d[i] = (char)tolower((unsigned char)s[i]);
  d[n] = '\0';
  return d;
}

/* --- the word vocabulary --------------------------------------------------------------- */

static const struct word_vocab *wv_of(const struct tokenizer *tk)
{
  return tk->impl;
}

struct sid {
  const char *s;
  int id;
};

static int cmp_sid(const void *a, const void *b)
{
  return strcmp(((const struct sid *)a)->s, ((const struct sid *)b)->s);
}

/* Sorts the ids by string through (string, id) pairs: qsort has no context
 * argument, and tokenizers may be built on several threads at once. */
static void wv_index(struct word_vocab *wv, int n)
{
  struct sid *tmp;
  int i;
  wv->nsorted = n - TOK_NSPECIAL;
  wv->sorted = xmalloc((size_t)(wv->nsorted > 0 ? wv->nsorted : 1) * sizeof *wv->sorted);
  tmp = xmalloc((size_t)(wv->nsorted > 0 ? wv->nsorted : 1) * sizeof *tmp);
  for (i = 0; i < wv->nsorted; i++) {
    tmp[i].s = wv->tok[TOK_NSPECIAL + i];
    tmp[i].id = TOK_NSPECIAL + i;
  }
  qsort(tmp, (size_t)wv->nsorted, sizeof *tmp, cmp_sid);
  for (i = 0; i < wv->nsorted; i++)
    wv->sorted[i] = tmp[i].id;
  free(tmp);
}

/* id of the lowercase word w (n bytes), or TOK_UNK. */
static int wv_find(const struct word_vocab *wv, const char *w, size_t n)
{
  int lo = 0, hi = wv->nsorted;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2, c;
    const char *t = wv->tok[wv->sorted[mid]];
    size_t tn = strlen(t);
    c = strncmp(t, w, tn < n ? tn : n);
    if (c == 0)
      c = tn < n ? -1 : tn > n ? 1 : 0;
    if (c == 0)
      return wv->sorted[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return TOK_UNK;
}

static size_t word_encode(const struct tokenizer *tk, const char *text, int *out, size_t cap)
{
  const struct word_vocab *wv = wv_of(tk);
  const char *p = text, *s;
  size_t n = 0, len;
  int sp;
  char buf[256];
  while ((len = next_piece(&p, &s, &sp)) > 0) {
    int id = sp;
    if (id < 0) {
      size_t i, m = len < sizeof buf ? len : 0; /* longer words are unknown */
      for (i = 0; i < m; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
      id = m ? wv_find(wv, buf, m) : TOK_UNK;
    }
    if (n < cap)
      out[n] = id;
    n++;
  }
  return n;
}

static const char *word_token(const struct tokenizer *tk, int id)
{
  return id >= 0 && id < tk->vocab ? wv_of(tk)->tok[id] : NULL;
}

static int word_save(const struct tokenizer *tk, const char *path, struct pd_err *err)
{
  cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "tokens");
  char *s;
  FILE *f;
  int i, rc = 0;
  cJSON_AddStringToObject(j, "type", "word");
  cJSON_AddBoolToObject(j, "lowercase", 1);
  for (i = 0; i < tk->vocab; i++)
    cJSON_AddItemToArray(arr, cJSON_CreateString(wv_of(tk)->tok[i]));
  /* "tokens" last, so the short fields head the file. */
  cJSON_DetachItemViaPointer(j, arr);
  cJSON_AddItemToObject(j, "tokens", arr);
  s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!s)
    return ERR_SET(err, PD_ENOMEM, "cannot write '%s': out of memory", path);
  f = fopen(path, "w");
  if (!f || fputs(s, f) < 0 || fputc('\n', f) < 0)
    rc = ERR_SET(err, -errno, "cannot write '%s': %s", path, strerror(errno));
  if (f && fclose(f) != 0 && rc == 0)
    rc = ERR_SET(err, -errno, "cannot write '%s': %s", path, strerror(errno));
  free(s);
  return rc;
}

static void word_release(struct tokenizer *tk)
{
  struct word_vocab *wv = tk->impl;
  int i;
  if (!wv)
    return;
  for (i = 0; i < tk->vocab; i++)
    free(wv->tok[i]);
  free(wv->tok);
  free(wv->sorted);
  free(wv);
  tk->impl = NULL;
}

static const struct tokenizer_ops word_ops = {
  "word", word_encode, word_token, word_save, word_release,
};

/* Takes ownership of tok[0..n). */
static void word_init(struct tokenizer *tk, char **tok, int n)
{
  struct word_vocab *wv = xcalloc(1, sizeof *wv);
  wv->tok = tok;
  wv_index(wv, n);
  tk->ops = &word_ops;
  tk->vocab = n;
  tk->impl = wv;
}

struct wcount {
  char *w;
  size_t n;
};

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_count(const void *a, const void *b)
{
  const struct wcount *x = a, *y = b;
  if (x->n != y->n)
    return x->n > y->n ? -1 : 1;
  return strcmp(x->w, y->w);
}

int tokenizer_build_word(struct tokenizer *tk, const char *const *texts, size_t n, int cap,
                         struct pd_err *err)
{
  char **words = NULL, **tok;
  struct wcount *uc;
  size_t nw = 0, aw = 0, nu = 0, i, j;
  int k, ntok;
  memset(tk, 0, sizeof *tk);
  if (cap < TOK_NSPECIAL)
    return ERR_SET(err, PD_EUSAGE, "vocabulary size %d is below the %d special tokens", cap,
                   TOK_NSPECIAL);
  for (i = 0; i < n; i++) {
    const char *p = texts[i], *s;
    size_t len;
    int sp;
    while ((len = next_piece(&p, &s, &sp)) > 0) {
      if (sp >= 0)
        continue;
      if (nw == aw) {
        aw = aw ? 2 * aw : 1024;
        words = xrealloc(words, aw * sizeof *words);
      }
      words[nw++] = lower_dup(s, len);
    }
  }
  if (nw)
    qsort(words, nw, sizeof *words, cmp_str);
  uc = xmalloc((nw ? nw : 1) * sizeof *uc);
  for (i = 0; i < nw; i = j) {
    for (j = i + 1; j < nw && strcmp(words[j], words[i]) == 0; j++)
      free(words[j]);
    uc[nu].w = words[i];
    uc[nu++].n = j - i;
  }
  free(words);
  qsort(uc, nu, sizeof *uc, cmp_count);
  ntok = TOK_NSPECIAL + (int)(nu < (size_t)(cap - TOK_NSPECIAL) ? nu : (size_t)(cap - TOK_NSPECIAL));
  tok = xmalloc((size_t)ntok * sizeof *tok);
  for (k = 0; k < TOK_NSPECIAL; k++)
    tok[k] = xstrdup(specials[k]);
  for (i = 0; i < nu; i++) {
    if ((int)i < ntok - TOK_NSPECIAL)
      tok[TOK_NSPECIAL + (int)i] = uc[i].w;
    else
      free(uc[i].w);
  }
  free(uc);
  word_init(tk, tok, ntok);
  return 0;
}

int tokenizer_load(struct tokenizer *tk, const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "rb");
  struct strbuf sb;
  cJSON *j = NULL, *arr, *type;
  char buf[4096], **tok = NULL;
  size_t got;
  int n = 0, k, rc = 0;
  memset(tk, 0, sizeof *tk);
  if (!f)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  strbuf_init(&sb, 0);
  while ((got = fread(buf, 1, sizeof buf, f)) > 0)
    strbuf_add(&sb, buf, got);
  if (ferror(f))
    rc = ERR_SET(err, PD_EIO, "cannot read '%s'", path);
  fclose(f);
  if (rc < 0)
    goto out;
  j = cJSON_Parse(sb.buf);
  type = cJSON_GetObjectItemCaseSensitive(j, "type");
  arr = cJSON_GetObjectItemCaseSensitive(j, "tokens");
  if (!j || !cJSON_IsString(type) || !cJSON_IsArray(arr)) {
    rc = ERR_SET(err, PD_ECORRUPT, "'%s': not a vocabulary (JSON with \"type\" and \"tokens\")",
                 path);
    goto out;
  }
  if (strcmp(type->valuestring, "word") != 0) {
    rc = ERR_SET(err, PD_EUSAGE, "'%s': unknown tokenizer type '%s'", path, type->valuestring);
    goto out;
  }
  n = cJSON_GetArraySize(arr);
  if (n < TOK_NSPECIAL) {
    rc = ERR_SET(err, PD_ECORRUPT, "'%s': %d tokens, fewer than the specials", path, n);
    goto out;
  }
  tok = xcalloc((size_t)n, sizeof *tok);
  for (k = 0; k < n; k++) {
    cJSON *e = cJSON_GetArrayItem(arr, k);
    if (!cJSON_IsString(e) || (k < TOK_NSPECIAL && strcmp(e->valuestring, specials[k]) != 0)) {
      rc = ERR_SET(err, PD_ECORRUPT, "'%s': token %d is not %s%s", path, k,
                   k < TOK_NSPECIAL ? "" : "a string", k < TOK_NSPECIAL ? specials[k] : "");
      goto out;
    }
    tok[k] = xstrdup(e->valuestring);
  }
  word_init(tk, tok, n);
  tok = NULL;
out:
  if (tok) {
    for (k = 0; k < n; k++)
      free(tok[k]);
    free(tok);
  }
  cJSON_Delete(j);
  strbuf_release(&sb);
  return rc;
}

int tokenizer_save(const struct tokenizer *tk, const char *path, struct pd_err *err)
{
  return tk->ops->save(tk, path, err);
}

void tokenizer_release(struct tokenizer *tk)
{
  if (tk->ops)
    tk->ops->release(tk);
  memset(tk, 0, sizeof *tk);
}

size_t tokenizer_encode(const struct tokenizer *tk, const char *text, int *out, size_t cap)
{
  return tk->ops->encode(tk, text, out, cap);
}

static int is_closing(const char *t)
{
  return t[0] && !t[1] && strchr(".,!?;:)'", t[0]);
}

void tokenizer_decode(const struct tokenizer *tk, const int *ids, size_t n, struct strbuf *out)
{
  const char *prev = NULL;
  size_t i;
  for (i = 0; i < n; i++) {
    const char *t = ids[i] == TOK_PAD ? NULL : tk->ops->token(tk, ids[i]);
    if (!t)
      continue;
    if (prev && !is_closing(t) && strcmp(prev, "(") != 0 && strcmp(prev, "'") != 0)
      strbuf_addch(out, ' ');
    strbuf_addstr(out, t);
    prev = t;
  }
}

int tokenizer_example(const struct tokenizer *tk, const char *prompt, const char *answer,
                      int T, int *tokens, int *targets, float *weights)
{
  size_t np = tokenizer_encode(tk, prompt, NULL, 0), na = tokenizer_encode(tk, answer, NULL, 0);
  size_t n = 3 + np + 1 + na + 1, i, k, a0;
  int *seq = xmalloc(n * sizeof *seq);
  int t;
  seq[0] = TOK_BOS;
  seq[1] = TOK_USER;
  seq[2] = TOK_IMAGE;
  tokenizer_encode(tk, prompt, seq + 3, np);
  for (i = k = 3; i < 3 + np; i++) /* the template places the one image token */
    if (seq[i] != TOK_IMAGE)
      seq[k++] = seq[i];
  seq[k++] = TOK_ASSISTANT;
  a0 = k; /* the answer starts here */
  tokenizer_encode(tk, answer, seq + k, na);
  k += na;
  seq[k++] = TOK_EOS;
  n = k;
  for (t = 0; t < T; t++) {
    size_t u = (size_t)t;
    tokens[t] = u < n ? seq[u] : TOK_PAD;
    targets[t] = u + 1 < n ? seq[u + 1] : TOK_PAD;
    weights[t] = u + 1 < n && u + 1 >= a0 ? 1.0f : 0.0f;
  }
  free(seq);
  return (int)n;
}
