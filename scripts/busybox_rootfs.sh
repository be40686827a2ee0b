#!/usr/bin/env bash
# Builds a small root filesystem in DIR from Debian's busybox-static:
#
#   bash scripts/busybox_rootfs.sh DIR
#
# DIR gets a static busybox with a symlink per applet in bin/, the usual
# top-level directories, users root/app/nobody and their groups. It is what the
# tests and the benchmark run containers in (there is no Alpine or Docker Hub
# to pull from on these machines, but Debian's busybox-static needs no libc).
#
# Idempotent: DIR/etc/ctr-rootfs records the busybox version and this layout's
# revision; when it matches, nothing is done. The tree is built in a fresh
# DIR.tmp.* directory and renamed into place at the end, so an interrupted
# build is never mistaken for a finished one.
set -euo pipefail
DIR=${1:?usage: busybox_rootfs.sh DIR}
DIR=${DIR%/}
# Bump when the layout below changes, so existing trees are rebuilt.
LAYOUT=1

. "$(dirname "$0")/packages.sh"
ensure_packages busybox-static
BB=$(dpkg -L busybox-static | grep -E '/bin/busybox$' | head -1)
[ -x "$BB" ] || { echo "busybox_rootfs.sh: busybox-static has no bin/busybox" >&2; exit 1; }
STAMP="busybox-static $(dpkg-query -W -f='${Version}' busybox-static) layout $LAYOUT"
if [ "$(cat "$DIR/etc/ctr-rootfs" 2>/dev/null || true)" = "$STAMP" ]; then exit 0; fi

mkdir -p "$(dirname "$DIR")"
tmp=$(mktemp -d "$DIR.tmp.XXXXXX")
old=""
trap 'rm -rf "$tmp" ${old:+"$old"}' EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev/pts,dev/shm,tmp,root,home/app}
chmod 0755 "$tmp" # mktemp made it 0700; this becomes the container's /
cp "$BB" "$tmp/bin/busybox"
chmod 0755 "$tmp/bin/busybox"
# Applet links come from the host's copy of the same binary (`--list`), so
# nothing from the new tree is executed on the host (no chroot needed).
for applet in $("$BB" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$tmp/bin/$applet"
done
[ -L "$tmp/bin/sh" ] || { echo "busybox_rootfs.sh: $BB --list has no sh" >&2; exit 1; }

cat >"$tmp/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$tmp/etc/group" <<'EOF'
root:x:0:
tty:x:5:
staff:x:50:app
app:x:1000:
nogroup:x:65534:
EOF
echo busybox >"$tmp/etc/hostname"
chmod 0644 "$tmp/etc/passwd" "$tmp/etc/group" "$tmp/etc/hostname"
chmod 0700 "$tmp/root"
chmod 1777 "$tmp/tmp"
chown 1000:1000 "$tmp/home/app"
# The stamp is written last: it is what marks the tree complete.
echo "$STAMP" >"$tmp/etc/ctr-rootfs"

# Swap the finished tree in. An older tree (other version) is moved aside
# first and removed after. `mv -T` refuses to move into an existing
# directory, so when a parallel run got there first we keep its tree.
if [ -e "$DIR" ]; then
  old=$(mktemp -d "$DIR.old.XXXXXX")
  mv -T "$DIR" "$old" 2>/dev/null || true # a parallel run may have moved it already
fi
if ! mv -T "$tmp" "$DIR" 2>/dev/null; then
  if [ "$(cat "$DIR/etc/ctr-rootfs" 2>/dev/null || true)" != "$STAMP" ]; then
    echo "busybox_rootfs.sh: cannot move the new tree to $DIR" >&2
    exit 1
  fi
fi
