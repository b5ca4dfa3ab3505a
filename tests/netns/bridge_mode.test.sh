#!/usr/bin/env bash
# Bridge mode end to end on the plumbing: namespace "lab" bridges its tap into br-wan, behind which
# a host sits; namespace "dorm" has a plain tap. The host and the dorm tap exchange IPv4 and IPv6,
# a 1500-byte IPv6 packet with DF crosses, the bridge keeps MTU 1500, TCP's MSS is clamped on
# the userspace datapath, bulk TCP and UDP of every size arrive intact both ways, bad input is
# refused with a distinct error and leaves nothing behind, and teardown restores both namespaces
# exactly.
#
# The kernel tier runs this same test with other settings (tests/kernel/*.test.sh):
#   L2WG_DATAPATH_LAB, L2WG_DATAPATH_DORM  auto|kernel|userspace for each side (default auto)
#   L2WG_EXPECT_LAB, L2WG_EXPECT_DORM      the datapath each must end up with (default userspace,
#                                          as on a kernel without GRE)
#   L2WG_EXPECT_MTU                        the taps' MTU (default 1500)
#   L2WG_INNER=4|6                         family of the WireGuard inner addresses (default 4)
#   L2WG_KERNEL_WG=1                       kernel WireGuard instead of wireguard-go
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init

DATAPATH_LAB=${L2WG_DATAPATH_LAB:-auto} DATAPATH_DORM=${L2WG_DATAPATH_DORM:-auto}
EXPECT_LAB=${L2WG_EXPECT_LAB:-userspace} EXPECT_DORM=${L2WG_EXPECT_DORM:-userspace}
MTU=${L2WG_EXPECT_MTU:-1500}
LAB=l2lab-$TAG DORM=l2dorm-$TAG HOST=l2host-$TAG
WGL=wgl$TAG WGD=wgd$TAG
if [ "${L2WG_INNER:-4}" = 6 ]; then
  INNER_L=fd00:31::1 INNER_D=fd00:31::2 PLEN=64
else
  INNER_L=10.0.31.1 INNER_D=10.0.31.2 PLEN=24
fi

ns_add "$LAB"; ns_add "$DORM"; ns_add "$HOST"
wg_pair "$LAB" "$WGL" "$DORM" "$WGD" "$INNER_L" "$INNER_D" "$PLEN"
# The lab's WAN bridge with a host behind it.
ip -n "$LAB" link add br-wan type bridge
ip -n "$LAB" link set br-wan up
ip link add eth-h netns "$HOST" type veth peer name host-port netns "$LAB"
ip -n "$LAB" link set host-port master br-wan up
ip -n "$HOST" addr add 198.51.100.10/24 dev eth-h
ip -n "$HOST" addr add 2001:db8:31::10/64 dev eth-h nodad
ip -n "$HOST" link set eth-h up

settle "$LAB" "$DORM" "$HOST"
snapshot "$LAB" >"$WORKDIR/lab.before"
snapshot "$DORM" >"$WORKDIR/dorm.before"

plumb() {  # plumb NS ARGS...: l2wg-plumb in NS, in the background; waits for its JSON line
  local ns=$1 log=$WORKDIR/plumb-$1-$RANDOM.log datapath=$DATAPATH_LAB
  [ "$ns" = "$DORM" ] && datapath=$DATAPATH_DORM
  shift
  bg_in "$ns" "$log" "$PLUMB" --datapath "$datapath" "$@"
  PLUMB_PID=$BG_PID PLUMB_LOG=$log
  wait_for 20 grep -q '^{' "$log" || { echo "l2wg-plumb did not come up:"; cat "$log"; return 1; }
}
json_field() { grep '^{' "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }

plumb "$LAB" --wg "$WGL" --peer "$INNER_D" --interface l2-lab --bridge br-wan
LAB_PID=$PLUMB_PID LAB_LOG=$PLUMB_LOG
plumb "$DORM" --wg "$WGD" --peer "$INNER_L" --interface l2-dorm
DORM_PID=$PLUMB_PID DORM_LOG=$PLUMB_LOG
ip -n "$DORM" addr add 198.51.100.20/24 dev l2-dorm
ip -n "$DORM" addr add 2001:db8:31::20/64 dev l2-dorm nodad

check "lab uses the $EXPECT_LAB datapath" test "$(json_field "$LAB_LOG" datapath)" = "$EXPECT_LAB"
check "dorm uses the $EXPECT_DORM datapath" test "$(json_field "$DORM_LOG" datapath)" = "$EXPECT_DORM"
check "tap MTU is $MTU" link_has "$DORM" l2-dorm "mtu $MTU "
check "lab tap MTU is $MTU" link_has "$LAB" l2-lab "mtu $MTU "
check "tap is a port of br-wan" link_has "$LAB" l2-lab 'master br-wan'
check "tap is a permanent multicast router port" link_has "$LAB" l2-lab 'mcast_router 2'
check "the bridged tap has no IPv6 address of its own" link_has "$LAB" l2-lab 'addrgenmode none'
check "and indeed no address" bash -c "[ -z \"\$(ip -n $LAB -6 addr show dev l2-lab)\" ]"
check "tap MAC is the derived one" test "$(json_field "$LAB_LOG" mac)" = \
  "$(ip -n "$LAB" -j link show l2-lab | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')"
check "host -> dorm IPv4" ip netns exec "$HOST" ping -c 3 -i 0.2 -W 2 198.51.100.20
check "dorm -> host IPv4" ip netns exec "$DORM" ping -c 3 -i 0.2 -W 2 198.51.100.10
check "host -> dorm IPv6" ip netns exec "$HOST" ping -6 -c 3 -i 0.2 -W 2 2001:db8:31::20
check "dorm -> host IPv6" ip netns exec "$DORM" ping -6 -c 3 -i 0.2 -W 2 2001:db8:31::10
# Full-size packets with fragmentation forbidden at the sender (-M do): with MTU 1500 that is
# `ping -6 -s 1452 -M do`, a 1500-byte IPv6 packet.
check "$MTU-byte IPv6 packet with DF crosses (host -> dorm)" \
  ip netns exec "$HOST" ping -6 -c 3 -i 0.2 -W 2 -s $((MTU - 48)) -M do 2001:db8:31::20
check "$MTU-byte IPv6 packet with DF crosses back (dorm -> host)" \
  ip netns exec "$DORM" ping -6 -c 3 -i 0.2 -W 2 -s $((MTU - 48)) -M do 2001:db8:31::10
check "$MTU-byte IPv4 packet with DF crosses" \
  ip netns exec "$HOST" ping -c 3 -i 0.2 -W 2 -s $((MTU - 28)) -M do 198.51.100.20
check "br-wan keeps MTU 1500" link_has "$LAB" br-wan 'mtu 1500'

# MTU=auto on the userspace datapath clamps TCP's MSS (kernel gretap does not): a connection from
# the host behind the bridge to the dorm negotiates segments that cross WireGuard unfragmented:
# its MTU less outer IP, GRE and Ethernet headers, less 40 bytes of IPv4 and TCP header.
if [ "$EXPECT_LAB" = userspace ] && [ "$MTU" = 1500 ]; then
  WG_MTU=$(ip -n "$LAB" -j link show "$WGL" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["mtu"])')
  CLAMP=$((WG_MTU - $([ "${L2WG_INNER:-4}" = 6 ] && echo 58 || echo 38)))
  check "lab clamps TCP's MSS to fit $WGL (MTU $WG_MTU)" \
    test "$(json_field "$LAB_LOG" mss_clamp_mtu)" = "$CLAMP"
  # Without timestamps TCP_MAXSEG is exactly the MSS negotiated.
  for ns in "$HOST" "$DORM"; do ip netns exec "$ns" sysctl -qw net.ipv4.tcp_timestamps=0; done
  check "host -> dorm TCP negotiates MSS $((CLAMP - 40)) on both ends" \
    test "$(tcp_mss "$HOST" "$DORM" 198.51.100.20)" = "$((CLAMP - 40)) $((CLAMP - 40))"
  for ns in "$HOST" "$DORM"; do ip netns exec "$ns" sysctl -qw net.ipv4.tcp_timestamps=1; done
fi

# Bulk TCP both ways between the host behind the bridge and the dorm, and UDP of every size.
# The userspace datapath cuts TSO frames from its TAP and merges segments for the far one; kernel
# gretap segments in the kernel: either way, mixed included, every byte must arrive and no
# checksum fail.
ERRORS_BEFORE=$(for ns in "$HOST" "$DORM" "$LAB"; do echo "$ns: $(checksum_errors "$ns")"; done)
check "4 MB of TCP host -> dorm arrive intact" intact_transfer "$HOST" "$DORM" 198.51.100.20 4000000
check "4 MB of TCP dorm -> host arrive intact" intact_transfer "$DORM" "$HOST" 198.51.100.10 4000000
check "4 MB of TCP host -> dorm over IPv6 arrive intact" \
  intact_transfer "$HOST" "$DORM" 2001:db8:31::20 4000000
check "UDP dorm -> host, 1 to 1400 bytes, all arrive" all_delivered "$DORM" "$HOST" 198.51.100.10
check "no checksum error on the host, the dorm or the lab" \
  no_new_checksum_errors "$ERRORS_BEFORE" "$HOST" "$DORM" "$LAB"

# A second tunnel with a fixed, smaller MTU on the same bridge must not shrink it.
plumb "$LAB" --wg "$WGL" --peer "$INNER_D" --interface l2-small --bridge br-wan --mtu 1280 --key 7
SMALL_PID=$PLUMB_PID
check "fixed MTU 1280 applied to its tap" link_has "$LAB" l2-small 'mtu 1280'
check "br-wan still has MTU 1500 with a 1280 port" link_has "$LAB" br-wan 'mtu 1500'
stop_pid "$SMALL_PID"

# Bad input: each a distinct, readable error, and nothing left behind.
refuse() {  # refuse DESCRIPTION PATTERN NS ARGS...
  local what=$1 pattern=$2 ns=$3
  shift 3
  snapshot "$ns" >"$WORKDIR/refuse.before"
  check_fails "$what" "$pattern" ip netns exec "$ns" "$PLUMB" --datapath "$DATAPATH_LAB" --once "$@"
  snapshot "$ns" >"$WORKDIR/refuse.after"
  same_text "$what: nothing left behind" "$WORKDIR/refuse.before" "$WORKDIR/refuse.after"
}
refuse "missing interface" "no interface named wgnope" "$LAB" \
  --wg wgnope --peer "$INNER_D" --interface l2-x
refuse "non-WireGuard interface" "host-port is a veth, not a WireGuard interface" "$LAB" \
  --wg host-port --peer "$INNER_D" --interface l2-x
refuse "unknown peer key" "$WGL has no peer with public key" "$LAB" \
  --wg "$WGL" --peer "$WG_PUB_A" --interface l2-x
if [ "${L2WG_INNER:-4}" = 6 ]; then OUTSIDE=fd00:31::99; else OUTSIDE=10.0.31.99; fi
refuse "remote outside every peer's allowed IPs" "no peer of $WGL has $OUTSIDE in its allowed IPs" \
  "$LAB" --wg "$WGL" --peer "$OUTSIDE" --interface l2-x
refuse "tap name over 15 bytes" "is 16 bytes long; Linux allows at most 15" "$LAB" \
  --wg "$WGL" --peer "$INNER_D" --interface l2-0123456789abc
refuse "a bridge that is not a bridge" "host-port is a veth, not a bridge" "$LAB" \
  --wg "$WGL" --peer "$INNER_D" --interface l2-x --bridge host-port
refuse "a missing bridge without CreateBridge" "no bridge named br-nope" "$LAB" \
  --wg "$WGL" --peer "$INNER_D" --interface l2-x --bridge br-nope
refuse "an existing tap name" "an interface named l2-lab already exists" "$LAB" \
  --wg "$WGL" --peer "$INNER_D" --interface l2-lab
refuse "an MTU that does not fit" "MTU=1450 does not fit" "$LAB" \
  --wg "$WGL" --peer "$INNER_D" --interface l2-x --mtu 1450

# CreateBridge: a bridge l2wg creates is removed again; teardown of everything.
plumb "$DORM" --wg "$WGD" --peer "$INNER_L" --interface l2-made --bridge br-made --create-bridge --key 9
check "created bridge exists and holds the tap" link_has "$DORM" l2-made 'master br-made'
stop_pid "$PLUMB_PID"
check "created bridge removed on teardown" bash -c "! ip -n $DORM link show br-made"

stop_pid "$LAB_PID"
stop_pid "$DORM_PID"
snapshot "$LAB" >"$WORKDIR/lab.after"
snapshot "$DORM" >"$WORKDIR/dorm.after"
same_text "lab namespace exactly as before" "$WORKDIR/lab.before" "$WORKDIR/lab.after"
same_text "dorm namespace exactly as before" "$WORKDIR/dorm.before" "$WORKDIR/dorm.after"
finish
