#!/usr/bin/env bash
# The link watcher (bridge/, via examples/l2wg-watch) reports what l2wgd reacts to: a WireGuard
# interface appearing, changing address and MTU, disappearing; a tap vanishing; and after the
# kernel drops notifications (a tiny socket buffer, ENOBUFS) a re-dump loses nothing.
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
WATCH="$L2WG_BUILD_DIR/examples/l2wg-watch"
NS=l2watch-$TAG WG=wgw$TAG
ns_add "$NS"

bg_in "$NS" "$WORKDIR/watch.log" "$WATCH"
WATCH_PID=$BG_PID
wait_for 10 grep -q '"ready"' "$WORKDIR/watch.log"

# has_event PATTERN...: the log has a line matching every PATTERN (fixed strings).
has_event() {
  local line
  while read -r line; do
    local p all=1
    for p in "$@"; do [[ $line == *"$p"* ]] || { all=0; break; }; done
    [ $all = 1 ] && return 0
  done <"$WORKDIR/watch.log"
  return 1
}
expect_event() {  # expect_event DESCRIPTION PATTERN...
  local what=$1
  shift
  check "$what" wait_for 5 has_event "$@"
}

wg_link "$NS" "$WG"
expect_event "WireGuard interface appearing" '"link-added"' "\"name\":\"$WG\""
ip -n "$NS" addr add 10.0.31.1/24 dev "$WG"
expect_event "its address added" '"address-added"' '"address":"10.0.31.1/24"'
ip -n "$NS" link set "$WG" mtu 1380
expect_event "its MTU changed" '"link-changed"' "\"name\":\"$WG\"" '"mtu":1380'
ip -n "$NS" addr del 10.0.31.1/24 dev "$WG"
expect_event "its address removed" '"address-removed"' '"address":"10.0.31.1/24"'
ip -n "$NS" tuntap add l2-vanish mode tap
expect_event "a tap appearing" '"link-added"' '"name":"l2-vanish"'
ip -n "$NS" link del l2-vanish
expect_event "a tap vanishing" '"link-removed"' '"name":"l2-vanish"'
stop_pid "${_l2wg_pids[-1]}"  # wireguard-go: its interface goes with it
expect_event "WireGuard interface disappearing" '"link-removed"' "\"name\":\"$WG\""
stop_pid "$WATCH_PID"

# Overflow: a 4 KiB buffer and a stalled reader while 60 bridges appear.
bg_in "$NS" "$WORKDIR/watch.log" "$WATCH" --receive-buffer 4096 --stall-ms 3000
WATCH_PID=$BG_PID
wait_for 10 grep -q '"ready"' "$WORKDIR/watch.log"
for i in $(seq 60); do ip -n "$NS" link add "brx$i" type bridge; done
check "the kernel dropped notifications and the watcher re-read every link" \
  wait_for 10 grep -q 'overflowed the socket buffer' "$WORKDIR/watch.log"
check "no bridge was missed after the re-dump" \
  wait_for 10 bash -c "[ \$(grep -c '\"link-added\".*\"name\":\"brx' $WORKDIR/watch.log) -eq 60 ]"
check "every bridge reported exactly once" \
  bash -c "grep -o '\"name\":\"brx[0-9]*\"' $WORKDIR/watch.log | sort | uniq -d | wc -l | grep -qx 0"
stop_pid "$WATCH_PID"
finish
