#!/usr/bin/env bash
# `deno task bench:net` (root): what a container's network costs.
#  1. ctr run --rm /bin/true with and without --net, in one hyperfine run: the difference is the
#     time to set up and tear down the veth, address, routes, NAT and lease.
#  2. Bulk TCP throughput from the host to a container over the bridge and veth (1 GiB).
# Traffic goes only to the container's own address.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_net.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-30}
B=$PWD/.bench
mkdir -p "$B"
DENO=$(bash scripts/deno.sh)
[ -x ./ctr ] || "$DENO" run -A scripts/build.ts
bash scripts/busybox_rootfs.sh "$B/rootfs"
had_bridge=0; ip link show ctr0 >/dev/null 2>&1 && had_bridge=1

hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$B/net.json" \
  -n "ctr run --rm (lo only)" "./ctr --root $B/store run --rm --rootfs $B/rootfs /bin/true" \
  -n "ctr run --rm --net" "./ctr --root $B/store run --rm --net --rootfs $B/rootfs /bin/true" >&2

pidfile=$(mktemp)
./ctr --root "$B/store" run --rm --net --pidfile "$pidfile" --rootfs "$B/rootfs" sh -c 'nc -l -p 5001 > /dev/null' &
for _ in $(seq 100); do [ -s "$pidfile" ] && break; sleep 0.05; done
pid=$(cat "$pidfile")
ip=$(./ctr enter "$pid" --ns net ip -o -4 addr show eth0 | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')
tp=$("$DENO" run -A scripts/net_throughput.ts "$ip" 5001 "${MIB:-1024}")
wait || true
rm -f "$pidfile"
[ "$had_bridge" = 1 ] || ip link del ctr0 2>/dev/null || true

jq -r '
  (.results | map({(.command): .median}) | add) as $m |
  "| command | median ms |", "| --- | ---: |",
  (.results[] | "| \(.command) | \(.median*1000*100|round/100) |"),
  "",
  "network set-up and tear-down: \((($m["ctr run --rm --net"] - $m["ctr run --rm (lo only)"])*1000*100|round/100)) ms, \((($m["ctr run --rm --net"] - $m["ctr run --rm (lo only)"]) / $m["ctr run --rm --net"] * 100 | round))% of the whole run"
' "$B/net.json" | tee "$B/net.md"
echo "bulk TCP host -> container over the veth: $tp" | tee -a "$B/net.md"
