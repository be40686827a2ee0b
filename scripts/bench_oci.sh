#!/usr/bin/env bash
# `deno task bench:oci` (root): ctr as an OCI runtime against runc and crun,
# in ONE hyperfine run: `create && start && delete -f` of the same busybox
# bundle (/bin/true), and `run` (create, start, wait, delete in one call).
#
#   sudo bash scripts/bench_oci.sh            RUNS=30 (default)
#
# ctr is run through a `ctr-oci` symlink to the single file, as podman or
# containerd would run it. crun 1.x refuses a hybrid cgroup host; there it
# runs in a private mount namespace without /sys/fs/cgroup/unified, like in
# scripts/bench.sh, and the wrapper alone is timed as its own row.
# Then start, state and delete each on its own, ctr against runc.
# Writes .bench/oci.json, .bench/oci_{start,state,delete}.json and .bench/oci.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_oci.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-30}
B=$PWD/.bench
mkdir -p "$B"
. scripts/_bench.sh
bench_prepare runc crun hyperfine jq busybox-static
ln -sf "$PWD/ctr" "$B/ctr-oci"
"$B/ctr-oci" --version >/dev/null

bench_bundle "$B/rootfs" "$B/oci-bundle"
wrap() { # wrap CMD: CMD in a shell, in a private mount namespace without cgroup2 on hybrid hosts
  if [ "$HYBRID" = 1 ]; then
    echo "unshare -m --propagation private bash -c 'umount /sys/fs/cgroup/unified && $1'"
  else
    echo "bash -c '$1'"
  fi
}
cycle() { # cycle RUNTIME ID: create, start, delete -f
  echo "$1 create -b $B/oci-bundle $2 && $1 start $2 && $1 delete -f $2"
}
C=$B/ctr-oci
for id in bo-ctr bo-runc bo-crun; do
  for r in "$C" runc crun; do $r delete -f "$id" >/dev/null 2>&1 || true; done
done
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$B/oci.json" \
  -n "ctr create+start+delete" "bash -c '$(cycle "$C" bo-ctr)'" \
  -n "runc create+start+delete" "bash -c '$(cycle runc bo-runc)'" \
  -n "crun create+start+delete" "$(wrap "$(cycle crun bo-crun)")" \
  -n "ctr run" "$C run -b $B/oci-bundle bo-ctr" \
  -n "runc run" "runc run -b $B/oci-bundle bo-runc" \
  -n "crun run" "$(wrap "crun run -b $B/oci-bundle bo-crun")" \
  -n "wrapper alone" "$(wrap true)"
[ -z "$($C list -q)$(runc list -q)$(crun list -q)" ] ||
  { echo "bench_oci.sh: containers left behind" >&2; exit 1; }

jq -r '
  def r1: . * 10 | round / 10;
  (.results | map({(.command): .median}) | add) as $m |
  ($m["wrapper alone"]) as $w |
  "| command | median ms | ÷ runc | ÷ crun (net of wrapper) |",
  "| --- | ---: | ---: | ---: |",
  (["create+start+delete", "run"][] as $k |
    ($m["runc " + $k]) as $runc | ($m["crun " + $k] - $w) as $crun |
    ("ctr", "runc", "crun") as $rt |
    (if $rt == "crun" then $m[$rt + " " + $k] - $w else $m[$rt + " " + $k] end) as $t |
    "| \($rt) \($k) | \($t * 1000 | r1) | \($t / $runc * 100 | round / 100) | \($t / $crun * 100 | round / 100) |")
' "$B/oci.json" | tee "$B/oci.md"

# Each command on its own, ctr against runc (a --prepare before every timed run
# puts both containers in the state the command needs; it is not timed):
# start of a created container, state of a created one, delete of one whose
# command has ended. Writes .bench/oci_commands.json and adds to oci.md.
gone() { echo "$C delete -f bo-ctr >/dev/null 2>&1; runc delete -f bo-runc >/dev/null 2>&1"; }
created="$(gone); $C create -b $B/oci-bundle bo-ctr && runc create -b $B/oci-bundle bo-runc"
ended="$created && $C start bo-ctr && runc start bo-runc && sleep 0.05"
per() { # per NAME PREPARE CTR_ARGS RUNC_ARGS: one hyperfine run of ctr and runc
  hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$B/oci_$1.json" \
    --prepare "bash -c '$2'" -n "ctr $1" "$C $3" -n "runc $1" "runc $4" >&2
}
per start "$created" "start bo-ctr" "start bo-runc"
per state "true" "state bo-ctr" "state bo-runc"
per delete "$ended" "delete -f bo-ctr" "delete -f bo-runc"
bash -c "$(gone)"
jq -s -r '
  def r1: . * 10 | round / 10;
  (map(.results[]) | map({(.command): .median}) | add) as $m |
  "", "| command | ctr ms | runc ms | ctr ÷ runc |", "| --- | ---: | ---: | ---: |",
  (["start", "state", "delete"][] as $k |
    "| \($k) | \($m["ctr " + $k] * 1000 | r1) | \($m["runc " + $k] * 1000 | r1) | \($m["ctr " + $k] / $m["runc " + $k] * 100 | round / 100) |")
' "$B/oci_start.json" "$B/oci_state.json" "$B/oci_delete.json" | tee -a "$B/oci.md"
