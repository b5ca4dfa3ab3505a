#!/usr/bin/env bash
# Installs every build and test dependency of l2wg with apt-get. Idempotent: a second run with
# everything present does not touch the network.
set -euo pipefail

build_packages=(
  build-essential cmake pkg-config git clang clang-format
  libnl-3-dev libnl-route-3-dev libnl-genl-3-dev
  libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libinih-dev
  libclang-rt-14-dev libnftables-dev
  scdoc
)
test_packages=(
  iproute2 iputils-ping iperf3 nftables procps util-linux tcpdump
  wireguard-tools wireguard-go
  dbus dbus-daemon
  kea-dhcp6-server ndisc6 tshark dhcpcd5 python3 traceroute
  python3-dnspython bind9-dnsutils conntrack
  qemu-system-x86 busybox-static cpio kmod
  man-db groff-base bash-completion zsh
  network-manager
)

# The Debian package (debian/, tests/package/): dpkg-buildpackage with debhelper, lintian on the
# result; dbus-1.pc and systemd.pc say where the bus and systemd read the files CMake installs;
# scdoc builds the man pages the package ships.
package_packages=(
  debhelper dpkg-dev fakeroot lintian libdbus-1-dev systemd scdoc
)

# One dpkg-query for all of them (one per package took seconds on a loaded machine, and
# scripts/demo.sh runs this every time).
declare -A installed=()
while read -r p; do installed[$p]=1; done < <(dpkg-query -W -f='${Package} ${Status}
' \
  "${build_packages[@]}" "${test_packages[@]}" "${package_packages[@]}" 2>/dev/null |
  awk '/ install ok installed$/ { print $1 }')
missing=()
for p in "${build_packages[@]}" "${test_packages[@]}" "${package_packages[@]}"; do
  [ -n "${installed[$p]:-}" ] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # tshark asks whether non-root users may capture; the answer does not matter for tests.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "deps: all present"
