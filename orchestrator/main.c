/* main.c - povid-dag's entry point; everything else is in cli.c. */
#include <stdio.h>

#include "cli.h"

int main(int argc, char **argv)
{
  int rc;
  /* Progress goes to stderr as it happens; results to stdout in order. */
  setvbuf(stderr, NULL, _IOLBF, 0);
  rc = cli_main(argc, argv);
  fflush(stdout);
  return rc;
}
