/* device.c - CPU and GPU facts for run records; the GPU part lives in
 * cuda/device.cu and is compiled only when CMake found a CUDA compiler. */
#include "device.h"

#include <stdio.h>
#include <string.h>

#ifdef PD_HAVE_CUDA_KERNELS
int pd_cuda_describe(char *buf, size_t n); /* cuda/device.cu */
#endif

void device_describe(char *buf, size_t n)
{
#ifdef PD_HAVE_CUDA_KERNELS
  if (pd_cuda_describe(buf, n) == 0)
    return;
#endif
  snprintf(buf, n, "none");
}

void device_cpu_model(char *buf, size_t n)
{
  char line[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  snprintf(buf, n, "unknown");
  if (!f)
    return;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *p = strchr(line, ':');
      if (p) {
        p++;
        while (*p == ' ')
          p++;
        p[strcspn(p, "\n")] = '\0';
        snprintf(buf, n, "%s", p);
      }
      break;
    }
  }
  fclose(f);
}
