#!/usr/bin/env bash
# In the VM: NetworkManager's own WireGuard connection (kernel WireGuard, which the netns tier
# lacks) carries an l2wg tunnel, and l2wgd picks the interface up by itself. A far namespace has
# kernel WireGuard and l2wg-plumb; the near one runs a real NetworkManager (tests/lib/networkmanager.sh)
# and l2wgd on the same private bus, with a tunnel file naming a WireGuard interface that does not
# exist yet. Shown:
#   - the tunnel waits for the interface (waiting-for-peer, saying so);
#   - `nmcli connection import type wireguard` and `up`: NetworkManager makes the kernel WireGuard
#     interface; l2wgd picks it up by itself (no reload, no call): the tunnel comes up and frames
#     cross it;
#   - `nmcli connection down`: the interface goes, the tunnel waits again, its tap stays;
#     `up` again: the tunnel is up by itself (a kernel gretap made anew for the new interface)
#     and frames cross again;
#   - NetworkManager leaves the tap alone (unmanaged).
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/networkmanager.sh"
l2wg_test_init
need NetworkManager nmcli nm-online "$NM_DISPATCHER" unshare nsenter busctl cmake wg
L2WG="$L2WG_BUILD_DIR/cli/l2wg"
NEAR=nmk-near-$TAG FAR=nmk-far-$TAG
WGN=nmwg$TAG WGF=wgf$TAG
ns_add "$NEAR"; ns_add "$FAR"
ip link add "ve-$TAG-n" netns "$NEAR" type veth peer name "ve-$TAG-f" netns "$FAR"
ip -n "$FAR" addr add 192.0.2.1/24 dev "ve-$TAG-f"
ip -n "$FAR" link set "ve-$TAG-f" up
key_near=$(wg genkey) key_far=$(wg genkey)
pub_near=$(wg pubkey <<<"$key_near") pub_far=$(wg pubkey <<<"$key_far")
ip -n "$FAR" link add "$WGF" type wireguard
ip netns exec "$FAR" wg set "$WGF" listen-port 51820 private-key <(echo "$key_far") \
  peer "$pub_near" allowed-ips 10.0.31.2/32
ip -n "$FAR" addr add 10.0.31.1/24 dev "$WGF"
ip -n "$FAR" link set "$WGF" up

# The near end's bus carries NetworkManager and l2wgd.
mkdir -p "$WORKDIR/etc" "$WORKDIR/state"
nm_bus_config "$WORKDIR/system_bus_socket" "$WORKDIR/system-bus.conf"
dbus-daemon --config-file="$WORKDIR/system-bus.conf" --nofork --nopidfile >"$WORKDIR/dbus.log" 2>&1 8>&- 9>&- &
register_pid "$!"
wait_for 10 test -S "$WORKDIR/system_bus_socket" || { echo "FAIL: the bus"; cat "$WORKDIR/dbus.log"; exit 1; }
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORKDIR/system_bus_socket
printf '[Tunnel]\nWireGuard=%s\nPeer=10.0.31.1\nInterface=l2-near\n' "$WGN" >"$WORKDIR/etc/near.conf"
start_daemon "$NEAR"
prop() { busctl --system get-property net.l2wg1 /net/l2wg1/tunnel/near net.l2wg1.Tunnel "$1"; }
state_is() { [ "$(prop State)" = "s \"$1\"" ]; }
check "the tunnel waits for a WireGuard interface that does not exist yet" wait_for 10 state_is waiting-for-peer
check "and says so" bash -c "busctl --system get-property net.l2wg1 /net/l2wg1/tunnel/near net.l2wg1.Tunnel StateReason | grep -q '$WGN'"

check "NetworkManager starts in the near namespace" nm_start "$NEAR" "$WORKDIR/system_bus_socket"
nmc() { nm_exec nmcli "$@"; }
check "the uplink as an NM connection" nmc connection add type ethernet con-name uplink \
  ifname "ve-$TAG-n" ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv6.method ignore
check "the uplink is up" nmc connection up uplink
# A wg-quick file, as a user has one: NetworkManager imports it as its own WireGuard connection.
cat >"$WORKDIR/$WGN.conf" <<EOF
[Interface]
PrivateKey = $key_near
Address = 10.0.31.2/24
ListenPort = 51820

[Peer]
PublicKey = $pub_far
Endpoint = 192.0.2.1:51820
AllowedIPs = 10.0.31.1/32
PersistentKeepalive = 5
EOF
check "nmcli connection import type wireguard" nmc connection import type wireguard file "$WORKDIR/$WGN.conf"
check "NetworkManager made the kernel WireGuard interface" wait_for 20 bash -c \
  "ip -n $NEAR -d link show $WGN | grep -q wireguard"
# A first packet into WireGuard starts the handshake (the tunnel's probes would too).
ip netns exec "$NEAR" ping -c 1 -W 3 10.0.31.1 >/dev/null || true
check "l2wgd picks it up by itself: the tunnel is up" wait_for 30 state_is up
ip -n "$NEAR" addr add 10.77.0.2/24 dev l2-near
bg_in "$FAR" "$WORKDIR/plumb.log" "$L2WG_BUILD_DIR/examples/l2wg-plumb" --wg "$WGF" --peer 10.0.31.2 --interface l2-far
wait_for 20 grep -q '^{' "$WORKDIR/plumb.log"
ip -n "$FAR" addr add 10.77.0.1/24 dev l2-far
ip -n "$FAR" link set l2-far up
crosses() { ip netns exec "$NEAR" ping -c 1 -W 1 10.77.0.1 >/dev/null; }
check "frames cross the tunnel over NetworkManager's WireGuard" wait_for 20 crosses
tap_unmanaged() { nmc -t -f DEVICE,STATE device | grep -qx 'l2-near:unmanaged'; }
check "NetworkManager leaves the tap alone" tap_unmanaged
wg_gone() { ! ip -n "$NEAR" link show "$WGN" >/dev/null 2>&1; }
nmc connection down "$WGN" >/dev/null
check "nmcli connection down: the interface goes" wait_for 10 wg_gone
check "the tunnel waits again" wait_for 15 state_is waiting-for-peer
check "its tap stays" ip -n "$NEAR" link show l2-near
check "nmcli connection up" nmc connection up "$WGN"
ip netns exec "$NEAR" ping -c 1 -W 3 10.0.31.1 >/dev/null || true
check "the tunnel is up again by itself" wait_for 30 state_is up
# A kernel gretap is bound to its WireGuard interface's index: the new interface gets a new tap
# (same name and MAC), so the test's own address goes on it again.
ip -n "$NEAR" addr replace 10.77.0.2/24 dev l2-near
check "frames cross again" wait_for 20 crosses
nm_stop
finish
