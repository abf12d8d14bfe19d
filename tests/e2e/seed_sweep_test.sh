# One pipeline per seed in one graph: tasks named "a_${s}" and "b_${s}" by a
# for loop, b_s reading "a_${s}".out (a reference by computed name), and a
# final task reading every b_s through for expressions. A rerun executes
# nothing; --set seeds=[1,2] reuses the four tasks of seeds 1 and 2.
source "$(dirname "$0")/lib.sh"

cat > g.dag <<'DAG'
param seeds = [1, 2, 3]
for s in seeds {
  task "a_${s}" = exec {
    command = ["sh", "-c", "echo a$1 > \"$0\"/out.txt", "${out}", s]
    outputs = ["out.txt"]
  }
  task "b_${s}" = exec {
    command = ["sh", "-c", "cat \"$1\" > \"$0\"/out.txt; echo b$2 >> \"$0\"/out.txt",
               "${out}", "a_${s}".out, s]
    outputs = ["out.txt"]
  }
}
task final = exec {
  # One "cat PATH >> ..." per seed, joined into one shell script.
  command = [for r in [for s in seeds : "b_${s}".out] : "cat ${r} >> ${out}/all.txt;"]
  shell = true
  env = {for s in seeds : "IN_${s}" => "b_${s}".out}
  outputs = ["all.txt"]
}
# A list inside an argv is spliced: one argument per seed.
task joined = exec {
  command = ["sh", "-c", "cat \"$@\" > \"$0\"/all.txt; echo $# >> \"$0\"/all.txt",
             "${out}", [for s in seeds : "b_${s}".out]]
  outputs = ["all.txt"]
}
task envs = exec {
  command = ["sh", "-c", "env | grep '^IN_' | sort | sed 's/=.*//' > \"$0\"/names.txt", "${out}"]
  env = {for s in seeds : "IN_${s}" => "a_${s}".out}
  outputs = ["names.txt"]
}
DAG

pd graph g.dag; expect_rc 0
expect_out '"a_2" -> "b_2";'; expect_out '"b_3" -> "final";'; expect_out '"a_1" -> "envs";'
expect_out '"b_2" -> "joined";'

pd run g.dag --progress=plain; expect_rc 0; expect_counts 9 0
expect_ran a_1 a_2 a_3 b_1 b_2 b_3 final envs joined
pd show g.dag final.all --cat; expect_rc 0
[ "$(cat "$T/out")" = "$(printf 'a1\nb1\na2\nb2\na3\nb3')" ] || fail "final saw: $(cat "$T/out")"
pd show g.dag envs.names --cat; expect_rc 0
[ "$(cat "$T/out")" = "$(printf 'IN_1\nIN_2\nIN_3')" ] || fail "envs saw: $(cat "$T/out")"
pd show g.dag joined.all --cat; expect_rc 0
[ "$(cat "$T/out")" = "$(printf 'a1\nb1\na2\nb2\na3\nb3\n3')" ] || fail "joined saw: $(cat "$T/out")"

# Nothing changed: nothing executes.
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 9

# Fewer seeds: a_1, b_1, a_2, b_2 come from the cache; final and envs rerun.
pd run g.dag --set 'seeds=[1,2]' --progress=plain; expect_rc 0; expect_counts 3 4
expect_ran final envs joined; expect_not_ran a_1 a_2 b_1 b_2 a_3 b_3
pd show g.dag final.all --cat --set 'seeds=[1, 2]'; expect_rc 0
[ "$(cat "$T/out")" = "$(printf 'a1\nb1\na2\nb2')" ] || fail "final with seeds=[1,2] saw: $(cat "$T/out")"

# A list param takes a list; a task the computed name misses is an error at the string.
pd run g.dag --set seeds=3; expect_rc 2
expect_err "--set seeds=3: 'seeds' is a list (declared at g.dag:1:7), got '3'"
sed -i 's/"a_${s}".out, s]/"a_${s}x".out, s]/' g.dag
pd run g.dag; expect_rc 2
expect_err "g.dag:9:26: error: unknown task 'a_1x'; did you mean 'a_1'?"
finish
