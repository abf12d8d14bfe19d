/* parse.c - being written. */
