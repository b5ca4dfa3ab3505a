#!/bin/bash
# Second stage of the kernel test VM: runs as PID 1 on the host's root (read-only 9p under a
# tmpfs overlay, see tests/kernel/init). Prepares the usual mounts, loads the tunnel modules,
# runs the test script named in the job file and reports its exit code on the console as
#   L2WG-VM-EXIT: N
# which tests/kernel/vm.sh waits for. Then powers the VM off.
# Usage (by init only): guest-run.sh JOB_FILE

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C HOME=/root TERM=dumb

power_off() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 10
}

finish() {
  echo "L2WG-VM-EXIT: $1"
  power_off
}

# Any stray failure below must still end in a marker and a power-off, never a hung VM.
trap 'finish 125' EXIT

set -u
job_file=$1

mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts 2>/dev/null ||
  { mkdir -p /dev/pts && mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts; }
mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# /run starts empty so nothing from the host (pid files, sockets, netns) leaks in. /tmp stays
# the host's (test scripts or build trees may live there); the overlay makes it writable.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/lock /run/netns /var/run/wireguard
ln -sf /proc/self/fd /dev/fd 2>/dev/null
hostname l2wg-vm
ip link set lo up

echo "L2WG-VM: kernel $(uname -r), stage 2 up after $(cut -d' ' -f1 /proc/uptime) s"

# shellcheck source=/dev/null
source "$job_file" || { echo "L2WG-VM: cannot read job file $job_file"; exit 125; }

if [[ -n ${L2WG_VM_OUT_DIR:-} ]]; then
  mkdir -p "$L2WG_VM_OUT_DIR"
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 l2wgout "$L2WG_VM_OUT_DIR" ||
    { echo "L2WG-VM: cannot mount the output share at $L2WG_VM_OUT_DIR"; exit 125; }
fi

modprobe -a wireguard ip_gre ip6_gre bridge veth tun ||
  { echo "L2WG-VM: modprobe of the tunnel modules failed"; exit 125; }

export L2WG_IN_VM=1
cd "${L2WG_SOURCE_DIR:-/}" || exit 125
start=$(cut -d' ' -f1 /proc/uptime)
echo "L2WG-VM: running ${L2WG_VM_SCRIPT} ${L2WG_VM_ARGS[*]}"
# The script runs as a child so that PID 1 (this shell) survives it and reaps orphans.
bash "$L2WG_VM_SCRIPT" "${L2WG_VM_ARGS[@]}" </dev/null
rc=$?
echo "L2WG-VM: script took $(awk -v s="$start" '{ printf "%.1f", $1 - s }' /proc/uptime) s"
trap - EXIT
finish "$rc"
