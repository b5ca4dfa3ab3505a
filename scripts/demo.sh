#!/usr/bin/env bash
# The motivating setup of l2wg, played in network namespaces on this machine, then removed.
#
#   campus upstream   Kea delegating /56s (each routed toward whoever asked), Router
#        |            Advertisements with a DNS server (RDNSS), a campus server 2001:db8:ff::1
#   lab router        bridges a gretap over WireGuard into its WAN bridge (l2wg up … --bridge)
#        | WireGuard over "the internet"
#   dorm router       a native uplink of its own (to its ISP); routed mode for its LAN
#        |            (l2wg up … --pd --lan br-lan): a prefix delegated through the tunnel
#   LAN host          SLAAC in the delegated prefix, reaches the campus through the tunnel
#
# Each router runs its own l2wgd on its own private system bus. WireGuard is the kernel's where it
# has it, wireguard-go otherwise; l2wgd picks kernel gretap or its userspace datapath.
# The world is built by tests/lib/routed_chain.sh, the same code as the netns tests'.
#
# Usage (as root):
#   scripts/demo.sh [--keep] [--bridge-only]
#       installs what is missing (scripts/deps.sh), builds if there is no build, plays the setup
#       and tears it all down (also on Ctrl-C or a failure). --keep leaves it running;
#       --bridge-only plays bridge mode alone (lab and dorm bridged: the host gets its address
#       from the campus's own RAs, over Layer 2).
#   scripts/demo.sh exec ROUTER CMD...    CMD in ROUTER's namespace (upstream, lab, dorm, isp,
#       host), against that router's l2wgd (lab, dorm) with the build's programs first on PATH:
#       `scripts/demo.sh exec dorm l2wg show dorm`
#   scripts/demo.sh shell ROUTER          an interactive shell there
#   scripts/demo.sh down                  removes a kept demo, or whatever a killed one left
#
# Environment:
#   L2WG_BUILD_DIR   the build to use (default: build/ in the source tree, ignored by git, as
#                    `cmake -S . -B build` makes it); if it lacks l2wgd, l2wg or l2wg-ra, they are
#                    built there (Release when the demo configures it)
#   L2WG_DEMO_NAME   the instance (default "demo"): namespaces l2wg-NAME-*, run dir /run/l2wg-NAME,
#                    WireGuard interfaces NAME-wgl and NAME-wgd; the netns test uses its own
#
# The run dir records what exists (namespaces, processes with their start times, the build), so
# `down` and the next run remove exactly that. Nothing is left: namespaces, processes, their
# /etc/netns/NAME/resolv.conf, WireGuard sockets, the run dir, and the directories the demo had
# to create (/etc/netns, /var/run/wireguard) all go; the host's own settings are never touched.
set -Eeuo pipefail
exec 8>&1 9>&2  # the demo's own stdout and stderr, for its teardown (finish)

root=$(cd "$(dirname "$0")/.." && pwd)
NAME=${L2WG_DEMO_NAME:-demo}
[[ $NAME =~ ^[a-z0-9]{1,10}$ ]] || { echo "demo: L2WG_DEMO_NAME must be 1 to 10 of a-z0-9" >&2; exit 2; }
RUN=/run/l2wg-$NAME
NS_PREFIX=l2wg-$NAME-
WG_NAMES=("$NAME-wgl" "$NAME-wgd")
INTERNET=2001:db8:ee::1  # a server "on the internet", behind the dorm's ISP

usage() {
  sed -n '/^# Usage/,/^# Environment/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit "${1:-2}"
}
die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run me as root (network namespaces, WireGuard, l2wgd)"

if [ -t 1 ]; then BOLD=$'\e[1m' GREEN=$'\e[32m' RED=$'\e[31m' OFF=$'\e[0m'; else BOLD='' GREEN='' RED='' OFF=''; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$OFF"; }
say() { printf '   %s\n' "$@"; }
ok() { printf '   %sok:%s %s\n' "$GREEN" "$OFF" "$*"; }

# The libraries read L2WG_BUILD_DIR (the programs) and L2WG_SOURCE_DIR (the bus policy); WORKDIR
# is the run dir and every namespace and process is written down in it.
export L2WG_SOURCE_DIR=$root
L2WG_BUILD_DIR=${L2WG_BUILD_DIR:-$root/build}
L2WG_WORKDIR=$RUN L2WG_REGISTRY=$RUN L2WG_TAG=$NAME
# shellcheck source=tests/lib/netns.sh
source "$root/tests/lib/netns.sh"

# ns_of ROUTER: the namespace of a router (or the host).
ns_of() {
  case $1 in
    upstream | up) echo "${NS_PREFIX}up" ;;
    lab | dorm | isp | host) echo "$NS_PREFIX$1" ;;
    *) return 1 ;;
  esac
}

# ---- what a demo leaves, and its removal --------------------------------------------------------
our_namespaces() {
  { [ ! -f "$RUN/namespaces" ] || cat "$RUN/namespaces"
    ip netns list | awk -v p="$NS_PREFIX" 'index($1, p) == 1 { print $1 }'; } | sort -u
}
# our_pids: the processes of a demo: those it registered (if still the same process), those in its
# namespaces, and those with a file open in its run dir (its logs, its buses' sockets).
our_pids() {
  local pid start ns
  if [ -f "$RUN/pids" ]; then
    while read -r pid start; do
      [ "$start" = - ] || ! pid_alive "$pid" "$start" || echo "$pid"
    done <"$RUN/pids"
  fi
  for ns in $(our_namespaces); do ip netns pids "$ns" 2>/dev/null || true; done
  find /proc/[0-9]*/fd -maxdepth 1 -lname "$RUN/*" 2>/dev/null | cut -d/ -f3
} 2>/dev/null
# owner_alive: the play that made the run dir still runs (prints its PID).
owner_alive() {
  local pid start
  [ -f "$RUN/owner" ] && read -r pid start <"$RUN/owner" && [ "$pid" != $$ ] &&
    pid_alive "$pid" "$start" && echo "$pid"
}
left_behind() { [ -d "$RUN" ] || [ -n "$(our_namespaces)" ]; }

# demo_down: everything a demo made is removed, whether it ended, was kept or was killed.
demo_down() {
  local owner pids pid ns i
  if owner=$(owner_alive); then  # a play still running: it tears down its own world first
    kill -TERM "$owner" 2>/dev/null || true
    for i in $(seq 100); do pid_alive "$owner" || break; sleep 0.1; done
  fi
  # The upstream's RA sender would send its final RAs (3 s apart) first: no one is listening.
  if [ -f "$RUN/kill-first" ]; then
    read -r pid start <"$RUN/kill-first" || true
    ! pid_alive "$pid" "${start:-x}" || kill -KILL "$pid" 2>/dev/null || true
  fi
  pids=$(our_pids | grep -vx -e "$$" -e "$BASHPID" | sort -u || true)
  local all=$pids
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  still() { for pid in $pids; do ! pid_alive "$pid" || echo "$pid"; done; }
  for i in $(seq 30); do
    pids=$(still)
    [ -n "$pids" ] || break
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  for i in $(seq 20); do  # SIGKILL is not instant either
    pids=$(still)
    [ -n "$pids" ] || break
    sleep 0.1
  done
  # Those that were this shell's children are reaped quietly (no "Killed" from bash).
  for pid in $all; do wait "$pid" 2>/dev/null || true; done
  # Anything started in a namespace since (nothing should be) goes with it.
  for ns in $(our_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  for i in "${WG_NAMES[@]}"; do rm -f "/var/run/wireguard/$i.sock"; done
  if [ -f "$RUN/created" ]; then  # the directories no one had made before the demo, if empty
    while read -r i; do rmdir "$i" 2>/dev/null || true; done <"$RUN/created"
  fi
  rm -rf "$RUN"
}

# ---- exec, shell -------------------------------------------------------------------------------
demo_exec() {
  [ $# -ge 2 ] || usage
  local ns env=()
  ns=$(ns_of "$1") || die "no router '$1' (upstream, lab, dorm, isp, host)"
  if [ ! -f "$RUN/build-dir" ] || ! ip netns list | awk '{ print $1 }' | grep -x "$ns" >/dev/null; then
    die "no demo is running (scripts/demo.sh --keep starts one)"
  fi
  local build
  build=$(cat "$RUN/build-dir")
  env=(PATH="$build/cli:$build/daemon:$build/examples:$PATH")
  case $1 in lab | dorm) env+=(DBUS_SYSTEM_BUS_ADDRESS="unix:path=$RUN/$1/system_bus_socket") ;; esac
  shift
  exec ip netns exec "$ns" env "${env[@]}" "$@"
}

# ---- the build and the machine -----------------------------------------------------------------
have_build() {
  [ -x "$L2WG_BUILD_DIR/daemon/l2wgd" ] && [ -x "$L2WG_BUILD_DIR/cli/l2wg" ] &&
    [ -x "$L2WG_BUILD_DIR/examples/l2wg-ra" ]
}
ensure_build() {
  have_build && return
  say "building l2wgd, l2wg and l2wg-ra in $L2WG_BUILD_DIR (a few minutes, once)"
  if [ ! -f "$L2WG_BUILD_DIR/CMakeCache.txt" ]; then
    mkdir -p "$L2WG_BUILD_DIR"
    cmake -S "$root" -B "$L2WG_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DL2WG_WERROR=OFF \
      >"$L2WG_BUILD_DIR/demo-configure.log" 2>&1 ||
      { tail -20 "$L2WG_BUILD_DIR/demo-configure.log"; die "configuring failed"; }
  fi
  cmake --build "$L2WG_BUILD_DIR" -j"$(nproc)" --target l2wgd l2wg l2wg-ra >"$L2WG_BUILD_DIR/demo-build.log" 2>&1 ||
    { tail -30 "$L2WG_BUILD_DIR/demo-build.log"; die "the build failed"; }
}
# kernel_wireguard: the kernel has WireGuard (asked in a scratch namespace, registered first so
# that a run killed right now leaves nothing `down` does not find).
kernel_wireguard() {
  local scratch=${NS_PREFIX}probe found=1
  echo "$scratch" >>"$RUN/namespaces"
  ip netns add "$scratch"
  ip -n "$scratch" link add probe0 type wireguard 2>/dev/null || found=0
  ip netns delete "$scratch"
  [ "$found" = 1 ]
}

elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# run ROUTER CMD...: shows the command as typed at that router's prompt, then its output.
run() {
  local who=$1
  shift
  printf '   %s%s#%s %s\n' "$BOLD" "$who" "$OFF" "$*"
  case $who in
    lab | dorm) chain_run "$who" "$@" ;;
    *) ip netns exec "$(ns_of "$who")" "$@" ;;
  esac 2>&1 | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}
# run_quiet ROUTER CMD...: the same, its output shown only if it fails.
run_quiet() {
  local who=$1 out
  shift
  printf '   %s%s#%s %s\n' "$BOLD" "$who" "$OFF" "$*"
  out=$(chain_run "$who" "$@" 2>&1) || { sed 's/^/     /' <<<"$out"; return 1; }
}
chain_run() {  # chain_run SIDE CMD...: CMD in SIDE's namespace against its l2wgd
  local side=$1
  shift
  ip netns exec "$(ns_of "$side")" env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$RUN/$side/system_bus_socket" \
    PATH="$L2WG_BUILD_DIR/cli:$PATH" "$@"
}

# ---- the play ----------------------------------------------------------------------------------
KEEP=0 BRIDGE_ONLY=0 SIGNALLED=
# on_signal STATUS: Ctrl-C (130), SIGTERM (143), SIGHUP (129) or SIGPIPE (141): the teardown
# follows (EXIT) with that status, whatever the interrupted command made of it.
on_signal() {
  SIGNALLED=$1
  exit "$1"
}
finish() {
  local status=$?
  [ -z "$SIGNALLED" ] || status=$SIGNALLED
  # The teardown is short and must not be cut short: not by another signal, nor by a terminal
  # that is gone (writes failing, SIGPIPE).
  set +e
  trap - EXIT ERR
  trap '' INT TERM HUP PIPE
  # A signal may land while a command's output is redirected (to /dev/null, say): the teardown
  # speaks on the demo's own output, saved at the start.
  exec 1>&8 2>&9
  if [ "$status" = 0 ] && [ "$KEEP" = 1 ]; then
    rm -f "$RUN/owner"
    step "The demo keeps running. Look around:"
    say "scripts/demo.sh exec dorm l2wg show dorm   # the dorm's l2wgd, on its own bus" \
      "scripts/demo.sh exec lab l2wg monitor       # state changes as they happen" \
      "scripts/demo.sh exec host ping 2001:db8:ff::1" \
      "scripts/demo.sh shell dorm                  # a shell in the dorm's namespace" \
      "scripts/demo.sh down                        # removes it all" \
      "logs: $RUN/*.log"
    exit 0
  fi
  if [ "$status" != 0 ]; then
    printf '\n%sdemo: %s%s\n' "$RED" "$([ "$status" -ge 128 ] && echo "interrupted" || echo "failed (status $status)")" "$OFF" >&2
    if [ "$status" -lt 128 ]; then
      local log
      for log in "$RUN"/l2wgd-*.log "$RUN"/kea.log; do
        [ -f "$log" ] || continue
        echo "--- last lines of $(basename "$log")" >&2
        tail -n 8 "$log" | cut -c1-200 >&2
      done
    fi
  fi
  step "Tearing down"
  disown -a  # bash would report each background process it killed
  demo_down
  if left_behind; then
    say "left behind: $(our_namespaces | tr '\n' ' ')$([ -d "$RUN" ] && echo "$RUN")"
    [ "$status" != 0 ] || status=1
  else
    say "no namespace, process or file of the demo is left"
  fi
  exit "$status"
}

play() {
  while [ $# -gt 0 ]; do
    case $1 in
      --keep) KEEP=1 ;;
      --bridge-only) BRIDGE_ONLY=1 ;;
      -h | --help) usage 0 ;;
      *) usage ;;
    esac
    shift
  done
  local owner
  if owner=$(owner_alive); then die "a demo is running already (PID $owner); scripts/demo.sh down stops it"; fi
  if left_behind; then
    echo "demo: removing what an earlier run left ($RUN)"
    demo_down
  fi
  "$root/scripts/deps.sh" || die "installing the dependencies failed"
  ensure_build

  # From here on, whatever happens, the EXIT trap removes what exists.
  trap finish EXIT
  trap 'on_signal 130' INT
  trap 'on_signal 143' TERM
  trap 'on_signal 129' HUP  # the terminal closed: tear down all the same
  trap 'on_signal 141' PIPE  # so did whatever read the output (scripts/demo.sh | head)
  trap 'echo "demo: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
  mkdir -p "$RUN"
  chmod 0755 "$RUN"
  echo "$$ $(pid_start_time $$)" >"$RUN/owner"
  echo "$L2WG_BUILD_DIR" >"$RUN/build-dir"
  local dir
  for dir in /etc/netns /var/run/wireguard; do [ -d "$dir" ] || echo "$dir" >>"$RUN/created"; done

  local wireguard="wireguard-go (this kernel has no WireGuard)"
  if kernel_wireguard; then export L2WG_KERNEL_WG=1; wireguard="the kernel's"; fi
  # shellcheck source=tests/lib/routed_chain.sh
  source "$root/tests/lib/routed_chain.sh"
  CHAIN_NS_FORMAT="${NS_PREFIX}%s" CHAIN_WG_FORMAT="$NAME-wg%s"
  CHAIN_T1=600 CHAIN_T2=960 CHAIN_PREFERRED=1800 CHAIN_VALID=3600
  CHAIN_UPSTREAM_RA_ARGS=(--dns "$CHAIN_DNS")

  printf '%sl2wg demo%s: a dorm router gets the campus lab'"'"'s IPv6 over WireGuard + gretap\n' "$BOLD" "$OFF"
  say "build: $L2WG_BUILD_DIR; WireGuard: $wireguard; namespaces ${NS_PREFIX}*"
  T0=$EPOCHREALTIME

  step "1. The world: campus upstream, lab router, dorm router, LAN host"
  say "upstream (${NS_PREFIX}up): Kea delegates /56s out of $CHAIN_POOL and routes each to whoever" \
    "  asked; RAs for 2001:db8:1::/64 with a DNS server ($CHAIN_DNS); the campus server $CHAIN_TARGET" \
    "lab and dorm: WireGuard between them over \"the internet\" (192.0.2.1 <-> 192.0.2.2, inside" \
    "  10.0.31.1 <-> 10.0.31.2); each runs its own l2wgd on its own bus ($RUN/{lab,dorm})" \
    "dorm: a native uplink of its own ($CHAIN_NATIVE, default route via its ISP) and br-lan" \
    "the lab bridges a gretap over WireGuard into its WAN bridge:"
  chain_setup "$NAME"
  echo "$CHAIN_RA_PID $(pid_start_time "$CHAIN_RA_PID")" >"$RUN/kill-first"
  ip -n "$CHAIN_ISP" addr add "$INTERNET/128" dev lo
  say "  lab# l2wg up lab --wg $CHAIN_WGL --peer 10.0.31.2 --bridge br-wan    (done, $(elapsed) s)"
  run lab l2wg show lab

  if [ "$BRIDGE_ONLY" = 1 ]; then play_bridge; else play_routed; fi

  step "Done in $(elapsed) s"
}

play_routed() {
  step "2. The dorm asks the campus for a prefix, through the tunnel"
  say "l2wgd runs a DHCPv6-PD client on its tap, numbers a /64 per LAN from the prefix and" \
    "announces it with RAs; only traffic from the prefix is routed back into the tunnel"
  local t_up=$EPOCHREALTIME
  run_quiet dorm l2wg up dorm --wg "$CHAIN_WGD" --peer 10.0.31.1 --pd --lan "$CHAIN_LAN" --prefix-length 56
  chain_wait_state dorm dorm up 20 || die "the dorm's tunnel did not come up"
  chain_wait_prefix 30 || die "no prefix was delegated within 30 s"
  local dp lanp
  dp=$(chain_delegated) lanp=$(chain_lan_prefix)
  ok "Kea delegated $dp; the dorm announces $lanp on br-lan ($(elapsed) s)"
  run dorm l2wg show dorm

  step "3. The LAN host configures itself (SLAAC, with duplicate address detection)"
  wait_host_address "$lanp"
  ok "LAN host has $HOST_ADDR after $HOST_AFTER s ($(awk -v a="$T0" -v b="$HOST_AFTER" -v u="$t_up" \
    'BEGIN { printf "%.1f", a + b - u }') s after l2wg up dorm)"
  # The first RA may come before the dorm has heard the upstream router (router lifetime 0); the
  # one that makes it the host's default router follows about 3 s later.
  wait_for 10 chain_host_default_via_dorm || die "the host has no default route via the dorm"
  local routed_after
  routed_after=$(elapsed)
  ok "its default route goes via the dorm after $routed_after s"
  if awk -v a="$HOST_AFTER" -v b="$routed_after" 'BEGIN { exit !(b - a > 1) }'; then
    say "(the address came with the dorm's first RA, which carried router lifetime 0; the next" \
      " one, 3 s later, made the dorm the host's default router: README, routed mode timing)"
  fi
  HOST_ADDR=${HOST_ADDR%/*}
  run host ip -6 addr show dev "$CHAIN_HOST_IF" scope global
  run host ip -6 route show default
  show_rdnss
  reach_campus 2
  own_traffic "$dp"
}

play_bridge() {
  step "2. The dorm bridges the same tunnel into its LAN bridge: one Layer 2 segment"
  run_quiet dorm l2wg up dorm --wg "$CHAIN_WGD" --peer 10.0.31.1 --bridge "$CHAIN_LAN"
  chain_wait_state dorm dorm up 20 || die "the dorm's tunnel did not come up"
  run dorm l2wg show dorm

  step "3. The LAN host hears the campus's own RAs and configures itself (SLAAC)"
  say "(a Router Solicitation from the host asks for an RA now rather than at the next periodic one)"
  ip netns exec "$CHAIN_HOST" rdisc6 -1 -r 3 -w 1000 "$CHAIN_HOST_IF" >/dev/null 2>&1 || true
  wait_host_address 2001:db8:1::/64
  ok "LAN host has $HOST_ADDR after $HOST_AFTER s"
  on_campus() { ip -n "$CHAIN_HOST" -6 route show default | grep -q "via $CHAIN_UP_LL dev"; }
  wait_for 10 on_campus || die "the host has no default route via the campus router"
  ok "its default route goes via the campus router's $CHAIN_UP_LL, across the bridges"
  HOST_ADDR=${HOST_ADDR%/*}
  run host ip -6 route show default
  show_rdnss
  reach_campus 1
  step "5. The dorm's own traffic is untouched"
  run dorm ip -6 route get "$CHAIN_TARGET"
  ip -n "$CHAIN_DORM" -6 route get "$CHAIN_TARGET" | grep -q "dev d-isp" ||
    die "the dorm's own traffic does not leave by its uplink"
  ok "the dorm's own traffic leaves by its native uplink (dev d-isp)"
}

# wait_host_address PREFIX/64: until the host holds a usable global address (polled with ip alone:
# cheap, where python's start-up takes a second on a loaded machine), then that it is in PREFIX.
# Sets HOST_ADDR (ADDRESS/64) and HOST_AFTER (seconds since the start).
wait_host_address() {
  usable() {
    [ -n "$(ip -n "$CHAIN_HOST" -6 -o addr show dev "$CHAIN_HOST_IF" scope global -tentative \
      -deprecated -dadfailed)" ]
  }
  wait_for 20 usable || die "the host got no address within 20 s"
  HOST_AFTER=$(elapsed)
  HOST_ADDR=$(chain_host_address_in "$1") ||
    die "the host's address is not in $1: $(chain_host_addresses | tr '\n' ' ')"
}

show_rdnss() {
  local dns
  # The dorm answers a solicitation at most every 3 s (RFC 4861's MIN_DELAY_BETWEEN_RAS): ask for
  # long enough. rdisc6 exits 2 when nothing answered, which the test below words.
  dns=$(ip netns exec "$CHAIN_HOST" rdisc6 -r 4 -w 2000 "$CHAIN_HOST_IF" 2>/dev/null |
    awk '/Recursive DNS server/ && !dns { dns = $NF } END { print dns }') || true  # all read: no SIGPIPE
  [ -n "$dns" ] || die "the host heard no DNS server in the RAs"
  ok "the RAs name the DNS server $dns (RDNSS; rdisc6 on the host)"
}

# reach_campus HOPS: the host pings the campus server and traces the way there (HOPS routers).
reach_campus() {
  step "4. From the LAN host to the campus, through the tunnel"
  run host ping -6 -c 3 -i 0.2 -W 2 -I "$HOST_ADDR" "$CHAIN_TARGET" || die "the host cannot reach the campus"
  ok "ping from the LAN host to the campus server"
  local trace
  trace=$(ip netns exec "$CHAIN_HOST" traceroute -6 -n -q 1 -w 2 -m 5 "$CHAIN_TARGET" 2>&1) || true
  printf '   %shost#%s traceroute -6 -n -q 1 -w 2 -m 5 %s\n' "$BOLD" "$OFF" "$CHAIN_TARGET"
  sed 's/^/     /' <<<"$trace"
  grep -qE "^ *$1 +$CHAIN_TARGET " <<<"$trace" || die "traceroute did not reach $CHAIN_TARGET in $1 hops"
  if [ "$1" = 2 ]; then
    say "(hop 1 is the dorm, hop 2 the campus: the lab bridges, it is no hop)"
  else
    say "(one hop: the dorm and the lab only bridge)"
  fi
}

# own_traffic DELEGATED: the dorm's routing decisions, as ip route get shows them.
own_traffic() {
  step "5. Source routing in the dorm: only the delegated prefix's traffic takes the tunnel"
  run dorm ip -6 rule show
  run dorm ip -6 route get "$CHAIN_TARGET"
  run dorm ip -6 route get "$INTERNET"
  ip -n "$CHAIN_DORM" -6 route get "$CHAIN_TARGET" | grep -q "dev d-isp" &&
    ip -n "$CHAIN_DORM" -6 route get "$INTERNET" | grep -q "dev d-isp" ||
    die "the dorm's own traffic does not leave by its uplink"
  ok "the dorm's own traffic, to the campus or the internet, leaves by its native uplink (dev d-isp)"
  run dorm ip -6 route get "$CHAIN_TARGET" from "$HOST_ADDR" iif "$CHAIN_LAN"
  run dorm ip -6 route get "$INTERNET" from "$HOST_ADDR" iif "$CHAIN_LAN"
  ip -n "$CHAIN_DORM" -6 route get "$CHAIN_TARGET" from "$HOST_ADDR" iif "$CHAIN_LAN" | grep -q "dev $CHAIN_TAP" &&
    ip -n "$CHAIN_DORM" -6 route get "$INTERNET" from "$HOST_ADDR" iif "$CHAIN_LAN" | grep -q "dev $CHAIN_TAP" ||
    die "the LAN's traffic does not take the tunnel"
  ok "route via tunnel: the LAN's traffic from $1 leaves through the tunnel (dev $CHAIN_TAP)"
  ip netns exec "$CHAIN_DORM" ping -6 -c 1 -W 2 "$INTERNET" >/dev/null ||
    die "the dorm cannot reach the internet by its uplink"
  ok "and the dorm still reaches the internet ($INTERNET) by its uplink"
}

case ${1:-} in
  exec) shift; demo_exec "$@" ;;
  shell)
    [ $# = 2 ] || usage
    demo_exec "$2" env PS1="[l2wg-$NAME $2]# " bash --norc -i ;;
  down)
    [ $# = 1 ] || usage
    if left_behind; then demo_down; echo "demo: removed"; else echo "demo: nothing to remove"; fi
    ! left_behind || die "could not remove everything: $(our_namespaces | tr '\n' ' ')" ;;
  -h | --help) usage 0 ;;
  *) play "$@" ;;
esac
