/* sched.c - being written. */
