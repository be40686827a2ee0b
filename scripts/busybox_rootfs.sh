#!/usr/bin/env bash
# Builds a small root filesystem in DIR from Debian's busybox-static:
# busybox and its applets, users root/app/nobody, groups, /tmp, /root.
# Idempotent; built in DIR.tmp and renamed, so a half-built tree is never used.
set -euo pipefail
DIR=${1:?usage: busybox_rootfs.sh DIR}
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >&2; }
fi
BB=$(dpkg -L busybox-static | grep -E '/bin/busybox$' | head -1)
STAMP="busybox-static $(dpkg-query -W -f='${Version}' busybox-static)"
if [ "$(cat "$DIR/etc/ctr-rootfs" 2>/dev/null)" = "$STAMP" ]; then exit 0; fi
tmp="$DIR.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev/pts,dev/shm,tmp,root,home/app,var/www}
cp "$BB" "$tmp/bin/busybox"
for applet in $("$BB" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$tmp/bin/$applet"
done
cat > "$tmp/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$tmp/etc/group" <<'G'
root:x:0:
tty:x:5:
staff:x:50:app
app:x:1000:
nogroup:x:65534:
G
echo busybox > "$tmp/etc/hostname"
echo "$STAMP" > "$tmp/etc/ctr-rootfs"
chmod 0700 "$tmp/root"
chmod 1777 "$tmp/tmp"
chown 1000:1000 "$tmp/home/app"
mkdir -p "$(dirname "$DIR")"
rm -rf "$DIR"
mv "$tmp" "$DIR"
trap - EXIT
