#!/usr/bin/env bash
# The DHCPv6 client (examples/l2wg-dhcp6) against a hostile server: tests/tools/
# dhcp6-hostile-server.py answers each Solicit, Request and Renew first with bad packets, then
# with a good one. For each scenario the client's JSON lines must show the bad answers dropped
# (with the reason), a prefix added only when it is valid, and the client still working: it binds
# the good prefix and renews it (T1 2 s). Then 1000 garbage packets, after which it still renews;
# a server delegating thousands of prefixes, of which the client holds at most 32; and answers
# whose broken parts cost only themselves.
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
TOOL="$L2WG_BUILD_DIR/examples/l2wg-dhcp6"
SERVER="$L2WG_SOURCE_DIR/tests/tools/dhcp6-hostile-server.py"
NS_S=d6h-srv-$TAG NS_C=d6h-cli-$TAG IF_S=d6hs$TAG IF_C=d6hc$TAG
GOOD='"prefix":"2001:db8:100::/56"'

ns_add "$NS_S"
ns_add "$NS_C"
ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_C" netns "$NS_C"
ip -n "$NS_S" link set "$IF_S" up
ip -n "$NS_C" link set "$IF_C" up
settle "$NS_S" "$NS_C"

# start_case NAME [SERVER ARGS...]: the server on scenario NAME, then a client with a fresh state
# dir. Its JSON lines go to $EVENTS, its logs to client-NAME.log.
start_case() {
  CASE=$1
  shift
  echo "--- scenario $CASE"
  SERVER_LOG=$WORKDIR/server-$CASE.log
  EVENTS=$WORKDIR/client-$CASE.events.log
  bg_in "$NS_S" "$SERVER_LOG" python3 "$SERVER" --interface "$IF_S" --scenario "$CASE" "$@"
  SERVER_PID=$BG_PID
  wait_for 10 grep -q '"listening"' "$SERVER_LOG" || { echo "the server did not start"; cat "$SERVER_LOG"; }
  bg_in "$NS_C" "$EVENTS" bash -c "exec '$TOOL' --interface $IF_C --state-dir '$WORKDIR/state-$CASE' \
    --no-initial-delay --log-level debug 2>'$WORKDIR/client-$CASE.log'"
  CLIENT_PID=$BG_PID
}

end_case() {
  check "$CASE: the client is still running" kill -0 "$CLIENT_PID"
  stop_pid "$CLIENT_PID"
  stop_pid "$SERVER_PID"
}

# lines FILE PATTERN...: the lines of FILE holding every PATTERN (fixed strings).
lines() {
  local file=$1 line p all
  shift
  while read -r line; do
    all=1
    for p in "$@"; do [[ $line == *"$p"* ]] || { all=0; break; }; done
    [ $all = 1 ] && printf '%s\n' "$line"
  done <"$file"
  return 0
}
count() { lines "$@" | wc -l; }
has() { [ "$(count "$@")" -gt 0 ]; }
has_at_least() {  # has_at_least N FILE PATTERN...
  local n=$1
  shift
  [ "$(count "$@")" -ge "$n" ]
}

# expect_dropped TEXT...: the client dropped something, the reason holding every TEXT.
expect_dropped() {
  check "$CASE: dropped: $*" wait_for 5 has "$EVENTS" '"event":"dropped"' "$@"
}

# The good prefix bound and renewed (a second Reply received, after a Renew was sent).
expect_bound_and_renewed() {
  check "$CASE: 2001:db8:100::/56 bound" wait_for 15 has "$EVENTS" '"event":"prefix-added"' "$GOOD"
  check "$CASE: a Renew answered" wait_for 10 bash -c \
    "grep -q '\"event\":\"sent\".*\"type\":\"renew\"' '$EVENTS' &&
     [ \$(grep -c '\"event\":\"received\".*\"type\":\"reply\"' '$EVENTS') -ge 2 ]"
}

# Only these prefixes were ever added (fixed strings like "prefix":"2001:db8:100::/56").
expect_only_added() {
  local pattern
  pattern=$(printf '%s\n' "$@" | sed 's/[][\.*^$/]/\\&/g' | paste -sd'|')
  check "$CASE: no other prefix added" bash -c \
    "! grep '\"event\":\"prefix-added\"' '$EVENTS' | grep -vE '$pattern'"
}

expect_nothing_lost() {
  check "$CASE: no prefix lost" bash -c "! grep -q '\"event\":\"prefix-lost\"' '$EVENTS'"
}

# The server did send its bad answers (N at least), so the checks above are about something.
expect_bad_sent() {
  check "$CASE: the server sent at least $1 bad answers" \
    has_at_least "$1" "$SERVER_LOG" '"answer":"bad"'
}

# The distinct numbers of prefixes in the leases the client reported; the largest Renew it sent.
leased_counts() {
  lines "$EVENTS" '"event":"lease"' '"prefixes"' | while read -r line; do
    grep -o '"prefix":' <<<"$line" | wc -l
  done | sort -u
}
largest_renew() {
  lines "$SERVER_LOG" '"event":"received"' '"type":"renew"' | grep -o '"size":[0-9]*' |
    cut -d: -f2 | sort -n | tail -1
}

# A baseline: the server's good answers are good.
start_case good
expect_bound_and_renewed
expect_only_added "$GOOD"
check "$CASE: nothing dropped" bash -c "! grep -q '\"event\":\"dropped\"' '$EVENTS'"
end_case

start_case truncated
expect_bound_and_renewed
expect_dropped 'malformed' 'shorter than the header'
expect_dropped 'ADVERTISE has no Client Identifier'
expect_dropped 'REPLY has no Client Identifier'
expect_dropped 'malformed' 'option header truncated'
expect_dropped 'malformed' 'runs past the end'
expect_bad_sent 12  # 4 each to the Solicit, the Request and a Renew
expect_only_added "$GOOD"
expect_nothing_lost
end_case

start_case length-past-end
expect_bound_and_renewed
expect_dropped 'malformed: message: option 25 length' 'runs past the end'
expect_dropped 'malformed: IA_PD 0x' 'option 26 length' 'runs past the end'
expect_bad_sent 6
expect_only_added "$GOOD"
expect_nothing_lost
end_case

start_case wrong-xid
expect_bound_and_renewed
expect_dropped 'ADVERTISE transaction id'
expect_dropped 'REPLY transaction id' 'does not match'
expect_bad_sent 3
expect_only_added "$GOOD"
expect_nothing_lost
end_case

start_case wrong-client-id
expect_bound_and_renewed
expect_dropped 'ADVERTISE Client Identifier is not ours'
expect_dropped 'REPLY Client Identifier is not ours'
expect_dropped 'REPLY has no Client Identifier'
expect_bad_sent 6
expect_only_added "$GOOD"
expect_nothing_lost
end_case

start_case no-server-id
expect_bound_and_renewed
expect_dropped 'ADVERTISE has no Server Identifier'
expect_dropped 'REPLY has no Server Identifier'
expect_bad_sent 3
expect_only_added "$GOOD"
expect_nothing_lost
end_case

# A Reply to a Request that delegates nothing usable sends the client back to Soliciting
# (RFC 8415 §18.2.10.1); the server sends those to the first Request only.
expect_solicited_again() {
  expect_dropped 'REPLY to REQUEST without' "$1"
  check "$CASE: the client solicited again after the Request's bad Reply" \
    has_at_least 2 "$EVENTS" '"event":"sent"' '"type":"solicit"'
}

# Lengths 0 and 129 alone (a /129 IAPREFIX is dropped, which leaves nothing); in the good answers,
# next to the good prefix, a /0, a prefix with bits set past its length, and multicast, link-local
# and unspecified prefixes: none of them delegable.
start_case prefix-length
expect_bound_and_renewed
expect_dropped 'prefix length over 128, IAPREFIX dropped'
expect_dropped 'prefix ::/0 has length 0'
expect_dropped 'ADVERTISE ignored: no usable prefix'
expect_solicited_again 'a usable prefix'
expect_dropped 'bits set past its length'
expect_dropped 'ff05:1::/56'
expect_dropped 'fe80::/64'
expect_dropped 'prefix ::/64'
expect_bad_sent 6
expect_only_added "$GOOD"
expect_nothing_lost
end_case

# Preferred > valid: that prefix discarded (§21.22), alone (the Advertise is ignored) or next to
# the good one.
start_case lifetimes
expect_bound_and_renewed
expect_dropped 'prefix 2001:db8:101::/56 preferred lifetime > valid'
expect_dropped 'ADVERTISE ignored: no usable prefix'
expect_solicited_again 'a usable prefix'
expect_bad_sent 3
expect_only_added "$GOOD"
expect_nothing_lost
end_case

# T1 > T2: the IA_PD discarded (§21.21). An Advertise without it is ignored, a Renew's Reply
# without it is no answer.
start_case t1-gt-t2
expect_bound_and_renewed
expect_dropped 'T1 > T2' 'IA_PD ignored'
expect_dropped 'REPLY without our IA_PD, treated as no answer'
expect_solicited_again 'our IA_PD'
expect_bad_sent 4
expect_only_added "$GOOD"
expect_nothing_lost
end_case

# An IA_PD with another IAID: ignored, alone or next to ours.
start_case foreign-ia
expect_bound_and_renewed
expect_dropped 'not ours'
expect_dropped 'ADVERTISE ignored: no usable prefix'
expect_dropped 'REPLY without our IA_PD, treated as no answer'
expect_solicited_again 'our IA_PD'
expect_bad_sent 2
expect_only_added "$GOOD"
expect_nothing_lost
end_case

# Reconfigure (RFC 8415 §18.2.11): the client did not offer Reconfigure Accept, so it drops them.
start_case reconfigure
expect_bound_and_renewed
expect_dropped 'RECONFIGURE not expected'
expect_bad_sent 3
expect_only_added "$GOOD"
expect_nothing_lost
end_case

# A zero valid lifetime in a Renew's Reply withdraws the prefix: first next to a new prefix, then
# alone (the client starts over and binds the third one).
start_case withdraw
expect_bound_and_renewed
check "$CASE: 2001:db8:100::/56 withdrawn" wait_for 10 has "$EVENTS" '"event":"prefix-lost"' \
  "$GOOD" '"reason":"withdrawn by the server"'
check "$CASE: 2001:db8:200::/56 added with it" wait_for 5 has "$EVENTS" '"event":"prefix-added"' \
  '"prefix":"2001:db8:200::/56"'
check "$CASE: 2001:db8:200::/56 withdrawn alone" wait_for 10 has "$EVENTS" '"event":"prefix-lost"' \
  '"prefix":"2001:db8:200::/56"' '"reason":"withdrawn by the server"'
check "$CASE: the client started over and bound 2001:db8:300::/56" wait_for 15 has "$EVENTS" \
  '"event":"prefix-added"' '"prefix":"2001:db8:300::/56"'
expect_only_added "$GOOD" '"prefix":"2001:db8:200::/56"' '"prefix":"2001:db8:300::/56"'
end_case

# 1000 garbage packets while bound (random bytes, random options behind a valid header, the good
# Reply with a few bytes changed): each dropped, and the client still renews afterwards.
start_case garbage --t1 4 --t2 6 --preferred 8 --valid 10
check "$CASE: 2001:db8:100::/56 bound" wait_for 15 has "$EVENTS" '"event":"prefix-added"' "$GOOD"
check "$CASE: the server sent its garbage" wait_for 30 has "$SERVER_LOG" '"garbage-done"'
check "$CASE: each garbage packet dropped" wait_for 10 bash -c \
  "[ \$(grep -c '\"event\":\"dropped\"' '$EVENTS') -eq 1000 ]"
check "$CASE: a Renew answered after the garbage" wait_for 10 bash -c \
  "[ \$(grep -c '\"event\":\"received\".*\"type\":\"reply\"' '$EVENTS') -ge 2 ]"
expect_only_added "$GOOD"
expect_nothing_lost
end_case

# Every answer renews (up to 200 of) the prefixes the client lists and delegates 2000 /64s never
# given before. Without a limit, the client held 2200 after the Request, 4200 after the first
# Renew, and its next Renew could not be encoded: renewal stopped. It holds 32, renews them, and
# its Renews fit in 1280 bytes.
start_case many-prefixes
check "$CASE: bound" wait_for 15 has "$EVENTS" '"event":"prefix-added"'
check "$CASE: three Renews answered" wait_for 15 bash -c \
  "[ \$(grep -c '\"event\":\"received\".*\"type\":\"reply\"' '$EVENTS') -ge 4 ]"
check "$CASE: one Solicit: the binding was kept throughout" \
  [ "$(count "$SERVER_LOG" '"event":"received"' '"type":"solicit"')" = 1 ]
expect_dropped 'delegated prefixes refused' 'at most 32 are taken from one IA_PD'
check "$CASE: every lease holds 32 prefixes" [ "$(leased_counts)" = 32 ]
check "$CASE: every Renew fits in 1280 bytes with the IPv6 and UDP headers" \
  [ "$(largest_renew)" -le $((1280 - 48)) ]
check "$CASE: nothing failed to send" bash -c "! grep -q 'not sent' '$EVENTS'"
expect_nothing_lost
end_case

# Next to the good prefix in the same answers: a /129 prefix, a Prefix Exclude with padding bits
# set, one a byte too long, and the DNS option twice. Each costs only itself (it used to make the
# whole packet malformed, and the client never bound).
start_case broken-parts
expect_bound_and_renewed
expect_dropped 'IAPREFIX 2001:db8:200::/129: prefix length over 128, IAPREFIX dropped'
expect_dropped 'IAPREFIX 2001:db8:300::/56: prefix exclude subnet ID has non-zero padding bits'
expect_dropped 'IAPREFIX 2001:db8:400::/56: prefix exclude option length 3, must be 2'
expect_dropped 'option 23 appears twice, option dropped'
check "$CASE: the first DNS option taken" has "$EVENTS" '"event":"prefix-added"' "$GOOD" \
  '"dns":["2001:db8::53"]'
check "$CASE: nothing malformed" bash -c "! grep -q 'malformed' '$EVENTS'"
expect_only_added "$GOOD"
expect_nothing_lost
end_case

finish
