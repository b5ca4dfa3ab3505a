#!/usr/bin/env bash
# Runs one test script inside a qemu VM booted on Debian's stock amd64 kernel, which (unlike
# the kernels CI containers run on) has WireGuard and GRE as loadable modules.
#
# Usage: bash tests/kernel/vm.sh SCRIPT [ARGS...]
#
# The guest sees the host's whole filesystem read-only over virtio-9p, under a tmpfs overlay
# (tests/kernel/init), so SCRIPT, the build tree and every installed tool are simply there. The
# script runs as root with bash (tests/kernel/guest-run.sh); its output comes back on the
# serial console, which this script streams to stdout and to a log file. The exit code is the
# guest script's; any failure to boot or to report is loud and non-zero, never 0.
#
# systemd mode: a script whose header has the line `# l2wg-vm: systemd` runs under a real systemd
# (the host's, 252) as PID 1 with the real system bus, instead of under guest-run.sh as PID 1.
# Before booting, this script installs the build (L2WG_BUILD_DIR, required then) into the job dir
# (`DESTDIR=JOB/stage cmake --install BUILD`, with the build's own prefix; what a merged-/usr host
# has as a symlink, e.g. /lib -> usr/lib, is moved under usr/) and checks that the unit's
# ExecStart is the installed l2wgd. The stage also holds the boot's configuration: the target
# l2wg-test.target (basic.target, then l2wg-test.service, which runs guest-run.sh and so the
# script, its output on the console, then powers off) and masks (/dev/null links) of the units
# and generators that are slow or irrelevant in the VM (udev, timesyncd, the API mounts nobody
# uses, tmp.conf, which would empty /tmp, ...): systemd reaches the target in ~8 s under TCG.
# init mounts the host's / a second time (mount_tag trees) and lays the stage over the guest's
# root as the first lower layer, so systemd sees the project installed from its first instant.
# guest-run.sh prints `systemd-analyze time` before the script runs.
#
# Environment (all optional):
#   L2WG_BUILD_DIR, L2WG_SOURCE_DIR  passed to the guest (source dir defaults to this repo), as
#                        is every other exported L2WG_* variable
#   L2WG_KERNEL_CACHE    where kernels and initramfs images live (/var/cache/l2wg-kernel)
#   L2WG_KERNEL_VERSION  e.g. 6.1.0-56-amd64; default: what linux-image-amd64 depends on
#   L2WG_VM_TIMEOUT      seconds before the VM is killed (600)
#   L2WG_VM_LOG          console log file (CACHE/logs/SCRIPTNAME.log)
#   L2WG_VM_OUT_DIR      host dir the guest may write to (mounted at the same path inside)
#   L2WG_VM_MEMORY, L2WG_VM_CPUS  guest size (1024 MiB, 1 vCPU: under TCG a second vCPU makes
#                        netns and RCU-heavy work 2-3x slower, measured on a 2-core host)
#   L2WG_VM_CPU_MODEL    qemu -cpu model (max)
#   L2WG_VM_KERNEL_ARGS  extra kernel command line words, e.g. loglevel=7 to debug the boot
set -euo pipefail
shopt -s inherit_errexit nullglob
export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}

readonly infra_failure=125
die() {
  echo "kernel tier cannot run: $*" >&2
  exit "$infra_failure"
}

(($# >= 1)) || die "usage: bash tests/kernel/vm.sh SCRIPT [ARGS...]"
script=$(realpath -e -- "$1") || die "test script '$1' not found"
shift

here=$(dirname -- "$(realpath -e -- "${BASH_SOURCE[0]}")")
source_dir=$(realpath -e -- "${L2WG_SOURCE_DIR:-$here/../..}")
cache=${L2WG_KERNEL_CACHE:-/var/cache/l2wg-kernel}
timeout=${L2WG_VM_TIMEOUT:-600}

for tool in qemu-system-x86_64 apt-get apt-cache dpkg-deb depmod cpio busybox sha256sum; do
  command -v "$tool" >/dev/null ||
    die "'$tool' is missing (install the test dependencies: bash scripts/deps.sh)"
done
busybox=$(command -v busybox)
[[ $(ldd "$busybox" 2>&1 || true) == *'not a dynamic executable'* ]] ||
  die "$busybox is not statically linked (install busybox-static)"

mkdir -p "$cache/jobs" "$cache/logs" || die "cannot create the cache dir $cache (set L2WG_KERNEL_CACHE)"
cache=$(realpath -e -- "$cache")

# Kernel -------------------------------------------------------------------------------------

# Prints the versioned image package that the linux-image-amd64 metapackage depends on.
metapackage_target() {
  { apt-cache depends linux-image-amd64 2>/dev/null || true; } |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ && !found { print $2; found = 1 }'
}

newest_cached_version() {
  local stamps=("$cache"/*/.complete)
  ((${#stamps[@]})) || return 1
  printf '%s\n' "${stamps[@]}" | sort -V | tail -n 1 | xargs dirname | xargs basename
}

# Writes the uncompressed ELF kernel inside bzImage BZIMAGE to OUT. qemu boots that directly
# (PVH entry), which skips the kernel's self-decompression: about 9 s under TCG.
extract_vmlinux() {
  local bzimage=$1 out=$2 magic offset
  local -A decompressors=([$'\xfd7zXZ\x00']='xz -dc --single-stream' [$'\x28\xb5\x2f\xfd']='zstd -qdc'
    [$'\x1f\x8b\x08']='gzip -dc')
  for magic in "${!decompressors[@]}"; do
    offset=$(grep -abo -m1 -- "$magic" "$bzimage" | head -n 1 | cut -d: -f1)
    [[ -n $offset ]] || continue
    tail -c "+$((offset + 1))" -- "$bzimage" | ${decompressors[$magic]} >"$out" 2>/dev/null
    [[ $(head -c 4 -- "$out" | od -An -c | tr -d ' ') == 177ELF ]] && return 0
  done
  rm -f -- "$out"
  return 1
}

# Downloads linux-image-VERSION and extracts it into CACHE/VERSION/root with a modules.dep.
fetch_kernel() {
  local version=$1 dir=$cache/$1 staging=$cache/$1.partial deb
  rm -rf -- "$staging"
  mkdir -p "$staging" || return 1
  # apt-get download warns that it runs unsandboxed as root; only its failure matters.
  (cd "$staging" && apt-get download -q "linux-image-$version" >download.log 2>&1) || {
    cat "$staging/download.log" >&2
    return 1
  }
  deb=$(ls -1 "$staging"/linux-image-*.deb)
  dpkg-deb -x "$deb" "$staging/root" || die "cannot extract $deb"
  rm -f -- "$deb" "$staging/download.log"
  # Newer Debian kernels ship usr/lib/modules only; depmod -b and the guest expect lib/.
  if [[ ! -e $staging/root/lib && -d $staging/root/usr/lib/modules ]]; then
    ln -s usr/lib "$staging/root/lib"
  fi
  [[ -f $staging/root/boot/vmlinuz-$version && -d $staging/root/lib/modules/$version ]] ||
    die "linux-image-$version has no boot/vmlinuz-$version or lib/modules/$version"
  depmod -b "$staging/root" "$version" || die "depmod failed for $version"
  extract_vmlinux "$staging/root/boot/vmlinuz-$version" "$staging/vmlinux" ||
    echo "vm.sh: cannot unpack vmlinux from the bzImage; booting it compressed (slower)" >&2
  touch "$staging/.complete"
  rm -rf -- "$dir"
  mv -- "$staging" "$dir"
}

# Picks the kernel version and makes sure it is extracted in the cache; prints the version.
prepare_kernel() {
  local version=${L2WG_KERNEL_VERSION:-}
  if [[ -z $version ]]; then
    local package
    package=$(metapackage_target)
    if [[ -z $package ]]; then
      echo "vm.sh: apt knows no linux-image-amd64; running apt-get update" >&2
      apt-get update -qq >&2 || true
      package=$(metapackage_target)
    fi
    if [[ -z $package ]]; then
      version=$(newest_cached_version) ||
        die "apt offers no linux-image-amd64 and no kernel is cached in $cache"
      echo "vm.sh: apt offers no linux-image-amd64; using cached $version" >&2
    else
      version=${package#linux-image-}
    fi
  fi
  if [[ ! -f $cache/$version/.complete ]]; then
    echo "vm.sh: downloading linux-image-$version into $cache" >&2
    if ! fetch_kernel "$version"; then
      # Stale package lists name a version the archive no longer has: refresh once.
      echo "vm.sh: download failed; running apt-get update and retrying" >&2
      apt-get update -qq >&2 || true
      [[ -z ${L2WG_KERNEL_VERSION:-} ]] && version=$(metapackage_target | sed 's/^linux-image-//')
      [[ -n $version ]] || die "apt offers no linux-image-amd64 even after apt-get update"
      [[ -f $cache/$version/.complete ]] || fetch_kernel "$version" ||
        die "cannot download linux-image-$version"
    fi
  fi
  echo "$version"
}

# Initramfs ----------------------------------------------------------------------------------

# Prints MODULE's dependency closure from modules.dep, dependencies before dependents.
module_load_order() {
  local modules_dir=$1 module=$2
  local -A seen=()
  local -a order=()
  visit() {
    local path=$1 line dep
    [[ -n ${seen[$path]:-} ]] && return
    seen[$path]=1
    line=$(awk -F: -v path="$path" '$1 == path { print; exit }' "$modules_dir/modules.dep")
    [[ -n $line ]] || die "module $path not in modules.dep"
    for dep in ${line#*:}; do visit "$dep"; done
    order+=("${line%%:*}")
  }
  for module in "${@:2}"; do
    local file
    file=$(awk -F: -v name="$module" '$1 ~ ("/" name "[.]ko([.](xz|zst|gz))?$") { print $1; exit }' \
      "$modules_dir/modules.dep")
    [[ -n $file ]] || die "module $module not in modules.dep of $modules_dir"
    visit "$file"
  done
  printf '%s\n' "${order[@]}"
}

# Builds (or reuses) the initramfs for VERSION; prints its path. Keyed on the init script, the
# busybox binary and the kernel, so editing tests/kernel/init rebuilds it.
prepare_initramfs() {
  local version=$1 modules_dir=$cache/$1/root/lib/modules/$1 key image staging path name
  local -a modules
  local order
  order=$(module_load_order "$modules_dir" virtio_pci 9pnet_virtio 9p overlay)
  mapfile -t modules <<<"$order"
  key=$( {
    cat "$here/init" "$busybox"
    printf '%s\n' "$version" "${modules[@]}"
  } | sha256sum | cut -c1-16)
  image=$cache/$version/initramfs-$key.cpio
  if [[ ! -f $image ]]; then
    staging=$(mktemp -d "$cache/$version/initramfs.XXXXXX")
    mkdir -p "$staging/bin" "$staging/modules"
    cp -- "$busybox" "$staging/bin/busybox"
    install -m 0755 -- "$here/init" "$staging/init"
    for path in "${modules[@]}"; do
      name=${path##*/}
      # busybox insmod wants plain .ko files.
      case $name in
        *.ko.xz) xz -dc -- "$modules_dir/$path" >"$staging/modules/${name%.xz}" ;;
        *.ko.zst) zstd -qdc -- "$modules_dir/$path" >"$staging/modules/${name%.zst}" ;;
        *.ko.gz) gzip -dc -- "$modules_dir/$path" >"$staging/modules/${name%.gz}" ;;
        *) cp -- "$modules_dir/$path" "$staging/modules/$name" ;;
      esac
      echo "${name%.ko*}.ko" >>"$staging/modules/load-order"
    done
    (cd "$staging" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
      >"$image.partial" || die "cpio failed building the initramfs"
    rm -rf -- "$staging"
    rm -f -- "$cache/$version"/initramfs-*.cpio
    mv -- "$image.partial" "$image"
  fi
  echo "$image"
}

exec {lock_fd}>"$cache/.lock"
flock "$lock_fd"
version=$(prepare_kernel)
initramfs=$(prepare_initramfs "$version")
flock -u "$lock_fd"
modules_path=$(realpath -e -- "$cache/$version/root/lib/modules/$version")
kernel_image=$cache/$version/vmlinux
[[ -f $kernel_image ]] || kernel_image=$cache/$version/root/boot/vmlinuz-$version

# Job ----------------------------------------------------------------------------------------

# Job dirs of runs that were killed outright (SIGKILL) are left behind; a day is ample.
find "$cache/jobs" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf -- {} + 2>/dev/null || true
job_dir=$(mktemp -d "$cache/jobs/job.XXXXXX")
log=${L2WG_VM_LOG:-$cache/logs/$(basename -- "$script").log}
qemu_pid=
tee_pid=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null
  [[ -n $tee_pid ]] && wait "$tee_pid" 2>/dev/null
  rm -rf -- "$job_dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# Every exported L2WG_* variable reaches the guest script (e.g. switches a scenario reads).
{
  for name in $(compgen -e); do
    [[ $name == L2WG_* && $name != L2WG_IN_VM ]] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  printf 'export L2WG_SOURCE_DIR=%q\n' "$source_dir"
  [[ -n ${L2WG_BUILD_DIR:-} ]] && printf 'export L2WG_BUILD_DIR=%q\n' "$(realpath -m -- "$L2WG_BUILD_DIR")"
  [[ -n ${L2WG_VM_OUT_DIR:-} ]] && printf 'export L2WG_VM_OUT_DIR=%q\n' "$(realpath -m -- "$L2WG_VM_OUT_DIR")"
  printf 'L2WG_VM_SCRIPT=%q\n' "$script"
  printf 'L2WG_VM_ARGS=('
  (($#)) && printf '%q ' "$@"
  printf ')\n'
} >"$job_dir/job"

# systemd mode (see the header) -------------------------------------------------------------

systemd_mode=
grep -qxE '# l2wg-vm: systemd' "$script" && systemd_mode=1
extra_kernel_args=
# Units of the host that slow the boot under TCG (27 s -> 8 s) or need udev, which is masked.
masked_units=(systemd-timesyncd.service systemd-udevd.service systemd-udev-trigger.service
  systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-udev-settle.service
  dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount
  sys-fs-fuse-connections.mount sys-kernel-config.mount proc-sys-fs-binfmt_misc.automount
  proc-sys-fs-binfmt_misc.mount systemd-binfmt.service modprobe@.service
  kmod-static-nodes.service systemd-tmpfiles-setup-dev.service systemd-update-utmp.service
  systemd-random-seed.service systemd-journal-flush.service systemd-pstore.service
  systemd-remount-fs.service systemd-sysctl.service timers.target)

# stage_systemd STAGE: the staged install of the build and the boot's configuration in STAGE.
stage_systemd() {
  local stage=$1 top target unit exec_start
  command -v cmake >/dev/null || die "'cmake' is missing (systemd mode installs the build)"
  [[ -x /lib/systemd/systemd ]] || die "systemd mode needs systemd on the host (/lib/systemd/systemd)"
  [[ -n ${L2WG_BUILD_DIR:-} && -f $L2WG_BUILD_DIR/cmake_install.cmake ]] ||
    die "systemd mode needs L2WG_BUILD_DIR, a configured and built build dir"
  DESTDIR=$stage nice cmake --install "$L2WG_BUILD_DIR" >"$job_dir/install.log" 2>&1 || {
    cat "$job_dir/install.log" >&2
    die "cmake --install of $L2WG_BUILD_DIR into the stage failed"
  }
  # A directory in a lower layer hides the host's symlink of the same name (/lib -> usr/lib):
  # the stage follows the host's merged /usr.
  for top in bin sbin lib lib32 lib64; do
    [[ -L /$top && -d $stage/$top && ! -L $stage/$top ]] || continue
    target=$(readlink -- "/$top")
    target=${target#/}
    mkdir -p -- "$stage/$target"
    cp -a -- "$stage/$top/." "$stage/$target/"
    rm -rf -- "${stage:?}/$top"
  done
  unit=$(find "$stage" -name l2wgd.service -path '*/systemd/system/*' | head -n 1)
  [[ -n $unit ]] || die "the staged install has no l2wgd.service"
  exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
  [[ -x $stage$exec_start ]] ||
    die "the unit's ExecStart=$exec_start is not the installed l2wgd (configured with another prefix?)"
  echo "vm.sh: systemd mode: the build installed into $stage:"
  (cd "$stage" && find . -type f \( -name 'l2wg*' -o -name 'net.l2wg1*' \) ! -path '*/man/*' |
    sed 's|^\.|  |' | sort)

  mkdir -p "$stage/etc/systemd/system" "$stage/etc/systemd/system-generators" "$stage/etc/tmpfiles.d"
  for unit in "${masked_units[@]}"; do ln -sf /dev/null "$stage/etc/systemd/system/$unit"; done
  for unit in /lib/systemd/system-generators/*; do
    ln -sf /dev/null "$stage/etc/systemd/system-generators/${unit##*/}"
  done
  # Debian's `D /tmp` would empty /tmp, i.e. the host's, where tests and builds may live.
  ln -sf /dev/null "$stage/etc/tmpfiles.d/tmp.conf"
  cat >"$stage/etc/systemd/system/l2wg-test.target" <<EOF
[Unit]
Description=l2wg kernel tier: one test script under systemd
Requires=basic.target
After=basic.target
Wants=l2wg-test.service
AllowIsolate=yes
EOF
  cat >"$stage/etc/systemd/system/l2wg-test.service" <<EOF
[Unit]
Description=l2wg kernel tier: $(basename -- "$script")
After=basic.target dbus.socket

[Service]
Type=exec
Environment=L2WG_VM_SYSTEMD=1
ExecStart=/bin/bash $here/guest-run.sh $job_dir/job
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/console
TTYReset=no
TTYVHangup=no
EOF
}

if [[ -n $systemd_mode ]]; then
  stage_systemd "$job_dir/stage"
  extra_kernel_args="l2wg_systemd=1 l2wg_layers=$job_dir/stage systemd.unit=l2wg-test.target systemd.show_status=error"
fi

# The kernel command line splits on spaces and qemu's option parser on commas.
for path in "$modules_path" "$here/guest-run.sh" "$job_dir/job" "$cache" "${L2WG_VM_OUT_DIR:-}"; do
  [[ $path != *[[:space:],]* ]] || die "path '$path' contains a space or comma"
done

# shellcheck disable=SC2054  # qemu options are comma-separated
qemu_args=(
  -accel tcg -cpu "${L2WG_VM_CPU_MODEL:-max}" -m "${L2WG_VM_MEMORY:-1024}" -smp "${L2WG_VM_CPUS:-1}"
  -nodefaults -no-user-config -display none -no-reboot -serial stdio
  -kernel "$kernel_image" -initrd "$initramfs"
  -append "console=ttyS0 loglevel=3 panic=-1 l2wg_modules=$modules_path l2wg_stage2=$here/guest-run.sh l2wg_job=$job_dir/job $extra_kernel_args ${L2WG_VM_KERNEL_ARGS:-}"
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
)
if [[ -n $systemd_mode ]]; then
  # shellcheck disable=SC2054
  qemu_args+=(
    -fsdev local,id=trees,path=/,security_model=none,readonly=on,multidevs=remap
    -device virtio-9p-pci,fsdev=trees,mount_tag=trees
  )
fi
if [[ -n ${L2WG_VM_OUT_DIR:-} ]]; then
  mkdir -p -- "$L2WG_VM_OUT_DIR"
  # shellcheck disable=SC2054
  qemu_args+=(
    -fsdev "local,id=l2wgout,path=$(realpath -e -- "$L2WG_VM_OUT_DIR"),security_model=none"
    -device virtio-9p-pci,fsdev=l2wgout,mount_tag=l2wgout
  )
fi

# Run ----------------------------------------------------------------------------------------

echo "vm.sh: kernel $version,${systemd_mode:+ under systemd,} running $script${*:+ $*}; console log: $log"
mkfifo "$job_dir/console"
# Emptied here, before anything reads it: tee truncates it only once it runs, and until then a
# previous run's exit marker would pass for this run's.
: >"$log"
sed -u "s/\r\$//" <"$job_dir/console" | tee "$log" &
tee_pid=$!
started=$SECONDS
# timeout(1) is a second guard that outlives this script if it is killed with SIGKILL (e.g. by
# ctest); a SIGTERM to it reaches qemu.
timeout --kill-after=10 $((timeout + 15)) qemu-system-x86_64 "${qemu_args[@]}" \
  </dev/null >"$job_dir/console" 2>&1 &
qemu_pid=$!

marker_re='^L2WG-VM-EXIT: [0-9]+$'
timed_out=
marker_seen_at=
while kill -0 "$qemu_pid" 2>/dev/null; do
  if ((SECONDS - started >= timeout)); then
    timed_out=1
    break
  fi
  # The guest powers off right after the marker; do not wait forever if that hangs.
  if [[ -z $marker_seen_at ]] && grep -qE "$marker_re" "$log" 2>/dev/null; then
    marker_seen_at=$SECONDS
  fi
  if [[ -n $marker_seen_at ]] && ((SECONDS - marker_seen_at > 20)); then
    echo "vm.sh: guest reported its exit code but did not power off; killing qemu" >&2
    break
  fi
  sleep 1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
  kill "$qemu_pid" 2>/dev/null || true # timeout(1) passes the SIGTERM on to qemu
  for _ in 1 2 3 4 5; do
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$qemu_pid" 2>/dev/null; then
    pkill -KILL -P "$qemu_pid" || true
    kill -KILL "$qemu_pid" 2>/dev/null || true
  fi
fi
qemu_status=0
wait "$qemu_pid" || qemu_status=$?
qemu_pid=
wait "$tee_pid" || true
tee_pid=
elapsed=$((SECONDS - started))

if [[ -n $timed_out ]]; then
  echo "vm.sh: FAILED: the VM did not finish within ${timeout} s (L2WG_VM_TIMEOUT); log: $log" >&2
  exit "$infra_failure"
fi
marker=$(grep -aE "$marker_re" "$log" | tail -n 1 || true)
if [[ -z $marker ]]; then
  reason="the guest never reported an exit code"
  grep -q 'L2WG-VM-INIT-FAILED' "$log" && reason="the initramfs failed: $(grep -m1 'L2WG-VM-INIT-FAILED' "$log")"
  grep -q 'Kernel panic' "$log" && reason="the guest kernel panicked"
  echo "vm.sh: FAILED: $reason (qemu exit status $qemu_status, ${elapsed} s); log: $log" >&2
  exit "$infra_failure"
fi
rc=${marker##*: }
echo "vm.sh: guest script exited with $rc after ${elapsed} s in the VM"
exit "$rc"
