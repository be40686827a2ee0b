#!/usr/bin/env bash
# Prints the length of ctr's compiled seccomp filters next to libseccomp's
# (seccomp_export_bpf, the compiler runc and crun use) for the same resolved
# profiles: ctr's default and podman's, on x86_64 (with i386 and x32) and
# aarch64 (with arm), and checks that the programs decide alike.
# Needs gcc and libseccomp-dev (apt-get install gcc libseccomp-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "libseccomp $(dpkg-query -W -f='${Version}' libseccomp-dev 2>/dev/null || echo '?'); instructions per filter"
exec deno run -A scripts/bench_seccomp.ts
