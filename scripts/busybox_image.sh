#!/usr/bin/env bash
# Makes a real image from Debian's busybox-static, as a `docker save` archive
# (manifest.json, repositories, <config>.json, <layer>/layer.tar):
#
#   bash scripts/busybox_image.sh OUT.tar [--tag NAME]          one layer, tag busybox:latest
#   bash scripts/busybox_image.sh --multi OUT.tar [--tag NAME]  three layers with deletions
#                                                               and an opaque dir, busybox:multi
#   ... [--cmd JSON]                                            the image's Cmd (default ["sh"]):
#                                                               '["sleep","2147483647"]' makes a
#                                                               pod sandbox ("pause") image
#
# The layer is the root filesystem of scripts/busybox_rootfs.sh when the tree
# has it, else the same layout made here: bin/busybox and its applet links,
# etc/passwd, etc/group, tmp, root. Archives are reproducible
# (SOURCE_DATE_EPOCH, default: the busybox binary's mtime).
#
# --multi layers, bottom first:
#   1. the busybox root filesystem
#   2. /data/keep, /data/gone, /data/dir/old, /etc/motd
#   3. whiteouts for /data/gone and /etc/motd, /data/dir opaque with /data/dir/new,
#      /data/added
# so a container sees /data/keep, /data/added, /data/dir/new only, and no /etc/motd.
set -euo pipefail

usage() {
  echo "usage: $0 [--multi] OUT.tar [--tag NAME] [--cmd JSON]" >&2
  exit 2
}

MULTI=0
OUT=
TAG=
CMD='["sh"]'
while [ $# -gt 0 ]; do
  case "$1" in
    --multi) MULTI=1 ;;
    --tag) TAG=${2:?--tag needs a name}; shift ;;
    --cmd) CMD=${2:?--cmd needs a JSON list}; shift ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) [ -z "$OUT" ] || usage; OUT=$1 ;;
  esac
  shift
done
[ -n "$OUT" ] || usage
if [ -z "$TAG" ]; then
  if [ "$MULTI" = 1 ]; then TAG=busybox:multi; else TAG=busybox:latest; fi
fi
case "$TAG" in *:*) ;; *) TAG="$TAG:latest" ;; esac

HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${BUSYBOX:-}" ]; then
  . "$HERE/packages.sh"
  ensure_packages busybox-static
fi
BUSYBOX=${BUSYBOX:-/bin/busybox}
if ! [ -x "$BUSYBOX" ] || ! "$BUSYBOX" --list >/dev/null 2>&1; then
  echo "$0: no busybox at $BUSYBOX: install Debian's busybox-static (apt-get install busybox-static)" >&2
  exit 1
fi
if command -v ldd >/dev/null && ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "$0: $BUSYBOX is dynamically linked: install busybox-static" >&2
  exit 1
fi
BB_VERSION=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || "$BUSYBOX" | head -1)
EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$BUSYBOX")}
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
case "$(uname -m)" in
  x86_64) ARCH=amd64 ;;
  aarch64) ARCH=arm64 ;;
  *) echo "$0: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The busybox root filesystem in $1.
make_rootfs() {
  local root=$1
  if [ -f "$HERE/busybox_rootfs.sh" ]; then
    bash "$HERE/busybox_rootfs.sh" "$root" >&2
    return
  fi
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,home,var/tmp}
  cp "$BUSYBOX" "$root/bin/busybox"
  chmod 755 "$root/bin/busybox"
  local applet
  for applet in $("$BUSYBOX" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
}

# A reproducible layer tar of directory $1 written to $2.
layer_tar() {
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime="@$EPOCH" \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$1" -cf "$2" .
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# Writes the docker-save archive for the layer tars given as arguments (bottom first).
write_image() {
  local dir=$WORK/image diff_ids="" history="" layers="" layer_ids=() tarfile hex
  mkdir -p "$dir"
  for tarfile in "$@"; do
    hex=$(sha "$tarfile")
    mkdir -p "$dir/$hex"
    cp "$tarfile" "$dir/$hex/layer.tar"
    echo 1.0 >"$dir/$hex/VERSION"
    printf '{"id":"%s"}\n' "$hex" >"$dir/$hex/json"
    diff_ids+="${diff_ids:+,}\"sha256:$hex\""
    layers+="${layers:+,}\"$hex/layer.tar\""
    history+="${history:+,}{\"created\":\"$CREATED\",\"created_by\":$(json_string "scripts/busybox_image.sh: $(basename "$tarfile" .tar) (busybox-static $BB_VERSION)")}"
    layer_ids+=("$hex")
  done
  local config
  config=$(printf '{"architecture":"%s","os":"linux","created":"%s","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s,"WorkingDir":"/","Labels":{"org.opencontainers.image.description":%s}},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s]}' \
    "$ARCH" "$CREATED" "$CMD" "$(json_string "busybox-static $BB_VERSION")" "$diff_ids" "$history")
  printf '%s' "$config" >"$WORK/config.json"
  local config_hex
  config_hex=$(sha "$WORK/config.json")
  cp "$WORK/config.json" "$dir/$config_hex.json"
  local repo=${TAG%:*} tag=${TAG##*:} top=${layer_ids[${#layer_ids[@]}-1]}
  printf '[{"Config":"%s.json","RepoTags":[%s],"Layers":[%s]}]\n' \
    "$config_hex" "$(json_string "$TAG")" "$layers" >"$dir/manifest.json"
  printf '{%s:{%s:"%s"}}\n' "$(json_string "$repo")" "$(json_string "$tag")" "$top" \
    >"$dir/repositories"
  mkdir -p "$(dirname "$OUT")"
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime="@$EPOCH" --format=gnu \
    -C "$dir" -cf "$OUT.tmp" $(cd "$dir" && LC_ALL=C ls)
  mv "$OUT.tmp" "$OUT"
}

make_rootfs "$WORK/rootfs"
layer_tar "$WORK/rootfs" "$WORK/1-busybox.tar"
if [ "$MULTI" = 0 ]; then
  write_image "$WORK/1-busybox.tar"
else
  L2=$WORK/l2 L3=$WORK/l3
  mkdir -p "$L2/data/dir" "$L2/etc" "$L3/data/dir" "$L3/etc"
  echo keep >"$L2/data/keep"
  echo gone >"$L2/data/gone"
  echo old >"$L2/data/dir/old"
  echo "welcome" >"$L2/etc/motd"
  : >"$L3/data/.wh.gone"
  : >"$L3/etc/.wh.motd"
  : >"$L3/data/dir/.wh..wh..opq"
  echo new >"$L3/data/dir/new"
  echo added >"$L3/data/added"
  layer_tar "$L2" "$WORK/2-data.tar"
  layer_tar "$L3" "$WORK/3-deletions.tar"
  write_image "$WORK/1-busybox.tar" "$WORK/2-data.tar" "$WORK/3-deletions.tar"
fi
echo "$OUT: $TAG ($ARCH)" >&2
