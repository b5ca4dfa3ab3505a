#!/bin/bash
# Second stage of the kernel test VM: runs as PID 1 on the host's root (read-only 9p under a
# tmpfs overlay, mounts made by tests/kernel/init). Loads the tunnel modules,
# runs the test script named in the job file and reports its exit code on the console as
#   L2WG-VM-EXIT: N
# which tests/kernel/vm.sh waits for. Then powers the VM off.
# Usage (by init only): guest-run.sh JOB_FILE
# In vm.sh's systemd mode it runs as l2wg-test.service under systemd instead (L2WG_VM_SYSTEMD=1,
# output on the console) and first prints how long systemd took to boot.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C HOME=/root TERM=dumb

power_off() {
  echo o >/proc/sysrq-trigger
  # Wait with a builtin: the host root (and so /bin/sleep) goes away while powering off.
  read -r -t 10 _ </dev/console
}

finish() {
  echo "L2WG-VM-EXIT: $1"
  power_off
}

# Any stray failure below must still end in a marker and a power-off, never a hung VM.
trap 'finish 125' EXIT

set -u
job_file=$1

# Uptime in centiseconds, with builtins only (every exec is slow under TCG).
uptime_cs() {
  local seconds _
  read -r seconds _ </proc/uptime
  echo $((10#${seconds/./}))
}
format_cs() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }

echo "L2WG-VM: kernel $(uname -r), stage 2 up after $(format_cs "$(uptime_cs)") s"
if [[ ${L2WG_VM_SYSTEMD:-} == 1 ]]; then
  # The boot is finished once this service's job is: wait for that, then ask for its time.
  echo "L2WG-VM: systemd $(systemctl is-system-running --wait 2>&1)"
  echo "L2WG-VM: $(systemd-analyze time 2>&1 | head -n 1)"
fi

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
start=$(uptime_cs)
echo "L2WG-VM: running ${L2WG_VM_SCRIPT} ${L2WG_VM_ARGS[*]}"
# The script runs as a child so that PID 1 (this shell) survives it and reaps orphans.
bash "$L2WG_VM_SCRIPT" "${L2WG_VM_ARGS[@]}" </dev/null
rc=$?
echo "L2WG-VM: script took $(format_cs $(($(uptime_cs) - start))) s"
trap - EXIT
finish "$rc"
