/* graph.c - being written. */
