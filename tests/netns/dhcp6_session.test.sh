#!/usr/bin/env bash
# The DHCPv6 session's own duties (dhcp6::Session via examples/l2wg-dhcp6) against Kea: the
# socket, bound per interface, so two sessions run side by side in one namespace; the shared
# DUID and the lease file; SIGTERM keeps the lease and the next start Rebinds to the same
# prefix; release gives it back and removes the file; a lease file that cannot be written is
# reported without stopping the session; datagrams not from port 547 are dropped; errors name
# the interface; and a start while the link-local address is still tentative waits for DAD
# instead of losing the first Solicit. The client's timers and the server's failures are
# tests/netns/dhcp6_kea.test.sh's.
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/kea.sh"
l2wg_test_init
DHCP6="$L2WG_BUILD_DIR/examples/l2wg-dhcp6"
need "$DHCP6" kea-dhcp6

SRV=d6s-srv-$TAG CLI=d6s-cli-$TAG
IFA=d6sa IFB=d6sb IFC=d6sc  # client A, client B; C is the one whose link-local address does DAD
STATE=$WORKDIR/state

ns_add "$SRV"; ns_add "$CLI"
for link in $IFA $IFB $IFC; do
  ip link add "$link" netns "$CLI" type veth peer name "$link" netns "$SRV"
done
ip netns exec "$CLI" sysctl -qw "net.ipv6.conf.$IFC.accept_dad=1"
ip -n "$SRV" addr add 2001:db8:a::1/64 dev "$IFA" nodad
ip -n "$SRV" addr add 2001:db8:b::1/64 dev "$IFB" nodad
ip -n "$SRV" addr add 2001:db8:c::1/64 dev "$IFC" nodad
for link in $IFA $IFB $IFC; do
  ip -n "$SRV" link set "$link" up
  ip -n "$CLI" link set "$link" up
done
settle "$SRV" "$CLI"

# Each link its own subnet and pool: the prefix tells which link a session was served on.
kea_config "$WORKDIR/kea.json" --server-id 02005e10d6a5 --timers 1000 2000 3000 4000 \
  --subnet "$IFA" 2001:db8:a::/64 2001:db8:100::/40 --subnet "$IFB" 2001:db8:b::/64 2001:db8:200::/40 \
  --subnet "$IFC" 2001:db8:c::/64 2001:db8:300::/40 \
  --option dns-servers 2001:db8::53 --option domain-search example.com
kea_start "$SRV" "$WORKDIR/kea.json" "$WORKDIR/kea.log"

# --- helpers ---------------------------------------------------------------------------------
# dhcp6_start RUN ARGS...: the tool in CLI; its JSON lines in $WORKDIR/RUN.json, its log in
# $WORKDIR/RUN.log. Sets DHCP6_PID.
dhcp6_start() {
  local run=$1
  shift
  bg_in "$CLI" "$WORKDIR/$run.log" bash -c 'exec "$@" >"$0"' "$WORKDIR/$run.json" \
    "$DHCP6" --state-dir "$STATE" --no-initial-delay --log-level debug "$@"
  DHCP6_PID=$BG_PID
}
# events RUN JQ_CONDITION: the run's JSON lines that match, compact.
events() { jq -c "select($2)" "$WORKDIR/$1.json" 2>/dev/null; }
has_event() { [ -n "$(events "$@")" ]; }
count_events() { jq -c "select($2)" "$WORKDIR/$1.json" | wc -l; }
# first_value RUN JQ_CONDITION JQ_EXPRESSION: the expression on the first matching line.
first_value() { events "$1" "$2" | head -1 | jq -r "$3"; }
# stop_run PID: SIGTERM, and the exit status.
stop_run() {
  kill -TERM "$1"
  local status=0
  wait "$1" || status=$?
  return "$status"
}
added='.event == "prefix-added"'
lease_file() { echo "$STATE/dhcp6/$1.lease"; }

# --- two sessions at once, one per interface, in one namespace -------------------------------
dhcp6_start a --interface "$IFA" --prefix-length 56
PID_A=$DHCP6_PID
dhcp6_start b --interface "$IFB" --name uplink-b
PID_B=$DHCP6_PID
check "A binds a prefix" wait_for 10 has_event a "$added"
check "B binds a prefix at the same time" wait_for 10 has_event b "$added"
PREFIX_A=$(first_value a "$added" .prefix)
PREFIX_B=$(first_value b "$added" .prefix)
check "A's prefix is from A's link's pool: $PREFIX_A" grep -Eq '^2001:db8:1[0-9a-f]{2}::/56$' <<<"$PREFIX_A"
check "B's prefix is from B's link's pool: $PREFIX_B" grep -Eq '^2001:db8:2[0-9a-f]{2}::/56$' <<<"$PREFIX_B"
check "prefix-added carries the DNS data" \
  has_event a "$added"' and .dns == ["2001:db8::53"] and .domains == ["example.com"]'
check "each socket is bound to its interface" bash -c \
  "ip netns exec $CLI ss -H -uln 'sport = :546' | grep -q '%$IFA:546' &&
   ip netns exec $CLI ss -H -uln 'sport = :546' | grep -q '%$IFB:546'"
DUID=$(first_value a '.event == "started"' .duid)
check "A and B, started together, share the one DUID" \
  test "$DUID" = "$(first_value b '.event == "started"' .duid)"
check "the DUID is a DUID-UUID kept in the state dir, 0600" bash -c \
  "grep -Eqx '0004[0-9a-f]{32}' <<<'$DUID' && test \"\$(cat $STATE/dhcp6/duid)\" = '$DUID' &&
   test \"\$(stat -c %a $STATE/dhcp6/duid)\" = 600 && test \"\$(stat -c %a $STATE/dhcp6)\" = 700"
check "A and B have different IAIDs" \
  test "$(first_value a '.event == "started"' .iaid)" != "$(first_value b '.event == "started"' .iaid)"

IAID_A=$(first_value a '.event == "started"' .iaid)
check "A's lease file holds its prefix, IAID, DNS and the server's DUID" jq -e \
  --arg prefix "$PREFIX_A" --argjson iaid "$IAID_A" \
  '.prefixes[0].prefix == $prefix and .iaid == $iaid and .dns_servers == ["2001:db8::53"]
   and .domain_search == ["example.com"] and .server_id == "0003000102005e10d6a5"
   and .prefixes[0].valid_until_us > .prefixes[0].preferred_until_us' "$(lease_file "$IFA")"
check "the lease file is what the session last reported" bash -c \
  "diff <(jq -S . $(lease_file "$IFA")) <(jq -c 'select(.event == \"lease\") | .lease' $WORKDIR/a.json | tail -1 | jq -S .)"
check "B's lease file is under its name" jq -e --arg prefix "$PREFIX_B" \
  '.prefixes[0].prefix == $prefix' "$(lease_file uplink-b)"

# --- what the session refuses --------------------------------------------------------------
check_fails "a second client on A's interface" "UDP port 546 on $IFA is in use" \
  ip netns exec "$CLI" "$DHCP6" --interface "$IFA" --name other --state-dir "$STATE"
check_fails "a missing interface" "no interface d6s-none" \
  ip netns exec "$CLI" "$DHCP6" --interface d6s-none --state-dir "$STATE"

# --- only datagrams from port 547 reach the client -----------------------------------------
LL_A=$(link_local "$CLI" "$IFA")
send_udp() {  # send_udp SOURCE_PORT PAYLOAD_HEX: from SRV to A's port 546
  ip netns exec "$SRV" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("2001:db8:a::1", int(sys.argv[1])))  # not [::]:547, which Kea may hold
s.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[3], 546, 0, socket.if_nametoindex(sys.argv[4])))
' "$1" "$2" "$LL_A" "$IFA"
}
send_udp 5547 0701020300
check "a datagram from another port is dropped by the session" \
  wait_for 5 has_event a '.event == "dropped" and .reason == "from UDP port 5547, not 547"'
send_udp 547 07010203000100
check "a datagram from port 547 goes to the client (which drops this one as malformed)" \
  wait_for 5 has_event a '.event == "dropped" and (.reason | test("port") | not)'

# --- SIGTERM keeps the lease; a restart Rebinds to the same prefix -------------------------
cp "$(lease_file "$IFA")" "$WORKDIR/lease-a.before"
check "SIGTERM: A exits 0" stop_run "$PID_A"
check "SIGTERM: the lease file stays as it was" cmp "$(lease_file "$IFA")" "$WORKDIR/lease-a.before"
dhcp6_start a2 --interface "$IFA" --prefix-length 56
PID_A=$DHCP6_PID
check "restarted, A is answered" wait_for 10 has_event a2 '.event == "received" and .type == "reply"'
check "restarted, A's first message is a Rebind" \
  test "$(first_value a2 '.event == "sent"' .type)" = rebind
check "restarted, A sends no Solicit" bash -c "! grep -q '\"type\":\"solicit\"' $WORKDIR/a2.json"
check "restarted, A holds the same prefix" wait_for 5 jq -e --arg prefix "$PREFIX_A" \
  '[.prefixes[].prefix] == [$prefix]' "$(lease_file "$IFA")"
check "restarted, A reports no other prefix" test "$(count_events a2 \
  "(.event | startswith(\"prefix-\")) and .prefix != \"$PREFIX_A\"")" = 0

# --- SIGUSR2 releases -----------------------------------------------------------------------
kill -USR2 "$PID_A"
check "SIGUSR2: the prefix is reported lost, released" wait_for 5 has_event a2 \
  ".event == \"prefix-lost\" and .prefix == \"$PREFIX_A\" and .reason == \"released\""
check "SIGUSR2: a Release is sent" has_event a2 '.event == "sent" and .type == "release"'
check "SIGUSR2: the lease is reported gone" has_event a2 '.event == "lease" and .lease == null'
check "SIGUSR2: the lease file is removed" wait_for 5 test ! -e "$(lease_file "$IFA")"
check "SIGUSR2: Kea released the binding" wait_for 5 grep -q \
  "prefix $PREFIX_A for iaid=$IAID_A was released properly" "$WORKDIR/kea.log"
check "after release, A exits 0 on SIGTERM" stop_run "$PID_A"

# --- a start while the link-local address is tentative waits for DAD -----------------------
# Down and up again: the link-local address is made anew and DAD (accept_dad=1 on C) keeps it
# tentative for a second or two, during which the session is started.
ip -n "$CLI" link set "$IFC" down
ip -n "$CLI" link set "$IFC" up
dhcp6_start c --interface "$IFC"
PID_C=$DHCP6_PID
check "C waits for its link-local address" wait_for 5 has_event c '.event == "waiting"'
check "C binds a prefix after DAD" wait_for 15 has_event c "$added"
check "C's link-local address is no longer tentative" bash -c \
  "ip -n $CLI -6 addr show dev $IFC scope link | grep -q fe80 &&
   ! ip -n $CLI -6 addr show dev $IFC | grep -q tentative"
check "no send of C failed" bash -c "! grep -q 'not sent' $WORKDIR/c.json"
started_us=$(first_value c '.event == "started"' .mono_us)
solicit_us=$(first_value c '.event == "sent" and .type == "solicit"' .mono_us)
check "C's first Solicit left after DAD ($(((solicit_us - started_us) / 1000)) ms after the start)" \
  test $((solicit_us - started_us)) -gt 300000
# The xid stays the same across retransmissions: one Solicit sent and answered is the proof.
check "C sent exactly one Solicit" \
  test "$(count_events c '.event == "sent" and .type == "solicit"')" = 1
check "C's Solicit was answered" test \
  "$(first_value c '.event == "sent" and .type == "solicit"' .xid)" = \
  "$(first_value c '.event == "received" and .type == "advertise"' .xid)"
check "C exits 0 on SIGTERM" stop_run "$PID_C"

# --- a lease file that cannot be written: reported, and the session goes on ------------------
LEASE_B=$(lease_file uplink-b)
rm "$LEASE_B"
mkdir -p "$LEASE_B/in-the-way"  # rename() cannot replace a directory that is not empty
kill -USR1 "$PID_B"
check "renewed, B reports that it cannot write its lease file" wait_for 5 has_event b \
  ".event == \"error\" and (.message | contains(\"$LEASE_B\"))"
rm -r "$LEASE_B"
kill -USR1 "$PID_B"
check "renewed again, B writes its lease file again" wait_for 5 jq -e --arg prefix "$PREFIX_B" \
  '.prefixes[0].prefix == $prefix' "$LEASE_B"

# B ran through all of this on its own interface.
check "B never lost its prefix" test "$(count_events b '.event == "prefix-lost"')" = 0
check "B exits 0 on SIGTERM" stop_run "$PID_B"
check "B's lease file stays" test -e "$LEASE_B"
finish
