#!/usr/bin/env bash
# Runs the test suite on a pure cgroup v2 kernel, in a QEMU virtual machine.
#
#   sudo bash scripts/vm_cgroup2.sh [deno test options and files]   (default: tests/)
#
# Most current hosts are cgroup v2 only, while a development host may well be
# cgroup v1 or hybrid. This boots Debian's own kernel under QEMU with
# `cgroup_no_v1=all`, so every controller is on the unified hierarchy, and runs
# `deno test` against the single-file ./ctr there, as root, from a systemd-like
# session scope (/user.slice/session-1.scope, holding the test runner), which
# is where the no-internal-process rule bites.
#
# The guest's root filesystem is this host's, shared read-only over virtio-9p
# below a tmpfs overlay, so it has the same Deno, packages and repository and
# changes nothing here. It has no network device: tests use loopback and the
# veths and bridges they create. KVM is used when the CPU offers it; otherwise
# QEMU emulates the CPU (TCG), which is slow but correct.
#
# Needs: qemu-system-x86, busybox-static, kmod, e2fsprogs (installed when missing) and the
# kernel package linux-image-amd64 (downloaded once into $CTR_VM_DIR, default
# /var/tmp/ctr-vm). The guest's console goes to $CTR_VM_DIR/console.log, the
# test output to stdout. The last line is "N passed, N failed" as in
# scripts/test.sh; the exit status is the guest's deno test status.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VM=${CTR_VM_DIR:-/var/tmp/ctr-vm}
MEM=${CTR_VM_MEM:-8G}
CPUS=${CTR_VM_CPUS:-$(nproc)}
[ "$(uname -m)" = x86_64 ] || { echo "vm_cgroup2.sh: x86_64 hosts only" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "vm_cgroup2.sh: run as root" >&2; exit 2; }

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v depmod >/dev/null || need+=(kmod)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# ---- the kernel ----------------------------------------------------------------
mkdir -p "$VM"
if ! ls "$VM"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
  (
    cd "$VM"
    # linux-image-amd64 is the metapackage; its dependency is the kernel itself.
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
    [ -n "$pkg" ] || { echo "vm_cgroup2.sh: no linux-image-amd64 in the package lists" >&2; exit 1; }
    apt-get download "$pkg" >&2
    rm -rf kernel.tmp && dpkg-deb -x "$pkg"_*.deb kernel.tmp && rm -f "$pkg"_*.deb
    mv kernel.tmp kernel
  )
fi
kernels=("$VM"/kernel/boot/vmlinuz-*)
vmlinuz=${kernels[0]}
KVER=${vmlinuz##*/vmlinuz-}
MODS=$VM/kernel/lib/modules/$KVER
[ -f "$MODS/modules.dep" ] || depmod -b "$VM/kernel" "$KVER"

# ---- the initramfs: busybox, the modules for a 9p root, /init -------------------
initrd=$VM/initrd-$KVER.cpio.gz
if [ ! -f "$initrd" ] || [ "$0" -nt "$initrd" ]; then
  ir=$(mktemp -d)
  mkdir -p "$ir"/{bin,dev,proc,sys,mods,lower,upper,newroot}
  cp /bin/busybox "$ir/bin/busybox"
  # The modules in load order, dependencies first (modprobe --show-depends).
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$VM/kernel" -S "$KVER" --show-depends "$m" | awk '/^insmod/ { print $2 }'
  done | awk '!seen[$0]++' >"$ir/mods/order"
  while read -r ko; do cp "$ko" "$ir/mods/"; done <"$ir/mods/order"
  sed -i 's|.*/||' "$ir/mods/order"
  cat >"$ir/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r ko; do insmod "/mods/$ko" || echo "init: insmod $ko failed"; done </mods/order
# The host's root, read-only, below a tmpfs: the guest may write anywhere.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /lower
mount -t tmpfs -o mode=755 upper /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot
mkdir -p /newroot/ctr-vm-out
mount -t 9p -o trans=virtio,version=9p2000.L out /newroot/ctr-vm-out
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/sh /ctr-vm-out/stage2.sh
EOF
  chmod 755 "$ir/init"
  (cd "$ir" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$initrd"
  rm -rf "$ir"
fi

# ---- what runs in the guest -------------------------------------------------------
DENO=$(bash scripts/deno.sh)
"$DENO" run -A scripts/build.ts >&2
export CTR_TEST_ROOTFS=${CTR_TEST_ROOTFS:-/var/lib/ctr-test/busybox}
bash scripts/busybox_rootfs.sh "$CTR_TEST_ROOTFS" >&2
out=$(mktemp -d "$VM/out.XXXXXX")
scratch=$out.disk
trap 'rm -rf "$out" "$scratch"' EXIT
truncate -s 32G "$scratch"
mkfs.ext4 -q -F "$scratch"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests/)
printf '%q ' "${args[@]}" >"$out/args"
cat >"$out/stage2.sh" <<EOF
#!/bin/sh
# Stage 2, in the guest's root: a booted system as systemd would leave it.
set -u
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs tmpfs /run
mkdir -p /lib/modules/$KVER && mount --bind $MODS /lib/modules/$KVER
modprobe virtio_blk && modprobe ext4
# /tmp is an ext4 scratch disk, as on a real host: overlayfs cannot be an
# upper layer, and this kernel's tmpfs has no user.* xattrs. The test root
# filesystem is copied there from the host's.
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done
mkdir -p /ctr-vm-tmp && mount -t ext4 /dev/vda /ctr-vm-tmp && chmod 1777 /ctr-vm-tmp
mkdir -p /ctr-vm-tmp/rfs && cp -a "$CTR_TEST_ROOTFS/." /ctr-vm-tmp/rfs/
mount --move /ctr-vm-tmp /tmp
ip link set lo up
hostname ctr-v2
# systemd's layout: controllers delegated down to user.slice, the shell in a
# session scope that holds processes.
echo "+cpuset +cpu +io +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
mkdir -p /sys/fs/cgroup/user.slice/session-1.scope
echo "+cpuset +cpu +io +memory +pids" >/sys/fs/cgroup/user.slice/cgroup.subtree_control
echo \$\$ >/sys/fs/cgroup/user.slice/session-1.scope/cgroup.procs
{
  echo "guest: \$(uname -r), \$(nproc) cpus, cgroup: \$(cat /proc/self/cgroup)"
  echo "guest: controllers: \$(cat /sys/fs/cgroup/cgroup.controllers)"
  echo "guest: mounts of cgroup type: \$(grep -c ' - cgroup ' /proc/self/mountinfo)"
} >/dev/console
cd $REPO
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 CTR_BIN=$REPO/ctr CTR_TEST_ROOTFS=/tmp/rfs
eval "set -- \$(cat /ctr-vm-out/args)"
$DENO test -A "\$@" >/ctr-vm-out/log 2>&1
echo \$? >/ctr-vm-out/rc
sync
poweroff -f
EOF

accel=(-accel "tcg,thread=multi" -cpu max)
# KVM only where the CPU says it has virtualization: a nested guest can show a
# /dev/kvm whose guests never get past the BIOS.
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=(-accel kvm -cpu host); fi
echo "vm_cgroup2.sh: booting $KVER (${accel[1]}, $CPUS cpus, $MEM); console: $VM/console.log" >&2
: >"$out/log"
tail -f "$out/log" &
tailer=$!
trap 'kill $tailer 2>/dev/null || true; rm -rf "$out" "$scratch"' EXIT
qemu-system-x86_64 "${accel[@]}" -smp "$CPUS" -m "$MEM" -nographic -no-reboot \
  -nic none -serial "file:$VM/console.log" -monitor none \
  -kernel "$vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 cgroup_no_v1=all quiet" \
  -drive "file=$scratch,if=virtio,format=raw,cache=unsafe" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on" \
  -virtfs "local,path=$out,mount_tag=out,security_model=passthrough"
sleep 1
kill $tailer 2>/dev/null || true

[ -f "$out/rc" ] || {
  echo "vm_cgroup2.sh: the guest stopped before the tests ended; see $VM/console.log" >&2
  tail -20 "$VM/console.log" >&2
  echo "0 passed, 1 failed"
  exit 1
}
status=$(cat "$out/rc")
summary=$(grep -aE '^(ok|FAILED) \| [0-9]+ passed' "$out/log" | tail -1 || true)
count() { { grep -oE "[0-9]+ $1" <<<"$summary" || echo 0; } | head -1 | grep -oE '^[0-9]+'; }
line="$(count passed) passed, $(count failed) failed"
[ "$(count ignored)" -gt 0 ] && line+=", $(count ignored) skipped"
echo "$line"
exit "$status"
