/* registry.c - the table of task kinds (see registry.h). */
#include "registry.h"

#include <string.h>

extern const struct task_kind corrupt_captions_kind;
extern const struct task_kind distort_images_kind;
extern const struct task_kind evaluate_kind;
extern const struct task_kind exec_kind;
extern const struct task_kind fetch_subset_kind;
extern const struct task_kind generate_kind;
extern const struct task_kind report_kind;
extern const struct task_kind train_dpo_kind;
extern const struct task_kind train_sft_kind;
extern const struct task_kind train_vision_kind;
extern const struct task_kind write_kind;

/* Sorted by name. */
static const struct task_kind *const kinds[] = {
  &corrupt_captions_kind,
  &distort_images_kind,
  &evaluate_kind,
  &exec_kind,
  &fetch_subset_kind,
  &generate_kind,
  &report_kind,
  &train_dpo_kind,
  &train_sft_kind,
  &train_vision_kind,
  &write_kind,
};

const struct kind_param registry_common_params[] = {
  { "pool", PT_STRING, "\"cpu\"", 0, -1, NULL, KP_NOKEY,
    "pool whose slot the task takes: cpu, gpu or one the graph declares" },
  { "threads", PT_INT, "1", 0, 4096, NULL, KP_NOKEY,
    "cpu slots the task holds while it runs (0 for tasks that only wait)" },
  { "retries", PT_INT, "0", 0, 100, NULL, KP_NOKEY,
    "extra attempts after a failure before the task counts as failed" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

const struct task_kind *registry_find(const char *name)
{
  size_t i;
  for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i]->name, name) == 0)
      return kinds[i];
  return NULL;
}

const struct task_kind *const *registry_all(size_t *n)
{
  *n = sizeof kinds / sizeof kinds[0];
  return kinds;
}

const struct kind_param *registry_param(const struct task_kind *k, const char *name)
{
  const struct kind_param *p;
  for (p = k->params; p->name; p++)
    if (strcmp(p->name, name) == 0)
      return p;
  for (p = registry_common_params; p->name; p++)
    if (strcmp(p->name, name) == 0)
      return p;
  return NULL;
}

const char *ptype_name(enum ptype t)
{
  switch (t) {
  case PT_BOOL: return "bool";
  case PT_INT: return "integer";
  case PT_FLOAT: return "float";
  case PT_STRING: return "string";
  case PT_LIST: return "list";
  case PT_MAP: return "map";
  case PT_ARTIFACT: return "artifact";
  case PT_ANY: return "any";
  }
  return "?";
}
