#!/usr/bin/env bash
# Routed mode's events, end to end, on the chain of tests/lib/routed_chain.sh (upstream Kea, lab
# bridge, dorm routed, SLAAC host). Every RA the host sees is captured with its timestamp. Shown:
#   - daemon restart with a valid lease (SIGTERM, then SIGKILL): the host keeps its address,
#     preferred; the client Rebinds (no Solicit) and gets the same prefix; the LAN never loses its
#     default router; a ping every 0.1 s across the tunnel loses at most what was sent while l2wgd
#     was down (the userspace datapath lives in l2wgd) and never sees an unreachable;
#   - prefix change on the server (Kea's pool moved, then `l2wg renew`): the host's old address
#     deprecated (preferred_lft 0) and a new one in the new /64 at once (not at the next periodic
#     RA); DelegatedPrefixes and LANPrefixes move; no address, route or rule of the old prefix is
#     left in the dorm, the new ones are there;
#   - the stale-prefix record: STATE/routed/dorm.json lists the old /64, and after a restart the
#     RAs still carry it with preferred and valid lifetime 0;
#   - tunnel lost (the lab's WireGuard stopped): router lifetime 0 on the LAN within 10 s, the
#     host's default route gone, State degraded naming the upstream router; restored once the peer
#     is back and the client has rebound (Rebind/Reply in the log): router lifetime again, default
#     route back, the ping goes through.
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/routed_chain.sh"
source "$(dirname "$0")/../lib/logs.sh"
l2wg_test_init

NEW_POOL=2001:db8:200::/40
chain_setup "$TAG"
D=$CHAIN_DORM H=$CHAIN_HOST
now() { date +%s.%N; }

# Every RA the host sees (pcap timestamps are wall clock, like `now`).
chain_capture_ras

nothing_of() {  # nothing_of PREFIX: no address, route (any table) or rule of the dorm's overlaps it
  ! { ip -n "$D" -6 addr show; ip -n "$D" -6 route show table all; ip -n "$D" -6 rule show; } | overlapping "$1"
}
no_default_via_dorm() { ! chain_host_default_via_dorm; }

# --- the routed tunnel, its prefix, the host's address -----------------------------------------
check "l2wg up dorm --pd --lan br-lan" chain_dorm_up --prefix-length 56
check "the dorm's tunnel reaches state up" chain_wait_state dorm dorm up 20
check "a prefix is delegated and a /64 announced on br-lan" chain_wait_prefix 15
DP1=$(chain_delegated) LANP1=$(chain_lan_prefix)
echo "    delegated $DP1, br-lan gets $LANP1"
check "the host gets an address in $LANP1" chain_wait_host_address "${LANP1:-::/0}" 10
HOST_ADDR=$(chain_host_address_in "${LANP1:-::/0}" | cut -d/ -f1)
check "the host's default route goes via the dorm" wait_for 5 chain_host_default_via_dorm
check "the host reaches the upstream's $CHAIN_TARGET through the tunnel" \
  ip netns exec "$H" ping -6 -c 3 -i 0.2 -W 2 -I "${HOST_ADDR:-::}" "$CHAIN_TARGET"

# --- 4. daemon restart with a valid lease --------------------------------------------------------
# restart_under_ping HOW (stop|kill): restarts the dorm's l2wgd (SIGTERM or SIGKILL) while the host
# pings the upstream every 0.1 s; checks what the host, the LAN and the client saw.
restart_under_ping() {
  local how=$1 log=$WORKDIR/ping-$1.log
  bg_in "$H" "$log" ping -6 -D -n -i 0.1 -W 1 -I "$HOST_ADDR" "$CHAIN_TARGET"
  local ping_pid=$BG_PID
  wait_for 5 grep -q 'icmp_seq=5 ' "$log"
  local down up
  down=$(now)
  if [ "$how" = kill ]; then chain_daemon_kill dorm; else chain_daemon_stop dorm; fi
  chain_daemon_start dorm
  up=$(now)
  local daemon_log
  daemon_log=$(chain_daemon_log dorm)
  # The replies are back once the datapath is: give them 2 s, then ping's own summary.
  sleep 2
  kill -INT "$ping_pid" 2>/dev/null || true
  wait "$ping_pid" 2>/dev/null || true
  local downtime allowed lost
  downtime=$(seconds_between "$down" "$up")
  allowed=$(pings_sent_within "$downtime" 0.1)
  lost=$(ping_lost "$log")
  echo "    $how: l2wgd down for $downtime s (stop to back on the bus); $lost of the pings lost (at most $allowed allowed)"
  check "$how: the ping lost at most the packets sent while l2wgd was down ($lost <= $allowed)" \
    at_most "${lost:-999}" "$allowed"
  check "$how: the ping got replies after the restart" ping_replies_after "$log" "$up"
  check "$how: no unreachable, no send error in the ping's output" \
    bash -c "! grep -Ei 'unreachable|sendmsg|error' $log"
  check "$how: the client Rebinds and gets a Reply" \
    wait_for 10 log_order "$daemon_log" 0 'DHCPv6 REBIND sent' 'DHCPv6 REPLY received'
  check "$how: with no Solicit" bash -c "! grep -q 'DHCPv6 SOLICIT sent' $daemon_log"
  check "$how: the same prefix $DP1 is delegated" test "$(chain_delegated)" = "$DP1"
  check "$how: and the same /64 on br-lan" test "$(chain_lan_prefix)" = "$LANP1"
  check "$how: the tunnel is up" chain_wait_state dorm dorm up 10
  check "$how: the host keeps $HOST_ADDR, preferred" \
    test "$(chain_host_address_in "$LANP1" | cut -d/ -f1)" = "$HOST_ADDR"
  check "$how: its preferred lifetime is not 0 ($(chain_host_preferred_lft "$HOST_ADDR"))" \
    test "$(chain_host_preferred_lft "$HOST_ADDR")" != 0
  check "$how: the LAN was never told router lifetime 0" chain_ra_none "$down" 'ra["rl"] == 0'
  check "$how: the host's default route via the dorm stayed" chain_host_default_via_dorm
}
restart_under_ping stop
restart_under_ping kill

# --- 1. the server moves the prefix -------------------------------------------------------------
check "Kea now delegates out of $NEW_POOL" chain_kea_pool "$NEW_POOL"
changed=$(now)
check "l2wg renew dorm" chain_l2wg dorm renew dorm
moved() { local p; p=$(chain_lan_prefix); [ -n "$p" ] && [ "$p" != "$LANP1" ] && [ "$(echo "$p" | wc -l)" = 1 ]; }
check "br-lan's /64 moves within 10 s" wait_for 10 moved
DP2=$(chain_delegated) LANP2=$(chain_lan_prefix)
echo "    now delegated $DP2, br-lan gets $LANP2 ($(seconds_between "$changed" "$(now)") s after renew)"
check "DelegatedPrefixes is the one new /56 out of $NEW_POOL" prefix_within "${DP2:-::/0}" "$NEW_POOL" 56
check "LANPrefixes is a /64 of it" test "$(chain_prop dorm LANPrefixes)" = "a(ss) 1 \"$CHAIN_LAN\" \"$LANP2\""
check "the host gets an address in $LANP2 within 10 s of the renew (an RA interval is 200-600 s)" \
  chain_wait_host_address "${LANP2:-::/0}" 10
echo "    host address $(chain_host_address_in "${LANP2:-::/0}") $(seconds_between "$changed" "$(now)") s after renew"
check "the host's $HOST_ADDR is deprecated" wait_for 5 chain_host_address_in "$LANP1" deprecated
check "its preferred lifetime is 0" test "$(chain_host_preferred_lft "$HOST_ADDR")" = 0
check "an RA carried $LANP1 at lifetimes 0 and $LANP2 preferred" \
  chain_ra_find "$changed" "pio('$LANP1') == [0, 0] and (pio('$LANP2') or [0])[0] > 0"
check "the dorm has ${LANP2%/64}1/64 on br-lan" \
  bash -c "ip -n $D -6 addr show dev $CHAIN_LAN | grep -q 'inet6 ${LANP2%::/64}::1/64'"
check "nothing of $DP1 is left in the dorm (addresses, routes of every table, rules)" \
  nothing_of "$DP1"
check "the unreachable route for $DP2 in main" bash -c "ip -n $D -6 route show $DP2 | grep -q '^unreachable'"
check "a rule sends traffic from $DP2 to the tunnel's table" \
  bash -c "ip -n $D -6 rule show | grep -Eq 'from $DP2 lookup [0-9]+'"
check "the tunnel's table routes $LANP2 to br-lan" \
  bash -c "ip -n $D -6 route show table all | grep -q '^$LANP2 dev $CHAIN_LAN'"
check "the host reaches the upstream from its new address" \
  ip netns exec "$H" ping -6 -c 3 -i 0.2 -W 2 -I "$(chain_host_address_in "${LANP2:-::/0}" | cut -d/ -f1)" "$CHAIN_TARGET"

# --- 2. the stale-prefix record survives a restart -----------------------------------------------
STATE_FILE=$WORKDIR/dorm/state/routed/dorm.json
lists_deprecated() {
  jq -e --arg lan "$CHAIN_LAN" --arg subnet "$LANP1" \
    '.deprecated | any(.lan == $lan and .subnet == $subnet and .valid_until_us > (now * 1e6))' "$STATE_FILE"
}
check "routed/dorm.json lists $LANP1 on br-lan as deprecated, still valid" lists_deprecated
chain_daemon_stop dorm
restarted=$(now)
chain_daemon_start dorm
check "after the restart, an RA within 5 s carries $LANP1 at preferred and valid lifetime 0" \
  wait_for 5 chain_ra_find "$restarted" "pio('$LANP1') == [0, 0]"
# The first RA may go out before the client's Rebind has its Reply, with only the stale /64 (a
# missing PIO takes nothing from the hosts); the current one follows.
check "and one carries $LANP2 preferred" wait_for 5 chain_ra_find "$restarted" "(pio('$LANP2') or [0])[0] > 0"
check "no RA since the restart lowered $LANP2's lifetimes to 0" chain_ra_none "$restarted" "(pio('$LANP2') or [1])[0] == 0"
check "routed/dorm.json still lists $LANP1" lists_deprecated
check "the host's $HOST_ADDR is still deprecated" chain_host_address_in "$LANP1" deprecated
check "its address in $LANP2 is still preferred" chain_host_address_in "$LANP2"

# --- 3. the tunnel lost, and restored -----------------------------------------------------------
check "the tunnel is up" chain_wait_state dorm dorm up 10
stopped=$(now)
chain_peer_stop
check "an RA with router lifetime 0 on the LAN after the peer stopped" wait_for 15 chain_ra_find "$stopped" 'ra["rl"] == 0'
delay=$(chain_ra_find "$stopped" 'ra["rl"] == 0' || echo 999)
echo "    router lifetime 0 on the LAN $delay s after the peer was stopped"
check "within 10 s ($delay s)" at_most "$delay" 10
check "the host's default route via the dorm is gone" wait_for 5 no_default_via_dorm
check "State is degraded" chain_wait_state dorm dorm degraded 5
reason=$(chain_prop dorm StateReason)
echo "    StateReason: $reason"
check "StateReason names the upstream router $CHAIN_UP_LL" grep -qF "$CHAIN_UP_LL" <<<"$reason"

daemon_log=$(chain_daemon_log dorm)
log_lines=$(wc -l <"$daemon_log")
returned=$(now)
chain_peer_start
check "the client Rebinds and gets a Reply once the peer is back (the log, within 30 s)" \
  wait_for 30 log_order "$daemon_log" "$log_lines" 'DHCPv6 REBIND sent' 'DHCPv6 REPLY received'
check "an RA with a router lifetime again" wait_for 10 chain_ra_find "$returned" 'ra["rl"] > 0'
back=$(chain_ra_find "$returned" 'ra["rl"] > 0' || echo 999)
echo "    router lifetime back $back s after the peer's return"
reply=$(log_time "$daemon_log" "$log_lines" 'DHCPv6 REPLY received' || echo 0)
# The log's timestamps are to the millisecond.
check "not before the Reply to the Rebind" \
  awk -v r="$reply" -v a="$returned" -v b="$back" 'BEGIN { exit !(r > 0 && a + b >= r - 0.001) }'

check "the host's default route via the dorm is back" wait_for 5 chain_host_default_via_dorm
check "State is up" chain_wait_state dorm dorm up 10
check "the host reaches the upstream again" \
  ip netns exec "$H" ping -6 -c 3 -i 0.2 -W 2 -I "$(chain_host_address_in "${LANP2:-::/0}" | cut -d/ -f1)" "$CHAIN_TARGET"
# --- 5. Release() ------------------------------------------------------------------------------
released=$(now)
check "l2wg release dorm" chain_l2wg dorm release dorm
check "Kea hears the Release of $DP2" wait_for 10 grep -q DHCP6_RELEASE_PD "$WORKDIR/kea.log"
no_delegated_prefix() { [ "$(chain_prop dorm DelegatedPrefixes)" = 'a(stt) 0' ]; }
check "DelegatedPrefixes is empty" wait_for 5 no_delegated_prefix
check "an RA carried $LANP2 at lifetimes 0" wait_for 5 chain_ra_find "$released" "pio('$LANP2') == [0, 0]"
# On failure: what the host holds, and every RA it saw since the release.
deprecated_after_release() {
  wait_for 5 chain_host_address_in "$1" deprecated && return
  ip -n "$H" -6 addr show dev "$CHAIN_HOST_IF" scope global
  chain_ras_since "$released"
  return 1
}
check "the host's address in $LANP2 is deprecated" deprecated_after_release "$LANP2"
check "nothing of $DP2 is left in the dorm (addresses, routes of every table, rules)" \
  wait_for 5 nothing_of "$DP2"
check "the tunnel itself stays" chain_wait_state dorm dorm up 5
check "no error in the dorm's l2wgd logs" bash -c "! grep -E '\[(error|critical)\]' $WORKDIR/l2wgd-dorm*.log"

chain_teardown
finish
