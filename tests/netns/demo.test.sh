#!/usr/bin/env bash
# scripts/demo.sh end to end, as a user runs it, on an instance of its own (L2WG_DEMO_NAME, so a
# user's kept demo is never touched). Shown:
#   - the routed demo: exit status 0, the host's address in the delegated prefix (and how soon),
#     the ping and the traceroute through the tunnel, the route via the tunnel, `l2wg show` of both
#     routers; --bridge-only: the host's address from the campus's own RAs, one hop to the campus;
#   - --keep, then `exec` (l2wg against each router's own bus, a ping from the host) and `down`;
#   - a run killed with SIGKILL half-way leaves its world behind, which `down` removes, and so
#     does the next run before it starts;
#   - Ctrl-C (SIGINT to the process group, as a terminal sends it) half-way: exit status 130;
#   - `scripts/demo.sh | head`: the reader gone (SIGPIPE), it tears down all the same;
#   - after each: no namespace, /etc/netns entry, WireGuard socket, run dir or process of the
#     demo left, nothing new in /run, the host's /etc/resolv.conf unchanged.
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init

DEMO=$L2WG_SOURCE_DIR/scripts/demo.sh
export L2WG_BUILD_DIR L2WG_DEMO_NAME=t$TAG
RUN=/run/l2wg-$L2WG_DEMO_NAME PREFIX=l2wg-$L2WG_DEMO_NAME-
# Whatever happens to this test, its demo goes (then netns.sh's cleanup, with the test's status).
demo_cleanup() {
  local status=$?
  "$DEMO" down >/dev/null 2>&1 || true
  (exit "$status")
  _l2wg_cleanup
}
trap demo_cleanup EXIT
need traceroute rdisc6 kea-dhcp6

names() {  # names DIR GLOB: the names in DIR matching GLOB, sorted, on one line
  find "$1" -mindepth 1 -maxdepth 1 -name "$2" -printf '%f\n' 2>/dev/null | sort | xargs
}
# machine_state: what a demo must leave as it found it.
machine_state() {
  echo "namespaces: $(ip netns list | awk -v p="$PREFIX" 'index($1, p) == 1 { print $1 }' | xargs)"
  echo "/etc/netns: $(names /etc/netns "$PREFIX*")"
  # /run/netns is iproute2's, made on the first `ip netns add` since boot and kept.
  echo "/run: $(names /run '*' | tr ' ' '\n' | grep -vx netns | xargs)"
  echo "WireGuard sockets: $(names /var/run/wireguard "$L2WG_DEMO_NAME-*")"
  echo "processes with a file in $RUN: $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$RUN/*" 2>/dev/null | cut -d/ -f3 | sort -u | xargs)"
  echo "resolv.conf: $(sha256sum /etc/resolv.conf)"
}
# Directories no one had made before: the demo removes them again (if no one else uses them).
made_dirs=()
for dir in /etc/netns /var/run/wireguard; do [ -d "$dir" ] || made_dirs+=("$dir"); done
machine_state >"$WORKDIR/before"

# registry_watch / registry_unwatch: a copy of the demo's registry of processes ("PID START" lines)
# kept while it runs; registry_gone: none of them is still running.
registry_watch() {
  rm -f "$WORKDIR/pids.seen"
  bash -c 'while :; do
      if [ -s "$0/pids" ] && cp "$0/pids" "$1.new" 2>/dev/null; then mv -f "$1.new" "$1"; fi
      sleep 0.2
    done' "$RUN" "$WORKDIR/pids.seen" &
  WATCH_PID=$!
  register_pid "$WATCH_PID"
}
registry_unwatch() { stop_pid "$WATCH_PID"; }
registry_gone() {
  local pid start alive=()
  [ -s "$WORKDIR/pids.seen" ] || { echo "no registry was seen"; return 1; }
  while read -r pid start; do
    [ "$start" = - ] || ! pid_alive "$pid" "$start" || alive+=("$pid")
  done <"$WORKDIR/pids.seen"
  echo "$(wc -l <"$WORKDIR/pids.seen") processes registered, still running: ${alive[*]:-none}"
  [ ${#alive[@]} = 0 ]
}
made_dirs_gone() {
  local dir
  for dir in "${made_dirs[@]}"; do
    if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then echo "$dir left behind, empty"; return 1; fi
  done
}
# clean WHAT: the machine as before, and every process the demo registered gone.
clean() {
  machine_state >"$WORKDIR/after"
  same_text "$1: nothing left (namespaces, /etc/netns, /run, WireGuard sockets, processes, resolv.conf)" \
    "$WORKDIR/before" "$WORKDIR/after"
  check "$1: every process the demo started is gone" registry_gone
  check "$1: the directories the demo made are gone" made_dirs_gone
}
printed() { grep -Eq -- "$2" "$WORKDIR/$1.out" || { echo "not in $1.out: /$2/"; tail -20 "$WORKDIR/$1.out"; return 1; }; }
# demo_run NAME ARGS...: the demo in the foreground, its output in NAME.out, its status in STATUS.
demo_run() {
  local name=$1
  shift
  registry_watch
  STATUS=0
  "$DEMO" "$@" >"$WORKDIR/$name.out" 2>&1 || STATUS=$?
  registry_unwatch
  echo "    scripts/demo.sh $*: status $STATUS, $(grep -c . "$WORKDIR/$name.out") lines"
}
# demo_background NAME ARGS...: the demo in a session of its own with SIGINT at its default (a
# background job's is ignored), as from a terminal. Sets DEMO_PID (also its process group).
demo_background() {
  local name=$1
  shift
  registry_watch
  setsid env --default-signal=INT "$DEMO" "$@" >"$WORKDIR/$name.out" 2>&1 &
  DEMO_PID=$!
}
halfway() { [ -S "$RUN/dorm/system_bus_socket" ] && [ -s "$RUN/pids" ]; }

# --- the routed demo ---------------------------------------------------------------------------
demo_run routed
check "the demo succeeds" test "$STATUS" = 0
check "it says when the LAN host has its address in the delegated prefix" \
  printed routed "ok: LAN host has 2001:db8:1[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f:]+/64 after [0-9.]+ s"
after=$(grep -oE "LAN host has [^ ]+ after [0-9.]+ s" "$WORKDIR/routed.out" | grep -oE "[0-9.]+ s$" | cut -d' ' -f1)
echo "    ${after:-?} s from a finished build to the host's usable address"
check "within 30 s of the start (seconds, not minutes)" at_most "${after:-999}" 30
check "l2wg show on the lab: up, bridged into br-wan" printed routed "Bridge: +br-wan"
check "l2wg show on the dorm: the delegated prefix and the LAN's /64" \
  printed routed "Delegated prefix: +2001:db8:1[0-9a-f]{2}::/56"
check "the host's default route goes via the dorm" printed routed "ok: its default route goes via the dorm"
check "an RDNSS in the dorm's RAs" printed routed "ok: the RAs name the DNS server 2001:db8:ff::53"
check "the ping through the tunnel" printed routed "3 packets transmitted, 3 received, 0% packet loss"
check "traceroute: the dorm, then the campus" printed routed "^ +2 +2001:db8:ff::1 "
check "route via tunnel for the LAN's traffic" printed routed "ok: route via tunnel: .*\(dev l2-dorm\)"
check "the dorm's own traffic by its native uplink" printed routed "own traffic.*native uplink \(dev d-isp\)"
check "it says nothing is left" printed routed "no namespace, process or file of the demo is left"
clean "routed"

# --- bridge mode alone -------------------------------------------------------------------------
demo_run bridge --bridge-only
check "--bridge-only succeeds" test "$STATUS" = 0
check "--bridge-only: the host's address from the campus's own RAs" \
  printed bridge "ok: LAN host has 2001:db8:1:0:[0-9a-f:]+/64 after [0-9.]+ s"
check "--bridge-only: one hop to the campus" printed bridge "^ +1 +2001:db8:ff::1 "
check "--bridge-only: the ping" printed bridge "3 packets transmitted, 3 received, 0% packet loss"
clean "--bridge-only"

# --- --keep, exec, down -----------------------------------------------------------------------
demo_run keep --keep
check "--keep succeeds" test "$STATUS" = 0
check "--keep says how to look around" printed keep "scripts/demo.sh exec dorm l2wg show dorm"
check "--keep leaves the five namespaces" \
  test "$(ip netns list | awk -v p="$PREFIX" 'index($1, p) == 1' | wc -l)" = 5
"$DEMO" exec dorm l2wg show dorm >"$WORKDIR/exec-dorm.out" 2>&1 || true
check "exec dorm l2wg show dorm: the dorm's own l2wgd, its tunnel up with a prefix" \
  bash -c "grep -Eq 'State: +up' $WORKDIR/exec-dorm.out && grep -Eq 'Delegated prefix: +2001:db8:1' $WORKDIR/exec-dorm.out"
"$DEMO" exec lab l2wg show lab >"$WORKDIR/exec-lab.out" 2>&1 || true
check "exec lab l2wg show lab: the lab's l2wgd, on its own bus" printed exec-lab "Bridge: +br-wan"
check "exec host ping: the host still reaches the campus" "$DEMO" exec host ping -6 -c 1 -W 3 2001:db8:ff::1
check_fails "exec with an unknown router" "no router 'nowhere'" "$DEMO" exec nowhere true
"$DEMO" down >"$WORKDIR/down.out" 2>&1 && STATUS=0 || STATUS=$?
check "down succeeds" test "$STATUS" = 0
check "down says so" printed down "demo: removed"
clean "--keep then down"
check "a second down has nothing to do" bash -c "'$DEMO' down | grep -q 'nothing to remove'"
check_fails "exec with no demo running" "no demo is running" "$DEMO" exec dorm true

# --- killed half-way, then down ---------------------------------------------------------------
demo_background killed
check "the demo gets half-way (the dorm's bus up)" wait_for 60 halfway
kill -KILL "$DEMO_PID" 2>/dev/null || true
wait "$DEMO_PID" 2>/dev/null || true
registry_unwatch
check "a killed demo leaves its world behind" test -d "$RUN"
"$DEMO" down >"$WORKDIR/down-killed.out" 2>&1 && STATUS=0 || STATUS=$?
check "down after a killed run succeeds" test "$STATUS" = 0
clean "killed, then down"

# --- killed half-way, then a new run ----------------------------------------------------------
demo_background killed2 --bridge-only
check "the demo gets half-way again" wait_for 60 halfway
kill -KILL "$DEMO_PID" 2>/dev/null || true
wait "$DEMO_PID" 2>/dev/null || true
registry_unwatch
cp "$WORKDIR/pids.seen" "$WORKDIR/pids.killed"
demo_run rerun --bridge-only
check "the next run succeeds" test "$STATUS" = 0
check "it removed what the killed run left first" printed rerun "removing what an earlier run left"
cat "$WORKDIR/pids.killed" >>"$WORKDIR/pids.seen"
clean "killed, then a new run"

# --- Ctrl-C half-way --------------------------------------------------------------------------
demo_background interrupted
check "the demo gets half-way once more" wait_for 60 halfway
kill -INT -- -"$DEMO_PID" 2>/dev/null || true
STATUS=0
wait "$DEMO_PID" || STATUS=$?
registry_unwatch
check "Ctrl-C: exit status 130" test "$STATUS" = 130
check "Ctrl-C: it says so and tears down" \
  bash -c "grep -q 'interrupted' $WORKDIR/interrupted.out && grep -q 'no namespace, process or file of the demo is left' $WORKDIR/interrupted.out"
clean "Ctrl-C"

# --- its reader gone (scripts/demo.sh | head) ---------------------------------------------------
registry_watch
# The first 11 lines come before the world is built, the 12th after: that write meets SIGPIPE.
"$DEMO" | head -n 11 >/dev/null || true
run_dir_gone() { [ ! -d "$RUN" ]; }
check "a demo whose output's reader exits tears down" wait_for 60 run_dir_gone
registry_unwatch
clean "demo.sh | head"

finish
