/* lexer.c - being written. */
