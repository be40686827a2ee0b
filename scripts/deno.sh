#!/usr/bin/env bash
# Prints the path of a native Deno 2.9.6 binary, installing it when missing.
#
#   DENO=$(bash scripts/deno.sh)
#
# Order: $DENO when set and executable; else `deno` on PATH when it is 2.9.6;
# else the copy under ${CTR_TOOLS:-/opt/ctr-tools}, installed there through
# npm on first use (JSR and Deno's own download servers are not needed).
# stdout carries only the path, so callers can capture it; everything else
# goes to stderr. Safe to run again and again, and from parallel callers.
set -euo pipefail
VERSION=2.9.6
TOOLS=${CTR_TOOLS:-/opt/ctr-tools}

# The first four bytes of an ELF file: 0x7f 'E' 'L' 'F'. npm's `deno` bin is a
# Node script (bin.cjs) that execs the real binary; we want the real one, so
# that `Deno.execPath()` and the packed single file carry a native Deno.
is_elf() { [ -f "$1" ] && [ "$(head -c4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }
version_of() { "$1" --version 2>/dev/null | head -1 | cut -d' ' -f2; }

# 1. An explicit choice wins, as long as it can be run.
if [ -n "${DENO:-}" ] && [ -x "$DENO" ] && [ ! -d "$DENO" ]; then
  echo "$DENO"
  exit 0
fi

# 2. A deno on PATH of the pinned version. If it is a wrapper (npm's bin.cjs),
#    ask it for the binary it really runs.
if p=$(command -v deno 2>/dev/null) && [ "$(version_of "$p")" = "$VERSION" ]; then
  real=$(readlink -f "$p")
  is_elf "$real" || real=$("$p" eval --no-config 'console.log(Deno.execPath())' 2>/dev/null || true)
  if [ -n "$real" ] && is_elf "$real"; then
    echo "$real"
    exit 0
  fi
fi

# 3. Our own copy. npm puts the binary in the platform package
#    (@deno/linux-<arch>-glibc); the `deno` package's postinstall script would
#    link it to node_modules/deno/deno, but npm may be set not to run install
#    scripts, so look in both places.
case $(uname -m) in
  x86_64 | amd64) plat=linux-x64-glibc ;;
  aarch64 | arm64) plat=linux-arm64-glibc ;;
  *) echo "deno.sh: no Deno build for $(uname -m)" >&2; exit 1 ;;
esac
find_bin() {
  local c
  for c in "$TOOLS/node_modules/@deno/$plat/deno" "$TOOLS/node_modules/deno/deno"; do
    if is_elf "$c"; then
      [ -x "$c" ] || chmod +x "$c"
      if [ "$(version_of "$c")" = "$VERSION" ]; then
        echo "$c"
        return 0
      fi
    fi
  done
  return 1
}
find_bin && exit 0

command -v npm >/dev/null || { echo "deno.sh: npm is needed to install Deno $VERSION" >&2; exit 1; }
mkdir -p "$TOOLS"
install() {
  # Another caller may have finished while we waited for the lock.
  find_bin >/dev/null && return 0
  echo "deno.sh: installing deno@$VERSION into $TOOLS (npm)" >&2
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "deno@$VERSION" >&2
}
if command -v flock >/dev/null; then
  # Two parallel npm installs into one prefix can leave it half-written.
  exec 9>"$TOOLS/.install.lock"
  flock 9
  install
  flock -u 9
else
  install
fi
find_bin || {
  echo "deno.sh: deno@$VERSION was installed but no native binary was found under $TOOLS/node_modules" >&2
  exit 1
}
