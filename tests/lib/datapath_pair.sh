# shellcheck shell=bash
# The userspace datapath on its own (tests/tools/datapath-driver, no daemon) between two
# namespaces, for tests/netns/datapath.test.sh and bench/datapath_throughput.sh. Source it after
# tests/lib/netns.sh (and l2wg_test_init), then call datapath_pair_setup.
#
#   NSA  WGA 10.0.31.1 fd00:31::1  ==== wireguard-go ====  WGB 10.0.31.2 fd00:31::2  NSB
#        TAPA 198.51.100.1/24           a datapath-driver      TAPB 198.51.100.2/24
#             2001:db8:31::1/64         on each side                2001:db8:31::2/64
#
# The taps are persistent: they keep their addresses and MTU when the drivers are restarted.
# Set by datapath_pair_setup: NSA NSB (namespaces), WGA WGB (WireGuard), TAPA TAPB (taps).
# Set by start_pair: PID_A PID_B and LOG_A LOG_B (the drivers' PIDs and logs).

DATAPATH_DRIVER="$L2WG_BUILD_DIR/tests/tools/datapath-driver"

# datapath_pair_setup PREFIX: the namespaces PREFIXa-TAG and PREFIXb-TAG and the WireGuard pair
# between them (interfaces PREFIXwa/PREFIXwb and taps PREFIXta/PREFIXtb, TAG appended), no
# driver yet. PREFIX keeps the names of a test and a bench apart.
datapath_pair_setup() {
  NSA=$1a-$TAG NSB=$1b-$TAG
  WGA=$1wa$TAG WGB=$1wb$TAG
  TAPA=$1ta$TAG TAPB=$1tb$TAG
  ns_add "$NSA"
  ns_add "$NSB"
  wg_pair "$NSA" "$WGA" "$NSB" "$WGB" 10.0.31.1 10.0.31.2 24
  # IPv6 inner addresses on the same WireGuard pair, for IPv6 GRE endpoints.
  ip -n "$NSA" addr add fd00:31::1/64 dev "$WGA" nodad
  ip -n "$NSB" addr add fd00:31::2/64 dev "$WGB" nodad
  ip netns exec "$NSA" wg set "$WGA" peer "$WG_PUB_B" allowed-ips 10.0.31.2/32,fd00:31::2/128
  ip netns exec "$NSB" wg set "$WGB" peer "$WG_PUB_A" allowed-ips 10.0.31.1/32,fd00:31::1/128
}

# start_side NS TAP LOCAL REMOTE ARGS...: a driver in NS; sets DRIVER_PID and DRIVER_LOG.
start_side() {
  local ns=$1 tap=$2 local_address=$3 remote=$4 log=$WORKDIR/driver-$1-$RANDOM.log
  shift 4
  bg_in "$ns" "$log" "$DATAPATH_DRIVER" --tap "$tap" --wg "$([ "$ns" = "$NSA" ] && echo "$WGA" || echo "$WGB")" \
    --local "$local_address" --remote "$remote" "$@"
  DRIVER_PID=$BG_PID DRIVER_LOG=$log
  wait_for 10 grep -q '^ready' "$log" || { echo "datapath-driver did not start:"; cat "$log"; return 1; }
}

# start_pair FAMILY [ARGS_A] [ARGS_B]: a driver on each side (GRE over IPv4 or IPv6 inner
# addresses), the taps up with their addresses (kept on the persistent taps across restarts).
start_pair() {
  local family=$1 args_a=${2:-} args_b=${3:-}
  if [ "$family" = 4 ]; then
    set -- 10.0.31.1 10.0.31.2
  else
    set -- fd00:31::1 fd00:31::2
  fi
  # shellcheck disable=SC2086 # word splitting of the extra arguments is intended
  start_side "$NSA" "$TAPA" "$1" "$2" $args_a
  PID_A=$DRIVER_PID LOG_A=$DRIVER_LOG
  # shellcheck disable=SC2086
  start_side "$NSB" "$TAPB" "$2" "$1" $args_b
  PID_B=$DRIVER_PID LOG_B=$DRIVER_LOG
  local ns tap n
  for n in 1 2; do
    ns=$([ $n = 1 ] && echo "$NSA" || echo "$NSB")
    tap=$([ $n = 1 ] && echo "$TAPA" || echo "$TAPB")
    ip -n "$ns" link set "$tap" up
    ip -n "$ns" addr replace "198.51.100.$n/24" dev "$tap"
    ip -n "$ns" addr replace "2001:db8:31::$n/64" dev "$tap" nodad
  done
}

stop_pair() {
  stop_pid "$PID_A"
  stop_pid "$PID_B"
}

# counters LOG PID: the driver's current counters line.
counters() {
  kill -USR1 "$2"
  sleep 0.3
  grep '^frames_out=' "$1" | tail -1
}

# counter LOG PID NAME: one counter's value.
counter() {
  counters "$1" "$2" | tr ' ' '\n' | sed -n "s/^$3=//p"
}

counter_positive() { [ "$(counter "$@")" -gt 0 ]; }
