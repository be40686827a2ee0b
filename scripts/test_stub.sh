#!/usr/bin/env bash
# Runs tests/native/stub_harness.c against the stub bytes in ffi/stub_code.ts:
# natively for x86_64, and for aarch64 under qemu-user when a cross compiler
# (aarch64-linux-gnu-gcc) and qemu-aarch64(-static) are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

stub_bin() { # stub_bin ARCH OUT: hex from ffi/stub_code.ts -> raw bytes
  local hex
  hex=$(tr -d ' \n' < ffi/stub_code.ts | sed -n "s/.*[{,]$1:\"\([0-9a-f]*\)\".*/\1/p")
  [ -n "$hex" ] || { echo "FAIL $1: no stub in ffi/stub_code.ts"; return 1; }
  printf '%s' "$hex" | xxd -r -p > "$2"
}

run() { # run ARCH CMD...
  local arch=$1; shift
  echo "== $arch"
  if "$@"; then echo "PASS $arch"; else echo "FAIL $arch"; fail=1; fi
}

if [ "$(uname -m)" = x86_64 ]; then
  stub_bin x86_64 "$tmp/x86_64.bin"
  gcc -O2 -Wall -o "$tmp/harness-x86_64" tests/native/stub_harness.c
  run x86_64 "$tmp/harness-x86_64" "$tmp/x86_64.bin"
elif [ "$(uname -m)" = aarch64 ]; then
  stub_bin aarch64 "$tmp/aarch64.bin"
  gcc -O2 -Wall -o "$tmp/harness-aarch64" tests/native/stub_harness.c
  run aarch64 "$tmp/harness-aarch64" "$tmp/aarch64.bin"
fi

qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
if [ "$(uname -m)" != aarch64 ] && [ -n "$qemu" ] && command -v aarch64-linux-gnu-gcc >/dev/null; then
  stub_bin aarch64 "$tmp/aarch64.bin"
  aarch64-linux-gnu-gcc -static -O2 -Wall -o "$tmp/harness-aarch64" tests/native/stub_harness.c
  run "aarch64 (qemu)" "$qemu" "$tmp/harness-aarch64" "$tmp/aarch64.bin" qemu
else
  echo "SKIP aarch64 (qemu): needs aarch64-linux-gnu-gcc and qemu-aarch64-static"
fi

[ "$fail" = 0 ] && echo "ALL PASS" || echo "SOME FAILED"
exit "$fail"
