#!/usr/bin/env bash
# Throughput of the userspace gretap datapath against bare WireGuard, in one run on one
# wireguard-go pair (tests/netns/datapath.test.sh's, from tests/lib/datapath_pair.sh): iperf3
# first over the WireGuard inner addresses, then over the taps of two datapath-drivers: tap MTU
# 1500 with the TCP MSS clamp (what MTU=auto does: outer packets fragmented inside WireGuard,
# except TCP's, whose MSS is clamped to fit), tap MTU 1500 without it (every full frame
# fragmented), and MTU 1382 (as MTU=1382 does: nothing fragments).
# - TCP: received Mbit/s of a bulk transfer.
# - UDP throughput (RFC 2544 §26.1, with a 1% loss tolerance): the highest offered rate of
#   1400-byte datagrams that arrives with at most 1% lost, found by bisection, for bare WireGuard
#   and MTU=auto.
# - UDP at an unlimited offered rate (-b 0): what arrives while the sender floods, some 90% lost
#   on both paths. That measures where an overloaded host drops (before or after work was spent
#   on a packet), not what the path carries; it is printed for comparison.
# Prints the Mbit/s of each, the ratio gretap / bare, the clamp in effect and the datapath's
# counters (with the offloads').
#
# Usage (root): L2WG_BUILD_DIR=build bench/datapath_throughput.sh [SECONDS] [WORKERS] [ROUNDS]
# shellcheck source=tests/lib/netns.sh
source "$(dirname "$0")/../tests/lib/netns.sh"
# shellcheck source=tests/lib/datapath_pair.sh
source "$(dirname "$0")/../tests/lib/datapath_pair.sh"
l2wg_test_init

SECONDS_PER_RUN=${1:-5}
WORKERS=${2:-1}
ROUNDS=${3:-3}
datapath_pair_setup dpb
wait_for 10 ip netns exec "$NSA" ping -c 1 -W 1 10.0.31.2 || { echo "WireGuard pair is down"; exit 1; }

bg_in "$NSB" "$WORKDIR/iperf3.log" iperf3 -s
wait_for 10 ip netns exec "$NSA" bash -c "echo >/dev/tcp/10.0.31.2/5201"

# iperf3_run DEST SECONDS [IPERF3 ARGS...]: "RECEIVED_MBITS LOST_PERCENT" of one run.
iperf3_run() {
  ip netns exec "$NSA" timeout $(($2 + 20)) \
    iperf3 -c "$1" -t "$2" -J "${@:3}" >"$WORKDIR/run.json"
  python3 - "$WORKDIR/run.json" <<'EOF'
import json, sys
end = json.load(open(sys.argv[1]))["end"]
received = end.get("sum_received") or end["sum"]
print(f'{received["bits_per_second"] / 1e6:.0f} {received.get("lost_percent", 0):.2f}')
EOF
}

# iperf3_mbit KIND DEST: received Mbit/s of one run (KIND tcp, or udp at an unlimited rate).
iperf3_mbit() {
  local args=()
  [ "$1" = udp ] && args=(-u -b 0 -l 1400)
  iperf3_run "$2" "$SECONDS_PER_RUN" "${args[@]}" | cut -d' ' -f1
}

# udp_throughput DEST CEILING: the highest offered rate (Mbit/s) of 1400-byte datagrams below
# CEILING that DEST receives with at most 1% lost, bisected in 3-second trials to 1/64 of CEILING.
udp_throughput() {
  local low=0 high=$2 rate result
  while [ $((high - low)) -gt $(($2 / 64)) ]; do
    rate=$(((low + high) / 2))
    result=$(iperf3_run "$1" 3 -u -l 1400 -b "${rate}M")
    if python3 -c "import sys; sys.exit(0 if float('${result#* }') <= 1.0 else 1)"; then
      low=$rate
    else
      high=$rate
    fi
  done
  echo "$low"
}

# start_drivers [ARGS...]: (re)starts the driver on each side with ARGS and the bench's workers,
# GRE over the IPv4 inner addresses.
start_drivers() {
  [ -z "${PID_A:-}" ] || stop_pair
  start_pair 4 "--workers $WORKERS $*" "--workers $WORKERS $*"
}
start_drivers --clamp-mss
wait_for 10 ip netns exec "$NSA" ping -c 1 -W 1 198.51.100.2 || { echo "gretap is down"; exit 1; }

# Rounds alternate the variants, so that load from elsewhere on the host spreads over all of
# them; the median of each is reported.
CLAMP=$(grep '^mss_clamp_mtu=' "$LOG_A")
VARIANTS="1500-clamp 1500 1382"
declare -A results
for _ in $(seq "$ROUNDS"); do
  for variant in $VARIANTS; do
    if [ "$variant" = 1500-clamp ]; then start_drivers --clamp-mss; else start_drivers; fi
    ip -n "$NSA" link set "$TAPA" mtu "${variant%-clamp}"
    ip -n "$NSB" link set "$TAPB" mtu "${variant%-clamp}"
    wait_for 10 ip netns exec "$NSA" ping -c 1 -W 1 198.51.100.2 || { echo "gretap is down"; exit 1; }
    for kind in tcp udp; do
      [ "$variant" = 1500-clamp ] && results[bare-$kind]+=" $(iperf3_mbit "$kind" 10.0.31.2)"
      results[$variant-$kind]+=" $(iperf3_mbit "$kind" 198.51.100.2)"
    done
    if [ "$variant" = 1500-clamp ]; then
      # UDP cannot beat this round's bare TCP by half as much again.
      ceiling=$(($(tr ' ' '\n' <<<"${results[bare-tcp]}" | tail -1) * 3 / 2))
      results[bare-udp-throughput]+=" $(udp_throughput 10.0.31.2 "$ceiling")"
      results[$variant-udp-throughput]+=" $(udp_throughput 198.51.100.2 "$ceiling")"
      CLAMP_COUNTERS=$(counters "$LOG_A" "$PID_A")
    fi
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }

echo "datapath throughput, wireguard-go, $ROUNDS rounds of ${SECONDS_PER_RUN}s runs, medians," \
  "$WORKERS worker(s), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg)"
echo "MSS clamp: $CLAMP"
# report WHAT LABEL BARE_KEY GRETAP_KEY: one line of medians and their ratio.
report() {
  local bare value
  bare=$(median "${results[$3]}")
  value=$(median "${results[$4]}")
  printf '%s: bare %s Mbit/s, gretap (%s) %s Mbit/s, ratio %s   [runs: bare%s, gretap%s]\n' \
    "$1" "$bare" "$2" "$value" "$(python3 -c "print(f'{$value / max($bare, 1):.2f}')")" \
    "${results[$3]}" "${results[$4]}"
}
label() {
  case $1 in
    1500-clamp) echo "tap MTU 1500, MSS clamped (MTU=auto)" ;;
    1500) echo "tap MTU 1500, no clamp" ;;
    *) echo "tap MTU $1" ;;
  esac
}
for variant in $VARIANTS; do report TCP "$(label "$variant")" bare-tcp "$variant-tcp"; done
report "UDP throughput (at most 1% lost)" "$(label 1500-clamp)" bare-udp-throughput \
  1500-clamp-udp-throughput
for variant in $VARIANTS; do
  report "UDP flood (-b 0, most of it lost)" "$(label "$variant")" bare-udp "$variant-udp"
done
echo "side A, last clamping round: $CLAMP_COUNTERS"
