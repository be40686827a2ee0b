#!/usr/bin/env bash
# Runs all tests: the README's test command (and CI's, through .ci/run).
#
#   sudo bash scripts/test.sh [deno test options, e.g. --filter run]
#
# Works as root on a fresh Debian with only Node and npm: it installs what the
# tests need (Debian packages; Deno 2.9.6 through npm), builds the single-file
# ./ctr, builds the busybox test root filesystem, and runs `deno test` against
# the built file (CTR_BIN), not against the sources, so the tests check what
# is shipped.
#
# Exit status: deno test's. The last line of output is always
# "N passed, N failed" (", N skipped" added when tests were ignored), taken
# from deno test's own summary line; when there is none (the build failed,
# deno test could not start) it is "0 passed, 1 failed" and the status is 1.
set -euo pipefail
cd "$(dirname "$0")/.."

fail_early() {
  echo "test.sh: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

# ---- Debian packages -------------------------------------------------------
# The list, and a check of each tool right after installing, live in
# scripts/packages.sh: a missing piece stops the run here, naming its package,
# instead of failing one test minutes later.
. scripts/packages.sh
ensure_packages "${TEST_PACKAGES[@]}" ||
  echo "test.sh: could not install every package; the checks below say what is missing" >&2
check_tools TEST_TOOLS || fail_early "a tool the tests need does not work (see above)"

# ---- Deno, the single file, the test rootfs -----------------------------------
DENO=$(bash scripts/deno.sh) || fail_early "no Deno 2.9.6 (scripts/deno.sh failed)"
export DENO_NO_UPDATE_CHECK=1
echo "test.sh: deno $DENO" >&2
"$DENO" run -A scripts/build.ts || fail_early "the build failed (scripts/build.ts)"
export CTR_BIN=$PWD/ctr
export CTR_TEST_ROOTFS=${CTR_TEST_ROOTFS:-/var/lib/ctr-test/busybox}
bash scripts/busybox_rootfs.sh "$CTR_TEST_ROOTFS" ||
  fail_early "cannot build the test root filesystem in $CTR_TEST_ROOTFS"
"$CTR_BIN" version >&2 || fail_early "$CTR_BIN does not start"

# ---- deno test -----------------------------------------------------------------
log=$(mktemp /tmp/ctr-test.XXXXXX)
trap 'rm -f "$log"' EXIT
set +e
"$DENO" test -A tests/ "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# deno test's summary line (colored unless NO_COLOR), e.g.
#   ok | 12 passed (3 steps) | 0 failed | 2 ignored (1s)
#   FAILED | 3 passed | 1 failed (2s)
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -aE '^(ok|FAILED) \| [0-9]+ passed' | tail -1 || true)
if [ -z "$summary" ]; then
  echo "test.sh: no summary line from deno test (status $status)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
count() { # count WORD: the number before WORD in the summary, 0 when absent
  { grep -oE "[0-9]+ $1" <<<"$summary" || echo 0; } | head -1 | grep -oE '^[0-9]+'
}
passed=$(count passed)
failed=$(count failed)
ignored=$(count ignored)
line="$passed passed, $failed failed"
[ "$ignored" -gt 0 ] && line+=", $ignored skipped"
echo "$line"
# A summary saying something failed must never end in success.
if [ "$status" = 0 ] && [ "$failed" -gt 0 ]; then exit 1; fi
exit "$status"
