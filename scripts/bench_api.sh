#!/usr/bin/env bash
# The Docker Engine API, three servers, one client (root):
#
#   sudo bash scripts/bench_api.sh          RUNS=30 (default), CONCURRENT=50
#
# Debian's docker CLI runs `docker run --rm --network none busybox true`
# against `ctr serve`, podman's service (`podman system service`, its
# docker-compatible socket) and dockerd, each started here with private
# directories and a socket under .bench/api, all rows in ONE hyperfine run
# (the same machine state), beside `runc run` and `crun run` of the same
# busybox tree as an OCI bundle (the per-container floor of a runtime alone),
# and against scripts/_null_engine.ts, which answers the same requests at once
# doing nothing: the client's own share of a run, subtracted from ctr's.
# Then CONCURRENT such runs at once through each server (xargs -P), timed as
# a whole. Every server gets the same docker-save busybox archive. dockerd and
# podman use runc (crun refuses a hybrid cgroup host; see _bench.sh).
# Writes .bench/api.json, .bench/api_share.json, .bench/api_concurrent.json and
# .bench/api.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_api.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-30}
CONCURRENT=${CONCURRENT:-50}
B=$PWD/.bench
A=$B/api
mkdir -p "$B"

. scripts/_bench.sh
bench_prepare docker.io podman runc crun hyperfine jq busybox-static

bench_bundle "$B/rootfs" "$B/bundle"
rm -rf "$A"
mkdir -p "$A"
bash scripts/busybox_image.sh "$A/busybox.tar" >/dev/null

# ---- the servers ------------------------------------------------------------------
pids=()
made=()
for d in /var/lib/containers /run/containers; do [ -e "$d" ] || made+=("$d"); done
cleanup() {
  local p
  for s in ctr podman docker; do
    [ -S "$A/$s.sock" ] || continue
    c=$(docker -H "unix://$A/$s.sock" ps -aq 2>/dev/null || true)
    [ -z "$c" ] || docker -H "unix://$A/$s.sock" rm -f $c >/dev/null 2>&1 || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  done
  # dockerd's and podman's storage leave mounts below their directories.
  { grep -o " $A/[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for d in "${made[@]}"; do rm -rf "$d"; done
  rm -rf "$A/ctr-root" "$A/docker" "$A/podman"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

./ctr --root "$A/ctr-root" --state-dir "$A/ctr-state" serve -H "unix://$A/ctr.sock" 2>"$A/ctr.log" &
pids+=($!)
# The client's own share of a run: the same requests answered at once by a server that does nothing.
deno run -A --quiet scripts/_null_engine.ts "$A/null.sock" &
pids+=($!)
# podman asks the runtime for large RLIMIT_NOFILE/NPROC by default, which a root
# without CAP_SYS_RESOURCE cannot grant: ask for small ones.
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
  >"$A/containers.conf"
CONTAINERS_CONF=$A/containers.conf podman --root "$A/podman/root" --runroot "$A/podman/run" \
  --tmpdir "$A/podman/tmp" --runtime runc --cgroup-manager cgroupfs --events-backend file \
  system service --time=0 "unix://$A/podman.sock" 2>"$A/podman.log" &
pids+=($!)
dockerd --data-root "$A/docker/data" --exec-root "$A/docker/exec" --pidfile "$A/docker/docker.pid" \
  -H "unix://$A/docker.sock" --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --bridge=none --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs --log-level error \
  2>"$A/docker.log" &
pids+=($!)
for s in ctr podman docker; do
  for _ in $(seq 300); do docker -H "unix://$A/$s.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
  docker -H "unix://$A/$s.sock" load -i "$A/busybox.tar" >/dev/null
done
for _ in $(seq 300); do docker -H "unix://$A/null.sock" version >/dev/null 2>&1 && break; sleep 0.2; done

# ---- one run at a time ---------------------------------------------------------------
for id in bench-runc bench-crun; do
  runc delete -f "$id" >/dev/null 2>&1 || true
  crun delete -f "$id" >/dev/null 2>&1 || true
done
RUN="run --rm --network none busybox true"
names=() cmds=()
row() { names+=("$1"); cmds+=("$2"); }
row "docker → ctr serve" "docker -H unix://$A/ctr.sock $RUN"
row "docker → podman service" "docker -H unix://$A/podman.sock $RUN"
row "docker → dockerd" "docker -H unix://$A/docker.sock $RUN"
row "docker version → ctr serve (the client alone)" "docker -H unix://$A/ctr.sock version"
row "docker → a server that does nothing (the client's own run)" "docker -H unix://$A/null.sock $RUN"
row "runc run" "runc run -b $B/bundle bench-runc"
row "crun run" "$(in_v1ns "crun run -b $B/bundle bench-crun")"
[ "$HYBRID" = 1 ] && row "mount-namespace wrapper alone" "$(in_v1ns true)"
args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$B/api.json" "${args[@]}"

# ---- ctr's share, in turns -------------------------------------------------------------------
# The rows subtracted from each other, timed round by round (scripts/_interleave.ts): hyperfine
# runs one row after the other, and this machine's load drifts between rows.
shares=("ctr=docker -H unix://$A/ctr.sock $RUN" "client=docker -H unix://$A/null.sock $RUN"
  "crun=$(in_v1ns "crun run -b $B/bundle bench-crun")")
[ "$HYBRID" = 1 ] && shares+=("wrapper=$(in_v1ns true)")
deno run -A --quiet scripts/_interleave.ts "$RUNS" 3 "${shares[@]}" >"$B/api_share.json"

# ---- CONCURRENT at once ------------------------------------------------------------------
cnames=() ccmds=()
for s in ctr podman docker; do
  cnames+=("$CONCURRENT × docker run --rm → $s")
  ccmds+=("bash -c 'seq $CONCURRENT | xargs -P $CONCURRENT -I{} docker -H unix://$A/$s.sock $RUN'")
done
cargs=()
for i in "${!cnames[@]}"; do cargs+=(-n "${cnames[$i]}" "${ccmds[$i]}"); done
hyperfine -N --style basic --warmup 1 --runs 3 --export-json "$B/api_concurrent.json" "${cargs[@]}"
for s in ctr podman docker; do
  [ -z "$(docker -H "unix://$A/$s.sock" ps -aq)" ] || { echo "bench_api.sh: $s kept containers" >&2; exit 1; }
done

# ---- the table -----------------------------------------------------------------------------
table=$(jq -r --argjson hybrid "$HYBRID" '
  def r2: . * 100 | round / 100;
  (.results | map({(.command): .}) | add) as $r |
  ($r["docker → ctr serve"].median) as $ctr |
  (if $hybrid == 1 then $r["crun run"].median - $r["mount-namespace wrapper alone"].median
   else $r["crun run"].median end) as $crun |
  "| command | median ms | mean ms | ÷ ctr serve |",
  "| --- | ---: | ---: | ---: |",
  (.results[] | "| \(.command) | \(.median * 1000 | r2) | \(.mean * 1000 | r2) | \(.median / $ctr | r2) |"),
  (if $hybrid == 1 then "| crun run, net of the wrapper | \($crun * 1000 | r2) | | \($crun / $ctr | r2) |" else empty end),
  "",
  "In this table: ctr serve per container, net of the client (the run minus the same run against a server that does nothing): \(($ctr - $r["docker → a server that does nothing (the client'"'"'s own run)"].median) * 1000 | r2) ms (minus `docker version`: \(($ctr - $r["docker version → ctr serve (the client alone)"].median) * 1000 | r2) ms); crun run: \($crun * 1000 | r2) ms"
' "$B/api.json")
share=$(jq -r '
  def r2: . * 100 | round / 100;
  (.ctr.median - .client.median) as $ctr |
  (.crun.median - (.wrapper.median // 0)) as $crun |
  "In turns (\(.ctr.runs) rounds, each row once a round): ctr serve per container, net of the client: \($ctr | r2) ms (\(.ctr.median | r2) - \(.client.median | r2)); crun run: \($crun | r2) ms; ctr ÷ crun: \($ctr / $crun | r2)"
' "$B/api_share.json")
ctable=$(jq -r '
  def r2: . * 100 | round / 100;
  "| command | median s | per container ms |",
  "| --- | ---: | ---: |",
  (.results[] | "| \(.command) | \(.median | r2) | \(.median * 1000 / '"$CONCURRENT"' | r2) |")
' "$B/api_concurrent.json")
{
  echo "docker run --rm --network none busybox true through each Engine API server, hyperfine -N, $RUNS runs after 3 warmups:"
  echo
  echo "$table"
  echo
  echo "$share"
  echo
  echo "$CONCURRENT runs at once (xargs -P $CONCURRENT), 3 runs:"
  echo
  echo "$ctable"
  echo
  echo "Host: kernel $(uname -r), $(nproc) cpus; $(docker --version); $(podman --version); $(dockerd --version); $(runc --version | head -1); $(crun --version | head -1)."
} >"$B/api.md"
echo
cat "$B/api.md"
