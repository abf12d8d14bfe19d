/* device.h - what compute devices this build can use, for run records. */
#ifndef PD_DEVICE_H
#define PD_DEVICE_H

#include <stddef.h>

/* Writes a one-line description of the GPUs and CUDA runtime/driver versions
 * into buf ("none" without a CUDA build or without a device). */
void device_describe(char *buf, size_t n);
/* Writes the CPU model name (from /proc/cpuinfo) into buf. */
void device_cpu_model(char *buf, size_t n);

#endif
