#!/usr/bin/env bash
# In the VM, kernel WireGuard and kernel gretap: l2wgd is killed with SIGKILL and started again
# while a ping runs across the tunnel. The kernel forwards on its own, the new daemon adopts the
# tap (same ifindex, no duplicate), and the ping loses nothing.
export L2WG_KERNEL_WG=1
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
L2WG="$L2WG_BUILD_DIR/cli/l2wg"
LAB=l2klab-$TAG DORM=l2kdorm-$TAG WGL=wgl$TAG WGD=wgd$TAG
ns_add "$LAB"; ns_add "$DORM"
wg_pair "$LAB" "$WGL" "$DORM" "$WGD" 10.0.31.1 10.0.31.10 24
ip -n "$LAB" link add br-wan type bridge
ip -n "$LAB" link set br-wan up
ip -n "$LAB" addr add 198.51.100.1/24 dev br-wan
system_bus
start_daemon "$LAB"

check "l2wg up (kernel datapath)" "$L2WG" up lab --wg "$WGL" --peer 10.0.31.10 --bridge br-wan
check "the tunnel uses kernel gretap" bash -c \
  "[ \"\$(busctl --system get-property net.l2wg1 /net/l2wg1/tunnel/lab net.l2wg1.Tunnel Datapath)\" = 's \"kernel\"' ]"
bg_in "$DORM" "$WORKDIR/plumb.log" "$PLUMB" --wg "$WGD" --peer 10.0.31.1 --interface l2-dorm
wait_for 20 grep -q '^{' "$WORKDIR/plumb.log"
ip -n "$DORM" addr add 198.51.100.2/24 dev l2-dorm
# The first handshake and ARP can take seconds under emulation.
check "traffic crosses" wait_for 10 ip netns exec "$DORM" ping -c 1 -W 1 198.51.100.1
ifindex=$(ip -n "$LAB" -o link show l2-lab | cut -d: -f1)

ip netns exec "$DORM" ping -i 0.1 -c 80 -W 1 198.51.100.1 >"$WORKDIR/ping.log" 2>&1 &
PING_PID=$!
sleep 2
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
start_daemon "$LAB"
check "the restarted daemon knows the tunnel (created without --persist)" \
  busctl --system get-property net.l2wg1 /net/l2wg1/tunnel/lab net.l2wg1.Tunnel State
check "and adopted its tap (same ifindex)" \
  test "$(ip -n "$LAB" -o link show l2-lab | cut -d: -f1)" = "$ifindex"
check "no second tap" bash -c "[ \$(ip -n $LAB -o link show | grep -c l2-) -eq 1 ]"
wait "$PING_PID" || true
cat "$WORKDIR/ping.log" | tail -3
check "the ping across the tunnel lost nothing" grep -q ' 0% packet loss' "$WORKDIR/ping.log"
check "l2wg down" "$L2WG" down lab
finish
