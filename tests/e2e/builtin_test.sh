# Builtin kinds run on worker threads: outputs stored like exec outputs, a
# large one as a blob file; reruns are cached; exec consumes their paths.
source "$(dirname "$0")/lib.sh"
cat > g.dag <<'DAG'
task small = write {
  content = "hello\n"
  repeat  = 3
}
task large = write {
  content = "0123456789abcdef"
  repeat  = 100000
}
task use = exec {
  command = ["sh", "-c", "cat \"$1\" \"$2\" | wc -c > \"$3\"/n.txt", "sh", small.text, large.text, "${out}"]
  outputs = ["n.txt"]
}
DAG
pd run g.dag --progress=plain; expect_rc 0; expect_counts 3 0
pd show g.dag use --cat; [ "$(tr -d ' \n' < "$T/out")" = 1600018 ] || fail "bad size: $(cat "$T/out")"
pd show g.dag large; p=$(cat "$T/out")
want=$(printf '0123456789abcdef%.0s' $(seq 1 100000) | sha256sum | cut -c1-64)
[ "$(sha256sum < "$p" | cut -c1-64)" = "$want" ] || fail "large output content differs"
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 3
pd run g.dag --set x=1; expect_rc 2; expect_err "--set x=1"
cat > bad.dag <<'DAG'
task w = write { content = 3 }
DAG
pd run bad.dag; expect_rc 2; expect_err "bad.dag:1:28: error:"
finish
