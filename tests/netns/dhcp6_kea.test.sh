#!/usr/bin/env bash
# The DHCPv6 prefix-delegation client (examples/l2wg-dhcp6, on dhcp6::Session) against a real Kea
# DHCPv6 server (kea-dhcp6) on a bridge in namespace SRV, with clients in namespaces CLI1 and CLI2.
# Timers are short (T1 2 s, T2 14 s, preferred 16 s, valid 18 s: T2 - T1 leaves room for one Renew
# retransmission after REN_TIMEOUT, 10 s) so the whole test takes about a minute:
#   1. a prefix from Kea's pd-pool is bound, of the length the client hinted
#   2. Renew at T1 is answered: the same prefix with later lifetimes
#   3. Kea restarted with another pool: the new prefix bound, the old one reported lost
#   4. Kea stopped: Renew retransmitted, Rebind at T2, the prefix expires at its valid lifetime,
#      the client solicits again
#   5. the client restarted with its valid lease: Rebind first, the same prefix, at once
#   6. Kea out of prefixes (NoPrefixAvail): the second client's Solicits back off as RFC 8415 §15
#      says and it gets the prefix once the first client releases it
#   7. Rapid Commit: bound with one Solicit and its Reply
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/kea.sh"
l2wg_test_init
DHCP6="$L2WG_BUILD_DIR/examples/l2wg-dhcp6"
need "$DHCP6" kea-dhcp6

SRV=d6k-srv-$TAG CLI1=d6k-c1-$TAG CLI2=d6k-c2-$TAG
BR=d6kbr IF1=d6k1 IF2=d6k2
T1=2 T2=14 PREFERRED=16 VALID=18
POOL_A=2001:db8:100::/48 POOL_B=2001:db8:200::/48 POOL_ONE=2001:db8:300::/56 POOL_RC=2001:db8:400::/48

ns_add "$SRV"; ns_add "$CLI1"; ns_add "$CLI2"
# Both clients on one link with the server, as two routers on a lab's WAN would be. Multicast
# snooping off: with no MLD querier on this link the bridge must simply flood ff02::1:2.
ip -n "$SRV" link add "$BR" type bridge mcast_snooping 0
ip link add "$IF1" netns "$CLI1" type veth peer name "$IF1" netns "$SRV"
ip link add "$IF2" netns "$CLI2" type veth peer name "$IF2" netns "$SRV"
ip -n "$SRV" link set "$IF1" master "$BR" up
ip -n "$SRV" link set "$IF2" master "$BR" up
ip -n "$SRV" link set "$BR" up
ip -n "$SRV" addr add 2001:db8:1::1/64 dev "$BR" nodad
ip -n "$CLI1" link set "$IF1" up
ip -n "$CLI2" link set "$IF2" up
settle "$SRV" "$CLI1" "$CLI2"

# --- Kea -----------------------------------------------------------------------------------------
# kea_pool NAME POOL [--rapid-commit]: kea-dhcp6 in SRV with one pd-pool of /56s (POOL is
# prefix/len), leases in $WORKDIR/leases-$KEA_LEASES.csv (kept across restarts, like a real
# server's), its config and log $WORKDIR/kea-NAME.{json,log}. Sets KEA_PID.
kea_pool() {
  local name=$1 pool=$2
  shift 2
  kea_config "$WORKDIR/kea-$name.json" --server-id 02005e10d6a1 --subnet "$BR" 2001:db8:1::/64 "$pool" \
    --leases "$WORKDIR/leases-$KEA_LEASES.csv" --timers "$T1" "$T2" "$PREFERRED" "$VALID" \
    --option dns-servers 2001:db8::53 --option domain-search example.com "$@"
  kea_start "$SRV" "$WORKDIR/kea-$name.json" "$WORKDIR/kea-$name.log"
}

# --- The client and its events ---------------------------------------------------------------
# client_start RUN NS IFNAME STATE_DIR [ARGS...]: l2wg-dhcp6 in NS; its JSON events go to
# $WORKDIR/RUN.events.log, its logs to RUN.log. Sets CLIENT_PID (the tool's own PID: bash execs).
client_start() {
  local run=$1 ns=$2 ifname=$3 state=$4
  shift 4
  mkdir -p "$state"
  bg_in "$ns" "$WORKDIR/$run.log" bash -c 'exec "$@" >"$0"' "$WORKDIR/$run.events.log" \
    "$DHCP6" --interface "$ifname" --state-dir "$state" --log-level debug "$@"
  CLIENT_PID=$BG_PID
}
# client_stop PID: SIGTERM; sets CLIENT_STATUS to its exit status (137: SIGKILLed after 5 s).
client_stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait_for 5 exited "$1" || kill -KILL "$1" 2>/dev/null || true
  CLIENT_STATUS=0
  wait "$1" || CLIENT_STATUS=$?
}
exited() {  # our child PID has exited (a zombie until waited for)
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
  [ -z "$state" ] || [ "$state" = Z ]
}

# The events of a run, read by tests/tools/dhcp6-events.py: a match is a list of KEY=VALUE (the
# field's text equals VALUE) and py:EXPRESSION (over `e`).
EVENTS="$L2WG_TOOLS/dhcp6-events.py"
exec 3>&1  # for note() in dhcp6-events.py: check sends stdout to its own file
declare -A EV_POS  # per run: how many events have been consumed by ev_wait

# ev_wait RUN SECONDS SPEC...: waits for an event after the last one ev_wait consumed for RUN;
# sets EV (its JSON) and moves RUN's position past it.
ev_wait() {
  local run=$1 seconds=$2 out
  EV='{}'
  shift 2
  out=$(python3 "$EVENTS" wait "$WORKDIR/$run.events.log" "$seconds" "${EV_POS[$run]:-0}" "$@") ||
    { echo "$out"; return 1; }
  EV_POS[$run]=${out%% *}
  EV=${out#* }
}
# ev RUN SPEC...: like ev_wait with the default wait of 10 s.
ev() { ev_wait "$1" 10 "${@:2}"; }
# ev_py RUN CODE: asserts over all of RUN's events (see dhcp6-events.py).
ev_py() { python3 "$EVENTS" py "$WORKDIR/$1.events.log" "$2"; }
# field KEY: the field of the last event ev_wait found (empty if none: the checks that use it fail).
EV='{}'
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$EV" "$1"; }

# lease_file STATE_DIR NAME: where the session keeps NAME's lease.
lease_file() { echo "$1/dhcp6/$2.lease"; }

# --- 1. a prefix bound ---------------------------------------------------------------------------
KEA_LEASES=a
kea_pool pool-a "$POOL_A"
# What Kea's logs do not say is checked on the wire: the hint (Kea 2.2 ignores a hint's length
# when it chooses a pool), the status codes.
bg_in "$SRV" "$WORKDIR/tcpdump.log" tcpdump -l -n -vv -i "$BR" udp port 547
wait_for 5 grep -q 'listening on' "$WORKDIR/tcpdump.log"
STATE1=$WORKDIR/state1
client_start c1 "$CLI1" "$IF1" "$STATE1" --prefix-length 56
C1_PID=$CLIENT_PID
check "1. the client starts and solicits" ev c1 event=sent type=solicit
check "1. a prefix is bound (prefix-added) within 5 s" ev_wait c1 5 event=prefix-added
P1=$(field prefix)
echo "    bound $P1"
check "1. the prefix $P1 is from Kea's pd-pool $POOL_A" ev_py c1 "
e = select(events, 'event=prefix-added')[0]
assert in_net(e['prefix'], '$POOL_A'), e['prefix']"
check "1. the prefix is a /56, the length the client hinted" ev_py c1 "
assert plen(select(events, 'event=prefix-added')[0]['prefix']) == 56"
check "1. the Solicit carried the hint ::/56" grep -Eq 'dhcp6 solicit .*IA_PD-prefix ::/56' "$WORKDIR/tcpdump.log"
check "1. lifetimes are Kea's (preferred ${PREFERRED} s, valid ${VALID} s)" ev_py c1 "
e = select(events, 'event=prefix-added')[0]
preferred, valid = seconds(e['preferred_until_us'] - e['wall_us']), seconds(e['valid_until_us'] - e['wall_us'])
assert abs(preferred - $PREFERRED) < 1 and abs(valid - $VALID) < 1, (preferred, valid)"
check "1. DNS server and search domain from Kea's options" ev_py c1 "
e = select(events, 'event=prefix-added')[0]
assert e['dns'] == ['2001:db8::53'] and e['domains'] == ['example.com'], (e['dns'], e['domains'])"
check "1. the state is bound when the prefix is announced" ev_py c1 "
added = select(events, 'event=prefix-added')[0]
assert select(events[:events.index(added)], 'event=state')[-1]['state'] == 'bound'"
check "1. the lease file names the prefix" grep -q "\"$P1\"" "$(lease_file "$STATE1" "$IF1")"

# --- 2. Renew ------------------------------------------------------------------------------------
check "2. Renew sent at T1 ($T1 s)" ev_wait c1 $((T1 + 3)) event=sent type=renew
check "2. Renew answered" ev c1 event=received type=reply
check "2. prefix-changed: the same prefix with later lifetimes" ev c1 event=prefix-changed "prefix=$P1"
check "2. the Renew went out at T1 after the binding, the lifetimes moved on by as much" ev_py c1 "
reply = select(events, 'event=received', 'type=reply')[0]
renew = select(events, 'event=sent', 'type=renew')[0]
added = select(events, 'event=prefix-added')[0]
changed = select(events, 'event=prefix-changed')[0]
after = seconds(renew['mono_us'] - reply['mono_us'])
note(f'Renew {after:.3f} s after the Reply that bound the prefix')
assert abs(after - $T1) < 0.5, after
moved = seconds(changed['valid_until_us'] - added['valid_until_us'])
assert changed['valid_until_us'] > added['valid_until_us'] and changed['preferred_until_us'] > added['preferred_until_us'], moved
assert abs(moved - after) < 0.5, moved"
check "2. renewing during the Renew, bound after it" ev_py c1 "
renew = select(events, 'event=sent', 'type=renew')[0]
before, after = events[:events.index(renew)], events[events.index(renew):]
assert select(before, 'event=state')[-1]['state'] == 'renewing', select(before, 'event=state')[-1]
reply = select(after, 'event=received')[0]
assert reply['type'] == 'reply' and reply['xid'] == renew['xid'], reply
assert select(after, 'event=state')[0]['state'] == 'bound', select(after, 'event=state')[0]"

# --- 3. Kea restarted with another pool ----------------------------------------------------------
kea_stop
kea_pool pool-b "$POOL_B"
MARK=${EV_POS[c1]}
check "3. a new prefix from $POOL_B is bound after Kea changed its pool" \
  ev_wait c1 $((VALID + 5)) event=prefix-added "py:in_net(e['prefix'], '$POOL_B')"
P2=$(field prefix)
echo "    bound $P2"
check "3. the old prefix $P1 is reported lost" ev_py c1 "
lost = select(events[$MARK:], 'event=prefix-lost', 'prefix=$P1')
assert lost, 'no prefix-lost for $P1'
note('lost: ' + lost[0]['reason'])"
check "3. nothing from the old pool is added again" ev_py c1 "
assert not select(events[$MARK:], 'event=prefix-added', 'py:in_net(e[\"prefix\"], \"$POOL_A\")')"

# --- 4. Kea stopped: Renew, Rebind, expiry ---------------------------------------------------------
# From the next answered Renew on (or the one after it: stopping Kea takes a moment), nobody
# answers. MARK: just after the last Reply.
check "4. a Renew of $P2 sent" ev_wait c1 $((T1 + 5)) event=sent type=renew
check "4. and answered" ev c1 event=received type=reply
kea_stop
sleep 0.2  # a Reply still on its way is taken in
MARK=$(python3 "$EVENTS" last "$WORKDIR/c1.events.log" event=received type=reply)
EV_POS[c1]=$MARK
check "4. $P2 expires (prefix-lost \"expired\")" \
  ev_wait c1 $((VALID + 5)) event=prefix-lost "prefix=$P2" reason=expired
check "4. Renew at T1, retransmitted after REN_TIMEOUT (10 s +-10%), Rebind at T2, expiry at the valid lifetime" ev_py c1 "
after = events[$MARK:]
reply = events[$MARK - 1]
def at(e): return seconds(e['mono_us'] - reply['mono_us'])
renews = select(after, 'event=sent', 'type=renew')
rebinds = select(after, 'event=sent', 'type=rebind')
lost = select(after, 'event=prefix-lost', 'prefix=$P2')[0]
note(f'after the last Reply: Renews at {[round(at(e), 3) for e in renews]} s, '
     f'Rebinds at {[round(at(e), 3) for e in rebinds]} s, lost at {at(lost):.3f} s')
assert len(renews) == 2, 'expected two Renews before T2'
assert abs(at(renews[0]) - $T1) < 0.5, 'first Renew not at T1'
gap = seconds(renews[1]['mono_us'] - renews[0]['mono_us'])
assert 9 - 0.05 <= gap <= 11 + 0.05, f'Renew retransmitted after {gap:.3f} s'
assert rebinds, 'no Rebind'
assert abs(at(rebinds[0]) - $T2) < 0.5, 'first Rebind not at T2'
assert renews[-1]['mono_us'] < rebinds[0]['mono_us'], 'Renew after Rebind'
assert abs(at(lost) - $VALID) < 0.5, 'not lost at the valid lifetime'
announced = select(events[:events.index(lost)], 'py:e[\"event\"] in (\"prefix-added\", \"prefix-changed\")', 'prefix=$P2')[-1]
late = seconds(lost['wall_us'] - announced['valid_until_us'])
note(f'lost {late:.3f} s after the announced valid_until_us')
assert -0.05 <= late < 0.5, late"
check "4. soliciting again when the prefix expired" ev_py c1 "
lost = select(events[$MARK:], 'event=prefix-lost', 'prefix=$P2')[0]
def near(e): return abs(e['mono_us'] - lost['mono_us']) < 500000
rebind = select(events[$MARK:], 'event=sent', 'type=rebind')[-1]
after = events[events.index(rebind) + 1:]
assert select(after, 'event=state')[0]['state'] == 'soliciting' and near(select(after, 'event=state')[0]), select(after, 'event=state')[:1]
assert near(select(after, 'event=sent')[0]) and select(after, 'event=sent')[0]['type'] == 'solicit', select(after, 'event=sent')[:1]"

# --- 5. the client restarted with a valid lease ----------------------------------------------------
kea_pool pool-b-again "$POOL_B"
check "5. bound again once Kea is back" ev_wait c1 20 event=prefix-added
P3=$(field prefix)
echo "    bound $P3"
client_stop "$C1_PID"
check "5. SIGTERM: the client exits 0" test "$CLIENT_STATUS" = 0
check "5. the lease file stays" test -s "$(lease_file "$STATE1" "$IF1")"
client_start c1-again "$CLI1" "$IF1" "$STATE1" --prefix-length 56
C1_PID=$CLIENT_PID
check "5. restarted: $P3 announced again" ev c1-again "prefix=$P3" \
  "py:e['event'] in ('prefix-added', 'prefix-changed')"
check "5. Rebind first, no Solicit, the same prefix $P3" ev_py c1-again "
sent = select(events, 'event=sent')
assert sent and sent[0]['type'] == 'rebind', [e['type'] for e in sent]
assert not select(events, 'event=sent', 'type=solicit'), 'a Solicit was sent'
announced = {e['prefix'] for e in events if e['event'] in ('prefix-added', 'prefix-changed')}
assert announced == {'$P3'}, announced
assert not select(events, 'event=prefix-lost'), 'a prefix was lost'"
check "5. bound within 500 ms of the start" ev_py c1-again "
started = select(events, 'event=started')[0]
bound = select(events, 'prefix=$P3')[0]
took = seconds(bound['mono_us'] - started['mono_us'])
note(f'restart to $P3 announced: {took * 1000:.1f} ms')
assert took < 0.5, took"
client_stop "$C1_PID"
kea_stop

# --- 6. Kea out of prefixes --------------------------------------------------------------------------
KEA_LEASES=one
kea_pool one-prefix "$POOL_ONE"
client_start first "$CLI1" "$IF1" "$WORKDIR/state-first" --prefix-length 56 --no-initial-delay
FIRST_PID=$CLIENT_PID
check "6. the first client takes the pool's only prefix $POOL_ONE" ev first event=prefix-added "prefix=$POOL_ONE"
client_start second "$CLI2" "$IF2" "$WORKDIR/state-second" --prefix-length 56 --no-initial-delay
SECOND_PID=$CLIENT_PID
# Solicits at about 0, 1, 3, 7 s (then 15): release after the fourth.
for n in 1 2 3 4; do
  check "6. the second client's Solicit $n" ev_wait second 12 event=sent type=solicit
done
check "6. Kea answered NoPrefixAvail" grep -q 'dhcp6 advertise .*(status-code NoPrefixAvail)' "$WORKDIR/tcpdump.log"
check "6. the second client ignored those Advertises" ev_py second "
assert len(select(events, 'event=dropped', 'py:\"NoPrefixAvail\" in e[\"reason\"]')) >= 3"
check "6. the second client got no prefix meanwhile" ev_py second "
assert not select(events, 'event=prefix-added')"
kill -USR2 "$FIRST_PID"
check "6. SIGUSR2: the first client releases (prefix-lost \"released\")" \
  ev first event=prefix-lost "prefix=$POOL_ONE" reason=released
check "6. and sends Release" ev_py first "assert select(events, 'event=sent', 'type=release')"
check "6. the second client gets $POOL_ONE at its next Solicit" \
  ev_wait second 15 event=prefix-added "prefix=$POOL_ONE"
check "6. the Solicits before it backed off as RFC 8415 §15 says (1, 2, 4, 8 s, each +-10%)" ev_py second "
added = select(events, 'event=prefix-added')[0]
solicits = select(events[:events.index(added)], 'event=sent', 'type=solicit')
gaps = [seconds(b['mono_us'] - a['mono_us']) for a, b in zip(solicits, solicits[1:])]
note('Solicit gaps: ' + ', '.join(f'{gap:.3f}' for gap in gaps) + ' s')
assert len(gaps) >= 4, gaps
# RT = IRT + RAND * IRT, then 2 RT + RAND * RT with RAND in [-0.1, 0.1] (§15; the unit tests check
# on a fake clock that the first RT is above IRT, §18.2.1). Slack for the scheduler's delays.
slack = 0.05
assert 0.9 - slack <= gaps[0] <= 1.1 + slack, gaps[0]
for previous, gap in zip(gaps, gaps[1:]):
    assert 1.9 * previous - slack <= gap <= 2.1 * previous + slack, (previous, gap)"
client_stop "$FIRST_PID"
client_stop "$SECOND_PID"
kea_stop

# --- 7. Rapid Commit ---------------------------------------------------------------------------------
KEA_LEASES=rapid
kea_pool rapid-commit "$POOL_RC" --rapid-commit
client_start rapid "$CLI1" "$IF1" "$WORKDIR/state-rapid" --prefix-length 56 --no-initial-delay \
  --rapid-commit
check "7. Rapid Commit: a prefix from $POOL_RC bound" ev rapid event=prefix-added "py:in_net(e['prefix'], '$POOL_RC')"
check "7. with one Solicit and its Reply, no Advertise, no Request" ev_py rapid "
added = select(events, 'event=prefix-added')[0]
before = events[:events.index(added)]
sent = [e['type'] for e in select(before, 'event=sent')]
received = [e['type'] for e in select(before, 'event=received')]
assert sent == ['solicit'] and received == ['reply'], (sent, received)
assert not select(events, 'event=sent', 'type=request'), 'a Request was sent'
took = seconds(added['mono_us'] - select(events, 'event=started')[0]['mono_us'])
note(f'start to bound: {took * 1000:.1f} ms')"
kea_stop

finish
