/* cli.h - the command line (see cli.c for the commands and exit codes). */
#ifndef PD_CLI_H
#define PD_CLI_H

/* Runs one povid-dag command; returns the process exit code. */
int cli_main(int argc, char **argv);

#endif
