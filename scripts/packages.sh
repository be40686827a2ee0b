# Debian packages ctr's scripts need, and the checks that prove each tool works.
# Sourced by scripts/try.sh, scripts/test.sh and scripts/busybox_rootfs.sh:
#
#   . scripts/packages.sh
#   ensure_packages busybox-static          # installs what is missing (root)
#   ensure_packages "${TEST_PACKAGES[@]}"
#   check_tools TEST_TOOLS                  # stops naming the package of a tool that does not work
#
# A package is named here whenever a test or script uses what it ships, even
# when another package usually pulls it in: `--no-install-recommends` and a
# minimal base leave out what a developer's machine happens to have (the aarch64
# cross compiler's libc headers, for one).

# Everything the test suite uses, by what it is for.
TEST_PACKAGES=(
  # the test root filesystem and image; script(1) for a pty; unshare, flock, nsenter, setpriv
  busybox-static bsdutils util-linux procps
  # ip; the packet filter backends
  iproute2 nftables iptables
  # the reference runtimes and the benchmarks
  runc crun hyperfine jq
  # the native stub's harness: x86_64 natively, aarch64 under qemu-user
  gcc libc6-dev xxd qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  # image interoperability and a registry with basic auth and TLS; builds to compare with
  skopeo docker-registry openssl apache2-utils buildah
  # real clients of the OCI runtime (the tests start their own daemons)
  podman docker.io containerd
  # clients of ctr serve's Engine API: docker's Python SDK and compose (1.29)
  python3-docker docker-compose
  # rootless ctr: newuidmap/newgidmap, and the user-mode network stacks
  uidmap slirp4netns passt
)

# tool|package|command that must succeed: run right after installing, so a
# missing piece stops the run at once with its package's name.
# shellcheck disable=SC2034 # used by name through check_tools
TEST_TOOLS=(
  "busybox|busybox-static|busybox true"
  "script|bsdutils|script --version"
  "unshare|util-linux|unshare --version"
  "ps|procps|ps -p 1"
  "ip|iproute2|ip -V"
  "nft|nftables|nft --version"
  "iptables|iptables|iptables --version"
  "runc|runc|runc --version"
  "crun|crun|crun --version"
  "hyperfine|hyperfine|hyperfine --version"
  "jq|jq|jq --version"
  "xxd|xxd|xxd -v"
  "gcc (x86_64)|gcc libc6-dev|probe_cc gcc"
  "aarch64-linux-gnu-gcc|gcc-aarch64-linux-gnu libc6-dev-arm64-cross|probe_cc aarch64-linux-gnu-gcc qemu-aarch64-static"
  "skopeo|skopeo|skopeo --version"
  "buildah|buildah|buildah --version"
  "docker-registry|docker-registry|docker-registry --version"
  "openssl|openssl|openssl version"
  "htpasswd|apache2-utils|htpasswd -nb u p"
  "podman|podman|podman --version"
  "dockerd|docker.io|dockerd --version"
  "docker|docker.io|docker --version"
  "containerd|containerd|containerd --version"
  "python3-docker|python3-docker|/usr/bin/python3 -c 'import docker'"
  "docker-compose|docker-compose|docker-compose version"
  "newuidmap|uidmap|test -u /usr/bin/newuidmap && test -u /usr/bin/newgidmap"
  "slirp4netns|slirp4netns|slirp4netns --version"
  "pasta|passt|test -x /usr/bin/pasta"
)

# Runs apt-get non-interactively; no package may start its service here
# (docker.io would start a dockerd with its own bridge and iptables rules).
_apt_install() {
  local policy=/usr/sbin/policy-rc.d own=0 status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || status=$?
  [ "$own" = 0 ] || rm -f "$policy"
  return "$status"
}

# ensure_packages PKG...: installs the packages that are not installed.
# The package lists are refreshed only when an install from them fails (a
# fresh machine has none; a warm one saves the time).
ensure_packages() {
  local p missing=()
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] ||
      missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "packages.sh: missing Debian packages (${missing[*]}); run as root to install them" >&2
    return 1
  fi
  echo "packages.sh: installing ${missing[*]}" >&2
  _apt_install "${missing[@]}" 2>/dev/null && return 0
  apt-get update -qq >&2 || echo "packages.sh: apt-get update failed; trying the cached lists" >&2
  _apt_install "${missing[@]}"
}

# probe_cc CC [EMULATOR]: compiles a one-line static C program with CC and runs
# it (under EMULATOR for another architecture): proves the compiler, its libc
# headers and the emulator all work.
probe_cc() {
  local cc=$1 emu=${2:-} dir status=0
  dir=$(mktemp -d)
  printf '#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n' >"$dir/probe.c"
  if "$cc" -static -O2 -o "$dir/probe" "$dir/probe.c" >"$dir/log" 2>&1; then
    [ "$(${emu:+"$emu"} "$dir/probe" 2>>"$dir/log")" = ok ] || status=1
  else
    status=1
  fi
  [ "$status" = 0 ] || sed 's/^/  /' "$dir/log" | head -5 >&2
  rm -rf "$dir"
  return "$status"
}

# check_tools ARRAY_NAME: runs each entry's command; on the first failure
# prints which tool and package, and returns 1.
check_tools() {
  local -n entries=$1
  local e tool pkg cmd bad=0
  for e in "${entries[@]}"; do
    IFS='|' read -r tool pkg cmd <<<"$e"
    if ! eval "$cmd" >/dev/null 2>&1; then
      echo "packages.sh: $tool does not work (\`$cmd\` failed): install Debian's $pkg" >&2
      bad=1
    fi
  done
  return "$bad"
}
