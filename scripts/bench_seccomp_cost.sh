#!/usr/bin/env bash
# The cost of a seccomp filter per system call: a tight loop of cheap calls
# (getppid, and a mix of read/write on a pipe, clock_gettime and getpid) in a
# container, with the default filter and unconfined, under ctr and under
# podman (with runc and with crun, each applying podman's default profile
# through libseccomp), in one run. Prints nanoseconds per call and the
# filter's extra cost.
#
#   sudo bash scripts/bench_seccomp_cost.sh [CALLS]      (default 5,000,000)
#
# Needs root, gcc (a static loop program), busybox-static (the root
# filesystem) and, for its rows, podman with runc and crun. crun refuses a
# hybrid cgroup host (a cgroup2 mount with controllers beside v1 ones), so
# its rows run in a private mount namespace without /sys/fs/cgroup/unified.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_seccomp_cost.sh: run as root" >&2; exit 1; }
N=${1:-5000000}
DENO=$(bash scripts/deno.sh)
[ -x ./ctr ] || "$DENO" run -A scripts/build.ts >&2
WORK=$(mktemp -d /tmp/ctr-bench-seccomp.XXXXXX)
cleanup() {
  if grep -qF " $WORK" /proc/self/mountinfo; then echo "leaving $WORK: still mounted" >&2; return; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
ROOTFS=$WORK/rootfs
bash scripts/busybox_rootfs.sh "$ROOTFS" >&2
cat >"$WORK/loop.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000000;
  int p[2];
  char b = 0;
  if (pipe(p)) return 1;
  double t0 = now();
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  double t1 = now();
  struct timespec ts;
  for (long i = 0; i < n / 4; i++) {
    syscall(SYS_write, p[1], &b, 1);
    syscall(SYS_read, p[0], &b, 1);
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    syscall(SYS_getpid);
  }
  double t2 = now();
  printf("%.1f %.1f\n", (t1 - t0) / n, (t2 - t1) / (n / 4 * 4));
  return 0;
}
C
gcc -static -O2 -o "$ROOTFS/loop" "$WORK/loop.c"

results=()
row() { # row NAME COMMAND... : runs the loop 3 times, keeps the fastest
  local name=$1 best="" out g m
  shift
  for _ in 1 2 3; do
    if ! out=$("$@" 2>"$WORK/err"); then
      echo "$name: failed: $(tail -1 "$WORK/err")" >&2
      return 0
    fi
    read -r g m <<<"$(tail -1 <<<"$out")"
    if [ -z "$best" ] || awk "BEGIN{exit !($g < ${best% *})}"; then best="$g $m"; fi
  done
  results+=("$name|$best")
}

row "ctr, default filter" ./ctr run --rm --rootfs "$ROOTFS" /loop "$N"
row "ctr, unconfined" ./ctr run --rm --security-opt seccomp=unconfined --rootfs "$ROOTFS" /loop "$N"

if command -v podman >/dev/null; then
  P=$WORK/podman
  mkdir -p "$P"
  pod() {
    podman --root "$P/root" --runroot "$P/run" --cgroup-manager cgroupfs --events-backend file \
      "$@"
  }
  pod import "$(cd "$ROOTFS" && tar -c . | gzip >"$WORK/rootfs.tgz" && echo "$WORK/rootfs.tgz")" \
    localhost/bench >/dev/null
  PODRUN=(run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
  if command -v runc >/dev/null; then
    row "podman + runc, default profile" pod --runtime runc "${PODRUN[@]}" localhost/bench /loop "$N"
    row "podman + runc, unconfined" pod --runtime runc "${PODRUN[@]}" \
      --security-opt seccomp=unconfined localhost/bench /loop "$N"
  fi
  if command -v crun >/dev/null; then
    # crun wants a cgroup host that is v1 or v2, not both: hide the hybrid cgroup2 mount.
    crunpod() {
      unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' \
        crunpod podman --root "$P/root" --runroot "$P/run" --cgroup-manager cgroupfs \
        --events-backend file --runtime crun "$@"
    }
    row "podman + crun, default profile" crunpod "${PODRUN[@]}" localhost/bench /loop "$N"
    row "podman + crun, unconfined" crunpod "${PODRUN[@]}" --security-opt seccomp=unconfined \
      localhost/bench /loop "$N"
  fi
  pod rmi -a -f >/dev/null 2>&1 || true
  podman --root "$P/root" --runroot "$P/run" system reset -f >/dev/null 2>&1 || true
fi

echo "seccomp cost per system call, $N calls, fastest of 3 ($(uname -r), $(nproc) cpus)"
printf '%-34s %14s %14s\n' "" "getppid ns" "mix ns"
for r in "${results[@]}"; do
  IFS='|' read -r name vals <<<"$r"
  read -r g m <<<"$vals"
  printf '%-34s %14s %14s\n' "$name" "$g" "$m"
done
