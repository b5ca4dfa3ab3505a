#!/usr/bin/env bash
# TCP over kernel gretap over kernel WireGuard, with and without l2wgd's nftables MSS clamp, as a
# ratio to bare kernel WireGuard. It needs a kernel with WireGuard and gretap, so it boots the
# kernel tier's VM (tests/kernel/vm.sh: qemu under TCG, one vCPU) and runs itself inside.
#
# In the VM: two namespaces joined by kernel WireGuard (tests/lib/netns.sh's wg_pair); side A runs
# l2wgd with a plain-tap tunnel (MTU=auto: kernel gretap, 1500-byte tap, its MSS clamped by table
# inet l2wg-mss-l2-a), side B the same tap by l2wg-plumb (no clamp: A's rules see the SYN leave
# and the SYN-ACK come back, which clamps both ends). iperf3 from A to B, SECONDS per run, ROUNDS
# rounds alternating: bare WireGuard (the inner addresses), gretap clamped, and gretap with the
# table deleted (every full segment fragmented inside WireGuard). Prints each run, the medians
# and the ratios to bare WireGuard, and the MSS each variant negotiates.
#
# Usage (root, on the host): L2WG_BUILD_DIR=build bench/kernel_mss_clamp.sh [SECONDS] [ROUNDS]
# With L2WG_BENCH_GUEST=1 it runs right where it is, on a host with WireGuard and gretap.
if [ "${L2WG_BENCH_GUEST:-0}" != 1 ]; then
  export L2WG_BENCH_GUEST=1 L2WG_VM_TIMEOUT=${L2WG_VM_TIMEOUT:-900}
  exec bash "$(dirname "$0")/../tests/kernel/vm.sh" "$(realpath "$0")" "$@"
fi

export L2WG_KERNEL_WG=1
# shellcheck source=tests/lib/netns.sh
source "$(dirname "$0")/../tests/lib/netns.sh"
bench_init kernel_mss_clamp
SECONDS_PER_RUN=${1:-10}
ROUNDS=${2:-3}

A=l2kma-$TAG B=l2kmb-$TAG
ns_add "$A"
ns_add "$B"
wg_pair "$A" wga "$B" wgb 10.0.31.1 10.0.31.2 24
system_bus
start_daemon "$A"
"$L2WG_BUILD_DIR/cli/l2wg" up a --wg wga --peer 10.0.31.2 --interface l2-a >/dev/null
bg_in "$B" "$WORKDIR/plumb.log" "$PLUMB" --datapath kernel --wg wgb --peer 10.0.31.1 --interface l2-b
wait_for 20 grep -q '^{' "$WORKDIR/plumb.log" || { echo "l2wg-plumb did not come up"; exit 1; }
ip -n "$A" addr add 198.51.100.1/24 dev l2-a
ip -n "$B" addr add 198.51.100.2/24 dev l2-b
wait_for 10 ip netns exec "$A" ping -c 1 -W 1 198.51.100.2 >/dev/null || { echo "gretap is down"; exit 1; }
ip netns exec "$A" nft list table inet l2wg-mss-l2-a >"$WORKDIR/clamp.nft" ||
  { echo "l2wgd installed no clamp"; exit 1; }
echo "kernel $(uname -r); WireGuard MTU $(ip -n "$A" -j link show wga | jq '.[0].mtu'), tap MTU 1500," \
  "l2wgd's MSSClamp $(busctl --system get-property net.l2wg1 /net/l2wg1/tunnel/a net.l2wg1.Tunnel MSSClamp)"

bg_in "$B" "$WORKDIR/iperf3.log" iperf3 -s
wait_for 10 ip netns exec "$A" bash -c "echo >/dev/tcp/10.0.31.2/5201"

mbit() {  # mbit DEST: received Mbit/s of one TCP run
  ip netns exec "$A" timeout $((SECONDS_PER_RUN + 30)) iperf3 -c "$1" -t "$SECONDS_PER_RUN" -J \
    >"$WORKDIR/run.json"
  jq '.end.sum_received.bits_per_second / 1e6 | floor' "$WORKDIR/run.json"
}
clamp() {  # clamp on|off
  ip netns exec "$A" nft delete table inet l2wg-mss-l2-a 2>/dev/null || true
  [ "$1" = off ] || ip netns exec "$A" nft -f "$WORKDIR/clamp.nft"
}
negotiated() {  # the MSS A's side of a new connection to B's tap negotiates
  ip netns exec "$A" python3 -c '
import socket
c = socket.create_connection(("198.51.100.2", 5201), timeout=5)
print(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))'
}

declare -A runs=()
for round in $(seq "$ROUNDS"); do
  runs[bare]+="$(mbit 10.0.31.2) "
  clamp on
  runs[clamped]+="$(mbit 198.51.100.2) "
  clamp off
  runs[unclamped]+="$(mbit 198.51.100.2) "
  echo "round $round, Mbit/s so far: bare ${runs[bare]}| clamped ${runs[clamped]}| unclamped ${runs[unclamped]}"
done
clamp on
mss_clamped=$(negotiated)
clamp off
mss_unclamped=$(negotiated)
clamp on

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
bare=$(median "${runs[bare]}")
echo "TCP Mbit/s, median of $ROUNDS runs of $SECONDS_PER_RUN s:"
printf '  %-34s %6s  (runs: %s)\n' "bare kernel WireGuard" "$bare" "${runs[bare]}"
for variant in clamped unclamped; do
  m=$(median "${runs[$variant]}")
  printf '  %-34s %6s  ratio %.2f  (runs: %s)\n' "kernel gretap, MSS $variant" "$m" \
    "$(awk -v a="$m" -v b="$bare" 'BEGIN { print (b > 0 ? a / b : 0) }')" "${runs[$variant]}"
done
echo "negotiated MSS (TCP_MAXSEG, timestamps on): clamped $mss_clamped, unclamped $mss_unclamped"
"$L2WG_BUILD_DIR/cli/l2wg" down a >/dev/null
