# fetch_subset with source "llava" through the CLI: a tiny LLaVA-Instruct
# JSON and PNG images (written by python3's zlib), outputs in the documented
# layout, a cached rerun, an edited image or JSON running it again (both are
# hashed by content), the same data through a pinned file:// URL, and the
# errors for llava:PATH and a URL without its pin.
source "$(dirname "$0")/lib.sh"

mkdir -p data/images
python3 - <<'PY'
import json, struct, zlib
def png(path, w, h, k):
    raw = b''.join(b'\x00' + bytes(v for x in range(w) for v in (k * 20 % 256, x * 4 % 256, y * 4 % 256)) for y in range(h))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
qs = [[('human', '<image>\nDescribe the following image.'), ('gpt', 'A scene.')],
      [('human', 'What might happen next?\n<image>'), ('gpt', 'Rain.')],
      [('human', '<image>\nWhat colour is it?'), ('gpt', 'Red.'), ('human', 'Is it big?'), ('gpt', 'No.')]]
items = []
for k in range(9):
    png('data/images/%03d.png' % k, 40 + k, 36, k)
    items.append({'id': '%012d' % k, 'image': '%03d.png' % k,
                  'conversations': [{'from': f, 'value': v} for f, v in qs[k % 3]]})
json.dump(items, open('data/llava.json', 'w'), indent=1)
PY

cat > g.dag <<'DAG'
task subset = fetch_subset {
  source     = "llava"
  json       = file("data/llava.json")
  images_dir = dir("data/images")
  train      = 4
  eval       = 2
}
DAG
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 0; expect_ran subset

path() { local o=$1; shift; pd show g.dag "subset.$o" "$@"; [ "$rc" = 0 ] || fail "show subset.$o"; cat "$T/out"; }
lines() { wc -l < "$1" | tr -d ' '; }
train=$(path train); evald=$(path eval); pope=$(path pope); world=$(path world)
[ "$(lines "$train/items.jsonl")" = 4 ] || fail "train has $(lines "$train/items.jsonl") items"
[ "$(lines "$evald/items.jsonl")" = 2 ] || fail "eval has $(lines "$evald/items.jsonl") items"
[ "$(lines "$train/index.tsv")" = 5 ] || fail "train index has $(lines "$train/index.tsv") lines"
head -n 1 "$train/items.jsonl" | grep -qF '"conversations":[{"from":"human","value":' || fail "not LLaVA items"
grep -qF '"objects":[]' "$train/items.jsonl" || fail "items lack empty objects"
for t in description reasoning conversation; do
  grep -qF "\"type\":\"$t\"" "$train/items.jsonl" || fail "train has no $t item"
done
f=$train/images.safetensors; hlen=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
[ "$(stat -c %s "$f")" = $((8 + hlen + 4 * 3072)) ] || fail "$f: size does not match 4 images"
head -c $((8 + hlen)) "$f" | tail -c "$hlen" | grep -qF '"shape":[4,32,32,3]' || fail "$f: shape"
[ "$(cat "$pope"/*.jsonl | wc -c)" = 0 ] || fail "pope files are not empty"
grep -qF '"categories":[]' "$world" || fail "world.json lacks empty categories"
grep -qF '"note":' "$world" || fail "world.json lacks its note"
checks=$((checks + 11))
# items and pixels (the tensor header records the source, so it differs by source)
sums() { sha256sum < "$1/items.jsonl"; tail -c $((4 * 3072)) "$1/images.safetensors" | sha256sum; }
before=$(sums "$train")

# Cached; an edited image runs it again, and so does an edited JSON.
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 1
cp data/images/000.png orig.png; cp data/images/008.png data/images/000.png
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 0
sed -i 's/A scene\./A scene, edited./' data/llava.json
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 0
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 1

# The same JSON through a pinned file:// URL: the same items.
sed -i 's/A scene, edited\./A scene./' data/llava.json
cp orig.png data/images/000.png
pin=$(sha256sum data/llava.json | cut -d' ' -f1)
cat > url.dag <<DAG
task subset = fetch_subset {
  source     = "file://$T/data/llava.json"
  sha256     = "$pin"
  images_dir = dir("data/images")
  train      = 4
  eval       = 2
}
DAG
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 1
pd run url.dag --progress=plain; expect_rc 0; expect_counts 1 0
pd show url.dag subset.train; [ "$rc" = 0 ] || fail "show url subset.train"; utrain=$(cat "$T/out")
[ "$(sums "$utrain")" = "$before" ] || fail "URL source gave other items or pixels"
checks=$((checks + 1))
sed -i "s/$pin/$(echo "$pin" | tr 0-9a-f 1-9a-f0)/" url.dag
pd run url.dag; expect_rc 1; expect_err "sha256 mismatch: expected"

# llava:PATH is refused with what to write; a URL needs its pin when loading.
cat > bad.dag <<'DAG'
task s = fetch_subset {
  source = "llava:data/llava.json"
}
DAG
pd run bad.dag; expect_rc 2; expect_err 'bad.dag:2:12: error:'; expect_err 'json = file("data/llava.json"), images_dir = dir("...")'
cat > bad.dag <<'DAG'
task s = fetch_subset {
  source = "https://example.com/llava.json"
  images_dir = dir("data/images")
}
DAG
pd run bad.dag; expect_rc 2; expect_err "bad.dag:2:12: error: source 'https://example.com/llava.json' needs sha256"
finish
