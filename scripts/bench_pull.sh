#!/usr/bin/env bash
# `deno task bench:pull` (root): pulling a multi-layer image from a registry on
# 127.0.0.1, and extracting one layer.
#
#   sudo bash scripts/bench_pull.sh        RUNS=10 (default)
#
# 1. Starts Debian's docker-registry on a free loopback port with its storage
#    under .bench/pull, builds a five-layer image with ctr (the busybox root
#    filesystem, then layers of generated files: 3000 small text files, 24
#    files of 1 MiB of base64 text, a copy of the busybox tree, one 16 MiB
#    file) and pushes it there.
# 2. One hyperfine run: `ctr pull` into an empty store (every blob fetched,
#    verified and every layer extracted) against `podman pull` into a private
#    store emptied before each run (fetched, verified, extracted) and
#    `skopeo copy` of the same image to a `dir:` directory (fetched and
#    verified, nothing extracted).
# 3. scripts/bench_extract.ts: ctr's extraction of the largest layer against
#    `tar -xzf` of the same blob, alternating in one process.
# Writes .bench/pull.json, .bench/extract.json and .bench/pull.md; removes
# the registry, its storage and the stores when done.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_pull.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-10}
B=$PWD/.bench
P=$B/pull
mkdir -p "$B"

. scripts/_bench.sh
bench_prepare docker-registry skopeo podman hyperfine jq busybox-static

rm -rf "$P"
mkdir -p "$P/registry" "$P/ctx"
reg_pid=
made=()
for d in /var/lib/containers /run/containers; do [ -e "$d" ] || made+=("$d"); done
cleanup() {
  [ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  # containers/storage leaves a private bind mount of its overlay directory.
  if mountpoint -q "$P/podman/root/overlay"; then umount "$P/podman/root/overlay"; fi
  for d in "${made[@]}"; do rm -rf "$d"; done
  # Nothing here is mounted after a build; never remove a tree that holds a mount.
  if grep -q " $P/" /proc/self/mountinfo; then
    echo "bench_pull.sh: $P still holds mounts; left in place" >&2
  else
    rm -rf "$P"
  fi
}
trap cleanup EXIT

# ---- the registry ------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$P/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $P/registry/storage
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$P/registry/config.yml" >"$P/registry/log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/v2/" >/dev/null || { echo "bench_pull.sh: the registry did not start" >&2; exit 1; }

# ---- the image ----------------------------------------------------------------
C="./ctr --root $P/build-root"
bash scripts/busybox_rootfs.sh "$B/rootfs" >/dev/null
tar -C "$B/rootfs" -cf "$P/rootfs.tar" .
$C import "$P/rootfs.tar" bench-bb:latest >/dev/null
mkdir -p "$P/ctx/small" "$P/ctx/text" "$P/ctx/big"
for i in $(seq 3000); do echo "file $i of the small-file layer" >"$P/ctx/small/f$i.txt"; done
for i in $(seq 24); do head -c 786432 /dev/urandom | base64 -w 76 >"$P/ctx/text/t$i.txt"; done
head -c 16777216 /dev/urandom >"$P/ctx/big/blob"
cp -a "$B/rootfs" "$P/ctx/tree"
cat >"$P/ctx/Dockerfile" <<'EOF'
FROM bench-bb:latest
COPY small/ /small/
COPY text/ /text/
COPY tree/ /tree/
COPY big/ /big/
EOF
IMG=127.0.0.1:$port/bench/multi:1
$C build -q -t "$IMG" "$P/ctx" >/dev/null
$C push "$IMG" >/dev/null

# ---- pull ----------------------------------------------------------------------
PD=$P/podman
mkdir -p "$PD"
printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$PD/containers.conf"
export CONTAINERS_CONF=$PD/containers.conf
POD="podman --root $PD/root --runroot $PD/runroot --tmpdir $PD/tmp --storage-driver overlay --events-backend file --cgroup-manager cgroupfs"
hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$B/pull.json" \
  -n "ctr pull" --prepare "rm -rf $P/pull-root" "./ctr --root $P/pull-root pull -q $IMG" \
  -n "podman pull" --prepare "$POD rmi -a -f" "$POD pull -q --tls-verify=false $IMG" \
  -n "skopeo copy to dir:" --prepare "rm -rf $P/skopeo" \
  "skopeo copy -q --src-tls-verify=false docker://$IMG dir:$P/skopeo"

# ---- extraction of the largest layer -------------------------------------------
rm -rf "$P/skopeo"
skopeo copy -q --src-tls-verify=false "docker://$IMG" "dir:$P/skopeo"
layer=$(jq -r '.layers | max_by(.size) | .digest | sub("sha256:"; "")' "$P/skopeo/manifest.json")
"$DENO" run -A scripts/bench_extract.ts "$P/skopeo/$layer" "$P/extract" "$RUNS" >"$B/extract.json"

# ---- the table -------------------------------------------------------------------
layers=$(jq '.layers | length' "$P/skopeo/manifest.json")
mib=$(jq '[.layers[].size] | add / 1048576 * 10 | round / 10' "$P/skopeo/manifest.json")
{
  echo "Pull of a $layers-layer image ($mib MiB compressed) from docker-registry on 127.0.0.1, hyperfine -N, $RUNS runs:"
  echo
  jq -r '
    def r1: . * 10 | round / 10;
    (.results | map({(.command): .}) | add) as $r |
    ($r["skopeo copy to dir:"].median) as $s | ($r["podman pull"].median) as $p |
    "| command | median ms | ÷ podman pull | ÷ skopeo copy |",
    "| --- | ---: | ---: | ---: |",
    (.results[] | "| \(.command) | \(.median * 1000 | r1) | \(.median / $p * 100 | round / 100) | \(.median / $s * 100 | round / 100) |")
  ' "$B/pull.json"
  echo
  jq -r '"Extraction of its largest layer (\(.layerBytes / 1048576 * 10 | round / 10) MiB gzip), medians of \(.runs): ctr \(.ctrMs) ms, tar -xzf \(.tarMs) ms, ctr ÷ tar \(.ctrOverTar)."' "$B/extract.json"
  echo
  echo "Host: kernel $(uname -r), $(nproc) cpus; $(skopeo --version); $(podman --version); $(tar --version | head -1); deno $("$DENO" --version | head -1 | cut -d' ' -f2)."
} >"$B/pull.md"
echo
cat "$B/pull.md"
