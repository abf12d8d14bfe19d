# subset.awk - a tiny seeded caption set: each line "id<TAB>obj obj ...".
# Stand-in for fetch_subset until the built-in shapes world lands.
BEGIN {
  srand(seed)
  split("circle square triangle diamond cross plus star arrow ring frame heart bar", cat, " ")
  for (i = 1; i <= n; i++) {
    k = 1 + int(rand() * 4); line = ""
    for (j = 0; j < k; j++) line = line (j ? " " : "") cat[1 + int(rand() * 12)]
    printf "%d\t%s\n", i, line
  }
}
