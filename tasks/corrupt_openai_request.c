/* corrupt_openai_request.c - the pure pieces of an `openai` request and its
 * response (see corrupt_openai_request.h): template rendering, base64, the
 * request body, the memo key and value, response parsing, the loopback
 * check. Everything here is deterministic and free of I/O.
 */
#include "corrupt_openai_request.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <stb_image_write.h>

#include "corrupt_rules.h"
#include "err.h"

const char corrupt_openai_default_prompt[] =
    "You are helping to build a dataset that teaches a vision-language model not to "
    "hallucinate. Below is a correct description of the attached image and the list of the "
    "objects it holds. Rewrite the description into a plausible but wrong one by making one "
    "or two of these edits:\n"
    "1. add an object that often co-occurs with the objects present but is absent from the "
    "image;\n"
    "2. change the relation or position of an object (left/right, top/bottom, next to);\n"
    "3. change an attribute of an object (its colour, size, shape or count).\n"
    "Keep the style, the sentence structure and the length of the original, change nothing "
    "else, and reply with the rewritten description only.\n\n"
    "Objects: {objects}\n"
    "Correct description: {answer}";

void corrupt_openai_render(const char *tmpl, const char *answer, const char *objects,
                           const char *question, struct strbuf *out)
{
  static const struct { const char *name; size_t n; } ph[] = {
    { "{answer}", 8 }, { "{objects}", 9 }, { "{question}", 10 },
  };
  const char *val[3] = { answer, objects, question };
  const char *s = tmpl;
  while (*s) {
    const char *b = strchr(s, '{');
    size_t k;
    if (!b) {
      strbuf_addstr(out, s);
      return;
    }
    strbuf_add(out, s, (size_t)(b - s));
    for (k = 0; k < 3; k++)
      if (strncmp(b, ph[k].name, ph[k].n) == 0)
        break;
    if (k < 3) {
      strbuf_addstr(out, val[k]);
      s = b + ph[k].n;
    } else {
      strbuf_addch(out, '{');
      s = b + 1;
    }
  }
}

void corrupt_openai_objects(const struct corrupt_world *w, const struct corrupt_mention *m,
                            int n, struct strbuf *out)
{
  int k;
  if (n == 0)
    strbuf_addstr(out, "none");
  for (k = 0; k < n; k++)
    strbuf_addf(out, "%s%s %s (%s)", k ? "; " : "", w->colour[m[k].colour], w->cat[m[k].cat],
                w->pos[m[k].pos]);
}

void corrupt_openai_base64(const void *p, size_t n, struct strbuf *out)
{
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *s = p;
  size_t i;
  strbuf_grow(out, (n + 2) / 3 * 4);
  for (i = 0; i + 2 < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    char q[4] = { tab[v >> 18], tab[v >> 12 & 63], tab[v >> 6 & 63], tab[v & 63] };
    strbuf_add(out, q, 4);
  }
  if (i < n) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0u);
    char q[4] = { tab[v >> 18], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=', '=' };
    strbuf_add(out, q, 4);
  }
}

static void add_field(struct digest_ctx *d, const void *p, size_t n)
{
  uint64_t len = n;
  digest_update(d, &len, sizeof len);
  digest_update(d, p, n);
}

static void add_str(struct digest_ctx *d, const char *s)
{
  add_field(d, s, strlen(s));
}

void corrupt_openai_item_digest(const char *chosen, const char *question, const char *image,
                                const uint8_t pixels[PD_DIGEST_LEN],
                                uint8_t out[PD_DIGEST_LEN])
{
  struct digest_ctx d;
  digest_init(&d);
  add_str(&d, chosen);
  add_str(&d, question);
  add_str(&d, image);
  add_field(&d, pixels, PD_DIGEST_LEN);
  digest_final(&d, out);
}

void corrupt_openai_memo_key(const struct corrupt_openai_key *k, uint8_t out[PD_DIGEST_LEN])
{
  struct digest_ctx d;
  char num[64];
  digest_init(&d);
  add_str(&d, "corrupt_captions/openai/1");
  add_field(&d, k->item, PD_DIGEST_LEN);
  add_field(&d, k->prompt, PD_DIGEST_LEN);
  add_str(&d, k->model);
  snprintf(num, sizeof num, "%.17g", k->temperature);
  add_str(&d, num);
  snprintf(num, sizeof num, "%ld", k->max_tokens);
  add_str(&d, num);
  snprintf(num, sizeof num, "%llu", (unsigned long long)k->seed);
  add_str(&d, num);
  add_str(&d, k->base_url);
  digest_final(&d, out);
}

static void png_write(void *ctx, void *data, int size)
{
  strbuf_add(ctx, data, (size_t)size);
}

int corrupt_openai_body(const struct corrupt_openai_params *p, const char *text, size_t ntext,
                        const uint8_t *pix, int W, int H, struct strbuf *out)
{
  struct strbuf png;
  strbuf_init(&png, 4096);
  if (!stbi_write_png_to_func(png_write, &png, W, H, 3, pix, W * 3)) {
    strbuf_release(&png);
    return -1;
  }
  strbuf_addstr(out, "{\"model\":");
  strbuf_add_json_str(out, p->model, strlen(p->model));
  strbuf_addstr(out, ",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                     "\"text\":");
  strbuf_add_json_str(out, text, ntext);
  strbuf_addstr(out, "},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,");
  corrupt_openai_base64(png.buf, png.len, out);
  strbuf_addf(out, "\"}}]}],\"temperature\":%.17g,\"max_tokens\":%ld,\"seed\":%llu}",
              p->temperature, p->max_tokens, (unsigned long long)p->seed);
  strbuf_release(&png);
  return 0;
}

void corrupt_openai_memo_value(const struct corrupt_openai_reply *rp, struct strbuf *out)
{
  strbuf_addstr(out, "{\"text\":");
  strbuf_add_json_str(out, rp->text, strlen(rp->text));
  strbuf_addf(out, ",\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld}}", rp->ptok,
              rp->ctok);
}

int corrupt_openai_memo_parse(const char *s, size_t n, struct corrupt_openai_reply *rp)
{
  cJSON *root = cJSON_ParseWithLength(s, n), *text, *u;
  int rc = -1;
  if (!root)
    return -1;
  text = cJSON_GetObjectItemCaseSensitive(root, "text");
  u = cJSON_GetObjectItemCaseSensitive(root, "usage");
  if (cJSON_IsString(text)) {
    rp->text = xstrdup(text->valuestring);
    rp->ptok = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens"));
    rp->ctok =
        (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "completion_tokens"));
    if (rp->ptok < 0) /* NaN when absent casts to garbage on some targets: keep it sane */
      rp->ptok = 0;
    if (rp->ctok < 0)
      rp->ctok = 0;
    rc = 0;
  }
  cJSON_Delete(root);
  return rc;
}

static char *trim(const char *s)
{
  size_t n;
  char *t;
  while (isspace((unsigned char)*s))
    s++;
  n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  t = xmalloc(n + 1);
  memcpy(t, s, n);
  t[n] = '\0';
  return t;
}

int corrupt_openai_response_parse(const char *s, size_t n, struct corrupt_openai_reply *rp)
{
  cJSON *root = cJSON_ParseWithLength(s, n), *u;
  const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(
          cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0), "message"),
      "content"));
  double p, q;
  if (!content) {
    cJSON_Delete(root);
    return -1;
  }
  u = cJSON_GetObjectItemCaseSensitive(root, "usage");
  p = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens"));
  q = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "completion_tokens"));
  rp->text = trim(content);
  rp->ptok = p == p && p > 0 ? (long)p : 0;
  rp->ctok = q == q && q > 0 ? (long)q : 0;
  cJSON_Delete(root);
  return 0;
}

int corrupt_openai_loopback(const char *url)
{
  const char *h = strstr(url, "://"), *end;
  size_t n, i;
  if (!h)
    return 0;
  h += 3;
  if ((end = strchr(h, '@')) && end < h + strcspn(h, "/"))
    h = end + 1; /* user:password@ */
  if (*h == '[')
    return strncmp(h, "[::1]", 5) == 0;
  n = strcspn(h, ":/?#");
  if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
    return 1;
  if (n < 7 || strncmp(h, "127.", 4) != 0)
    return 0;
  for (i = 4; i < n; i++) /* 127.x.y.z, nothing like 127.0.0.1.example.com */
    if (h[i] != '.' && !isdigit((unsigned char)h[i]))
      return 0;
  return 1;
}
