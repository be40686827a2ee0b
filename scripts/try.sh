#!/usr/bin/env bash
# The README's first command: on a fresh Debian (root, Node and npm only), set
# up what ctr needs (Deno via npm, busybox-static, the single-file ./ctr, a
# small busybox image loaded into the store) and open a shell in a container.
#   sudo bash scripts/try.sh [COMMAND...]     (default: the image's sh)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "try.sh: run as root (sudo bash scripts/try.sh)" >&2; exit 1; }
. scripts/packages.sh
# The small local image is made from Debian's busybox-static.
ensure_packages busybox-static
DENO=$(bash scripts/deno.sh)
# Built once, and again when a source file is newer than the built file.
if [ ! -x ./ctr ] || [ -n "$(find main.ts mod.ts lib ffi -newer ./ctr -name '*.ts' -print -quit)" ]; then
  "$DENO" run -A scripts/build.ts >&2
fi
if ! ./ctr image inspect busybox >/dev/null 2>&1; then
  tar=$(mktemp --suffix=.tar)
  bash scripts/busybox_image.sh "$tar" >&2
  ./ctr load -i "$tar" >&2
  rm -f "$tar"
fi
tty=()
if [ -t 0 ]; then tty=(-it); fi
exec ./ctr run --rm "${tty[@]}" --hostname box busybox "$@"
