#!/usr/bin/env bash
# In the VM, the routed-mode chain (tests/lib/routed_chain.sh) on kernel WireGuard and kernel
# gretap: Kea delegates a /56, the dorm's routed tunnel announces a /64 of it on br-lan, the LAN
# host takes an address by SLAAC. Then the dorm's l2wgd is stopped (SIGTERM) and started again,
# and once more killed (SIGKILL, a crash) and started again, each time while the host pings the
# upstream across the tunnel. The kernel keeps forwarding on its own (its tap, its routes, its
# rule stay), so the ping loses nothing; the new daemon adopts the tap (same ifindex, no
# duplicate), resumes the lease (the same prefix, no second Solicit), leaves the routes and the
# rule as they were, and never tells the LAN to stop using its prefix or its router.
export L2WG_KERNEL_WG=1
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/routed_chain.sh"
l2wg_test_init

PINGS=${L2WG_RESTART_PINGS:-150}  # at -i 0.1: 15 s, a restart under TCG takes 2-6 s

chain_setup "$TAG"
D=$CHAIN_DORM H=$CHAIN_HOST
lab_datapath() { chain_busctl lab get-property net.l2wg1 /net/l2wg1/tunnel/lab net.l2wg1.Tunnel Datapath; }
check "the lab's bridge-mode tunnel uses kernel gretap (Datapath=auto)" test "$(lab_datapath)" = 's "kernel"'

# --- the routed tunnel, from the config directory as a dorm's service would have it ------------
check "the dorm's routed tunnel from dorm.conf (Datapath=auto)" chain_dorm_config PrefixLength=56
check "it reaches state up" chain_wait_state dorm dorm up 30
check "it uses kernel gretap" test "$(chain_prop dorm Datapath)" = 's "kernel"'
check "its tap is a kernel gretap device" link_has "$D" "$CHAIN_TAP" 'gretap'
check "a prefix is delegated and a /64 announced on br-lan" chain_wait_prefix 30
DP=$(chain_delegated) LANP=$(chain_lan_prefix)
echo "    delegated $DP, br-lan gets $LANP"
check "the host gets an address in $LANP" chain_wait_host_address "${LANP:-::/0}" 20
HOST_ADDR=$(chain_host_address_in "${LANP:-::/0}" | cut -d/ -f1)
echo "    host address $HOST_ADDR"
DORM_LAN_LL=$(link_local "$D" "$CHAIN_LAN")
check "the host's default route goes via the dorm" \
  wait_for 10 bash -c "ip -n $H -6 route show default | grep -q 'via $DORM_LAN_LL dev $CHAIN_HOST_IF'"
check "the host reaches the upstream's $CHAIN_TARGET across the tunnel" \
  ip netns exec "$H" ping -6 -c 3 -i 0.2 -W 2 -I "${HOST_ADDR:-::}" "$CHAIN_TARGET"
# The GRE path probe through two kernel gretaps: each end verifies the path and learns the other
# tap's MAC (an AF_PACKET socket on a gretap, as on the userspace datapath's TAP).
path_is() {  # path_is SIDE VALUE: the Path of SIDE's tunnel (named as the side)
  [ "$(chain_busctl "$1" get-property net.l2wg1 "/net/l2wg1/tunnel/$1" net.l2wg1.Tunnel Path)" = "s \"$2\"" ]
}
check "the lab verifies the GRE path over kernel gretap" wait_for 15 path_is lab verified
check "the dorm verifies it too" wait_for 15 path_is dorm verified
check "the dorm knows the lab tap's MAC" test "$(chain_prop dorm PeerMACAddress)" = \
  "s \"$(ip -n "$CHAIN_LAB" -j link show l2-lab | jq -r '.[0].address')\""
# MTU=auto on kernel gretap: nftables tables of the taps' own clamp TCP's MSS, so full segments
# cross WireGuard in one packet (routed: inet, bridged: bridge).
check "the dorm's routed tap has its MSS clamp table" \
  ip netns exec "$D" nft list table inet l2wg-mss-l2-dorm
check "the lab's bridged tap has its own" \
  ip netns exec "$CHAIN_LAB" nft list table bridge l2wg-mss-l2-lab
CLAMP=$(chain_prop dorm MSSClamp | cut -d' ' -f2)
check "MSSClamp tells the packet size clamped to (${CLAMP:-none})" test "${CLAMP:-0}" -gt 1280
for ns in "$H" "$CHAIN_UP"; do ip netns exec "$ns" sysctl -qw net.ipv4.tcp_timestamps=0; done
check "TCP from the LAN host to the campus negotiates MSS $((${CLAMP:-0} - 60)) on both ends" \
  test "$(tcp_mss "$H" "$CHAIN_UP" "$CHAIN_TARGET")" = "$((${CLAMP:-0} - 60)) $((${CLAMP:-0} - 60))"
for ns in "$H" "$CHAIN_UP"; do ip netns exec "$ns" sysctl -qw net.ipv4.tcp_timestamps=1; done

# Every RA the host sees from now on (the tunnel is up): none may withdraw the prefix or the router.
bg_in "$H" "$WORKDIR/tcpdump-ra.log" tcpdump -i "$CHAIN_HOST_IF" --immediate-mode -U -n \
  -w "$WORKDIR/ra.pcap" 'icmp6 and ip6[40] == 134'
RA_CAPTURE=$BG_PID
wait_for 20 grep -q "listening on" "$WORKDIR/tcpdump-ra.log"

# What a restart must leave as it is. Routes learnt from RAs count their lifetime down.
routing_state() {
  {
    ip -n "$D" -6 route show table all | sed -E 's/ expires [0-9]+sec//'
    ip -n "$D" -6 rule show
  } 2>&1
}
tap_ifindex() { ip -n "$D" -o link show "$CHAIN_TAP" | cut -d: -f1; }
tap_count() { ip -n "$D" -o link show | grep -c ': l2-' || true; }
host_address_kept() {  # the host's address in LANP is HOST_ADDR, usable and not deprecated
  local address
  address=$(chain_host_address_in "${LANP:-::/0}") || { chain_host_addresses; return 1; }
  [ "${address%/*}" = "$HOST_ADDR" ] || { echo "now $address"; return 1; }
}
advertised() { grep -c DHCP6_PD_LEASE_ADVERT "$WORKDIR/kea.log" || true; }
TAP_INDEX=$(tap_ifindex)
SOLICITS=$(advertised)

# restart_under_ping HOW: HOW (stop or kill) the dorm's daemon and start it again while the host
# pings the upstream; then everything must be as before.
restart_under_ping() {
  local how=$1 signal=SIGTERM
  [ "$how" = kill ] && signal=SIGKILL
  routing_state >"$WORKDIR/routing.before-$how"
  ip netns exec "$H" ping -6 -c "$PINGS" -i 0.1 -W 1 -I "${HOST_ADDR:-::}" "$CHAIN_TARGET" \
    >"$WORKDIR/ping-$how.log" 2>&1 &
  local ping_pid=$! started=$SECONDS
  sleep 1
  STOPPED_AT[$how]=$EPOCHREALTIME
  "chain_daemon_$how" dorm
  check "$signal: l2wgd exited" bash -c "! kill -0 ${CHAIN_DAEMON_PID[dorm]} 2>/dev/null"
  check "$signal: the tap outlived the daemon" test "$(tap_ifindex)" = "$TAP_INDEX"
  STARTED_AT[$how]=$EPOCHREALTIME
  check "$signal: l2wgd started again" chain_daemon_start dorm
  check "$signal: the restarted daemon has the tunnel up" chain_wait_state dorm dorm up 30
  echo "    daemon back and the tunnel up $((SECONDS - started)) s after the ping started"
  check "$signal: the ping was still running when the tunnel was up again (it spans the restart)" \
    kill -0 "$ping_pid"
  wait "$ping_pid" || true
  tail -n 2 "$WORKDIR/ping-$how.log" | sed 's/^/    /'
  check "$signal: the ping across the tunnel lost nothing" \
    grep -Eq "^$PINGS packets transmitted, $PINGS received, .*0% packet loss" "$WORKDIR/ping-$how.log"
  check "$signal: the same prefix is bound ($DP)" test "$(chain_delegated)" = "$DP"
  check "$signal: br-lan keeps its /64" test "$(chain_lan_prefix)" = "$LANP"
  check "$signal: no new Solicit reached Kea (the lease was resumed)" test "$(advertised)" = "$SOLICITS"
  check "$signal: the host keeps its address, not deprecated" host_address_kept
  check "$signal: the tap was adopted (same ifindex)" test "$(tap_ifindex)" = "$TAP_INDEX"
  check "$signal: no second tap" test "$(tap_count)" = 1
  routing_state >"$WORKDIR/routing.after-$how"
  same_text "$signal: the dorm's routes (every table) and rules are as before" \
    "$WORKDIR/routing.before-$how" "$WORKDIR/routing.after-$how"
}
declare -A STOPPED_AT=() STARTED_AT=()
restart_under_ping stop
restart_under_ping kill

# --- what the LAN was told ----------------------------------------------------------------------
stop_pid "$RA_CAPTURE"
# The dorm's RAs: time, router lifetime, each PIO's preferred lifetime.
tshark -r "$WORKDIR/ra.pcap" -Y "ipv6.src == $DORM_LAN_LL" -T fields -E separator=' ' \
  -e frame.time_epoch -e icmpv6.nd.ra.router_lifetime -e icmpv6.opt.prefix.preferred_lifetime \
  >"$WORKDIR/ras.txt" 2>"$WORKDIR/tshark.log" || true
echo "    the dorm's RAs on the host (time after the SIGTERM, router lifetime, PIO preferred lifetimes):"
awk -v t0="${STOPPED_AT[stop]}" '{ printf "    %+.2f s: %s\n", $1 - t0, substr($0, index($0, " ") + 1) }' \
  "$WORKDIR/ras.txt"
ras_between() {  # ras_between FROM [TO]: how many RAs the dorm sent in [FROM, TO)
  awk -v from="$1" -v to="${2:-}" '$1 >= from && (to == "" || $1 < to)' "$WORKDIR/ras.txt" | wc -l
}
check "the daemon started after the SIGTERM announced itself on br-lan" \
  test "$(ras_between "${STARTED_AT[stop]}" "${STOPPED_AT[kill]}")" -ge 1
check "so did the one started after the SIGKILL" test "$(ras_between "${STARTED_AT[kill]}")" -ge 1
check "no RA had router lifetime 0 or a PIO preferred lifetime 0 (no final RAs on a restart)" \
  awk '{ gsub(",", " "); for (i = 2; i <= NF; i++) if ($i == 0) { print "RA: " $0; bad = 1 } }
       END { exit bad }' \
  "$WORKDIR/ras.txt"

chain_l2wg lab down lab
chain_dorm_down
check "l2wg down removes the lab's MSS clamp table" \
  bash -c "! ip netns exec $CHAIN_LAB nft list tables | grep -q l2wg-mss"
check "and the dorm's" bash -c "! ip netns exec $D nft list tables | grep -q l2wg-mss"
finish
