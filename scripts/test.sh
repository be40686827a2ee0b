#!/usr/bin/env bash
# The README's "run all tests" command (root, a fresh Debian with Node and npm):
# installs what the tests need, builds the single-file ./ctr, builds the test
# root filesystem, runs `deno test` against the built file, and ends with a
# line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in busybox-static:/bin/busybox util-linux:/usr/bin/script iproute2:/usr/sbin/ip gcc:/usr/bin/gcc \
  xxd:/usr/bin/xxd qemu-user-static:/usr/bin/qemu-aarch64-static gcc-aarch64-linux-gnu:/usr/bin/aarch64-linux-gnu-gcc; do
  [ -e "${pair#*:}" ] || need+=("${pair%%:*}")
done
if ! dpkg -s busybox-static >/dev/null 2>&1; then need+=(busybox-static); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2 ||
    echo "test.sh: some packages could not be installed; the tests that need them will say so" >&2
fi

DENO=$(bash scripts/deno.sh) || { echo "0 passed, 1 failed"; exit 1; }
export DENO_NO_UPDATE_CHECK=1
"$DENO" run -A scripts/build.ts || { echo "0 passed, 1 failed"; exit 1; }
export CTR_TEST_ROOTFS=${CTR_TEST_ROOTFS:-/var/lib/ctr-test/busybox}
bash scripts/busybox_rootfs.sh "$CTR_TEST_ROOTFS" || { echo "0 passed, 1 failed"; exit 1; }
export CTR_BIN=$PWD/ctr

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$DENO" test -A tests/ "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# deno test's summary: "ok | 12 passed (3 steps) | 0 failed | 2 ignored (0 steps)"
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1)
if [ -z "$summary" ]; then
  echo "0 passed, 1 failed"
  exit 1
fi
passed=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
failed=$(echo "$summary" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
skipped=$(echo "$summary" | grep -oE '[0-9]+ ignored' | grep -oE '[0-9]+' || echo 0)
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit "$status"
