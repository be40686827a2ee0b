# shellcheck shell=bash
# Shared by the benchmark scripts (sourced): the busybox root filesystem as an
# OCI bundle for runc and crun, and crun on a hybrid cgroup host.
#
# crun 1.x refuses a hybrid cgroup host (cgroup2 with controllers at
# /sys/fs/cgroup/unified). There it runs inside a private mount namespace with
# that mount removed (crun then uses cgroup v1 only); the host's mount table
# is untouched. hyperfine times the whole command, wrapper included, so the
# scripts time the wrapper alone (`... exec true`) as its own row.

# bench_bundle DIR: DIR/rootfs (busybox) and DIR/bundle (runc spec running /bin/true on it).
# runc and crun only create missing mount points in the tree; ctr never writes
# it (it is an overlay's lower layer).
bench_bundle() {
  local dir=$1
  bash scripts/busybox_rootfs.sh "$dir/rootfs"
  rm -rf "$dir/bundle"
  mkdir -p "$dir/bundle"
  (cd "$dir/bundle" && runc spec)
  jq --arg root "$dir/rootfs" \
    '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = $root' \
    "$dir/bundle/config.json" >"$dir/bundle/config.json.new"
  mv "$dir/bundle/config.json.new" "$dir/bundle/config.json"
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
