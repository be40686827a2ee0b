#!/usr/bin/env bash
# Prints the path of a native Deno 2.9.6, installing it through npm when
# missing (JSR and Deno's own servers are not needed). Quiet on stdout except
# for the path.
set -euo pipefail
VERSION=2.9.6
TOOLS=${CTR_TOOLS:-/opt/ctr-tools}

is_elf() { [ -f "$1" ] && [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
ok() { is_elf "$1" && [ "$("$1" --version 2>/dev/null | head -1 | cut -d' ' -f2)" = "$VERSION" ]; }

if [ -n "${DENO:-}" ] && ok "$DENO"; then echo "$DENO"; exit 0; fi
if command -v deno >/dev/null; then
  d=$(readlink -f "$(command -v deno)")
  if ok "$d"; then echo "$d"; exit 0; fi
fi
find_bin() {
  for c in "$TOOLS"/node_modules/@deno/linux-x64-glibc/deno "$TOOLS"/node_modules/@deno/linux-arm64-glibc/deno \
    "$TOOLS"/node_modules/deno/deno; do
    if ok "$c"; then echo "$c"; return 0; fi
  done
  return 1
}
if find_bin; then exit 0; fi
command -v npm >/dev/null || { echo "deno.sh: npm is needed to install Deno $VERSION" >&2; exit 1; }
mkdir -p "$TOOLS"
npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "deno@$VERSION" >&2
# npm may skip the package's install script; the platform package holds the binary anyway.
for c in "$TOOLS"/node_modules/@deno/*/deno; do [ -f "$c" ] && chmod +x "$c"; done
find_bin || { echo "deno.sh: Deno $VERSION was installed but no native binary was found under $TOOLS" >&2; exit 1; }
