#!/usr/bin/env bash
# Builds ffi/init/init.c, the init of `run --init`, into static ELF
# executables and writes them base64-encoded into ffi/init_code.ts.
# Needs gcc (x86_64) and gcc-aarch64-linux-gnu (aarch64), plus binutils.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_static_elf.sh
. scripts/_static_elf.sh
static_elf ffi/init/init.c ffi/init_code.ts INIT_ELF_B64 "The init of containers run with --init"
