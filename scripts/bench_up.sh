#!/usr/bin/env bash
# `deno task bench:up` (root): `ctr up` of 50 containers from one spec, per
# container, against `crun run` and `runc run` of one container.
#
#   sudo bash scripts/bench_up.sh          RUNS=3 (default), N=50
#
# The spec holds N busybox containers (`sleep 1000`, network none, no
# dependencies, so ctr starts them all at once) on the busybox tree imported
# as an image into a private store under .bench. One hyperfine run times
# `ctr up` (each run preceded by `ctr down -t 0`, untimed) and one /bin/true
# through runc and crun on an OCI bundle of the same tree. Writes
# .bench/up.json and .bench/up.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_up.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-3}
N=${N:-50}
B=$PWD/.bench
mkdir -p "$B"

. scripts/_bench.sh
bench_prepare runc crun hyperfine jq busybox-static

bench_bundle "$B/rootfs" "$B/bundle"
CR=$B/ctr-root
C="./ctr --root $CR"
if ! $C image inspect ctr-bench-bb:latest >/dev/null 2>&1; then
  tar -C "$B/rootfs" -cf "$B/rootfs.tar" .
  $C import "$B/rootfs.tar" ctr-bench-bb:latest >/dev/null
fi
spec=$B/up.yaml
{
  echo "name: bench"
  echo "containers:"
  for i in $(seq "$N"); do
    printf '  c%s:\n    image: ctr-bench-bb\n    command: ["sleep", "1000"]\n    network: none\n' "$i"
  done
} >"$spec"
down() { $C down -t 0 -f "$spec" >/dev/null 2>&1 || true; }
trap down EXIT
down
for id in bench-runc bench-crun; do
  runc delete -f "$id" >/dev/null 2>&1 || true
  crun delete -f "$id" >/dev/null 2>&1 || true
done

args=(-n "ctr up ($N containers)" --prepare "$C down -t 0 -f $spec" "$C up -f $spec")
args+=(-n "runc run" "runc run -b $B/bundle bench-runc")
args+=(-n "crun run" "$(in_v1ns "crun run -b $B/bundle bench-crun")")
[ "$HYBRID" = 1 ] && args+=(-n "mount-namespace wrapper alone" "$(in_v1ns true)")
hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$B/up.json" "${args[@]}"
[ -z "$($C ps -aq)" ] || { echo "bench_up.sh: containers left behind" >&2; exit 1; }

jq -r --argjson n "$N" --argjson hybrid "$HYBRID" '
  def r1: . * 10 | round / 10;
  (.results | map({(.command): .}) | add) as $r |
  ($r["ctr up (\($n) containers)"].median / $n) as $per |
  ($r["runc run"].median) as $runc |
  (if $hybrid == 1 then $r["crun run"].median - $r["mount-namespace wrapper alone"].median
   else $r["crun run"].median end) as $crun |
  "| | ms | ctr up per container ÷ this |",
  "| --- | ---: | ---: |",
  "| `ctr up` of \($n) containers, whole | \($r["ctr up (\($n) containers)"].median * 1000 | r1) | |",
  "| `ctr up`, per container | \($per * 1000 | r1) | 1 |",
  "| `runc run` of one container (/bin/true) | \($runc * 1000 | r1) | \($per / $runc * 100 | round / 100) |",
  "| `crun run` of one container, net of its wrapper | \($crun * 1000 | r1) | \($per / $crun * 100 | round / 100) |"
' "$B/up.json" >"$B/up.md"
echo
cat "$B/up.md"
