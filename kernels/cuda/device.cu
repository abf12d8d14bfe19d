// device.cu - the CUDA side of device.c: describes the GPUs and the runtime
// and driver versions. Compiled only when CMake finds a CUDA compiler; it is
// the first CUDA object of the build, so the CUDA path is exercised from day
// one. Returns 0, or -1 when no device can be used (the caller says "none").
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" int pd_cuda_describe(char *buf, size_t n)
{
  int count = 0, rt = 0, drv = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError(); // clear the sticky error
    return -1;
  }
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess)
    return -1;
  snprintf(buf, n, "%d x %s (sm_%d%d, %zu MiB), CUDA runtime %d.%d, driver %d.%d",
           count, p.name, p.major, p.minor, p.totalGlobalMem >> 20,
           rt / 1000, (rt % 1000) / 10, drv / 1000, (drv % 1000) / 10);
  return 0;
}
