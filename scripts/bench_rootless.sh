#!/usr/bin/env bash
# Rootless ctr beside rootless podman, as one throwaway user (root runs the script):
#
#   sudo bash scripts/bench_rootless.sh        RUNS=20 (default)
#
# 1. Start-to-exit time of `run --rm busybox true` for both, in ONE hyperfine
#    run (both rows see the same machine state), plus an empty `deno run`.
# 2. Which commands work in both: the same command lines, run once each, in a
#    table (ok, or the first line of the error).
#
# The user is made here (useradd, a 65536-id subordinate range above every
# range in /etc/subuid and /etc/subgid) and removed at the end with its home,
# its ids and its processes. Both get the same busybox image (a docker-save
# archive from Debian's busybox-static); pull goes through Debian's
# docker-registry on 127.0.0.1 when it is installed. On a hybrid cgroup host
# crun refuses to run, so podman uses runc there (said in the output).
# slirp4netns and pasta need /dev/net/tun 0666 (udev's mode): a host that
# keeps it 0600 gets 0666 for the run and its mode back after.
# Writes .bench/rootless.json (hyperfine's) and .bench/rootless.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench_rootless.sh: run as root (it makes a throwaway user)" >&2; exit 1; }
RUNS=${RUNS:-20}
B=$PWD/.bench
mkdir -p "$B"

. scripts/packages.sh
ensure_packages podman runc hyperfine busybox-static uidmap slirp4netns passt
DENO=$(bash scripts/deno.sh)
export DENO_NO_UPDATE_CHECK=1
if [ ! -x ./ctr ] || [ -n "$(find main.ts mod.ts lib ffi deno.json -newer ./ctr -print -quit 2>/dev/null)" ]; then
  "$DENO" run -A scripts/build.ts >&2
fi

# ---- the user -------------------------------------------------------------------
W=$(mktemp -d /tmp/ctr-bench-rootless.XXXXXX)
chmod 755 "$W"
U=ctrbench$$
top=100000
for f in /etc/subuid /etc/subgid; do
  while IFS=: read -r _ s c; do
    [[ "$s" =~ ^[0-9]+$ && "$c" =~ ^[0-9]+$ ]] && [ $((s + c)) -gt "$top" ] && top=$((s + c))
  done <"$f" 2>/dev/null || true
done
SUB=$(((top / 65536 + 2) * 65536))
useradd -m -d "$W/home" -s /bin/sh -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$U"
usermod --add-subuids "$SUB-$((SUB + 65535))" --add-subgids "$SUB-$((SUB + 65535))" "$U"
UID_=$(id -u "$U")
TUN_MODE=$(stat -c %a /dev/net/tun)
REG_PID=
cleanup() {
  local i pid uid
  [ -z "$REG_PID" ] || kill "$REG_PID" 2>/dev/null || true
  # The user's processes (its own and its subordinate ids), by pid.
  for i in 1 2 3 4 5; do
    for pid in $(ps -eo pid=,uid= | awk -v u="$UID_" -v s="$SUB" '$2 == u || ($2 >= s && $2 < s + 65536) {print $1}'); do
      kill -9 "$pid" 2>/dev/null || true
    done
    sleep 0.1
  done
  userdel -r "$U" 2>/dev/null || true
  rm -rf "$W" "/tmp/ctr-$UID_"
  chmod "$TUN_MODE" /dev/net/tun
}
trap cleanup EXIT
chmod 666 /dev/net/tun
mkdir -m 700 "$W/run" && chown "$U:" "$W/run"
cp ./ctr "$W/ctr" && chmod 755 "$W/ctr"
bash scripts/busybox_image.sh "$W/busybox.tar" >/dev/null
chmod 644 "$W/busybox.tar"

# as CMD...: CMD as the user, with a login's environment only.
ENV=(env -i "HOME=$W/home" "USER=$U" "LOGNAME=$U" "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
  "XDG_RUNTIME_DIR=$W/run")
AS=(setpriv "--reuid=$UID_" "--regid=$(id -g "$U")" --init-groups "${ENV[@]}")
as() { (cd "$W/home" && "${AS[@]}" "$@"); }

PODMAN=(podman)
if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true)" ] ||
  { [ -d /sys/fs/cgroup/unified ] && [ -d /sys/fs/cgroup/memory ]; }; then
  PODMAN=(podman --runtime runc)
  echo "bench_rootless.sh: hybrid cgroup host: crun refuses it, podman runs with --runtime runc" >&2
fi
as "$W/ctr" version >/dev/null # unpacks the self-extracting ctr into the user's cache
as "$W/ctr" load -i "$W/busybox.tar" >/dev/null
as "${PODMAN[@]}" load -q -i "$W/busybox.tar" >/dev/null
echo 'Deno.exit(0);' >"$W/empty.ts" && chmod 644 "$W/empty.ts"

# ---- 1. start to exit ------------------------------------------------------------
q() { printf '%q ' "$@"; }
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$B/rootless.json" \
  -n "ctr run --rm busybox true (rootless)" "$(q "${AS[@]}" "$W/ctr" run --rm busybox true)" \
  -n "podman run --rm busybox true (rootless)" "$(q "${AS[@]}" "${PODMAN[@]}" run --rm busybox true)" \
  -n "deno run empty.ts (the floor under ctr)" "$(q "${AS[@]}" "$DENO" run --quiet "$W/empty.ts")" \
  -n "setpriv env true (the wrapper)" "$(q "${AS[@]}" true)" >&2

# ---- 2. which commands work --------------------------------------------------------
REG=
if command -v docker-registry >/dev/null && command -v skopeo >/dev/null; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$W/registry" "$PORT" >"$W/registry.yml"
  docker-registry serve "$W/registry.yml" >/dev/null 2>&1 &
  REG_PID=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
  skopeo copy -q --dest-tls-verify=false "docker-archive:$W/busybox.tar" \
    "docker://127.0.0.1:$PORT/bench/busybox:latest" && REG=127.0.0.1:$PORT
fi
P1=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
P2=$((P1 + 1))

# try NAME TOOL ARGS...: runs the command line as the user; prints ok or the error's first line.
try() {
  local out
  if out=$(as "$@" 2>&1 </dev/null); then echo ok; else echo "fails: $(printf '%s' "$out" | grep -v '^\s*$' | head -1 | cut -c1-70)"; fi
}
# serve TOOL NET PORT: a detached httpd on 127.0.0.1:PORT, fetched from the host, then removed.
serve() {
  local tool=("${@:1:$#-2}") net=${*: -2:1} port=${*: -1} name=web$RANDOM out
  if ! out=$(as "${tool[@]}" run -d --name "$name" --net="$net" -p "127.0.0.1:$port:80" busybox \
    sh -c 'echo hi >/tmp/i; exec httpd -f -p 80 -h /tmp' 2>&1); then
    echo "fails: $(echo "$out" | head -1 | cut -c1-70)"
    return
  fi
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/i" >/dev/null && break; sleep 0.1; done
  if curl -fs "http://127.0.0.1:$port/i" >/dev/null; then echo ok; else echo "fails: nothing on 127.0.0.1:$port"; fi
  as "${tool[@]}" rm -f "$name" >/dev/null 2>&1 || true
}

row() { printf '| %-44s | %-40s | %-40s |\n' "$1" "$2" "$3"; }
{
  echo "Rootless ctr and podman ($("${PODMAN[@]}" --version), ${PODMAN[*]:1}) as one user, $(date -u +%F)"
  echo
  jq -r '.results[] | "- \(.command): \(.mean * 1000 | floor) ms mean, \(.min * 1000 | floor) ms min (\(.times | length) runs)"' "$B/rootless.json"
  echo
  row "command" "ctr" "podman"
  row "---" "---" "---"
  for t in ctr podman; do :; done
  C=("$W/ctr")
  row 'run --rm busybox true' "$(try "${C[@]}" run --rm busybox true)" "$(try "${PODMAN[@]}" run --rm busybox true)"
  row 'run --rm busybox id (root = the user)' "$(try "${C[@]}" run --rm busybox sh -c 'id -u | grep -qx 0')" \
    "$(try "${PODMAN[@]}" run --rm busybox sh -c 'id -u | grep -qx 0')"
  row 'run -d --name s busybox sleep 600' "$(try "${C[@]}" run -d --name s busybox sleep 600)" \
    "$(try "${PODMAN[@]}" run -d --name s busybox sleep 600)"
  row 'ps' "$(try "${C[@]}" ps)" "$(try "${PODMAN[@]}" ps)"
  row 'inspect s' "$(try "${C[@]}" inspect s)" "$(try "${PODMAN[@]}" inspect s)"
  row 'exec s id' "$(try "${C[@]}" exec s id)" "$(try "${PODMAN[@]}" exec s id)"
  row 'exec -u 1000 s id' "$(try "${C[@]}" exec -u 1000 s id)" "$(try "${PODMAN[@]}" exec -u 1000 s id)"
  row 'logs s' "$(try "${C[@]}" logs s)" "$(try "${PODMAN[@]}" logs s)"
  row 'top s' "$(try "${C[@]}" top s)" "$(try "${PODMAN[@]}" top s)"
  row 'stats --no-stream s' "$(try "${C[@]}" stats --no-stream s)" "$(try "${PODMAN[@]}" stats --no-stream s)"
  row 'pause s' "$(try "${C[@]}" pause s)" "$(try "${PODMAN[@]}" pause s)"
  row 'stop -t 1 s' "$(try "${C[@]}" stop -t 1 s)" "$(try "${PODMAN[@]}" stop -t 1 s)"
  row 'start s' "$(try "${C[@]}" start s)" "$(try "${PODMAN[@]}" start s)"
  row 'rm -f s' "$(try "${C[@]}" rm -f s)" "$(try "${PODMAN[@]}" rm -f s)"
  row 'run --rm -v DIR:/d (writes as the user)' \
    "$(try "${C[@]}" run --rm -v "$W/home:/d" busybox touch /d/by-ctr)" \
    "$(try "${PODMAN[@]}" run --rm -v "$W/home:/d" busybox touch /d/by-podman)"
  row 'run --rm -m 64m' "$(try "${C[@]}" run --rm -m 64m busybox true)" \
    "$(try "${PODMAN[@]}" run --rm -m 64m busybox true)"
  row 'run --rm --pids-limit 10' "$(try "${C[@]}" run --rm --pids-limit 10 busybox true)" \
    "$(try "${PODMAN[@]}" run --rm --pids-limit 10 busybox true)"
  row "run -d --net=slirp4netns -p 127.0.0.1:P:80" "$(serve "${C[@]}" slirp4netns "$P1")" \
    "$(serve "${PODMAN[@]}" slirp4netns "$P2")"
  row "run -d --net=pasta -p 127.0.0.1:P:80" "$(serve "${C[@]}" pasta "$((P1 + 2))")" \
    "$(serve "${PODMAN[@]}" pasta "$((P2 + 2))")"
  row 'network create front' "$(try "${C[@]}" network create front)" \
    "$(try "${PODMAN[@]}" network create front)"
  row 'images' "$(try "${C[@]}" images)" "$(try "${PODMAN[@]}" images)"
  row 'tag busybox bb:two' "$(try "${C[@]}" tag busybox bb:two)" "$(try "${PODMAN[@]}" tag busybox bb:two)"
  row 'save -o FILE bb:two' "$(try "${C[@]}" save -o "$W/home/c.tar" bb:two)" \
    "$(try "${PODMAN[@]}" save -o "$W/home/p.tar" bb:two)"
  row 'rmi bb:two' "$(try "${C[@]}" rmi bb:two)" "$(try "${PODMAN[@]}" rmi bb:two)"
  row 'load -i FILE' "$(try "${C[@]}" load -i "$W/busybox.tar")" "$(try "${PODMAN[@]}" load -i "$W/busybox.tar")"
  if [ -n "$REG" ]; then
    row "pull $REG/bench/busybox" "$(try "${C[@]}" pull "$REG/bench/busybox")" \
      "$(try "${PODMAN[@]}" pull --tls-verify=false "$REG/bench/busybox")"
  else
    row "pull (no docker-registry and skopeo here)" "not tried" "not tried"
  fi
  row 'build' "$(try "${C[@]}" build --help)" "$(printf 'FROM busybox\nRUN touch /x\n' >"$W/home/Dockerfile"; try "${PODMAN[@]}" build -q -t built "$W/home")"
  row 'system prune -a -f' "$(try "${C[@]}" system prune -a -f)" "$(try "${PODMAN[@]}" system prune -a -f)"
} | tee "$B/rootless.md"
