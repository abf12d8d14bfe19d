/* main.c - povid-dag's entry point; everything else is in cli.c. */
#include <malloc.h>
#include <stdio.h>

#include "cli.h"

int main(int argc, char **argv)
{
  int rc;
  /* Progress goes to stderr as it happens; results to stdout in order. */
  setvbuf(stderr, NULL, _IOLBF, 0);
  /* Keep freed memory for reuse instead of handing it back and faulting it
   * in again: a 10,000-task graph allocates and frees tens of MB while it
   * loads, and fresh pages are the larger part of a no-op rerun's time. */
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
  rc = cli_main(argc, argv);
  fflush(stdout);
  return rc;
}
