#!/usr/bin/env bash
# l2wgd's side of systemd's service protocol, against tests/tools/service-manager.py (which plays
# systemd's: NOTIFY_SOCKET, WATCHDOG_USEC, the file descriptor store handed back as LISTEN_FDS):
#   - READY=1 once the bus name is taken and the tunnels are restored, STATUS= kept current,
#     WATCHDOG=1 at half WATCHDOG_USEC, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1;
#   - the userspace datapath's TAP and GRE socket kept (FDSTORE=1, FDNAME=tap-TAP/gre-TAP-PEER),
#     handed back and taken over on restart, removed on `l2wg down`; a kept fd of a tunnel gone
#     meanwhile closed and removed;
#   - a restart under a 100-per-second ping across the tunnel loses nothing (frames queue in the
#     kernel meanwhile), a crash (SIGKILL) at most a few; a restart without the store, as today,
#     is measured beside it.
# The far end is l2wg-plumb, so only the near end restarts. The real systemd runs these in the
# kernel tier.
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
L2WG="$L2WG_BUILD_DIR/cli/l2wg"
NEAR=l2snear-$TAG FAR=l2sfar-$TAG
WGN=wgn$TAG WGF=wgf$TAG
ns_add "$NEAR"; ns_add "$FAR"
wg_pair "$NEAR" "$WGN" "$FAR" "$WGF" 10.0.31.1 10.0.31.2 24
settle "$NEAR" "$FAR"
system_bus
mkdir -p "$WORKDIR/etc" "$WORKDIR/state"
LOG=$WORKDIR/service.log
STORE_STRAY=1 bg_in "$NEAR" "$WORKDIR/service-manager.out" python3 "$L2WG_TOOLS/service-manager.py" "$LOG" -- \
  "$L2WG_BUILD_DIR/daemon/l2wgd" --config-dir "$WORKDIR/etc" --state-dir "$WORKDIR/state" --log-level debug
MANAGER_PID=$BG_PID

logged() { grep -q -- "$1" "$LOG"; }
count() { grep -c -- "$1" "$LOG" || true; }
# after MARK PATTERN: PATTERN logged after the line count MARK.
after() { tail -n +"$(($1 + 1))" "$LOG" | grep -q -- "$2"; }
lines() { wc -l <"$LOG"; }

check "the service reports READY=1" wait_for 20 logged 'notify READY=1'
check "by then the bus name is taken" daemon_on_bus
check "STATUS= says there are no tunnels" logged 'notify STATUS=no tunnels'
check "the stray kept fd of a tunnel gone meanwhile is handed over, then removed" \
  bash -c "grep -q 'handed tap-gone' $LOG && grep -q 'removed tap-gone' $LOG"
mark=$(lines)
sleep 3
check "WATCHDOG=1 every second for WATCHDOG_USEC=2 s ($(($(count 'notify WATCHDOG=1'))) so far)" \
  test "$(tail -n +"$((mark + 1))" "$LOG" | grep -c 'notify WATCHDOG=1')" -ge 2

# The far end: plain l2wg-plumb; both taps get an address for the ping.
bg_in "$FAR" "$WORKDIR/plumb.log" "$L2WG_BUILD_DIR/examples/l2wg-plumb" --wg "$WGF" --peer 10.0.31.1 --interface l2-far
wait_for 20 grep -q '^{' "$WORKDIR/plumb.log"
check "l2wg up: a userspace tunnel" "$L2WG" up fd --wg "$WGN" --peer 10.0.31.2 --interface l2-near
ip -n "$NEAR" addr add 10.77.0.1/24 dev l2-near
ip -n "$FAR" addr add 10.77.0.2/24 dev l2-far
ip -n "$FAR" link set l2-far up
check "its TAP and GRE socket are kept in the store" \
  bash -c "grep -q 'stored tap-l2-near' $LOG && grep -q 'stored gre-l2-near-10.0.31.2' $LOG"
ip netns exec "$NEAR" ping -c 1 -W 2 10.0.31.2 >/dev/null || true
check "STATUS= follows the tunnel up" wait_for 20 logged 'notify STATUS=1 tunnel: 1 up'
check "the far end answers across the tunnel" wait_for 10 ip netns exec "$FAR" ping -c 1 -W 1 10.77.0.1

# pings_during WHAT SIGNAL: 400 pings from the far end, 100 a second, with SIGNAL sent to the
# service manager after one second; prints "SENT RECEIVED MAX_RTT_MS" (the longest round trip is
# about the time the frames waited in the kernel for the new l2wgd).
pings_during() {
  local what=$1 sig=$2 out=$WORKDIR/ping-$1.log
  ip netns exec "$FAR" ping -n -c 400 -i 0.01 -W 3 10.77.0.1 >"$out" 2>&1 &
  local ping_pid=$!
  sleep 1
  kill -"$sig" "$MANAGER_PID"
  wait "$ping_pid" || true
  ping_summary "$out"
}
ping_summary() {
  awk '/packets transmitted/ { sent = $1; received = $4 }
       /^rtt/ { split($4, rtt, "/"); max = rtt[3] }
       END { print sent, received, max }' "$1"
}
restarted() {  # restarted MARK: the service exited, started again and took the kept fds
  after "$1" 'exited' && after "$1" 'handed tap-l2-near' && after "$1" 'handed gre-l2-near-10.0.31.2' &&
    after "$1" 'notify READY=1'
}

mark=$(lines)
read -r sent received gap < <(pings_during restart USR1)
echo "    restart with the store: $sent sent, $received received, longest round trip $gap ms"
check "a restart took the kept TAP and socket back" wait_for 10 restarted "$mark"
check "and the store keeps the same fds (nothing stored anew)" bash -c "! tail -n +$((mark + 1)) $LOG | grep -q stored"
check "a restart under a 100/s ping loses nothing (${sent:-?} sent, ${received:-?} received)" \
  test "${received:-0}" = "${sent:-x}"
check "the tunnel is up again" wait_for 20 bash -c "busctl --system get-property net.l2wg1 /net/l2wg1/tunnel/fd net.l2wg1.Tunnel State | grep -q '\"up\"'"

mark=$(lines)
read -r sent received gap < <(pings_during crash USR2)
echo "    crash (SIGKILL) with the store: $sent sent, $received received, longest round trip $gap ms"
check "a crash: the service restarted with the kept fds" wait_for 10 restarted "$mark"
check "a crash under a 100/s ping loses at most 5 (${sent:-?} sent, ${received:-?} received)" \
  test "$((${sent:-0} - ${received:-0}))" -le 5 -a "${sent:-0}" -gt 0

mark=$(lines)
kill -HUP "$(awk '$2 == "started" { pid = $3 } END { print pid }' "$LOG")"
check "SIGHUP: RELOADING=1, then READY=1" wait_for 10 bash -c \
  "tail -n +$((mark + 1)) $LOG | grep -A20 'notify RELOADING=1' | grep -q 'notify READY=1'"

check "l2wg down removes the kept fds from the store" bash -c \
  "$L2WG down fd && sleep 0.5 && grep -q 'removed tap-l2-near' $LOG && grep -q 'removed gre-l2-near-10.0.31.2' $LOG"

kill -TERM "$MANAGER_PID"
wait_for 10 bash -c "! kill -0 $MANAGER_PID 2>/dev/null"
check "SIGTERM: STOPPING=1" logged 'notify STOPPING=1'

# Today's behaviour without a service manager, for comparison: a plain restart drops what is sent
# while no process holds the TAP.
start_daemon "$NEAR"
"$L2WG" up fd --wg "$WGN" --peer 10.0.31.2 --interface l2-near >/dev/null
ip -n "$NEAR" addr replace 10.77.0.1/24 dev l2-near
wait_for 10 ip netns exec "$FAR" ping -c 1 -W 1 10.77.0.1 >/dev/null
ip netns exec "$FAR" ping -n -c 400 -i 0.01 -W 3 10.77.0.1 >"$WORKDIR/ping-plain.log" 2>&1 &
ping_pid=$!
sleep 1
stop_pid "$DAEMON_PID"
start_daemon "$NEAR"
wait "$ping_pid" || true
read -r sent received gap < <(ping_summary "$WORKDIR/ping-plain.log")
echo "    restart without a store (as before): $sent sent, $received received, longest round trip $gap ms"
check "without a service manager l2wgd runs as before (the tunnel adopted)" \
  wait_for 10 ip netns exec "$FAR" ping -c 1 -W 1 10.77.0.1
"$L2WG" down fd
finish
