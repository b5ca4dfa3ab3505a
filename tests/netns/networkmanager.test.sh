#!/usr/bin/env bash
# Under a real NetworkManager (tests/lib/networkmanager.sh): routed mode's chain
# (tests/lib/routed_chain.sh) with the dorm's NetworkManager managing the uplink under its
# WireGuard tunnel (nm-uplink: the veth WireGuard's packets cross), the WireGuard interface itself
# (nm-wg: wireguard-go's tun, NM's own wireguard type needing kernel WireGuard) and the LAN bridge
# br-lan (nm-lan, with its port nm-lan-port), and the package's dispatcher script and conf snippet
# (examples/networkmanager/) installed where the package puts them. Shown:
#   - NetworkManager leaves the tap unmanaged (the snippet) and takes nothing on it;
#   - the NM-managed LAN bridge (ipv6.method link-local) keeps routed mode's address, routes and
#     RAs through `nmcli device reapply` (which removes l2wgd's address: l2wgd puts it back) and a
#     down/up of its connection (the bridge deleted and made anew);
#   - the dispatcher script, run by NetworkManager itself: the uplink's connection up -> Renew seen
#     by Kea; the WireGuard connection down -> Release seen by Kea and the LAN host's address
#     deprecated (preferred lifetime 0); up again -> a prefix anew; with "stop start", the
#     tunnel stopped and started with the WireGuard connection; connectivity-change renews;
#   - a broken map: errors logged (stderr and syslog, i.e. the test's /dev/log) with their lines,
#     nothing done; an unknown tunnel: logged;
#   - the host's /etc/resolv.conf untouched (checksum).
source "$(dirname "$0")/../lib/netns.sh"
# Long timers: every Renew Kea sees in this test is one the dispatcher asked for.
# shellcheck disable=SC2034 # read by routed_chain.sh
CHAIN_T1=1000 CHAIN_T2=1600 CHAIN_PREFERRED=1800 CHAIN_VALID=2000
source "$(dirname "$0")/../lib/routed_chain.sh"
source "$(dirname "$0")/../lib/networkmanager.sh"
source "$(dirname "$0")/../lib/logs.sh"
l2wg_test_init
need NetworkManager nmcli nm-online "$NM_DISPATCHER" unshare nsenter busctl logger cmake

RESOLV_BEFORE=$(sha256sum /etc/resolv.conf)
# shellcheck disable=SC2034 # read by chain_setup
CHAIN_NS_FORMAT="nm-%s-$TAG" CHAIN_WG_FORMAT="nm%s$TAG"

# The dorm's bus carries NetworkManager too: made here, with its policy, before chain_setup (which
# then starts the dorm's l2wgd on it).
mkdir -p "$WORKDIR/dorm/etc" "$WORKDIR/dorm/state"
chmod 0755 "$WORKDIR/dorm"
nm_bus_config "$WORKDIR/dorm/system_bus_socket" "$WORKDIR/dorm/system-bus.conf"
dbus-daemon --config-file="$WORKDIR/dorm/system-bus.conf" --nofork --nopidfile >"$WORKDIR/dbus-dorm.log" 2>&1 &
register_pid "$!"
wait_for 10 test -S "$WORKDIR/dorm/system_bus_socket" || { echo "FAIL: the dorm's bus"; cat "$WORKDIR/dbus-dorm.log"; exit 1; }

chain_setup "$TAG"
D=$CHAIN_DORM
UPLINK=ve-$TAG-b  # the dorm's end of the veth WireGuard runs over (192.0.2.2/24)
# NetworkManager makes the LAN bridge itself, as on a real router: chain_setup's goes.
ip -n "$D" link del "$CHAIN_LAN"

# --- NetworkManager ------------------------------------------------------------------------
nm_etc_file /etc/l2wg/networkmanager.map "# the WireGuard connection under the routed tunnel dorm
nm-wg     dorm                # renew release
\"nm uplink\"  dorm  renew     # the uplink WireGuard runs over
"
check "NetworkManager and nm-dispatcher start in the dorm's namespaces" nm_start "$D" "$WORKDIR/dorm/system_bus_socket"
nmc() { nm_exec nmcli "$@"; }
check "nm-uplink: the uplink under WireGuard" nmc connection add type ethernet con-name "nm uplink" \
  ifname "$UPLINK" ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv6.method ignore
check "nm-wg: wireguard-go's interface, as a tun connection" nmc connection add type tun con-name nm-wg \
  ifname "$CHAIN_WGD" tun.mode tun tun.pi yes ipv4.method manual ipv4.addresses 10.0.31.2/24 ipv6.method ignore
check "nm-lan: the LAN bridge with the documented settings (ipv6.method link-local, bridge.stp no)" \
  nmc connection add type bridge con-name nm-lan ifname "$CHAIN_LAN" bridge.stp no \
  ipv4.method disabled ipv6.method link-local connection.autoconnect-slaves yes
check "nm-lan-port: d-lan in it" nmc connection add type ethernet con-name nm-lan-port ifname d-lan \
  master "$CHAIN_LAN" slave-type bridge
for c in "nm uplink" nm-wg nm-lan; do
  check "nmcli connection up $c" nmc connection up "$c"
done
check "br-lan is up with d-lan in it" wait_for 10 bash -c "ip -n $D link show d-lan | grep -q 'master $CHAIN_LAN' && ip -n $D link show $CHAIN_LAN | grep -q LOWER_UP"


# --- the routed tunnel on NetworkManager's links ---------------------------------------------
chain_capture_ras
check "the routed tunnel dorm (dorm.conf, LAN br-lan) is loaded" chain_dorm_config
check "the dorm's tunnel reaches state up" chain_wait_state dorm dorm up 20
check "a prefix is delegated and a /64 announced on br-lan" chain_wait_prefix 20
LANP=$(chain_lan_prefix)
check "the host gets an address in $LANP" chain_wait_host_address "${LANP:-::/0}" 15

# --- NetworkManager leaves the tap alone --------------------------------------------------------
tap_state() {  # the tap's link (without counters or timers), addresses and IPv6 settings
  # (without its ifindex: a LAN that disappears makes l2wgd build the tunnel anew, tap included)
  ip -n "$D" -d link show "$CHAIN_TAP" | sed -E 's/ [a-z_]+_timer +[0-9.]+//g; s/^[0-9]+: //'
  ip -n "$D" addr show dev "$CHAIN_TAP" | sed -E 's/(valid|preferred)_lft [0-9a-z]+//g; s/^[0-9]+: //'
  ip netns exec "$D" sysctl net.ipv6.conf."$CHAIN_TAP".accept_ra net.ipv6.conf."$CHAIN_TAP".autoconf \
    net.ipv6.conf."$CHAIN_TAP".disable_ipv6
}
tap_state >"$WORKDIR/tap.before"
nm_device() { nmc -g "$2" device show "$1"; }
tap_unmanaged() { [[ $(nm_device "$CHAIN_TAP" GENERAL.STATE) == *unmanaged* ]]; }
check "NetworkManager lists the tap $CHAIN_TAP as unmanaged (90-l2wg.conf)" tap_unmanaged
check "and gives it no connection" test -z "$(nm_device "$CHAIN_TAP" GENERAL.CONNECTION)"
# The control: `nmcli device set DEV managed yes` makes a tap of another name NetworkManager's;
# the tap stays unmanaged (the snippet's unmanaged-devices is configuration, which it cannot undo).
CONTROL_TAP=nmtap$TAG
ip netns exec "$D" ip tuntap add mode tap name "$CONTROL_TAP"
ip -n "$D" link set "$CONTROL_TAP" up
managed_now() { local state; state=$(nm_device "$1" GENERAL.STATE); echo "$state"; [ -n "$state" ] && [[ $state != *unmanaged* ]]; }
check "nmcli device set $CONTROL_TAP managed yes: a tap named otherwise becomes NetworkManager's" \
  nmc device set "$CONTROL_TAP" managed yes
check "(it is managed now)" wait_for 5 managed_now "$CONTROL_TAP"
check "nmcli device set $CHAIN_TAP managed yes" nmc device set "$CHAIN_TAP" managed yes
sleep 1
check "changes nothing: the tap stays unmanaged" tap_unmanaged
ip -n "$D" link del "$CONTROL_TAP"
check "accept_ra is still 0 on the tap" test "$(ip netns exec "$D" sysctl -n "net.ipv6.conf.$CHAIN_TAP.accept_ra")" = 0

# --- the NM-managed LAN bridge keeps routed mode's address, routes and RAs ----------------------
lan_state() {  # br-lan's global addresses, every IPv6 route through it, the rules
  ip -n "$D" -6 -o addr show dev "$CHAIN_LAN" scope global | awk '{print $4}'
  ip -n "$D" -6 route show table all | grep -w "$CHAIN_LAN" | sed -E 's/ expires [0-9]+sec//' | sort
  ip -n "$D" -6 rule show
}
lan_state >"$WORKDIR/lan.before"
check "br-lan holds the router's ::1 of $LANP" grep -qx "${LANP%::/64}::1/64" "$WORKDIR/lan.before"
check "and the delegated prefix's routing (a rule, routes)" bash -c "grep -q 'lookup' $WORKDIR/lan.before && grep -q '^${LANP:-none} dev $CHAIN_LAN' $WORKDIR/lan.before"
lan_kept() { lan_state | diff -u "$WORKDIR/lan.before" -; }
ra_with_prefix() {  # the host solicits; an RA of the dorm with the LAN's /64 answers
  ip netns exec "$CHAIN_HOST" rdisc6 -1 -r 3 -w 1500 "$CHAIN_HOST_IF" 2>&1 | grep -Eq "Prefix +: ${LANP:-none}\$"
}
check "an RS is answered with an RA for $LANP" wait_for 10 ra_with_prefix

l2wgd_lines=$(wc -l <"$WORKDIR/l2wgd-dorm.log")
check "nmcli device reapply br-lan" nmc device reapply "$CHAIN_LAN"
check "NetworkManager's reapply removed l2wgd's address and l2wgd put it back" \
  wait_for 5 log_order "$WORKDIR/l2wgd-dorm.log" "$l2wgd_lines" "was removed from $CHAIN_LAN: re-applying its routing" .
lan_kept_within() { wait_for "$1" lan_kept || lan_kept; }
check "after the reapply, br-lan's address, routes and the rules are as before" lan_kept_within 5
check "the RAs go on (an RS answered with $LANP)" wait_for 10 ra_with_prefix
check "the tunnel is still up" chain_state_is dorm dorm up

ifindex_before=$(ip -n "$D" -j link show "$CHAIN_LAN" | jq '.[0].ifindex')
check "nmcli connection down nm-lan" nmc connection down nm-lan
check "NetworkManager deleted br-lan" wait_for 5 bash -c "! ip -n $D link show $CHAIN_LAN"
check "nmcli connection up nm-lan" nmc connection up nm-lan
ifindex_after=$(ip -n "$D" -j link show "$CHAIN_LAN" | jq '.[0].ifindex')
echo "    br-lan's ifindex: $ifindex_before before, $ifindex_after after the bounce"
check "after the bounce (a new br-lan), its address, routes and the rules are back as before" \
  lan_kept_within 20
check "the tunnel is up again" chain_wait_state dorm dorm up 20
check "the RAs go on (an RS answered with $LANP)" wait_for 10 ra_with_prefix
check "the host keeps a usable address in $LANP" chain_wait_host_address "${LANP:-::/0}" 10
tap_kept() { tap_state | diff -u "$WORKDIR/tap.before" - && tap_unmanaged; }
check "the tap is as before, still unmanaged, through all of it" tap_kept

# --- the dispatcher script, driven by NetworkManager -------------------------------------------
kea_events() { grep -c "^$1 " "$WORKDIR/kea-routes.log" || true; }  # the run_script hook's lines
more_kea_events() { [ "$(kea_events "$1")" -gt "$2" ]; }
dispatcher_said() { grep -F -- "$1" "$WORKDIR/nm-dispatcher.log"; }
renews=$(kea_events lease6_renew)
check "nmcli connection up 'nm uplink' (reactivated)" nmc connection up "nm uplink"
check "the dispatcher asked for a Renew" wait_for 5 dispatcher_said "Renew of tunnel 'dorm' (up of connection 'nm uplink' on $UPLINK)"
check "Kea saw the Renew within 5 s" wait_for 5 more_kea_events lease6_renew "$renews"
check "the prefix is still $LANP" test "$(chain_lan_prefix)" = "$LANP"

HOST_ADDR=$(chain_host_address_in "${LANP:-::/0}" | cut -d/ -f1)
releases=$(kea_events lease6_release)
check "nmcli connection down nm-wg" nmc connection down nm-wg
check "the dispatcher asked for a Release at pre-down" wait_for 5 dispatcher_said "Release of tunnel 'dorm' (pre-down of connection 'nm-wg' on $CHAIN_WGD)"
check "Kea saw the Release within 5 s" wait_for 5 more_kea_events lease6_release "$releases"
syslog_has() {  # syslog_has PRIORITY TEXT: the test's /dev/log got TEXT from l2wg-nm at PRIORITY
  grep -F -- "l2wg-nm: $2" "$WORKDIR/syslog.log" | grep -q "^<$1>"
}
check "and said so to syslog (daemon.info)" syslog_has 30 "Release of tunnel 'dorm' (pre-down of connection 'nm-wg' on $CHAIN_WGD)"
check "the host's address is deprecated within 5 s" wait_for 5 chain_host_address_in "${LANP:-::/0}" deprecated
check "its preferred lifetime is 0" test "$(chain_host_preferred_lft "${HOST_ADDR:-none}")" = 0
check "the tunnel holds no prefix" test -z "$(chain_delegated)"

check "nmcli connection up nm-wg" nmc connection up nm-wg
check "the dispatcher asked for a Renew" wait_for 5 dispatcher_said "Renew of tunnel 'dorm' (up of connection 'nm-wg' on $CHAIN_WGD)"
check "a prefix is delegated again" chain_wait_prefix 30
LANP2=$(chain_lan_prefix)
check "the host gets a usable address in ${LANP2:-none} again" chain_wait_host_address "${LANP2:-::/0}" 15

# --- start and stop: the tunnel follows its WireGuard connection ---------------------------------
nm_etc_file /etc/l2wg/networkmanager.map "nm-wg dorm stop start
"
check "nmcli connection down nm-wg (map: stop start)" nmc connection down nm-wg
check "the dispatcher stopped the tunnel" wait_for 5 dispatcher_said "Stop of tunnel 'dorm' (down of connection 'nm-wg' on $CHAIN_WGD)"
check "its state is stopped" chain_wait_state dorm dorm stopped 5
check "its tap is gone" wait_for 5 bash -c "! ip -n $D link show $CHAIN_TAP"
check "nmcli connection up nm-wg" nmc connection up nm-wg
check "the dispatcher started the tunnel" wait_for 5 dispatcher_said "Start of tunnel 'dorm' (up of connection 'nm-wg' on $CHAIN_WGD)"
check "it is up again" chain_wait_state dorm dorm up 20
check "with a prefix" chain_wait_prefix 30

# --- bad input: logged, nothing done ----------------------------------------------------------
renews=$(kea_events lease6_renew)
nm_etc_file /etc/l2wg/networkmanager.map "\"nm uplink\" dorm renwe
nm-wg
\"nm-wg dorm
nm-wg dorm.1
"
check "nmcli device reapply $UPLINK with a broken map" nmc device reapply "$UPLINK"
check "each error logged with its line" wait_for 5 bash -c "grep -qF \"networkmanager.map:1: unknown action 'renwe'\" $WORKDIR/nm-dispatcher.log && grep -qF \"networkmanager.map:2: no tunnel for connection 'nm-wg'\" $WORKDIR/nm-dispatcher.log && grep -qF \"networkmanager.map:3: the connection's name has no closing double quote\" $WORKDIR/nm-dispatcher.log && grep -qF \"networkmanager.map:4: 'dorm.1' is not a tunnel name\" $WORKDIR/nm-dispatcher.log"
check "and that nothing was done" wait_for 5 dispatcher_said "has errors: nothing done for 'reapply' of 'nm uplink'"
check "syslog got the errors (daemon.err)" syslog_has 27 "/etc/l2wg/networkmanager.map:1: unknown action 'renwe'"
sleep 2
check "Kea saw no Renew" test "$(kea_events lease6_renew)" = "$renews"
nm_etc_file /etc/l2wg/networkmanager.map "\"nm uplink\" nosuch renew
"
check "nmcli device reapply $UPLINK with a map naming no tunnel of l2wgd's" nmc device reapply "$UPLINK"
check "logged: no such tunnel" wait_for 5 dispatcher_said "Renew of tunnel 'nosuch' (reapply of connection 'nm uplink' on $UPLINK): no such tunnel"
check "to syslog too (daemon.err)" syslog_has 27 "Renew of tunnel 'nosuch' (reapply of connection 'nm uplink' on $UPLINK): no such tunnel"
nm_active() { nmc -g NAME connection show --active | grep -c '^nm'; }
check "NetworkManager is fine: its 4 connections still active" test "$(nm_active)" = 4

# --- the script run by hand, as nm-dispatcher runs it ------------------------------------------
SCRIPT=/usr/lib/NetworkManager/dispatcher.d/90-l2wg
renews=$(kea_events lease6_renew)
nm_etc_file /etc/l2wg/networkmanager.map "\"nm uplink\" dorm renew
"
check "connectivity-change to FULL (no connection): every renew line renews" \
  nm_exec env -i CONNECTIVITY_STATE=FULL NM_DISPATCHER_ACTION=connectivity-change "$SCRIPT" "" connectivity-change
check "Kea saw that Renew" wait_for 5 more_kea_events lease6_renew "$renews"
renews=$(kea_events lease6_renew)
check "connectivity-change to NONE does nothing" \
  nm_exec env -i CONNECTIVITY_STATE=NONE "$SCRIPT" "" connectivity-change
nm_etc_file /etc/l2wg/networkmanager.map "$(cat "$L2WG_SOURCE_DIR/examples/conf/dorm/networkmanager.map")"
example_quiet() {  # the example map: read without an error, nothing for a connection not in it
  local out
  out=$(nm_exec env -i CONNECTION_ID=other CONNECTION_UUID=0 "$SCRIPT" eth9 up 2>&1) || return 1
  echo "$out"
  [ -z "$out" ]
}
check "the example map (examples/conf/dorm/networkmanager.map) reads without an error" example_quiet
nm_etc_file /etc/l2wg/networkmanager.map ""
nm_exec rm /etc/l2wg/networkmanager.map
check "without a map the script does nothing, silently" example_quiet
sleep 2
check "Kea saw no Renew for any of those" test "$(kea_events lease6_renew)" = "$renews"

check "no error in the dorm's l2wgd log" bash -c "! grep -E '\[(error|critical)\]' $WORKDIR/l2wgd-dorm.log"
nm_stop
chain_teardown
check "the host's /etc/resolv.conf is untouched" test "$(sha256sum /etc/resolv.conf)" = "$RESOLV_BEFORE"
finish
