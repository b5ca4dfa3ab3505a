# The whole routed-mode chain in namespaces, for tests and benches. Source it after
# tests/lib/netns.sh (and l2wg_test_init), then call chain_setup. It brings tests/lib/kea.sh.
#
#   upstream (CHAIN_UP)      Kea delegating /56s out of CHAIN_POOL, a run_script hook routing each
#        | u-wan             delegated prefix to the client's link-local address on u-wan, Router
#        |                   Advertisements (l2wg-ra), CHAIN_TARGET on lo for the LAN host to reach
#        | l-up
#   lab (CHAIN_LAB)          br-wan (l-up + the tap), wireguard-go CHAIN_WGL (10.0.31.1), l2wgd on
#        |                   its own bus with the bridge-mode tunnel "lab" (tap l2-lab in br-wan)
#        | WireGuard over a veth (192.0.2.1 - 192.0.2.2)
#   dorm (CHAIN_DORM)        wireguard-go CHAIN_WGD (10.0.31.2), l2wgd on its own bus, a native
#        | d-isp  \ br-lan   uplink d-isp (2001:db8:ffff::2, main's default route via the isp) and
#        |         \         a LAN bridge br-lan (port d-lan); routed tunnel "dorm" (tap l2-dorm)
#   isp (CHAIN_ISP)   host (CHAIN_HOST): h0 in br-lan, the kernel's own SLAAC and real DAD
#
# Variables (set before chain_setup to change them; all but the pool have defaults that work):
#   CHAIN_POOL             Kea's pd-pool (default 2001:db8:100::/40, delegated length 56)
#   CHAIN_T1 CHAIN_T2 CHAIN_PREFERRED CHAIN_VALID   Kea's timers and lifetimes (s)
#   CHAIN_DNS              the dns-servers option Kea sends (RDNSS on the LAN)
#   CHAIN_UPSTREAM_MTU     the MTU option of the upstream's RAs
#   CHAIN_RA_INTERVAL      the upstream's MaxRtrAdvInterval (s)
#   CHAIN_RAPID_COMMIT=1   rapid commit on Kea's subnet
#   CHAIN_UPSTREAM_RA_ARGS more l2wg-ra options for the upstream's RAs (an array; e.g. --dns ADDR)
#   CHAIN_NS_FORMAT        the namespaces' names, a printf format given the role (up, lab, dorm,
#                          isp, host); default rc-%s-TAG
#   CHAIN_WG_FORMAT        the WireGuard interfaces' names, a printf format given l (lab) or d
#                          (dorm); default wg%sTAG. Their UAPI sockets are shared by every
#                          namespace: a name must be unique on the machine
#   L2WG_KERNEL_WG=1       kernel WireGuard instead of wireguard-go (wg_pair does it; the kernel
#                          tier, where Datapath=auto then gives both tunnels kernel gretap);
#                          chain_peer_stop/chain_peer_start assume wireguard-go
# Set by chain_setup: CHAIN_UP CHAIN_LAB CHAIN_DORM CHAIN_ISP CHAIN_HOST (namespaces),
#   CHAIN_WGL CHAIN_WGD (WireGuard interfaces), CHAIN_UP_LL (the upstream router's link-local on
#   u-wan), CHAIN_TARGET (2001:db8:ff::1, upstream), CHAIN_NATIVE (the dorm's uplink address),
#   CHAIN_ISP_ADDR (its gateway), CHAIN_TAP (l2-dorm), CHAIN_LAN (br-lan), CHAIN_HOST_IF (h0).
# Logs: $WORKDIR/{kea,ra-upstream,l2wgd-lab,l2wgd-dorm,…}.log; the run_script hook's actions in
# $WORKDIR/kea-routes.log.
#
# Functions (each documented where it is defined):
#   chain_setup TAG; chain_teardown
#   chain_l2wg SIDE ARGS…, chain_busctl SIDE ARGS…, chain_prop NAME PROP (dorm's tunnel property)
#   chain_lab_up; chain_dorm_up [ARGS…]; chain_dorm_config [KEY=VALUE…]; chain_dorm_down
#   chain_daemon_start SIDE; chain_daemon_stop SIDE; chain_daemon_restart SIDE; chain_daemon_kill SIDE
#   chain_daemon_log SIDE
#   chain_wait_state NAME STATE [SECONDS]; chain_wait_prefix [SECONDS]; chain_delegated; chain_lan_prefix
#   chain_host_addresses; chain_host_address_in PREFIX [FLAG]; chain_wait_host_address PREFIX [SECONDS]
#   chain_host_preferred_lft ADDRESS; chain_host_default_via_dorm
#   chain_capture_ras; chain_ras_since SINCE; chain_ra_find SINCE EXPR; chain_ra_none SINCE EXPR;
#   chain_ra_count EXPR (the RAs the host hears)
#   chain_peer_stop; chain_peer_start
#   chain_kea_start [POOL]; kea_stop; chain_kea_pool POOL
#   chain_ns_state NS (links, addresses, routes of every table, rules: for "as before" comparisons)

L2WG_CLI="$L2WG_BUILD_DIR/cli/l2wg"
L2WGD="$L2WG_BUILD_DIR/daemon/l2wgd"
L2WG_RA="$L2WG_BUILD_DIR/examples/l2wg-ra"
# shellcheck source=tests/lib/kea.sh
source "$(dirname "${BASH_SOURCE[0]}")/kea.sh"

CHAIN_POOL=${CHAIN_POOL:-2001:db8:100::/40}
CHAIN_T1=${CHAIN_T1:-10} CHAIN_T2=${CHAIN_T2:-16}
CHAIN_PREFERRED=${CHAIN_PREFERRED:-120} CHAIN_VALID=${CHAIN_VALID:-180}
CHAIN_DNS=${CHAIN_DNS:-2001:db8:ff::53}
CHAIN_UPSTREAM_MTU=${CHAIN_UPSTREAM_MTU:-1500}
CHAIN_RA_INTERVAL=${CHAIN_RA_INTERVAL:-30}
CHAIN_RAPID_COMMIT=${CHAIN_RAPID_COMMIT:-0}
CHAIN_TARGET=2001:db8:ff::1
CHAIN_NATIVE=2001:db8:ffff::2 CHAIN_ISP_ADDR=2001:db8:ffff::1
CHAIN_TAP=l2-dorm CHAIN_LAN=br-lan CHAIN_HOST_IF=h0
CHAIN_RA_PID= CHAIN_WGL_PID=
[ -n "${CHAIN_UPSTREAM_RA_ARGS+set}" ] || CHAIN_UPSTREAM_RA_ARGS=()
declare -A CHAIN_DAEMON_PID=() CHAIN_DAEMON_RUNS=()
_chain_namespaces=()

_chain_check_tools() {
  need kea-dhcp6 wireguard-go wg dbus-daemon rdisc6 tshark tcpdump jq python3 \
    "$L2WG_CLI" "$L2WGD" "$L2WG_RA"
  [ -f "$KEA_HOOK_DIR/libdhcp_run_script.so" ] ||
    { echo "FAIL: no $KEA_HOOK_DIR/libdhcp_run_script.so (kea-dhcp6-server)"; return 1; }
}

_chain_ns() {
  ns_add "$1"
  _chain_namespaces+=("$1")
}

# chain_setup TAG: builds everything up to and including the lab's bridge-mode tunnel (state up),
# with no routed tunnel in the dorm yet (chain_dorm_up / chain_dorm_config add it).
chain_setup() {
  local tag=$1
  _chain_check_tools
  local ns_format=${CHAIN_NS_FORMAT:-rc-%s-$tag} wg_format=${CHAIN_WG_FORMAT:-wg%s$tag}
  # shellcheck disable=SC2059 # the formats are the caller's, on purpose
  {
    CHAIN_UP=$(printf "$ns_format" up) CHAIN_LAB=$(printf "$ns_format" lab)
    CHAIN_DORM=$(printf "$ns_format" dorm) CHAIN_ISP=$(printf "$ns_format" isp)
    CHAIN_HOST=$(printf "$ns_format" host)
    CHAIN_WGL=$(printf "$wg_format" l) CHAIN_WGD=$(printf "$wg_format" d)
  }
  local ns
  for ns in "$CHAIN_UP" "$CHAIN_LAB" "$CHAIN_DORM" "$CHAIN_ISP" "$CHAIN_HOST"; do _chain_ns "$ns"; done

  # upstream <-> lab's WAN bridge. The lab itself takes nothing from the upstream's RAs.
  ip link add u-wan netns "$CHAIN_UP" type veth peer name l-up netns "$CHAIN_LAB"
  ip -n "$CHAIN_LAB" link add br-wan type bridge
  ip netns exec "$CHAIN_LAB" sysctl -qw net.ipv6.conf.br-wan.accept_ra=0
  ip -n "$CHAIN_LAB" link set l-up master br-wan up
  ip -n "$CHAIN_LAB" link set br-wan up
  ip netns exec "$CHAIN_UP" sysctl -qw net.ipv6.conf.u-wan.accept_ra=0
  ip -n "$CHAIN_UP" addr add 2001:db8:1::1/64 dev u-wan
  ip -n "$CHAIN_UP" addr add "$CHAIN_TARGET/128" dev lo
  ip -n "$CHAIN_UP" link set u-wan up

  # lab <-> dorm: WireGuard (userspace) with IPv4 inner addresses.
  wg_pair "$CHAIN_LAB" "$CHAIN_WGL" "$CHAIN_DORM" "$CHAIN_WGD" 10.0.31.1 10.0.31.2 24
  CHAIN_WGL_PID=$(_chain_wireguard_pid "$CHAIN_WGL")

  # dorm: a native uplink with main's default route, forwarding, a LAN bridge.
  ip link add d-isp netns "$CHAIN_DORM" type veth peer name i-dorm netns "$CHAIN_ISP"
  ip -n "$CHAIN_ISP" addr add "$CHAIN_ISP_ADDR/64" dev i-dorm
  ip -n "$CHAIN_ISP" link set i-dorm up
  ip -n "$CHAIN_DORM" addr add "$CHAIN_NATIVE/64" dev d-isp
  ip -n "$CHAIN_DORM" link set d-isp up
  ip -n "$CHAIN_DORM" -6 route add default via "$CHAIN_ISP_ADDR" dev d-isp
  ip netns exec "$CHAIN_DORM" sysctl -qw net.ipv6.conf.all.forwarding=1
  ip -n "$CHAIN_DORM" link add "$CHAIN_LAN" type bridge
  ip link add d-lan netns "$CHAIN_DORM" type veth peer name "$CHAIN_HOST_IF" netns "$CHAIN_HOST"
  ip -n "$CHAIN_DORM" link set d-lan master "$CHAIN_LAN" up
  ip -n "$CHAIN_DORM" link set "$CHAIN_LAN" up

  # host: an ordinary IPv6 host (SLAAC, default router from RAs, duplicate address detection).
  ip netns exec "$CHAIN_HOST" sysctl -qw "net.ipv6.conf.$CHAIN_HOST_IF.forwarding=0" \
    "net.ipv6.conf.$CHAIN_HOST_IF.accept_ra=1" "net.ipv6.conf.$CHAIN_HOST_IF.autoconf=1" \
    "net.ipv6.conf.$CHAIN_HOST_IF.accept_dad=1"
  ip -n "$CHAIN_HOST" link set "$CHAIN_HOST_IF" up

  settle "$CHAIN_UP" "$CHAIN_LAB" "$CHAIN_DORM" "$CHAIN_ISP" "$CHAIN_HOST"
  CHAIN_UP_LL=$(link_local "$CHAIN_UP" u-wan)

  chain_kea_start "$CHAIN_POOL"
  bg_in "$CHAIN_UP" "$WORKDIR/ra-upstream.log" bash -c 'exec "$@" >"$0"' "$WORKDIR/ra-upstream.json" \
    "$L2WG_RA" --interface u-wan --prefix 2001:db8:1::/64 --mtu "$CHAIN_UPSTREAM_MTU" \
    --max-interval "$CHAIN_RA_INTERVAL" "${CHAIN_UPSTREAM_RA_ARGS[@]}"
  CHAIN_RA_PID=$BG_PID

  chain_daemon_start lab
  chain_daemon_start dorm
  chain_lab_up
}

_chain_wireguard_pid() {  # the wireguard-go of IFNAME, one of ours (registered by wg_link)
  local pid
  for pid in "${_l2wg_pids[@]}"; do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "wireguard-go -f $1 *$"; then
      echo "$pid"
      return
    fi
  done
}

# ---- the two daemons, each on its own private system bus --------------------------------------
_chain_ns_of() { case $1 in lab) echo "$CHAIN_LAB" ;; dorm) echo "$CHAIN_DORM" ;; *) return 1 ;; esac; }
_chain_bus_address() { echo "unix:path=$WORKDIR/$1/system_bus_socket"; }

_chain_bus() {
  local side=$1 dir=$WORKDIR/$1
  mkdir -p "$dir/etc" "$dir/state"
  chmod 0755 "$dir"
  sed -e "s|@SOCKET@|$dir/system_bus_socket|" -e "s|@POLICY@|$L2WG_SOURCE_DIR/dbus/net.l2wg1.conf|" \
    "$L2WG_SOURCE_DIR/tests/lib/system-bus.conf.in" >"$dir/system-bus.conf"
  dbus-daemon --config-file="$dir/system-bus.conf" --nofork --nopidfile >"$WORKDIR/dbus-$side.log" 2>&1 8>&- 9>&- &
  register_pid "$!"
  wait_for 10 test -S "$dir/system_bus_socket" ||
    { echo "dbus-daemon ($side) did not start"; cat "$WORKDIR/dbus-$side.log"; return 1; }
}

# chain_l2wg SIDE ARGS...: the CLI against SIDE's (lab or dorm) daemon.
chain_l2wg() {
  local side=$1
  shift
  DBUS_SYSTEM_BUS_ADDRESS=$(_chain_bus_address "$side") "$L2WG_CLI" "$@"
}
# chain_busctl SIDE ARGS...: busctl --system against SIDE's bus.
chain_busctl() {
  local side=$1
  shift
  DBUS_SYSTEM_BUS_ADDRESS=$(_chain_bus_address "$side") busctl --system "$@"
}
# chain_prop NAME PROP: a property of the dorm's tunnel NAME, as busctl prints it.
chain_prop() {
  chain_busctl dorm get-property net.l2wg1 "/net/l2wg1/tunnel/$1" net.l2wg1.Tunnel "$2"
}
# _chain_on_bus SIDE [PID]: net.l2wg1 has an owner on SIDE's bus (that process, with PID: right
# after a restart the bus may not have dropped the previous run's name yet).
_chain_on_bus() {
  if [ -n "${2:-}" ]; then
    [ "$(chain_busctl "$1" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
      GetConnectionUnixProcessID s net.l2wg1 2>/dev/null)" = "u $2" ]
  else
    [ "$(chain_busctl "$1" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
      NameHasOwner s net.l2wg1 2>/dev/null)" = "b true" ]
  fi
}

# chain_daemon_start SIDE: l2wgd in SIDE's namespace (config $WORKDIR/SIDE/etc, state
# $WORKDIR/SIDE/state), its bus started on first use; waits until it owns net.l2wg1. Each run logs
# to its own file: l2wgd-SIDE.log, then l2wgd-SIDE-2.log... Sets CHAIN_DAEMON_PID[SIDE].
chain_daemon_start() {
  local side=$1 ns
  ns=$(_chain_ns_of "$side")
  [ -S "$WORKDIR/$side/system_bus_socket" ] || _chain_bus "$side"
  local runs=$((${CHAIN_DAEMON_RUNS[$side]:-0} + 1)) log=$WORKDIR/l2wgd-$side.log
  CHAIN_DAEMON_RUNS[$side]=$runs
  [ "$runs" = 1 ] || log=$WORKDIR/l2wgd-$side-$runs.log
  bg_in "$ns" "$log" env DBUS_SYSTEM_BUS_ADDRESS="$(_chain_bus_address "$side")" "$L2WGD" \
    --config-dir "$WORKDIR/$side/etc" --state-dir "$WORKDIR/$side/state" --log-level debug
  CHAIN_DAEMON_PID[$side]=$BG_PID
  wait_for 20 _chain_on_bus "$side" "$BG_PID" || { echo "l2wgd ($side) did not come up:"; cat "$log"; return 1; }
}
# chain_daemon_stop SIDE: SIGTERM (the tunnels stay for the next start to adopt).
chain_daemon_stop() {
  stop_pid "${CHAIN_DAEMON_PID[$1]}"
}
# chain_daemon_kill SIDE: SIGKILL, as a crash.
chain_daemon_kill() {
  kill -KILL "${CHAIN_DAEMON_PID[$1]}" 2>/dev/null || true
  wait "${CHAIN_DAEMON_PID[$1]}" 2>/dev/null || true
}
chain_daemon_restart() {
  chain_daemon_stop "$1"
  chain_daemon_start "$1"
}
# chain_daemon_log SIDE: the log file of SIDE's current (or last) l2wgd run.
chain_daemon_log() {
  local runs=${CHAIN_DAEMON_RUNS[$1]:-1}
  if [ "$runs" = 1 ]; then echo "$WORKDIR/l2wgd-$1.log"; else echo "$WORKDIR/l2wgd-$1-$runs.log"; fi
}

# ---- the tunnels ------------------------------------------------------------------------------
chain_state_is() { [ "$(chain_busctl "$1" get-property net.l2wg1 "/net/l2wg1/tunnel/$2" \
  net.l2wg1.Tunnel State 2>/dev/null)" = "s \"$3\"" ]; }
# chain_wait_state SIDE NAME STATE [SECONDS]
chain_wait_state() { wait_for "${4:-20}" chain_state_is "$1" "$2" "$3"; }

# chain_lab_up: the lab's bridge-mode tunnel "lab" (tap l2-lab in br-wan), waits for state up.
# The handshake comes first: l2wgd then finds it at once instead of at its next WireGuard poll
# (wireguard-go sends no event), which saves up to 5 s.
chain_lab_up() {
  ip netns exec "$CHAIN_LAB" ping -c 1 -W 2 10.0.31.2 >/dev/null || true
  chain_l2wg lab up lab --wg "$CHAIN_WGL" --peer 10.0.31.2 --bridge br-wan >/dev/null
  chain_wait_state lab lab up 20 || { echo "the lab's tunnel is not up"; return 1; }
}

# chain_dorm_up [ARGS...]: `l2wg up dorm --wg WGD --peer 10.0.31.1 --pd --lan br-lan ARGS...` on
# the dorm (e.g. --prefix-length 56, --persist).
chain_dorm_up() {
  chain_l2wg dorm up dorm --wg "$CHAIN_WGD" --peer 10.0.31.1 --pd --lan "$CHAIN_LAN" "$@"
}
# chain_dorm_config [LINE...]: the same tunnel as $WORKDIR/dorm/etc/dorm.conf, extra lines
# appended to [PrefixDelegation] (e.g. SubnetId=br-lan:5); then Reload.
chain_dorm_config() {
  {
    printf '[Tunnel]\nWireGuard=%s\nPeer=10.0.31.1\n\n[PrefixDelegation]\nLAN=%s\n' \
      "$CHAIN_WGD" "$CHAIN_LAN"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$WORKDIR/dorm/etc/dorm.conf"
  chain_busctl dorm call net.l2wg1 /net/l2wg1 net.l2wg1.Manager Reload
}
chain_dorm_down() { chain_l2wg dorm down dorm; }

# chain_delegated: the dorm's delegated prefixes, one per line (from DelegatedPrefixes).
chain_delegated() {
  chain_busctl dorm --json=short get-property net.l2wg1 /net/l2wg1/tunnel/dorm net.l2wg1.Tunnel \
    DelegatedPrefixes 2>/dev/null | jq -r '.data[][0]'
}
# chain_lan_prefix [LAN]: the /64 announced on LAN (default br-lan), from LANPrefixes.
chain_lan_prefix() {
  chain_busctl dorm --json=short get-property net.l2wg1 /net/l2wg1/tunnel/dorm net.l2wg1.Tunnel \
    LANPrefixes 2>/dev/null | jq -r --arg lan "${1:-$CHAIN_LAN}" '.data[] | select(.[0] == $lan) | .[1]'
}
# chain_wait_prefix [SECONDS]: until the dorm's tunnel has a delegated prefix and a LAN /64.
chain_wait_prefix() { wait_for "${1:-30}" _chain_has_lan_prefix; }
_chain_has_lan_prefix() { [ -n "$(chain_lan_prefix)" ]; }

# ---- the LAN host ------------------------------------------------------------------------------
# chain_host_addresses: the host's global addresses, one `ADDRESS/LEN FLAGS…` line each.
chain_host_addresses() {
  ip -n "$CHAIN_HOST" -6 -o addr show dev "$CHAIN_HOST_IF" scope global |
    awk '{ line = $4; for (i = 5; i <= NF; i++) if ($i ~ /^(tentative|deprecated|dadfailed|dynamic|mngtmpaddr|optimistic)$/) line = line " " $i; print line }'
}
# chain_host_address_in PREFIX/64 [FLAG]: prints the host's address in PREFIX; fails unless there
# is one that is not tentative, and, with FLAG (deprecated), has FLAG; without, is not deprecated.
chain_host_address_in() {
  chain_host_addresses | python3 -c '
import ipaddress, sys
net, flag = ipaddress.ip_network(sys.argv[1]), sys.argv[2]
for line in sys.stdin:
    address, *flags = line.split()
    if ipaddress.ip_interface(address).ip not in net or {"tentative", "dadfailed"} & set(flags):
        continue
    if (flag in flags) if flag else ("deprecated" not in flags):
        print(address)
        sys.exit(0)
sys.exit(1)' "$1" "${2:-}"
}
# chain_wait_host_address PREFIX/64 [SECONDS]: until the host holds a usable address in it.
chain_wait_host_address() { wait_for "${2:-20}" chain_host_address_in "$1"; }
# chain_host_preferred_lft ADDRESS: what is left of the host's preferred lifetime of ADDRESS, in
# seconds (or "forever").
chain_host_preferred_lft() {
  ip -n "$CHAIN_HOST" -6 addr show dev "$CHAIN_HOST_IF" | grep -A1 "inet6 $1/" |
    grep -o 'preferred_lft [0-9a-z]*' | sed -E 's/preferred_lft ([0-9]+)sec/\1/'
}
# chain_host_default_via_dorm: the host's default route goes via the dorm's link-local on br-lan.
chain_host_default_via_dorm() {
  ip -n "$CHAIN_HOST" -6 route show default |
    grep -q "via $(link_local "$CHAIN_DORM" "$CHAIN_LAN") dev $CHAIN_HOST_IF"
}

# ---- the Router Advertisements the LAN host hears ----------------------------------------------
# chain_capture_ras: from now on every RA the host receives goes to $WORKDIR/ra.pcap, which the
# functions below read (tests/tools/ra-capture.py: EXPR is Python over `ra` and `pio("P/64")`).
# Sets CHAIN_RA_CAPTURE (tcpdump's PID).
chain_capture_ras() {
  bg_in "$CHAIN_HOST" "$WORKDIR/tcpdump-ra.log" tcpdump -i "$CHAIN_HOST_IF" --immediate-mode -U -n \
    -w "$WORKDIR/ra.pcap" 'icmp6 and ip6[40] == 134'
  CHAIN_RA_CAPTURE=$BG_PID
  wait_for 10 grep -q "listening on" "$WORKDIR/tcpdump-ra.log"
}
_chain_ra_capture() { python3 "$L2WG_TOOLS/ra-capture.py" "$WORKDIR/ra.pcap" "$@"; }
# chain_ras_since SINCE: every RA captured after SINCE (epoch s), one JSON line each (t, rl, pio).
chain_ras_since() { _chain_ra_capture list "$1"; }
# chain_ra_find SINCE EXPR: how many seconds after SINCE the first RA for which EXPR holds came;
# fails if none has yet.
chain_ra_find() { _chain_ra_capture find "$1" "$2"; }
# chain_ra_none SINCE EXPR: no RA captured after SINCE satisfies EXPR (else says when one came).
chain_ra_none() {
  local found
  if found=$(chain_ra_find "$1" "$2"); then echo "an RA $found s after: $2"; return 1; fi
}
# chain_ra_count EXPR: how many of the captured RAs satisfy EXPR.
chain_ra_count() { _chain_ra_capture count "$1"; }

# ---- WireGuard: the lab's end stopped and started again (the dorm loses its tunnel) ------------
# chain_peer_stop: the lab's wireguard-go exits (its interface goes); the config is kept.
chain_peer_stop() {
  ip netns exec "$CHAIN_LAB" wg showconf "$CHAIN_WGL" >"$WORKDIR/wgl.conf"
  stop_pid "$CHAIN_WGL_PID"
  wait_for 10 bash -c "! ip -n $CHAIN_LAB link show $CHAIN_WGL" || true
}
# chain_peer_start: the lab's WireGuard interface back with the same keys and address.
chain_peer_start() {
  wg_link "$CHAIN_LAB" "$CHAIN_WGL"
  CHAIN_WGL_PID=$BG_PID
  ip netns exec "$CHAIN_LAB" wg setconf "$CHAIN_WGL" "$WORKDIR/wgl.conf"
  ip -n "$CHAIN_LAB" addr add 10.0.31.1/24 dev "$CHAIN_WGL"
  ip -n "$CHAIN_LAB" link set "$CHAIN_WGL" up
  ip netns exec "$CHAIN_LAB" ping -c 1 -W 2 10.0.31.2 >/dev/null || true
}

# ---- Kea --------------------------------------------------------------------------------------
# The hook script: what an upstream router does for the prefixes it delegates. Kea runs it for
# each hook point with the lease in its environment (Kea's run_script documentation).
_chain_route_script() {
  cat >"$WORKDIR/kea-route.sh" <<'SCRIPT'
#!/bin/sh
# $1: the hook point. Leases of type IA_PD get a route via the client's address (its link-local:
# the query came straight from it), on the interface the query arrived on.
log=${0%/*}/kea-routes.log
route() {  # route add|del PREFIX LEN
  if [ "$1" = add ]; then
    [ -n "$QUERY6_REMOTE_ADDR" ] || return 0
    ip -6 route replace "$2/$3" via "$QUERY6_REMOTE_ADDR" dev "$QUERY6_IFACE_NAME" proto static
  else
    ip -6 route del "$2/$3" proto static 2>/dev/null
  fi
  echo "$hook $1 $2/$3 via ${QUERY6_REMOTE_ADDR:-} dev ${QUERY6_IFACE_NAME:-} -> $?" >>"$log"
}
hook=$1
case "$hook" in
  leases6_committed)
    i=0
    while [ "$i" -lt "${LEASES6_SIZE:-0}" ]; do
      eval type=\$LEASES6_AT${i}_TYPE address=\$LEASES6_AT${i}_ADDRESS len=\$LEASES6_AT${i}_PREFIX_LEN
      eval valid=\$LEASES6_AT${i}_VALID_LIFETIME
      if [ "$type" = IA_PD ]; then
        if [ "${valid:-1}" = 0 ]; then route del "$address" "$len"; else route add "$address" "$len"; fi
      fi
      i=$((i + 1))
    done
    i=0
    while [ "$i" -lt "${DELETED_LEASES6_SIZE:-0}" ]; do
      eval type=\$DELETED_LEASES6_AT${i}_TYPE address=\$DELETED_LEASES6_AT${i}_ADDRESS
      eval len=\$DELETED_LEASES6_AT${i}_PREFIX_LEN
      [ "$type" != IA_PD ] || route del "$address" "$len"
      i=$((i + 1))
    done ;;
  lease6_renew | lease6_rebind)
    [ "$LEASE6_TYPE" != IA_PD ] || route add "$LEASE6_ADDRESS" "$LEASE6_PREFIX_LEN" ;;
  lease6_release | lease6_expire)
    [ "$LEASE6_TYPE" != IA_PD ] || route del "$LEASE6_ADDRESS" "$LEASE6_PREFIX_LEN" ;;
esac
exit 0
SCRIPT
  chmod 0755 "$WORKDIR/kea-route.sh"
}

# chain_kea_start [POOL]: kea-dhcp6 on u-wan delegating /56s out of POOL (default CHAIN_POOL),
# its leases kept in $WORKDIR/kea-leases.csv across restarts. Sets KEA_PID.
chain_kea_start() {
  local pool=${1:-$CHAIN_POOL} rapid_commit=()
  [ -x "$WORKDIR/kea-route.sh" ] || _chain_route_script
  [ "$CHAIN_RAPID_COMMIT" = 0 ] || rapid_commit=(--rapid-commit)
  kea_config "$WORKDIR/kea.json" --server-id 02005e10c4a1 --subnet u-wan 2001:db8:1::/64 "$pool" \
    --leases "$WORKDIR/kea-leases.csv" --timers "$CHAIN_T1" "$CHAIN_T2" "$CHAIN_PREFERRED" "$CHAIN_VALID" \
    --option dns-servers "$CHAIN_DNS" --option domain-search lab.example \
    --run-script "$WORKDIR/kea-route.sh" "${rapid_commit[@]}"
  kea_start "$CHAIN_UP" "$WORKDIR/kea.json" "$WORKDIR/kea.log"
}
# chain_kea_pool POOL: Kea restarted delegating out of another pool (the client learns of it at
# its next Renew: NoBinding, then a new prefix).
chain_kea_pool() {
  kea_stop
  chain_kea_start "$1"
}

# ---- state and teardown -----------------------------------------------------------------------
# chain_ns_state NS: what a tunnel's teardown must restore: links (without timers), addresses,
# IPv6 routes of every table and rules.
chain_ns_state() {
  {
    ip -n "$1" -d link show | sed -E 's/ [a-z_]+_timer +[0-9.]+//g'
    ip -n "$1" addr show
    # Sorted: the kernel lists routes of equal standing in the order they were (re)made, and
    # switching forwarding off and on remakes the anycast ones.
    ip -n "$1" -6 route show table all | sort
    ip -n "$1" -6 rule show
  } 2>&1
}

# chain_teardown: the daemons stopped (tunnels left as they are, like a shutdown), every process
# of the chain stopped and its namespaces deleted. The EXIT trap of netns.sh does the same for
# whatever is left, so a test need not call it; a bench that builds several chains does.
chain_teardown() {
  local side pid ns
  for side in dorm lab; do
    [ -z "${CHAIN_DAEMON_PID[$side]:-}" ] || stop_pid "${CHAIN_DAEMON_PID[$side]}"
  done
  # The upstream's final RAs (three, 3 s apart) are of no use to a chain being torn down.
  [ -z "$CHAIN_RA_PID" ] || { kill -KILL "$CHAIN_RA_PID" 2>/dev/null; wait "$CHAIN_RA_PID" 2>/dev/null; } || true
  for pid in "$KEA_PID" "$CHAIN_WGL_PID"; do
    [ -z "$pid" ] || stop_pid "$pid"
  done
  for ns in "${_chain_namespaces[@]}"; do
    # What else ran in it (wireguard-go of the dorm, tcpdump...): registered PIDs only.
    for pid in "${_l2wg_pids[@]}"; do
      [ "$(ip netns identify "$pid" 2>/dev/null)" != "$ns" ] || stop_pid "$pid"
    done
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  _chain_namespaces=()
  CHAIN_DAEMON_PID=() KEA_PID= CHAIN_RA_PID= CHAIN_WGL_PID=
}
