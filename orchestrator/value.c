/* value.c - being written. */
