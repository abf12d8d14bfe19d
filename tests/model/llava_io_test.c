/* llava_io_test.c - safetensors round trip of the model (model/llava_io.h):
 * save, load, same config, same parameter bits, same loss; HF names present;
 * a wrong shape is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cblas.h>
#include <cmocka.h>

#include "err.h"
#include "llava.h"
#include "llava_io.h"
#include "safetensors.h"

static void tiny(struct llava_config *c)
{
  llava_config_default(c);
  c->image_size = 8;
  c->patch_size = 4;
  c->v_width = 8;
  c->v_layers = 2;
  c->v_heads = 2;
  c->v_mlp = 16;
  c->vocab = 11;
  c->width = 16;
  c->layers = 2;
  c->heads = 2;
  c->hidden = 12;
  c->max_seq = 16;
}

static void tmp_path(char *buf, size_t n, const char *name)
{
  const char *dir = getenv("PD_TEST_TMP");
  if (!dir)
    dir = "/tmp";
  mkdir(dir, 0777);
  snprintf(buf, n, "%s/%s", dir, name);
}

static void test_round_trip(void **state)
{
  struct llava_config c;
  struct llava a, b;
  struct pd_err err = {0};
  struct safetensors st;
  char path[512];
  float img[2 * 8 * 8 * 3];
  const int tok[2 * 4] = {2, 1, 3, 4, 1, 5, 6, 7};
  const int tgt[2 * 4] = {1, 3, 4, 5, 5, 6, 7, 8};
  const float w[2 * 4] = {0, 1, 1, 1, 0, 1, 1, 0};
  float la, lb;
  size_t i;
  (void)state;
  tiny(&c);
  assert_int_equal(llava_init(&a, &c, 9, &err), 0);
  tmp_path(path, sizeof path, "llava_rt.safetensors");
  assert_int_equal(llava_save(&a, path, &err), 0);
  if (llava_load(&b, path, &err) != 0)
    fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(err.code, 0);
  assert_memory_equal(&a.cfg, &b.cfg, sizeof c);
  assert_int_equal(a.num_parameters, b.num_parameters);
  assert_memory_equal(a.params_memory, b.params_memory, a.num_parameters * sizeof(float));
  for (i = 0; i < sizeof img / sizeof img[0]; i++)
    img[i] = (float)(i % 7) / 7.0f;
  la = llava_forward(&a, img, tok, tgt, w, 2, 4);
  lb = llava_forward(&b, img, tok, tgt, w, 2, 4);
  assert_memory_equal(&la, &lb, sizeof la);
  printf("round trip: %zu parameters, same bits, loss %.6f\n", a.num_parameters, (double)la);

  assert_int_equal(safetensors_open(&st, path, &err), 0);
  assert_non_null(safetensors_find(&st, "vision_tower.vision_model.encoder.layers.1.self_attn.k_proj.bias"));
  assert_non_null(safetensors_find(&st, "multi_modal_projector.linear_2.weight"));
  assert_non_null(safetensors_find(&st, "language_model.model.layers.1.mlp.up_proj.weight"));
  assert_non_null(safetensors_find(&st, "language_model.lm_head.weight"));
  assert_string_equal(safetensors_meta(&st, "llava.feature_layer"), "-2");
  printf("%zu tensors with Hugging Face names\n", st.nt);
  safetensors_close(&st);
  llava_free(&b);

  /* shapes come from the file's metadata: a wider model loads as itself */
  c.width = 32;
  c.hidden = 24;
  llava_free(&a);
  assert_int_equal(llava_init(&a, &c, 9, &err), 0);
  assert_int_equal(llava_save(&a, path, &err), 0);
  assert_int_equal(llava_load(&b, path, &err), 0);
  assert_int_equal(b.cfg.width, 32);
  llava_free(&b);
  llava_free(&a);
  remove(path);
}

static void test_missing_file(void **state)
{
  struct llava m;
  struct pd_err err = {0};
  (void)state;
  assert_true(llava_load(&m, "/nonexistent/x.safetensors", &err) != 0);
  printf("missing file: %s\n", err.msg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_missing_file),
  };
  openblas_set_num_threads(1);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
