#!/usr/bin/env bash
# Router Advertisements from lan/ (LanRaSocket + Advertiser via examples/l2wg-ra), judged by
# independent parties: the kernel's own SLAAC and default-router handling on a LAN host, rdisc6,
# and tshark on a capture. Then the prefix moving (the old one deprecated), the tunnel going down
# and up (router lifetime 0 and back), a flood of solicitations (rate-limited), solicitations that
# did not start on the link (dropped), the final advertisements of a stop; and the tap side
# (UpstreamRouterListener via `l2wg-ra --listen`) learning an upstream router, soliciting from ::
# while its link-local address is still tentative.
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
RA="$L2WG_BUILD_DIR/examples/l2wg-ra"
[ -x "$RA" ] || { echo "FAIL: $RA is not built"; exit 1; }
for tool in rdisc6 tshark tcpdump jq python3; do
  command -v $tool >/dev/null || { echo "FAIL: $tool is not installed (scripts/deps.sh)"; exit 1; }
done

# The router R advertises on r0 to the host H (h0); on r1 it listens to the upstream U (u1).
R=ra-r-$TAG H=ra-h-$TAG U=ra-u-$TAG
ns_add "$R"; ns_add "$H"; ns_add "$U"
ip link add r0 netns "$R" type veth peer name h0 netns "$H"
ip link add r1 netns "$R" type veth peer name u1 netns "$U"
# The host does what any LAN host does with RAs; the router's own kernel takes none.
ip netns exec "$H" sysctl -qw net.ipv6.conf.h0.forwarding=0 net.ipv6.conf.h0.accept_ra=1 \
  net.ipv6.conf.h0.autoconf=1
ip netns exec "$R" sysctl -qw net.ipv6.conf.r0.accept_ra=0 net.ipv6.conf.r1.accept_ra=0
ip netns exec "$U" sysctl -qw net.ipv6.conf.u1.accept_ra=0
ip -n "$R" link set r0 up
ip -n "$H" link set h0 up
settle "$R" "$H"
link_local() { ip -n "$1" -6 -o addr show dev "$2" scope link | awk '{print $4}' | cut -d/ -f1; }
R_LL=$(link_local "$R" r0)

OLD=2001:db8:1:1 NEW=2001:db8:1:2  # the two /64s the router moves between

# --- helpers ---------------------------------------------------------------------------------
# ra_start RUN NS ARGS...: l2wg-ra in NS; JSON lines in $WORKDIR/RUN.json, log in RUN.log.
ra_start() {
  local run=$1 ns=$2
  shift 2
  bg_in "$ns" "$WORKDIR/$run.log" bash -c 'exec "$@" >"$0"' "$WORKDIR/$run.json" \
    "$RA" --log-level debug "$@"
  RA_PID=$BG_PID
}
events() { jq -c "select($2)" "$WORKDIR/$1.json" 2>/dev/null; }
has_event() { [ -n "$(events "$@")" ]; }
count_events() { events "$@" | wc -l; }
# capture NS IF FILE FILTER: tcpdump writing packet by packet, started once it listens.
capture() {
  bg_in "$1" "$WORKDIR/$3.tcpdump.log" tcpdump -i "$2" -U -n -w "$WORKDIR/$3" "$4"
  CAPTURE_PID=$BG_PID
  wait_for 10 grep -q "listening on" "$WORKDIR/$3.tcpdump.log"
}
host_addr() { ip -n "$H" -6 addr show dev h0 scope global; }
# has_address PREFIX [FLAG]: the host has an address in PREFIX::/64, not tentative, whose flags
# include FLAG ("deprecated") or, without FLAG, do not include "deprecated".
has_address() {
  local line
  line=$(host_addr | grep -E "inet6 $1:[0-9a-f:]+/64") || return 1
  ! grep -q tentative <<<"$line" || return 1
  if [ -n "${2:-}" ]; then grep -q "$2" <<<"$line"; else ! grep -q deprecated <<<"$line"; fi
}
default_via_router() { ip -n "$H" -6 route show default | grep -q "via $R_LL dev h0"; }
no_default_route() { ! default_via_router; }
# python_rs HOPS [BAD]: one Router Solicitation from the host to ff02::2 with that hop limit;
# BAD: with an option of length 0 (RFC 4861 §6.1.1 says to drop it).
python_rs() {
  ip netns exec "$H" python3 - "$@" <<'PY'
import socket, sys
hops = int(sys.argv[1])
message = bytes([133, 0, 0, 0, 0, 0, 0, 0])
if len(sys.argv) > 2:
    message += bytes([1, 0, 0, 0, 0, 0, 0, 0])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
s.sendto(message, ("ff02::2", 0, 0, socket.if_nametoindex("h0")))
PY
}
# rs_flood SECONDS: valid solicitations from the host, 20 a second.
rs_flood() {
  ip netns exec "$H" python3 - "$1" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, socket.if_nametoindex("h0")))
    time.sleep(0.05)
PY
}
# min_gap_ms FILE: the shortest time between two consecutive packets of a capture.
min_gap_ms() {
  tshark -r "$WORKDIR/$1" -T fields -e frame.time_epoch 2>/dev/null |
    awk 'NR > 1 { gap = ($1 - last) * 1000; if (min == "" || gap < min) min = gap } { last = $1 }
         END { printf "%d\n", min == "" ? 999999 : min }'
}
at_least() { [ "$1" -ge "$2" ] || { echo "$1 < $2"; return 1; }; }
at_most() { [ "$1" -le "$2" ] || { echo "$1 > $2"; return 1; }; }

# --- the LAN: the first RA, SLAAC and the default route ---------------------------------------
capture "$H" h0 ra.pcap 'icmp6 and ip6[40] == 134'
start_ms=$(date +%s%3N)
ra_start lan "$R" --interface r0 --prefix "$OLD::/64" --prefix "$NEW::/64" --prefix-valid 3600 \
  --prefix-preferred 1800 --route 2001:db8:1::/48 --dns 2001:db8::53 --domain example.com \
  --mtu 1400 --max-interval 30
LAN_PID=$RA_PID
wait_for 5 has_address $OLD || true
slaac_ms=$(($(date +%s%3N) - start_ms))
check "the host has a SLAAC address in $OLD::/64, not tentative" has_address $OLD
check "within 2 s of the start (${slaac_ms} ms)" at_most "$slaac_ms" 2000
check "the host's default route goes via the router's link-local $R_LL" \
  wait_for 3 default_via_router
check "the host took the MTU option: 1400" \
  wait_for 3 bash -c "[ \$(ip netns exec $H sysctl -n net.ipv6.conf.h0.mtu) = 1400 ]"
check "the first advertisement went out at once" has_event lan '.event == "sent"'

# rdisc6 solicits and prints what the router says.
solicited_before=$(count_events lan '.event == "solicited"')
ip netns exec "$H" rdisc6 -r 3 -w 4000 h0 >"$WORKDIR/rdisc6.out" 2>&1 || true
rdisc6_has() { grep -Eq "$1" "$WORKDIR/rdisc6.out" || { cat "$WORKDIR/rdisc6.out"; return 1; }; }
check "rdisc6: the prefix, on-link and autonomous" \
  bash -c "grep -A2 -E 'Prefix +: $OLD::/64' $WORKDIR/rdisc6.out | grep -Ec 'On-link +: +Yes|Autonomous address conf.: +Yes' | grep -qx 2"
check "rdisc6: its valid lifetime (3600 s, less the time since)" \
  rdisc6_has "Valid time +: +3(5[0-9][0-9]|600) \("
check "rdisc6: its preferred lifetime (1800 s, less the time since)" \
  rdisc6_has "Pref. time +: +1(7[0-9][0-9]|800) \("
check "rdisc6: the RIO" rdisc6_has "Route +: 2001:db8:1::/48"
check "rdisc6: the RDNSS" rdisc6_has "Recursive DNS server +: 2001:db8::53"
check "rdisc6: the DNSSL" rdisc6_has "DNS search list +: example.com"
check "rdisc6: the MTU" rdisc6_has "MTU +: +1400 bytes \(valid\)"
check "rdisc6: the router lifetime (3 x 30 s)" rdisc6_has "Router lifetime +: +90 \("
R_MAC=$(ip -n "$R" -o link show r0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
check "rdisc6: the router's link-layer address" rdisc6_has "Source link-layer address: ${R_MAC^^}"
check "rdisc6: from the router's link-local" rdisc6_has "from $R_LL"
check "the router heard rdisc6's solicitation" \
  at_least "$(count_events lan '.event == "solicited"')" $((solicited_before + 1))

# --- the prefix moves ------------------------------------------------------------------------
kill -USR1 "$LAN_PID"
check "after the move, the host gets an address in $NEW::/64 within 5 s" \
  wait_for 5 has_address "$NEW"
check "and its address in $OLD::/64 is deprecated, not removed" \
  wait_for 5 has_address "$OLD" deprecated
check "the router announces the old prefix with lifetimes 0" \
  has_event lan ".event == \"sent\" and any(.prefixes[]; .prefix == \"$OLD::/64\" and .valid == 0 and .preferred == 0)"

# --- the tunnel goes down and up -------------------------------------------------------------
kill -USR2 "$LAN_PID"
check "tunnel down: the host's default route via the router is gone within 10 s" \
  wait_for 10 no_default_route
check "tunnel down: the host keeps its address in $NEW::/64" has_address "$NEW"
check "tunnel down: advertised with router lifetime 0" \
  has_event lan '.event == "sent" and .router_lifetime == 0'
kill -USR2 "$LAN_PID"
check "tunnel up again: the default route is back within 10 s" wait_for 10 default_via_router

# --- solicitations ---------------------------------------------------------------------------
solicited_before=$(count_events lan '.event == "solicited"')
flood_start_us=$(($(date +%s%6N)))
rs_flood 10
flood_end_us=$(($(date +%s%6N)))
check "the flood of solicitations was heard" \
  at_least "$(count_events lan '.event == "solicited"')" $((solicited_before + 1))
check "10 s of solicitations flood: at most 4 advertisements (one per 3 s) in the capture" \
  at_most "$(tshark -r "$WORKDIR/ra.pcap" -T fields -e frame.time_epoch 2>/dev/null |
    awk -v a="$flood_start_us" -v b="$flood_end_us" '$1 * 1e6 >= a && $1 * 1e6 <= b' | wc -l)" 4
check "no two advertisements in the capture less than 3 s apart (a little capture jitter aside)" \
  at_least "$(min_gap_ms ra.pcap)" 2950

dropped_before=$(count_events lan '.event == "dropped"')
python_rs 64
python_rs 255 bad-option
check "a solicitation with hop limit 64 is dropped, and said why" \
  wait_for 3 has_event lan '.event == "dropped" and (.reason | test("hop limit 64, not 255"))'
check "a solicitation with a zero-length option is dropped, and said why" \
  wait_for 3 has_event lan '.event == "dropped" and (.reason | test("length 0"))'
check "nothing else was dropped" \
  at_most "$(count_events lan '.event == "dropped"')" $((dropped_before + 2))

# --- stop: the final advertisements --------------------------------------------------------------
kill -TERM "$LAN_PID"
check "stop: the host's address in $NEW::/64 deprecated within 5 s" \
  wait_for 5 has_address "$NEW" deprecated
check "stop: the host's default route gone within 5 s" wait_for 5 no_default_route
wait_for 15 bash -c "! kill -0 $LAN_PID 2>/dev/null" || true
status=0
wait "$LAN_PID" || status=$?
check "stop: l2wg-ra exited 0 after its final advertisements" [ "$status" = 0 ]
finals() {
  jq -se '(map(.event) | index("stopping")) as $at | .[$at:] | map(select(.event == "sent"))
    | length == 3 and all(.router_lifetime == 0 and all(.prefixes[]; .valid == 0 and .preferred == 0))' \
    "$WORKDIR/lan.json"
}
check "stop: three final advertisements, router lifetime 0, every prefix at lifetimes 0" finals

# --- every advertisement, decoded by tshark ----------------------------------------------------
stop_pid "$CAPTURE_PID"
tshark -r "$WORKDIR/ra.pcap" -V >"$WORKDIR/tshark.out" 2>&1 || true
check "tshark decoded every advertisement the host saw (at least 8)" \
  at_least "$(grep -c 'Type: Router Advertisement (134)' "$WORKDIR/tshark.out")" 8
check "tshark: no malformed packet, no expert warning or error" \
  bash -c "! grep -Ei 'malformed|\[Expert Info \((Warning|Error)' $WORKDIR/tshark.out"
check "tshark: every ICMPv6 checksum correct (the kernel fills it in)" \
  bash -c "[ \$(grep -c 'Checksum Status: Good' $WORKDIR/tshark.out) = \
    \$(grep -c 'Type: Router Advertisement (134)' $WORKDIR/tshark.out) ]"
check "tshark: the Route Information option for the delegated prefix" \
  grep -Eq "Route Information.*2001:db8:1::/48" "$WORKDIR/tshark.out"
check "tshark: hop limit 255, from the router's link-local" \
  bash -c "tshark -r $WORKDIR/ra.pcap -T fields -e ipv6.hlim -e ipv6.src | sort -u |
    diff - <(printf '255\t%s\n' $R_LL)"

# --- the tap side: an upstream router learnt, soliciting from :: ---------------------------------
# r1 comes up with its link-local address held tentative for a long while (slow DAD), so the
# listener's first solicitation can only come from ::.
ip netns exec "$R" sysctl -qw net.ipv6.conf.r1.accept_dad=1 net.ipv6.conf.r1.dad_transmits=8 \
  net.ipv6.neigh.r1.retrans_time_ms=2000
ip -n "$U" link set u1 up
ip -n "$R" link set r1 up
settle "$U"
U_LL=$(link_local "$U" u1)
ra_start upstream "$U" --interface u1 --prefix 2001:db8:ff::/64 --mtu 1420 --max-interval 600
UP_PID=$RA_PID
wait_for 5 has_event upstream '.event == "sent"'
capture "$U" u1 rs.pcap 'icmp6 and ip6[40] == 133'
ra_start listen "$R" --listen r1
LISTEN_PID=$RA_PID
check "the listener learns the upstream router: its link-local, lifetime 1800 and MTU 1420" \
  wait_for 10 has_event listen ".event == \"router\" and .link_local == \"$U_LL\" and .router_lifetime == 1800 and .mtu == 1420"
check "the listener solicited" has_event listen '.event == "solicitation-sent"'
check "the upstream took the solicitation as valid" has_event upstream '.event == "solicited"'
check "r1's link-local was still tentative after the router was learnt (so the RS was from ::)" \
  bash -c "ip -n $R -6 addr show dev r1 | grep -q tentative"
wait_for 3 bash -c "[ \$(tshark -r $WORKDIR/rs.pcap 2>/dev/null | wc -l) -ge 1 ]" || true
tshark -r "$WORKDIR/rs.pcap" -V >"$WORKDIR/tshark-rs.out" 2>&1 || true
check "tshark: the solicitation from ::, hop limit 255, checksum good, no link-layer option" \
  bash -c "grep -q 'Source Address: ::\$' $WORKDIR/tshark-rs.out &&
    grep -q 'Hop Limit: 255' $WORKDIR/tshark-rs.out &&
    grep -q 'Checksum Status: Good' $WORKDIR/tshark-rs.out &&
    ! grep -q 'Source link-layer address' $WORKDIR/tshark-rs.out &&
    ! grep -Ei 'malformed|\[Expert Info \((Warning|Error)' $WORKDIR/tshark-rs.out"
kill -USR2 "$UP_PID"
check "the upstream withdrawing (router lifetime 0) is reported" \
  wait_for 10 has_event listen ".event == \"router\" and .link_local == \"$U_LL\" and .router_lifetime == 0"
check "no more solicitations once the router was heard" \
  at_most "$(count_events listen '.event == "solicitation-sent"')" 1
check "the listener dropped nothing" at_most "$(count_events listen '.event == "dropped"')" 0
kill -TERM "$LISTEN_PID"
status=0
wait "$LISTEN_PID" || status=$?
check "SIGTERM: the listener exits 0" [ "$status" = 0 ]
stop_pid "$UP_PID"  # after its final advertisements

finish
