#!/usr/bin/env bash
# `deno task bench` (root): start-to-exit latency of /bin/true in a container,
# ctr against runc and crun on an OCI bundle of the same busybox rootfs, in
# one hyperfine run, plus an empty `deno run` (ctr's floor). Writes
# .bench/results.json and .bench/results.md.
#   RUNS=50 PODMAN=1 bash scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-50}
B=$PWD/.bench
mkdir -p "$B"

need=()
for pair in runc:runc crun:crun hyperfine:hyperfine jq:jq; do command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
DENO=$(bash scripts/deno.sh)
[ -x ./ctr ] || "$DENO" run -A scripts/build.ts
bash scripts/busybox_rootfs.sh "$B/rootfs"

# The same rootfs as an OCI bundle for runc and crun (read-only use: they do not write it).
rm -rf "$B/bundle" && mkdir -p "$B/bundle"
ln -s "$B/rootfs" "$B/bundle/rootfs"
(cd "$B/bundle" && runc spec)
jq '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = "'"$B"'/rootfs"' \
  "$B/bundle/config.json" > "$B/bundle/config.json.new" && mv "$B/bundle/config.json.new" "$B/bundle/config.json"
echo 'Deno.exit(0)' > "$B/empty.ts"

# crun 1.x refuses a hybrid cgroup host (cgroup2 with controllers at /sys/fs/cgroup/unified);
# there it runs in a private mount namespace without that mount, as does a floor row for the wrapper.
wrap=""
if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null || true)" = cgroup2fs ] &&
  [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
  wrap="unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec \"\$0\" \"\$@\"'"
fi
for id in bench-runc bench-crun; do runc delete -f "$id" >/dev/null 2>&1 || true; crun delete -f "$id" >/dev/null 2>&1 || true; done

cmds=(
  -n "ctr run --rm" "./ctr --root $B/store run --rm --rootfs $B/rootfs /bin/true"
  -n "runc run" "runc run -b $B/bundle bench-runc"
  -n "crun run" "${wrap:+$wrap }crun run -b $B/bundle bench-crun"
  -n "deno run empty.ts" "$DENO run -A $B/empty.ts"
)
[ -n "$wrap" ] && cmds+=(-n "crun's mount-namespace wrapper alone" "$wrap true")
if [ -n "${PODMAN:-}" ] && command -v podman >/dev/null; then
  P="podman --root $B/podman/root --runroot $B/podman/run --cgroup-manager cgroupfs --events-backend file"
  $P image exists localhost/bench-bb || (tar -C "$B/rootfs" -cf "$B/rootfs.tar" . && $P import "$B/rootfs.tar" localhost/bench-bb >/dev/null)
  cmds+=(-n "podman run --rm (runc)" "$P run --rm --runtime runc --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 localhost/bench-bb /bin/true")
fi
# hyperfine -N runs commands without a shell; the wrapper rows need one.
hyperfine --style basic --warmup 5 --runs "$RUNS" --export-json "$B/results.json" "${cmds[@]}" >&2
[ -z "$(runc list -q)" ] || { echo "bench.sh: runc left state behind" >&2; exit 1; }

jq -r '
  (.results | map({(.command): .median}) | add) as $m |
  "| command | median ms | mean ms | ctr ÷ this |",
  "| --- | ---: | ---: | ---: |",
  (.results[] | "| \(.command) | \(.median*1000*100|round/100) | \(.mean*1000*100|round/100) | \(($m["ctr run --rm"] / .median)*100|round/100) |")
' "$B/results.json" | tee "$B/results.md"
echo
echo "ctr above an empty deno run: $(jq -r '(.results | map({(.command): .median}) | add) as $m | (($m["ctr run --rm"] - $m["deno run empty.ts"])*1000*100|round/100)' "$B/results.json") ms" | tee -a "$B/results.md"
echo "($(uname -r), $(nproc) cpus, $(runc --version | head -1), $(crun --version | head -1), deno $("$DENO" --version | head -1 | cut -d' ' -f2))" | tee -a "$B/results.md"
