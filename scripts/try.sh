#!/usr/bin/env bash
# The README's first command: on a fresh Debian (root, Node and npm only),
# set up what ctr needs and open a shell in a container.
#   sudo bash scripts/try.sh [COMMAND...]     (default: sh)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "try.sh: run as root (sudo bash scripts/try.sh)" >&2; exit 1; }
DENO=$(bash scripts/deno.sh)
[ -x ./ctr ] || "$DENO" run -A scripts/build.ts >&2
ROOTFS=/var/lib/ctr/rootfs/busybox
bash scripts/busybox_rootfs.sh "$ROOTFS" >&2
if [ $# -eq 0 ]; then set -- sh; fi
tty=()
if [ -t 0 ]; then tty=(-it); fi
exec ./ctr run --rm "${tty[@]}" --hostname box --rootfs "$ROOTFS" "$@"
