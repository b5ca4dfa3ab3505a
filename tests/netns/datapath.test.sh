#!/usr/bin/env bash
# The userspace gretap datapath on its own (tests/tools/datapath-driver, no daemon): two namespaces
# with a wireguard-go pair carrying both IPv4 and IPv6 inner addresses, a datapath on each side.
# Over the taps: IPv4 and IPv6 pings both ways and 1500-byte packets with DF set (fragmented
# inside WireGuard), with and without a GRE key, over IPv4 and IPv6 GRE endpoints; a mismatched
# key passes nothing and is counted; without fragmentation oversized frames are counted as send
# errors; with --clamp-mss TCP negotiates an MSS whose segments cross WireGuard unfragmented;
# TCP cut from TSO frames and merged for the far TAP arrives intact both ways, and UDP whose
# checksum the TAP left open arrives with a right one; removing and re-adding a tunnel under
# traffic and restarting the driver re-attach to the persistent TAP.
# shellcheck source=tests/lib/netns.sh
source "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=tests/lib/datapath_pair.sh
source "$(dirname "$0")/../lib/datapath_pair.sh"
l2wg_test_init

datapath_pair_setup dp
check "WireGuard carries IPv4 inner traffic" ip netns exec "$NSA" ping -c 1 -W 5 10.0.31.2
check "WireGuard carries IPv6 inner traffic" ip netns exec "$NSA" ping -6 -c 1 -W 5 fd00:31::2

traffic_checks() {  # traffic_checks LABEL
  local label=$1
  check "$label: IPv4 ping A->B" ip netns exec "$NSA" ping -c 2 -i 0.2 -W 5 198.51.100.2
  check "$label: IPv4 ping B->A" ip netns exec "$NSB" ping -c 2 -i 0.2 -W 5 198.51.100.1
  check "$label: IPv6 ping A->B" ip netns exec "$NSA" ping -6 -c 2 -i 0.2 -W 5 2001:db8:31::2
  check "$label: IPv6 ping B->A" ip netns exec "$NSB" ping -6 -c 2 -i 0.2 -W 5 2001:db8:31::1
  check "$label: 1500-byte IPv6 with DF A->B" \
    ip netns exec "$NSA" ping -6 -c 2 -i 0.2 -W 5 -s 1452 -M "do" 2001:db8:31::2
  check "$label: 1500-byte IPv6 with DF B->A" \
    ip netns exec "$NSB" ping -6 -c 2 -i 0.2 -W 5 -s 1452 -M "do" 2001:db8:31::1
  check "$label: 1500-byte IPv4 with DF A->B" \
    ip netns exec "$NSA" ping -c 2 -i 0.2 -W 5 -s 1472 -M "do" 198.51.100.2
  check "$label: frames counted in on B" counter_positive "$LOG_B" "$PID_B" frames_in
  check "$label: frames counted out on A" counter_positive "$LOG_A" "$PID_A" frames_out
}

for family in 4 6; do
  start_pair "$family"
  traffic_checks "GRE over IPv$family, no key"
  stop_pair

  start_pair "$family" "--key 42" "--key 42 --workers 1"
  traffic_checks "GRE over IPv$family, key 42"
  stop_pair

  start_pair "$family" "--key 42" "--key 43"
  ip -n "$NSA" neigh flush dev "$TAPA"
  ip -n "$NSB" neigh flush dev "$TAPB"
  check_fails "GRE over IPv$family, keys 42 and 43: nothing passes" "100% packet loss" \
    ip netns exec "$NSA" ping -c 2 -i 0.2 -W 1 198.51.100.2
  check "GRE over IPv$family, keys 42 and 43: B counts the wrong key" \
    counter_positive "$LOG_B" "$PID_B" wrong_key_in
  stop_pair
done

# MSS clamping (MTU=auto in the daemon): TCP over the taps negotiates segments that cross
# WireGuard unfragmented. With timestamps off, TCP_MAXSEG is exactly the MSS negotiated.
for ns in "$NSA" "$NSB"; do ip netns exec "$ns" sysctl -qw net.ipv4.tcp_timestamps=0; done
WG_MTU=$(ip -n "$NSA" -j link show "$WGA" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["mtu"])')

# ip_fragments NS FAMILY: fragments the namespace's IP (4) or IPv6 (6) stack has created so far.
ip_fragments() {
  ip netns exec "$1" nstat -saz "$([ "$2" = 4 ] && echo IpFragCreates || echo Ip6FragCreates)" |
    awk 'NR > 1 && $1 ~ /FragCreates$/ {print $2}'
}

# bulk_fragments FAMILY DEST: outer fragments A's GRE sends for 8 MB of TCP from A to DEST.
bulk_fragments() {
  local before log=$WORKDIR/iperf-$RANDOM.log
  before=$(ip_fragments "$NSA" "$1")
  bg_in "$NSB" "$log" iperf3 -s -1 -p 5302
  local server=$BG_PID
  wait_for 5 bash -c "ip netns exec $NSB ss -tln 'sport = :5302' | grep -q LISTEN"
  ip netns exec "$NSA" timeout 30 iperf3 -c "$2" -p 5302 -n 8M >/dev/null || return 1
  wait "$server" 2>/dev/null
  echo $(($(ip_fragments "$NSA" "$1") - before))
}

# GRE over IPv4: 20 bytes of IP, 4 of GRE and 14 of Ethernet below the WireGuard MTU; then 40
# (IPv4) or 60 (IPv6) bytes of IP and TCP header. Only A clamps, which shows both directions:
# A's SYN on the way out, B's SYN-ACK on the way in.
CLAMP4=$((WG_MTU - 38 - 40)) CLAMP6=$((WG_MTU - 38 - 60))
start_pair 4 "--clamp-mss"
check "MSS clamp: the driver reports the clamp for WireGuard MTU $WG_MTU" \
  grep -q "^mss_clamp_mtu=$((WG_MTU - 38)) ipv4_mss=$CLAMP4 ipv6_mss=$CLAMP6 " "$LOG_A"
check "MSS clamp: TCP over IPv4 negotiates $CLAMP4 on both ends" \
  test "$(tcp_mss "$NSA" "$NSB" 198.51.100.2)" = "$CLAMP4 $CLAMP4"
check "MSS clamp: TCP over IPv6 negotiates $CLAMP6 on both ends" \
  test "$(tcp_mss "$NSA" "$NSB" 2001:db8:31::2)" = "$CLAMP6 $CLAMP6"
check "MSS clamp: A counted the SYNs it clamped, both ways" \
  test "$(counter "$LOG_A" "$PID_A" mss_clamped)" -ge 4
check "MSS clamp: a bulk TCP transfer leaves no fragmented outer packet" \
  test "$(bulk_fragments 4 198.51.100.2)" -eq 0
check "MSS clamp: 1500-byte pings still cross (fragmented)" \
  ip netns exec "$NSA" ping -c 2 -i 0.2 -W 5 -s 1472 -M "do" 198.51.100.2
stop_pair
# The same transfer without clamping fragments every full segment: the check above means something.
start_pair 4
check "no MSS clamp: TCP keeps the tap's 1460" test "$(tcp_mss "$NSA" "$NSB" 198.51.100.2)" = "1460 1460"
check "no MSS clamp: a bulk TCP transfer fragments" test "$(bulk_fragments 4 198.51.100.2)" -gt 1000
stop_pair
# GRE over IPv6 with a key: 40 + 8 + 14 bytes below the WireGuard MTU.
CLAMP6=$((WG_MTU - 62 - 60))
start_pair 6 "--clamp-mss --key 7" "--clamp-mss --key 7"
check "MSS clamp over IPv6 GRE with key: TCP over IPv6 negotiates $CLAMP6" \
  test "$(tcp_mss "$NSA" "$NSB" 2001:db8:31::2)" = "$CLAMP6 $CLAMP6"
check "MSS clamp over IPv6 GRE with key: a bulk TCP transfer leaves no fragment" \
  test "$(bulk_fragments 6 2001:db8:31::2)" -eq 0
stop_pair
for ns in "$NSA" "$NSB"; do ip netns exec "$ns" sysctl -qw net.ipv4.tcp_timestamps=1; done

# TAP offloads: the kernel hands the datapath TSO frames and leaves checksums open, and the far
# side merges what arrives into larger frames for its TAP. Whatever is cut and merged must come
# out intact: a merged frame's checksum is the kernel's to trust, so only comparing the bytes
# shows that the payloads were put together right.
ERRORS_BEFORE=$(for ns in "$NSA" "$NSB"; do echo "$ns: $(checksum_errors "$ns")"; done)
start_pair 4 "--clamp-mss --key 9" "--clamp-mss --key 9"
for dest in 198.51.100.2 2001:db8:31::2; do
  check "offloads: 16 MB of TCP from A to $dest arrive intact" \
    intact_transfer "$NSA" "$NSB" "$dest" 16000000
done
check "offloads: 16 MB of TCP from B to A arrive intact" \
  intact_transfer "$NSB" "$NSA" 198.51.100.1 16000000
check "offloads: A cut TSO frames from its TAP into segments" \
  counter_positive "$LOG_A" "$PID_A" segmented_out
check "offloads: B merged segments for its TAP" counter_positive "$LOG_B" "$PID_B" coalesced_in
check "offloads: B cut TSO frames for the way back" counter_positive "$LOG_B" "$PID_B" segmented_out
check "offloads: A merged segments for its TAP" counter_positive "$LOG_A" "$PID_A" coalesced_in
check "offloads: IPv4 UDP with checksums left to the datapath all arrive" \
  all_delivered "$NSA" "$NSB" 198.51.100.2
check "offloads: IPv6 UDP with checksums left to the datapath all arrive" \
  all_delivered "$NSA" "$NSB" 2001:db8:31::2
check "offloads: no checksum error on either side" \
  no_new_checksum_errors "$ERRORS_BEFORE" "$NSA" "$NSB"
stop_pair

# Without fragmentation a 1514-byte frame plus 24 bytes of IPv4 and GRE exceeds wireguard-go's
# MTU of 1420: the datapath refuses to send it and counts it.
start_pair 4 "--no-fragment" "--no-fragment"
check "no fragmentation: small frames pass" ip netns exec "$NSA" ping -c 2 -i 0.2 -W 5 198.51.100.2
check_fails "no fragmentation: a 1500-byte packet does not" "100% packet loss" \
  ip netns exec "$NSA" ping -c 2 -i 0.2 -W 1 -s 1472 -M "do" 198.51.100.2
check "no fragmentation: the refusal is counted" counter_positive "$LOG_A" "$PID_A" send_errors
stop_pair

# remove() and add() while traffic flows, then a driver restart: both re-attach to the TAP.
start_pair 4
ip netns exec "$NSA" ping -q -c 400 -i 0.005 -W 1 198.51.100.2 >"$WORKDIR/flood.out" 2>&1 &
FLOOD_PID=$!
for _ in $(seq 10); do
  kill -HUP "$PID_A" "$PID_B"
  sleep 0.1
done
wait "$FLOOD_PID" || true
check "remove/add under traffic: both drivers re-added" \
  test "$(grep -c '^re-added' "$LOG_A")" -eq 10 -a "$(grep -c '^re-added' "$LOG_B")" -eq 10
check "remove/add under traffic: drivers still running" kill -0 "$PID_A" "$PID_B"
check "remove/add under traffic: traffic flows afterwards" \
  ip netns exec "$NSA" ping -c 2 -i 0.2 -W 5 198.51.100.2
stop_pair
check "the TAP persists after the driver exits" ip -n "$NSA" link show "$TAPA"
start_pair 4
check "restarted drivers re-attach to the persistent TAPs" \
  ip netns exec "$NSB" ping -6 -c 2 -i 0.2 -W 5 -s 1452 -M "do" 2001:db8:31::1
stop_pair

# Failures leave nothing behind and name what is wrong.
check_fails "a missing WireGuard interface is refused" "nosuchwg does not exist" \
  ip netns exec "$NSA" "$DATAPATH_DRIVER" --tap dpnew --wg nosuchwg --local 10.0.31.1 --remote 10.0.31.2
check_fails "... and the TAP it created is gone again" "does not exist" ip -n "$NSA" link show dpnew
check_fails "a local address not on the host is refused" "192.0.2.99 is not assigned" \
  ip netns exec "$NSA" "$DATAPATH_DRIVER" --tap dpnew --wg "$WGA" --local 192.0.2.99 --remote 10.0.31.2
check_fails "an interface that is not a TAP is refused" "$WGA exists and is not a TAP" \
  ip netns exec "$NSA" "$DATAPATH_DRIVER" --tap "$WGA" --wg "$WGA" --local 10.0.31.1 --remote 10.0.31.2

# A TAP deleted under a running datapath must not make its worker spin.
start_pair 4
ip -n "$NSA" link del "$TAPA"
sleep 0.5
TICKS=$(cpu_ticks "$PID_A")
sleep 2
check "a deleted TAP does not make the worker spin" test $(($(cpu_ticks "$PID_A") - TICKS)) -lt 20
check "the driver still answers after its TAP was deleted" counters "$LOG_A" "$PID_A"
stop_pair
check "the driver exits cleanly after its TAP was deleted" grep -q '^frames_out=' "$LOG_A"

finish
