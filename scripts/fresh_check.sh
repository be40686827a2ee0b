#!/usr/bin/env bash
# Proves the README's two commands on a fresh machine: a minimal Debian 12 root
# filesystem (debootstrap --variant=minbase bookworm) with only nodejs and npm
# added, a clean clone of this repository's HEAD copied in, and then, inside it
# (its own mount namespace with the new root as its root: /proc, /sys,
# /sys/fs/cgroup and /dev bound in):
#
#   bash scripts/try.sh echo ok          the container command
#   bash scripts/test.sh                 the whole suite
#
#   sudo bash scripts/fresh_check.sh [--keep] [--only try|test]
#
# Prints the last line of each and exits non-zero when either fails. It takes
# a while (the suite installs its Debian packages into the new root first) and
# is not part of the test suite; run it whenever install steps change.
# The new root lives in ${FRESH_DIR:-/var/tmp/ctr-fresh} and is removed at the
# end unless --keep. Everything is mounted in a private mount namespace, so
# nothing stays mounted on the host, whatever happens; the new root shares the
# host's network namespace, so run it while no other ctr test runs.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
KEEP=0
ONLY=
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --only) ONLY=${2:?--only needs try or test}; shift ;;
    *) echo "usage: $0 [--keep] [--only try|test]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "fresh_check.sh: run as root" >&2; exit 1; }
. scripts/packages.sh
ensure_packages debootstrap util-linux git

BASE=${FRESH_DIR:-/var/tmp/ctr-fresh}
ROOT=$BASE/root
MIRROR=${FRESH_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# Never delete a tree that may still hold mounts.
remove_root() {
  if grep -qF " $ROOT" /proc/self/mountinfo; then
    echo "fresh_check.sh: $ROOT still holds mounts; not removing it" >&2
    return 1
  fi
  rm -rf "$BASE"
}
# Processes started in the root (a daemon a test left behind) end with it.
kill_inside() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
}
cleanup() {
  kill_inside
  [ "$KEEP" = 1 ] || remove_root || true
}
trap cleanup EXIT

if [ -e "$ROOT" ]; then remove_root; fi
mkdir -p "$BASE"
start=$(date +%s)
echo "fresh_check.sh: debootstrap --variant=minbase bookworm $ROOT ($MIRROR)" >&2
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$BASE/debootstrap.log" 2>&1 ||
  { tail -20 "$BASE/debootstrap.log" >&2; exit 1; }
echo "fresh_check.sh: debootstrap took $(($(date +%s) - start)) s" >&2
# How this network is reached is the host's, not the project's: its resolver,
# the certificate authorities it adds (an egress proxy's), and the variables
# that point TLS clients at them.
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
TLS_ENV=()
for v in SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS; do
  [ -z "${!v:-}" ] || TLS_ENV+=("$v=${!v}")
done

# inside CMD: runs CMD as root in the new root, in a private mount namespace
# whose root it is (pivot_root, not chroot: the kernel refuses user namespaces
# to a chrooted process, and paths in /proc would read as the host's).
inside() {
  unshare --mount --propagation private -- bash -c '
    set -e
    R=$1 cmd=$2; shift 2
    mount --bind "$R" "$R"            # a mount of its own, to pivot_root to
    mount -t proc proc "$R/proc"
    mount --rbind /sys "$R/sys"       # with /sys/fs/cgroup
    mount --rbind /dev "$R/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
    mount -t tmpfs -o mode=755 tmpfs "$R/run"
    mkdir -p "$R/.host"
    cd "$R"
    pivot_root . .host
    exec /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" \
      /bin/bash -c "umount -l /.host && rmdir /.host && cd / && $cmd"
  ' inside "$ROOT" "$1" ${TLS_ENV[@]+"${TLS_ENV[@]}"}
}

echo "fresh_check.sh: apt-get install nodejs npm" >&2
inside 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm && update-ca-certificates' \
  >"$BASE/node.log" 2>&1 || { tail -20 "$BASE/node.log" >&2; exit 1; }

# A clean clone of HEAD: what CI and a new user get, nothing of this working tree.
git clone -q --no-hardlinks "$REPO" "$ROOT/root/ctr"
git -C "$ROOT/root/ctr" checkout -q "$(git -C "$REPO" rev-parse HEAD)"

status=0
run_step() { # run_step NAME COMMAND
  local name=$1 cmd=$2 t0 rc=0
  t0=$(date +%s)
  inside "cd /root/ctr && $cmd" >"$BASE/$name.log" 2>&1 </dev/null || rc=$?
  kill_inside
  echo "== $name: \`$cmd\` (exit $rc, $(($(date +%s) - t0)) s), last line:"
  grep -v '^\s*$' "$BASE/$name.log" | tail -1
  [ "$rc" = 0 ] || { status=1; [ "$KEEP" = 1 ] || tail -30 "$BASE/$name.log"; }
}
[ "$ONLY" = test ] || run_step try "bash scripts/try.sh echo ok"
[ "$ONLY" = try ] || run_step test "bash scripts/test.sh"
if [ "$KEEP" = 1 ]; then echo "fresh_check.sh: logs and root kept in $BASE" >&2; fi
exit "$status"
