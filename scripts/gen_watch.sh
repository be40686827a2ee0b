#!/usr/bin/env bash
# Builds ffi/watch/watch.c, the detached-container watcher, into static ELF
# executables and writes them base64-encoded into ffi/watch_code.ts.
# Needs gcc (x86_64) and gcc-aarch64-linux-gnu (aarch64), plus binutils.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_static_elf.sh
. scripts/_static_elf.sh
static_elf ffi/watch/watch.c ffi/watch_code.ts WATCH_ELF_B64 "The detached-container watcher"
