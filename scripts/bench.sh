#!/usr/bin/env bash
# `deno task bench` (root): start-to-exit latency of /bin/true in a container.
#
#   sudo bash scripts/bench.sh            RUNS=50 (default), PODMAN=1 adds podman rows
#
# Compares `ctr run --rm` with `runc run` and `crun run` on an OCI bundle of
# the same busybox root filesystem, `ctr run --rm IMAGE` of that tree imported
# as an image (overlay of the stored layer), plus an empty `deno run` (the floor under
# anything written for Deno), all in ONE hyperfine run so that every row sees
# the same machine state. Writes .bench/results.json (hyperfine's) and
# .bench/results.md (the table the README quotes).
#
# crun 1.x refuses a hybrid cgroup host: there it runs in a private mount
# namespace (scripts/_bench.sh), the wrapper alone is timed as its own row,
# and crun's ratios use crun's time minus the wrapper's.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-50}
B=$PWD/.bench
mkdir -p "$B"

# ---- tools -------------------------------------------------------------------
. scripts/_bench.sh
bench_prepare runc crun hyperfine jq busybox-static ${PODMAN:+podman}

# ---- the root filesystem, as a directory for ctr and an OCI bundle -----------
bench_bundle "$B/rootfs" "$B/bundle"
echo 'Deno.exit(0);' >"$B/empty.ts"

leftovers() {
  local r c
  r=$(runc list -q 2>/dev/null || true)
  c=$(crun list -q 2>/dev/null || true)
  [ -z "$r$c" ] || { echo "bench.sh: runtime state left behind: runc [$r] crun [$c]" >&2; return 1; }
}
for id in bench-runc bench-crun; do
  runc delete -f "$id" >/dev/null 2>&1 || true
  crun delete -f "$id" >/dev/null 2>&1 || true
done

# ---- the rows ------------------------------------------------------------------
names=() cmds=()
row() { names+=("$1"); cmds+=("$2"); }
row "ctr run --rm" "./ctr run --rm --rootfs .bench/rootfs /bin/true"
# The same tree as an image in a private store: an overlay of its stored layer.
CR=$B/ctr-root
if ! ./ctr --root "$CR" image inspect ctr-bench-bb:latest >/dev/null 2>&1; then
  tar -C "$B/rootfs" -cf "$B/rootfs.tar" .
  ./ctr --root "$CR" import "$B/rootfs.tar" ctr-bench-bb:latest >/dev/null
fi
row "ctr run --rm IMAGE" "./ctr --root $CR run --rm --network none ctr-bench-bb /bin/true"
row "runc run" "runc run -b $B/bundle bench-runc"
row "crun run" "$(in_v1ns "crun run -b $B/bundle bench-crun")"
row "deno run empty.ts" "$DENO run -A --no-config --no-lock $B/empty.ts"
[ "$HYBRID" = 1 ] && row "mount-namespace wrapper alone" "$(in_v1ns true)"

# Optional podman rows (PODMAN=1), with all of podman's storage under .bench.
# podman asks the runtime for large RLIMIT_NOFILE/NPROC by default, which a
# root without CAP_SYS_RESOURCE cannot grant: ask for small limits.
made=()
if [ -n "${PODMAN:-}" ]; then
  PD=$B/podman
  mkdir -p "$PD"
  for d in /var/lib/containers /run/containers; do [ -e "$d" ] || made+=("$d"); done
  printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$PD/containers.conf"
  export CONTAINERS_CONF=$PD/containers.conf
  P="podman --root $PD/root --runroot $PD/runroot --tmpdir $PD/tmp --events-backend file --cgroup-manager cgroupfs"
  if ! $P image exists localhost/ctr-bench-bb:latest; then
    tar -C "$B/rootfs" -cf "$PD/rootfs.tar" .
    $P import "$PD/rootfs.tar" localhost/ctr-bench-bb:latest >/dev/null
  fi
  PARGS="--rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 localhost/ctr-bench-bb:latest /bin/true"
  row "podman run --rm (runc)" "$P run --runtime runc $PARGS"
  row "podman run --rm (crun)" "$(in_v1ns "$P run --runtime crun $PARGS")"
fi

args=()
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --style basic --warmup 5 --runs "$RUNS" --export-json "$B/results.json" "${args[@]}"
leftovers

if [ -n "${PODMAN:-}" ]; then
  [ -z "$($P ps -aq)" ] || { echo "bench.sh: podman containers left behind" >&2; exit 1; }
  # containers/storage leaves a private bind mount of its overlay directory.
  if mountpoint -q "$PD/root/overlay"; then umount "$PD/root/overlay"; fi
  for d in "${made[@]}"; do rm -rf "$d"; done
fi

# ---- the table -------------------------------------------------------------------
# Medians and means in ms; ratios are this row's median over runc's and over
# crun's (crun's net of its wrapper when it needed one).
table=$(jq -r --argjson hybrid "$HYBRID" '
  def r2: . * 100 | round / 100;
  (.results | map({(.command): .}) | add) as $r |
  ($r["runc run"].median) as $runc |
  (if $hybrid == 1 then $r["crun run"].median - $r["mount-namespace wrapper alone"].median
   else $r["crun run"].median end) as $crun |
  "| command | median ms | mean ms | ÷ runc | ÷ crun |",
  "| --- | ---: | ---: | ---: | ---: |",
  (.results[] |
    "| \(.command) | \(.median * 1000 | r2) | \(.mean * 1000 | r2) | \(.median / $runc | r2) | \(.median / $crun | r2) |"),
  (if $hybrid == 1 then
    "| crun run, net of the wrapper (the ÷ crun reference) | \($crun * 1000 | r2) | \(($r["crun run"].mean - $r["mount-namespace wrapper alone"].mean) * 1000 | r2) | \($crun / $runc | r2) | 1 |"
   else empty end),
  "",
  "ctr minus empty deno: \(($r["ctr run --rm"].median - $r["deno run empty.ts"].median) * 1000 | r2) ms (medians)",
  (if $r["podman run --rm (runc)"] then
    "ctr run --rm IMAGE ÷ podman run --rm (runc): \($r["ctr run --rm IMAGE"].median / $r["podman run --rm (runc)"].median | r2)"
   else empty end)
' "$B/results.json")

{
  echo "Start-to-exit latency of /bin/true, hyperfine -N, $RUNS runs after 5 warmups:"
  echo
  echo "$table"
  echo
  [ "$HYBRID" = 1 ] && echo "crun cannot run on this hybrid cgroup host as is; it ran in a private mount namespace without /sys/fs/cgroup/unified (\`unshare -m ... umount ... && exec crun ...\`), and that wrapper alone is its own row."
  echo "Host: kernel $(uname -r), $(nproc) cpus; $(runc --version | head -1); $(crun --version | head -1); deno $("$DENO" --version | head -1 | cut -d' ' -f2); ctr: $(head -c 2 ./ctr | grep -q '#!' && echo self-extracting || echo 'deno compile')."
} >"$B/results.md"
echo
cat "$B/results.md"
