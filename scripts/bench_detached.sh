#!/usr/bin/env bash
# `deno task bench:detached` (root): what an idle detached container costs,
# and how long `ps` takes with many of them, for ctr and for podman, in the
# same run on the same machine.
#
#   sudo bash scripts/bench_detached.sh          N=50 containers (default)
#
# Memory: the proportional set size (PSS, /proc/PID/smaps_rollup) of what
# stays behind per container besides the container's own process: ctr's
# watcher (ffi/watch/watch.c), podman's conmon. The container (`sleep`) is
# the same for both and not counted.
# Time: hyperfine of `ctr ps` and `podman ps` with N running containers.
# Writes .bench/detached.md.
# $C, $P and $PARGS are command lines, split into words on purpose.
# shellcheck disable=SC2086,SC2016
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_detached.sh: run as root" >&2; exit 1; }
N=${N:-50}
B=$PWD/.bench
mkdir -p "$B"
. scripts/_bench.sh
bench_prepare hyperfine jq busybox-static podman runc
bash scripts/busybox_rootfs.sh "$B/rootfs"

S=$B/detached-store
ST=$B/detached-state
rm -rf "$S" "$ST"
mkdir -p "$S" && chmod 711 "$S"
C="./ctr --root $S --state-dir $ST"

PD=$B/podman
mkdir -p "$PD"
made=()
for d in /var/lib/containers /run/containers; do [ -e "$d" ] || made+=("$d"); done
printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n' >"$PD/containers.conf"
export CONTAINERS_CONF=$PD/containers.conf
P="podman --root $PD/root --runroot $PD/runroot --tmpdir $PD/tmp --events-backend file --cgroup-manager cgroupfs"

cleanup() {
  $C ps -aq --no-trunc 2>/dev/null | xargs -r $C rm -f >/dev/null 2>&1 || true
  $P rm -af -t 0 >/dev/null 2>&1 || true
  for d in "${made[@]}"; do rm -rf "$d"; done
  if mountpoint -q "$PD/root/overlay"; then umount "$PD/root/overlay"; fi
}
trap cleanup EXIT

pss_kb() { # pss_kb PID...: the sum of their PSS in kB
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
  done
  echo "$t"
}

# ---- ctr -----------------------------------------------------------------------
t0=$(date +%s%N)
for _ in $(seq "$N"); do $C run -d --rootfs "$B/rootfs" sleep 100000 >/dev/null; done
ctr_start_ms=$(( ($(date +%s%N) - t0) / 1000000 / N ))
mapfile -t watchers < <(jq -r '.watcher.pid' "$ST"/*.json)
[ "${#watchers[@]}" = "$N" ] || { echo "expected $N watchers, got ${#watchers[@]}" >&2; exit 1; }
ctr_pss=$(pss_kb "${watchers[@]}")

# ---- podman --------------------------------------------------------------------
if ! $P image exists localhost/bench-bb:latest; then
  tar -C "$B/rootfs" -cf "$PD/rootfs.tar" .
  $P import "$PD/rootfs.tar" localhost/bench-bb:latest >/dev/null
fi
PARGS="--network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 localhost/bench-bb:latest sleep 100000"
t0=$(date +%s%N)
for _ in $(seq "$N"); do $P run -d $PARGS >/dev/null; done
podman_start_ms=$(( ($(date +%s%N) - t0) / 1000000 / N ))
mapfile -t conmons < <(pgrep -x conmon)
podman_pss=$(pss_kb "${conmons[@]}")

# ---- ps ------------------------------------------------------------------------
hyperfine -N --warmup 3 --runs 20 --export-json "$B/detached-ps.json" \
  -n "ctr ps ($N running)" "$C ps" \
  -n "podman ps ($N running)" "$P ps" >&2

ctr_ps=$(jq '.results[0].mean * 1000' "$B/detached-ps.json")
podman_ps=$(jq '.results[1].mean * 1000' "$B/detached-ps.json")
{
  echo "| $N idle detached containers | ctr | podman (conmon) | ratio |"
  echo "|---|---|---|---|"
  printf '| PSS left per container (kB) | %d | %d | %.3f |\n' $((ctr_pss / N)) $((podman_pss / ${#conmons[@]})) \
    "$(echo "scale=4; ($ctr_pss / $N) / ($podman_pss / ${#conmons[@]})" | bc -l)"
  printf '| `ps` (ms, mean) | %.1f | %.1f | %.2f |\n' "$ctr_ps" "$podman_ps" \
    "$(echo "scale=4; $ctr_ps / $podman_ps" | bc -l)"
  printf '| `run -d` (ms per container, sequential) | %d | %d | %.2f |\n' "$ctr_start_ms" \
    "$podman_start_ms" "$(echo "scale=4; $ctr_start_ms / $podman_start_ms" | bc -l)"
} | tee "$B/detached.md"
