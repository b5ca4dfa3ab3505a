#!/usr/bin/env bash
# Throughput of the userspace gretap datapath against bare WireGuard, in one run on one
# wireguard-go pair: iperf3 TCP and UDP (-l 1400, unlimited rate) first over the WireGuard inner
# addresses, then over the taps of two datapath-drivers (MTU 1500, outer packets fragmented
# inside WireGuard, as MTU=auto does), then over taps of MTU 1382 (MTU=N: nothing fragments).
# Prints Mbit/s of each and the ratio gretap / bare.
#
# Usage (root): L2WG_BUILD_DIR=build bench/datapath_throughput.sh [SECONDS] [WORKERS]
source "$(dirname "$0")/../tests/lib/netns.sh"
l2wg_test_init

SECONDS_PER_RUN=${1:-5}
WORKERS=${2:-1}
DRIVER="$L2WG_BUILD_DIR/tests/tools/datapath-driver"
NSA=dpba-$TAG NSB=dpbb-$TAG
WGA=dpbwa$TAG WGB=dpbwb$TAG
TAPA=dpbta$TAG TAPB=dpbtb$TAG

ns_add "$NSA"
ns_add "$NSB"
wg_pair "$NSA" "$WGA" "$NSB" "$WGB" 10.0.31.1 10.0.31.2 24
wait_for 10 ip netns exec "$NSA" ping -c 1 -W 1 10.0.31.2 || { echo "WireGuard pair is down"; exit 1; }

bg_in "$NSB" "$WORKDIR/iperf3.log" iperf3 -s
wait_for 10 ip netns exec "$NSA" bash -c "echo >/dev/tcp/10.0.31.2/5201"

# iperf3_mbit KIND DEST: received Mbit/s of one run (KIND tcp or udp).
iperf3_mbit() {
  local args=()
  [ "$1" = udp ] && args=(-u -b 0 -l 1400)
  ip netns exec "$NSA" timeout $((SECONDS_PER_RUN + 20)) \
    iperf3 -c "$2" -t "$SECONDS_PER_RUN" -J "${args[@]}" >"$WORKDIR/run.json"
  python3 - "$WORKDIR/run.json" <<'EOF'
import json, sys
end = json.load(open(sys.argv[1]))["end"]
received = end.get("sum_received") or end["sum"]
print(f'{received["bits_per_second"] / 1e6:.0f}')
EOF
}

start_driver() {  # start_driver NS TAP WG LOCAL REMOTE
  bg_in "$1" "$WORKDIR/driver-$1.log" "$DRIVER" --tap "$2" --wg "$3" --local "$4" --remote "$5" \
    --workers "$WORKERS"
  wait_for 10 grep -q '^ready' "$WORKDIR/driver-$1.log" || { cat "$WORKDIR/driver-$1.log"; exit 1; }
}
start_driver "$NSA" "$TAPA" "$WGA" 10.0.31.1 10.0.31.2
DRIVER_A=$BG_PID
start_driver "$NSB" "$TAPB" "$WGB" 10.0.31.2 10.0.31.1
DRIVER_B=$BG_PID
ip -n "$NSA" addr add 198.51.100.1/24 dev "$TAPA"
ip -n "$NSB" addr add 198.51.100.2/24 dev "$TAPB"
ip -n "$NSA" link set "$TAPA" up
ip -n "$NSB" link set "$TAPB" up
wait_for 10 ip netns exec "$NSA" ping -c 1 -W 1 198.51.100.2 || { echo "gretap is down"; exit 1; }

declare -A result
for kind in tcp udp; do
  result[bare-$kind]=$(iperf3_mbit "$kind" 10.0.31.2)
  result[gretap-$kind]=$(iperf3_mbit "$kind" 198.51.100.2)
done
ip -n "$NSA" link set "$TAPA" mtu 1382
ip -n "$NSB" link set "$TAPB" mtu 1382
for kind in tcp udp; do
  result[gretap1382-$kind]=$(iperf3_mbit "$kind" 198.51.100.2)
done

echo "datapath throughput, wireguard-go, ${SECONDS_PER_RUN}s per run, $WORKERS worker(s), $(nproc) CPUs"
for kind in tcp udp; do
  bare=${result[bare-$kind]}
  for variant in gretap gretap1382; do
    value=${result[$variant-$kind]}
    label=$([ "$variant" = gretap ] && echo "gretap MTU 1500" || echo "gretap MTU 1382")
    printf '%s: bare %s Mbit/s, %s %s Mbit/s, ratio %s\n' "${kind^^}" "$bare" "$label" "$value" \
      "$(python3 -c "print(f'{$value / max($bare, 1):.2f}')")"
  done
done
kill -USR1 "$DRIVER_A" "$DRIVER_B"
sleep 0.3
echo "side A: $(grep '^frames_out=' "$WORKDIR/driver-$NSA.log" | tail -1)"
echo "side B: $(grep '^frames_out=' "$WORKDIR/driver-$NSB.log" | tail -1)"
