#!/usr/bin/env bash
# Routed mode end to end (tests/lib/routed_chain.sh builds the chain): an upstream with Kea
# delegating prefixes and routing them, a lab bridging its WAN into a gretap over WireGuard
# (bridge mode), a dorm running the routed tunnel with br-lan as its LAN, and a LAN host using
# the kernel's own SLAAC. Shown:
#   - the host gets an address in the delegated prefix's LAN /64, non-tentative after its DAD, and
#     reaches the upstream through the tunnel (seen on the dorm's tap);
#   - the dorm's own traffic from its native address leaves by its native uplink, main's default
#     route is untouched, traffic from the delegated prefix goes to the tap;
#   - rdisc6 sees the PIO, RDNSS, MTU and RIO; tshark decodes every RA with no warning;
#   - the D-Bus properties and `l2wg show --json` say the same; the tap takes no RA itself;
#   - `l2wg down`: the host's address deprecated by the final RAs, the dorm exactly as before.
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/routed_chain.sh"
l2wg_test_init

chain_setup "$TAG"
D=$CHAIN_DORM H=$CHAIN_HOST
in_dorm() { ip netns exec "$D" "$@"; }
chain_ns_state "$D" >"$WORKDIR/dorm.before"
ip -n "$D" -6 route show default >"$WORKDIR/default.before"

# Every RA the host sees, and what crosses the dorm's tap once it exists.
chain_capture_ras

# --- the routed tunnel comes up -----------------------------------------------------------------
up_started=$SECONDS
check "l2wg up dorm --pd --lan br-lan" chain_dorm_up --prefix-length 56
check "the dorm's tunnel reaches state up" chain_wait_state dorm dorm up 20
check "a prefix is delegated and a /64 announced on br-lan within 15 s" chain_wait_prefix 15
DP=$(chain_delegated) LANP=$(chain_lan_prefix)
echo "    delegated $DP, br-lan gets $LANP ($((SECONDS - up_started)) s after l2wg up)"
check "the delegated prefix is one /56 out of Kea's pool $CHAIN_POOL" prefix_within "${DP:-::/0}" "$CHAIN_POOL" 56
check "br-lan's prefix is a /64 out of it" prefix_within "${LANP:-::/0}" "${DP:-::/0}" 64
check "the router's ::1 of the /64 on br-lan" \
  bash -c "ip -n $D -6 addr show dev $CHAIN_LAN | grep -q 'inet6 ${LANP%::/64}::1/64'"
check "the upstream routes the delegated prefix to the dorm's tap (Kea's hook)" \
  bash -c "ip -n $CHAIN_UP -6 route show ${DP:-none} | grep -q 'via $(link_local "$D" "$CHAIN_TAP") dev u-wan'"

check "the host gets an address in $LANP that is not tentative (within 10 s)" \
  chain_wait_host_address "${LANP:-::/0}" 10
HOST_ADDR=$(chain_host_address_in "${LANP:-::/0}" | cut -d/ -f1)
echo "    host address $HOST_ADDR"
DORM_LAN_LL=$(link_local "$D" "$CHAIN_LAN")
check "the host's default route goes via the dorm's link-local on br-lan" \
  wait_for 5 chain_host_default_via_dorm

# --- through the tunnel -----------------------------------------------------------------------
tap_packets() { ip -n "$D" -s -j link show "$CHAIN_TAP" | jq ".[0].stats64.$1.packets"; }
bg_in "$D" "$WORKDIR/tcpdump-tap.log" tcpdump -i "$CHAIN_TAP" --immediate-mode -U -n -w "$WORKDIR/tap.pcap" icmp6
TAP_CAPTURE=$BG_PID
wait_for 10 grep -q "listening on" "$WORKDIR/tcpdump-tap.log"
tx_before=$(tap_packets tx) rx_before=$(tap_packets rx)
check "the host pings the upstream's $CHAIN_TARGET" \
  ip netns exec "$H" ping -6 -c 5 -i 0.2 -W 2 -I "${HOST_ADDR:-::}" "$CHAIN_TARGET"
echo_count() {  # echo_count TYPE SRC DST: ICMPv6 echo messages of TYPE (128, 129) in tap.pcap
  tshark -r "$WORKDIR/tap.pcap" -Y "icmpv6.type == $1 && ipv6.src == $2 && ipv6.dst == $3" 2>/dev/null | wc -l
}
replies_captured() { at_least "$(echo_count 129 "$CHAIN_TARGET" "${HOST_ADDR:-::}")" 5; }
wait_for 5 replies_captured || true  # the capture may lag the ping by a moment
stop_pid "$TAP_CAPTURE"
check "the 5 echo requests left through the dorm's tap" \
  at_least "$(echo_count 128 "${HOST_ADDR:-::}" "$CHAIN_TARGET")" 5
check "the 5 replies came back through it" \
  at_least "$(echo_count 129 "$CHAIN_TARGET" "${HOST_ADDR:-::}")" 5
check "the tap's counters moved by as much" \
  bash -c "[ $(($(tap_packets tx) - tx_before)) -ge 5 ] && [ $(($(tap_packets rx) - rx_before)) -ge 5 ]"

# --- the dorm's routing ------------------------------------------------------------------------
route_get() { ip -n "$D" -6 route get "$@"; }
check "the dorm's own traffic from its native $CHAIN_NATIVE leaves by its native uplink" \
  bash -c "ip -n $D -6 route get $CHAIN_TARGET from $CHAIN_NATIVE | grep -q 'via $CHAIN_ISP_ADDR dev d-isp'"
check "and so does its traffic with no source chosen yet" \
  bash -c "ip -n $D -6 route get $CHAIN_TARGET | grep -q 'via $CHAIN_ISP_ADDR dev d-isp'"
check "the host's traffic from the delegated prefix goes to the tap, via the upstream router" \
  bash -c "ip -n $D -6 route get $CHAIN_TARGET from ${HOST_ADDR:-::} iif $CHAIN_LAN | grep -q 'via $CHAIN_UP_LL dev $CHAIN_TAP'"
check "so does the dorm's own from its LAN address" \
  bash -c "ip -n $D -6 route get $CHAIN_TARGET from ${LANP%::/64}::1 | grep -q 'via $CHAIN_UP_LL dev $CHAIN_TAP'"
check "even to the native uplink's subnet" \
  bash -c "ip -n $D -6 route get $CHAIN_ISP_ADDR from ${HOST_ADDR:-::} iif $CHAIN_LAN | grep -q 'via $CHAIN_UP_LL dev $CHAIN_TAP'"
check "main's default route is untouched" diff "$WORKDIR/default.before" <(ip -n "$D" -6 route show default)
check "accept_ra is 0 on the tap" test "$(in_dorm sysctl -n "net.ipv6.conf.$CHAIN_TAP.accept_ra")" = 0
check "no route learnt from the tap in main (the upstream's RAs reach it)" \
  bash -c "[ -z \"\$(ip -n $D -6 route show dev $CHAIN_TAP proto ra)\" ] && ! ip -n $D -6 route show default | grep -q $CHAIN_TAP"
check "no SLAAC address on the tap from the upstream's prefix" \
  bash -c "[ -z \"\$(ip -n $D -6 addr show dev $CHAIN_TAP scope global)\" ]"
upstream_advertised() {  # a complete line of l2wg-ra's: an RA with a router lifetime went out
  grep -E '^\{.*"event":"sent".*\}$' "$WORKDIR/ra-upstream.json" | jq -e -s 'any(.[]; .router_lifetime > 0)'
}
check "the upstream did advertise meanwhile" upstream_advertised

# --- D-Bus and the CLI ---------------------------------------------------------------------------
check "State is up" test "$(chain_prop dorm State)" = 's "up"'
check "UpstreamRouter is the upstream's link-local $CHAIN_UP_LL" \
  test "$(chain_prop dorm UpstreamRouter)" = "s \"$CHAIN_UP_LL\""
check "LANPrefixes is br-lan's /64" test "$(chain_prop dorm LANPrefixes)" = "a(ss) 1 \"$CHAIN_LAN\" \"$LANP\""
prefix_lifetimes() {  # DelegatedPrefixes: one prefix, preferred <= valid, as long as Kea's
  chain_busctl dorm --json=short get-property net.l2wg1 /net/l2wg1/tunnel/dorm net.l2wg1.Tunnel \
    DelegatedPrefixes | python3 -c "
import json, sys, time
prefixes = json.load(sys.stdin)['data']
assert len(prefixes) == 1, prefixes
prefix, preferred, valid = prefixes[0]
now = time.time() * 1e6
assert prefix == '$DP', prefix
assert preferred <= valid, (preferred, valid)
assert 0 < (valid - now) / 1e6 <= $CHAIN_VALID, (valid - now) / 1e6
assert 0 < (preferred - now) / 1e6 <= $CHAIN_PREFERRED, (preferred - now) / 1e6"
}
check "DelegatedPrefixes is $DP with Kea's lifetimes" prefix_lifetimes
chain_l2wg dorm show dorm --json >"$WORKDIR/show.json" 2>&1 || true
check "l2wg show dorm --json says the same" python3 -c "
import json
d = json.load(open('$WORKDIR/show.json'))
assert d['State'] == 'up' and d['Interface'] == '$CHAIN_TAP' and d['Bridge'] == '', d
assert [p['Prefix'] for p in d['DelegatedPrefixes']] == ['$DP'], d['DelegatedPrefixes']
assert d['LANPrefixes'] == [{'LAN': '$CHAIN_LAN', 'Prefix': '$LANP'}], d['LANPrefixes']
assert d['UpstreamRouter'] == '$CHAIN_UP_LL', d['UpstreamRouter']"

# --- the RAs, as rdisc6 sees them ---------------------------------------------------------------
TAP_MTU=$(ip -n "$D" -j link show "$CHAIN_TAP" | jq '.[0].mtu')
ip netns exec "$H" rdisc6 -r 3 -w 4000 "$CHAIN_HOST_IF" >"$WORKDIR/rdisc6.out" 2>&1 || true
rdisc6_has() { grep -Eq -- "$1" "$WORKDIR/rdisc6.out" || { cat "$WORKDIR/rdisc6.out"; return 1; }; }
check "rdisc6: the PIO $LANP, on-link and autonomous" \
  bash -c "grep -A2 -E 'Prefix +: ${LANP:-none}\$' $WORKDIR/rdisc6.out | grep -Ec 'On-link +: +Yes|Autonomous address conf.: +Yes' | grep -qx 2"
check "rdisc6: the RDNSS from Kea's dns-servers" rdisc6_has "Recursive DNS server +: $CHAIN_DNS"
check "rdisc6: the MTU, the tap's ($TAP_MTU)" rdisc6_has "MTU +: +$TAP_MTU bytes \(valid\)"
check "rdisc6: the RIO for $DP" rdisc6_has "Route +: ${DP:-none}"
check "rdisc6: a router lifetime" rdisc6_has "Router lifetime +: +[1-9][0-9]* \("
check "rdisc6: from the dorm's link-local on br-lan" rdisc6_has "from $DORM_LAN_LL"

# --- l2wg down ---------------------------------------------------------------------------------
check "l2wg down dorm" chain_dorm_down
check "the host's address is deprecated within 5 s (the final RAs)" \
  wait_for 5 chain_host_address_in "${LANP:-::/0}" deprecated
check "its preferred lifetime is 0" test "$(chain_host_preferred_lft "${HOST_ADDR:-none}")" = 0
no_default_via_dorm() { ! chain_host_default_via_dorm; }
check "the host's default route via the dorm is gone" wait_for 5 no_default_via_dorm
chain_ns_state "$D" >"$WORKDIR/dorm.after"
same_text "the dorm namespace is exactly as before the tunnel (links, addresses, routes, rules)" \
  "$WORKDIR/dorm.before" "$WORKDIR/dorm.after"
finals_at_least() {  # finals_at_least N: N RAs with router lifetime 0 and their one PIO at lifetimes 0
  at_least "$(chain_ra_count 'ra["rl"] == 0 and list(ra["pio"].values()) == [[0, 0]]')" "$1"
}
check "three final RAs (router lifetime 0, the prefix at lifetimes 0) within 15 s" \
  wait_for 15 finals_at_least 3
stop_pid "$CHAIN_RA_CAPTURE"

# --- every RA, decoded by tshark ----------------------------------------------------------------
tshark -r "$WORKDIR/ra.pcap" -V >"$WORKDIR/tshark.out" 2>&1 || true
ra_count=$(grep -c 'Type: Router Advertisement (134)' "$WORKDIR/tshark.out" || true)
echo "    the host saw $ra_count RAs"
check "tshark decoded the RAs the host saw (at least 4: the first ones and the finals)" at_least "$ra_count" 4
check "tshark: no malformed packet, no expert warning or error" \
  bash -c "! grep -Ei 'malformed|\[Expert Info \((Warning|Error)' $WORKDIR/tshark.out"
check "tshark: every checksum good" \
  test "$(grep -c 'Checksum Status: Good' "$WORKDIR/tshark.out")" = "$ra_count"
check "tshark: the RIO for $DP" grep -Eq "Route Information.*${DP:-none}" "$WORKDIR/tshark.out"
check "no error in the dorm's l2wgd log" bash -c "! grep -E '\[(error|critical)\]' $WORKDIR/l2wgd-dorm.log"

chain_teardown
finish
