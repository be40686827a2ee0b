# shellcheck shell=bash
# Shared by the benchmark scripts (sourced): their packages and ./ctr, the
# busybox root filesystem as an OCI bundle for runc and crun, and crun on a
# hybrid cgroup host.
#
# crun 1.x refuses a hybrid cgroup host (cgroup2 with controllers at
# /sys/fs/cgroup/unified). There it runs inside a private mount namespace with
# that mount removed (crun then uses cgroup v1 only); the host's mount table
# is untouched. hyperfine times the whole command, wrapper included, so the
# scripts time the wrapper alone (`... exec true`) as its own row.

# bench_prepare PKG...: the Debian packages a script needs (installed when
# missing), DENO (Deno for the repository's scripts), and ./ctr, built when it
# is missing or older than its sources (a stale file would measure old code)
# and unpacked now rather than during a warmup.
bench_prepare() {
  # shellcheck source=scripts/packages.sh
  . scripts/packages.sh
  ensure_packages "$@"
  DENO=$(bash scripts/deno.sh)
  export DENO DENO_NO_UPDATE_CHECK=1
  if [ ! -x ./ctr ] || [ -n "$(find main.ts mod.ts lib ffi deno.json -newer ./ctr -print -quit 2>/dev/null)" ]; then
    "$DENO" run -A scripts/build.ts >&2
  fi
  ./ctr version >/dev/null
}

# bench_bundle ROOTFS BUNDLE: ROOTFS (busybox) and BUNDLE (runc spec running /bin/true on it).
# runc and crun only create missing mount points in the tree; ctr never writes
# it (it is an overlay's lower layer).
bench_bundle() {
  local rootfs=$1 bundle=$2
  bash scripts/busybox_rootfs.sh "$rootfs"
  rm -rf "$bundle"
  mkdir -p "$bundle"
  (cd "$bundle" && runc spec)
  jq --arg root "$rootfs" \
    '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = $root' \
    "$bundle/config.json" >"$bundle/config.json.new"
  mv "$bundle/config.json.new" "$bundle/config.json"
}

HYBRID=0
if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null || true)" = cgroup2fs ] &&
  [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true)" ]; then
  HYBRID=1
fi
export HYBRID

# in_v1ns CMD: CMD as one command line for hyperfine -N (no shell of its own),
# inside a private mount namespace without the unified cgroup2 mount.
in_v1ns() {
  if [ "$HYBRID" = 1 ]; then
    echo "unshare -m --propagation private bash -c 'umount /sys/fs/cgroup/unified && exec $1'"
  else
    echo "$1"
  fi
}
