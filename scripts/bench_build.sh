#!/usr/bin/env bash
# `deno task bench:build` (root): `ctr build` against Debian's buildah, in ONE
# hyperfine run, on the same two-stage, multi-step Dockerfile over the busybox
# test image: a cold build (--no-cache: every step runs) and an unchanged
# rebuild (every step cached). buildah runs with --isolation chroot, --layers
# (its cache) and overlay storage, each tool in its own private store.
#
#   sudo bash scripts/bench_build.sh            RUNS=10 (default)
#
# Writes .bench/build.json and .bench/build.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_build.sh: run as root" >&2; exit 1; }
RUNS=${RUNS:-10}
B=$PWD/.bench
mkdir -p "$B"
. scripts/packages.sh
ensure_packages buildah hyperfine jq busybox-static
DENO=$(bash scripts/deno.sh)
export DENO_NO_UPDATE_CHECK=1
if [ ! -x ./ctr ] || [ -n "$(find main.ts mod.ts lib ffi deno.json -newer ./ctr -print -quit 2>/dev/null)" ]; then
  "$DENO" run -A scripts/build.ts >&2
fi
C=$PWD/ctr

W=$B/build
rm -rf "$W"
mkdir -p "$W/ctx/app" "$W/ctr" "$W/buildah"
chmod 711 "$W/ctr"
for i in 1 2 3 4 5; do seq 1 2000 | sed "s/^/line $i /" >"$W/ctx/app/part$i.txt"; done
cat >"$W/ctx/Dockerfile" <<'EOF'
FROM busybox AS build
WORKDIR /src
COPY app/ ./
RUN cat part*.txt | sort > bundle.txt && wc -l bundle.txt
RUN mkdir -p /out && gzip -c bundle.txt > /out/bundle.gz && cp part1.txt /out/

FROM busybox
ENV APP=/app
COPY --from=build /out $APP
RUN echo "app:x:1000:1000::/home/app:/bin/sh" >> /etc/passwd && mkdir -p /home/app && chown 1000 /home/app
USER app
WORKDIR /home/app
RUN zcat /app/bundle.gz | tail -1 > last.txt
CMD ["cat", "/home/app/last.txt"]
EOF

bash scripts/busybox_image.sh "$W/busybox.tar" >/dev/null
"$C" --root "$W/ctr" load -i "$W/busybox.tar" >/dev/null
cat >"$W/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$W/containers.conf
BH="buildah --root $W/buildah/root --runroot $W/buildah/runroot --storage-driver overlay"
$BH pull -q "docker-archive:$W/busybox.tar" >/dev/null
$BH tag localhost/busybox busybox

CTR_BUILD="$C --root $W/ctr build -q -t bench:ctr $W/ctx"
BH_BUILD="$BH bud -q --isolation chroot --layers --pull=never -t bench:buildah $W/ctx"
# Both must build, and the images must say the same.
$CTR_BUILD >/dev/null
$BH_BUILD >/dev/null
[ "$("$C" --root "$W/ctr" run --rm --pull never bench:ctr)" = "line 5 999" ] ||
  { echo "bench_build.sh: ctr's image is wrong" >&2; exit 1; }

hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$B/build.json" \
  -n "ctr cold (--no-cache)" "$C --root $W/ctr build -q --no-cache -t bench:ctr $W/ctx" \
  -n "buildah cold (--no-cache)" "$BH bud -q --isolation chroot --layers --no-cache --pull=never -t bench:buildah $W/ctx" \
  -n "ctr cached rebuild" "$CTR_BUILD" \
  -n "buildah cached rebuild" "$BH_BUILD"

$BH rmi -af >/dev/null 2>&1 || true
if grep -q " $W/buildah" /proc/self/mountinfo; then
  grep " $W/buildah" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r umount
fi
"$C" --root "$W/ctr" builder prune >/dev/null
[ -z "$(ls "$W/ctr/containers" 2>/dev/null)" ] ||
  { echo "bench_build.sh: build containers left behind" >&2; exit 1; }

jq -r '
  def ms: . * 1000 | round;
  (.results | map({(.command): .median}) | add) as $m |
  "| build | ctr median ms | buildah median ms | ctr ÷ buildah |",
  "| --- | ---: | ---: | ---: |",
  (["cold (--no-cache)", "cached rebuild"][] as $k |
    ($m["ctr " + $k]) as $c | ($m["buildah " + $k]) as $b |
    "| \($k) | \($c | ms) | \($b | ms) | \($c / $b * 100 | round / 100) |")
' "$B/build.json" | tee "$B/build.md"
