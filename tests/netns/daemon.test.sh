#!/usr/bin/env bash
# l2wgd and l2wg end to end on a private system bus: a bridge-mode tunnel through the CLI, a
# config file, CreateTunnel with persist and a daemon restart, the bus policy, bad input, and
# faults (kill -9 and adoption, the WireGuard interface recreated, 100 tunnels without leaks).
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
L2WG="$L2WG_BUILD_DIR/cli/l2wg"
LAB=l2dlab-$TAG DORM=l2ddorm-$TAG
WGL=wgl$TAG WGD=wgd$TAG
ns_add "$LAB"; ns_add "$DORM"
wg_pair "$LAB" "$WGL" "$DORM" "$WGD" 10.0.31.1 10.0.31.10 24
wan_bridge "$LAB"
settle "$LAB"
system_bus
start_daemon "$LAB"
snapshot "$LAB" >"$WORKDIR/before"

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
prop() { busctl --system get-property net.l2wg1 "/net/l2wg1/tunnel/$1" net.l2wg1.Tunnel "$2"; }
state_is() { [ "$(prop "$1" State)" = "s \"$2\"" ]; }
unchanged() { snapshot "$LAB" >"$WORKDIR/now"; diff -u "$WORKDIR/before" "$WORKDIR/now"; }
handshake() { ip netns exec "$LAB" ping -c 1 -W 2 10.0.31.10 >/dev/null; }
has_type() { [[ "$(prop lab "$1")" == "$2 "* ]]; }
json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# --- The CLI, bridge mode --------------------------------------------------------------------
# Every change is announced (InterfacesAdded/Removed, PropertiesChanged): l2wg monitor sees them.
bg_in "$LAB" "$WORKDIR/monitor.log" "$L2WG" monitor --json
MONITOR_PID=$BG_PID
sleep 0.5
monitored() { grep -q "$1" "$WORKDIR/monitor.log"; }
check "l2wg up creates the bridged tunnel" "$L2WG" up lab --wg "$WGL" --peer 10.0.31.10 --bridge br-wan
check "its tap is a port of br-wan" link_has "$LAB" l2-lab 'master br-wan'
handshake
check "the tunnel reaches state up once WireGuard has a handshake" wait_for 15 state_is lab up
check "Manager introspection shows the contract's methods" bash -c \
  "busctl --system introspect net.l2wg1 /net/l2wg1 net.l2wg1.Manager | grep -E '^\.CreateTunnel +method +sa\{sv\}b +o' &&
   busctl --system introspect net.l2wg1 /net/l2wg1 net.l2wg1.Manager | grep -E '^\.ListTunnels +method +- +a\(so\)'"
check "ObjectManager is on /net/l2wg1" busctl --system call net.l2wg1 /net/l2wg1 \
  org.freedesktop.DBus.ObjectManager GetManagedObjects
for p in "Name s" "State s" "StateReason s" "WireGuard s" "PeerPublicKey s" "LocalAddress s" \
  "RemoteAddress s" "Interface s" "Bridge s" "Datapath s" "MTU u" "PeerEndpoint s" \
  "LastHandshake t" "DelegatedPrefixes a(stt)" "LANPrefixes a(ss)" "UpstreamRouter s" "Persistent b" \
  "GREKey s" "MACAddress s" "MSSClamp u"; do
  set -- $p
  check "property $1 has type $2" has_type "$1" "$2"
done
check "Version property" bash -c "busctl --system get-property net.l2wg1 /net/l2wg1 net.l2wg1.Manager Version | grep -q '^s \"'"
check "l2wg show --json parses and names the tunnel" bash -c \
  "[ \"\$($L2WG show lab --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"Name\"], d[\"Bridge\"], d[\"State\"])')\" = 'lab br-wan up' ]"
check "l2wg list shows it" bash -c "$L2WG list | grep -q lab"
# What `show` adds: the tap's MAC, the GRE key, the MSS clamp, and the datapath's counters.
"$L2WG" show lab --json >"$WORKDIR/show-lab.json"
LAB_MAC=$(ip -n "$LAB" -j link show l2-lab | json_get '[0]["address"]')
check "show --json: MACAddress is the tap's, no GRE key, the MSS clamped (userspace, MTU auto)" \
  python3 -c "
import json; d = json.load(open('$WORKDIR/show-lab.json'))
assert d['MACAddress'] == '$LAB_MAC' and d['GREKey'] == '' and d['MSSClamp'] > 1280, d"
frames_out() { "$L2WG" show lab --json | json_get '["Statistics"]["FramesOut"]'; }
sent_before=$(frames_out)
# Multicast into br-wan floods to the tap: each ping is a frame into GRE.
ip netns exec "$LAB" ping -6 -c 5 -i 0.2 -W 1 ff02::1%uplink-peer >/dev/null 2>&1 || true
sent_after=$(frames_out)
check "the counters count the frames flooded into the tunnel ($sent_before, then $sent_after)" \
  test $((sent_after - sent_before)) -ge 5
check "l2wg show prints MAC, GRE key, MSS clamp and counters" bash -c \
  "$L2WG show lab | grep -E '^  (MAC address: +$LAB_MAC|GRE key: +none|MSS clamp: +TCP SYNs fitted|Sent: +[0-9]+ frames|Dropped: )' | wc -l | grep -qx 5"
check "no l2wgd at the far end: the path is unverified" test "$(prop lab Path)" = 's "unverified"'
check "and no peer MAC is known" test "$(prop lab PeerMACAddress)" = 's ""' 
# doctor's host checks (Tunnel.Diagnose), each staged and undone: a clean host says nothing.
check "doctor: nothing wrong on a clean host" "$L2WG" doctor lab
ip -n "$LAB" link set br-wan mtu 1400
check_fails "doctor: a bridge MTU below the tap's, with the fix" "ip link set br-wan mtu 1500" \
  "$L2WG" doctor lab
ip -n "$LAB" link set br-wan mtu 1500
ip netns exec "$LAB" sysctl -qw "net.ipv4.conf.$WGL.rp_filter=1"
ip -n "$LAB" route add 10.0.31.10/32 dev uplink-peer
check_fails "doctor: strict rp_filter with the route back to the peer elsewhere" \
  "on $WGL drops GRE from 10.0.31.10: the route back to it leaves by uplink-peer" \
  "$L2WG" doctor lab
ip netns exec "$LAB" sysctl -qw "net.ipv4.conf.$WGL.rp_filter=2"
check "doctor: with a loose rp_filter, a warning only (exit 0)" bash -c \
  "$L2WG doctor lab --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"OK\"] and [f[\"Code\"] for f in d[\"Tunnels\"][0][\"Findings\"] if f[\"Severity\"] != \"info\"] == [\"asymmetric-route\"], d'"
ip -n "$LAB" route del 10.0.31.10/32 dev uplink-peer
ip netns exec "$LAB" sysctl -qw "net.ipv4.conf.$WGL.rp_filter=0"
check "doctor: clean again" "$L2WG" doctor lab
check "anyone may ask for the diagnosis" nobody busctl --system call net.l2wg1 \
  /net/l2wg1/tunnel/lab net.l2wg1.Tunnel Diagnose
check "anyone may read the counters" nobody busctl --system call net.l2wg1 /net/l2wg1/tunnel/lab \
  net.l2wg1.Tunnel GetStatistics

# Its tap taken out of the bridge (a bridge-family RTM_DELLINK): degraded, naming the bridge, the
# tap never recreated; back in the bridge, up again.
reason_has() { [[ "$(prop "$1" StateReason)" == *"$2"* ]]; }
ifindex_of() { ip -n "$LAB" -o link show "$1" | cut -d: -f1; }
lab_ifindex=$(ifindex_of l2-lab)
ip -n "$LAB" link set l2-lab nomaster
check "a tap taken out of its bridge makes the tunnel degraded" wait_for 5 state_is lab degraded
check "its StateReason says it left br-wan" reason_has lab "l2-lab left the bridge br-wan"
check "the tap was not recreated" test "$(ifindex_of l2-lab)" = "$lab_ifindex"
ip -n "$LAB" link set l2-lab master br-wan
check "put back into br-wan, it is up again" wait_for 5 state_is lab up
# Its bridge deleted and made again: the tap joins the new one by itself.
"$L2WG" up brx --wg "$WGL" --peer 10.0.31.10 --key 5 --bridge br-x --create-bridge >/dev/null
handshake
wait_for 15 state_is brx up
brx_ifindex=$(ifindex_of l2-brx)
ip -n "$LAB" link del br-x
check "its bridge deleted, the tunnel is degraded" wait_for 5 state_is brx degraded
check "its StateReason says br-x was deleted" reason_has brx "bridge br-x was deleted"
ip -n "$LAB" link add br-x type bridge
check "the bridge made again, the tap joins it" wait_for 5 link_has "$LAB" l2-brx 'master br-x'
check "and the tunnel is up" wait_for 5 state_is brx up
check "the tap was never recreated" test "$(ifindex_of l2-brx)" = "$brx_ifindex"
"$L2WG" down brx
check "a bridge someone else made again stays after l2wg down" ip -n "$LAB" link show br-x
ip -n "$LAB" link del br-x
check "l2wg down removes it" "$L2WG" down lab
check "monitor saw the tunnel added" wait_for 5 monitored '"Event":"added".*"Tunnel":"lab"'
check "monitor saw it removed" wait_for 5 monitored '"Event":"removed".*"Tunnel":"lab"'
check "every monitor line is one JSON object" python3 -c "
import json, sys
for line in open('$WORKDIR/monitor.log'):
    json.loads(line)"
check "namespace exactly as before after l2wg down" unchanged

# --- doctor ------------------------------------------------------------------------------------
check "a tunnel whose WireGuard interface does not exist yet is accepted, waiting" \
  "$L2WG" up ghost --wg wgnothere --peer 10.0.31.10
check "it waits for the interface" state_is ghost waiting-for-peer
check_fails "l2wg doctor explains it and exits 1" "wgnothere" "$L2WG" doctor ghost
check "doctor --json is one JSON document" bash -c "$L2WG doctor ghost --json | python3 -c 'import json,sys; json.load(sys.stdin)'"
"$L2WG" down ghost
"$L2WG" up fine --wg "$WGL" --peer 10.0.31.10 >/dev/null
handshake
wait_for 15 state_is fine up
check "l2wg doctor finds nothing wrong with a healthy tunnel (exit 0)" "$L2WG" doctor fine
"$L2WG" down fine

# --- Policy ----------------------------------------------------------------------------------
"$L2WG" up pol --wg "$WGL" --peer 10.0.31.10 >/dev/null
check "an unprivileged caller reads properties" nobody busctl --system get-property net.l2wg1 /net/l2wg1/tunnel/pol net.l2wg1.Tunnel State
check "an unprivileged caller calls Describe" nobody busctl --system call net.l2wg1 /net/l2wg1/tunnel/pol net.l2wg1.Tunnel Describe
check "an unprivileged caller lists tunnels with l2wg" nobody "$L2WG" list
check_fails "an unprivileged caller gets AccessDenied for CreateTunnel" "Access denied" \
  nobody busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager CreateTunnel 'sa{sv}b' x 2 WireGuard s "$WGL" Peer s 10.0.31.10 false
check_fails "an unprivileged caller cannot delete" '^l2wg: permission denied: changing tunnels needs root or group l2wg$' nobody "$L2WG" down pol
# Every change says who asked for it, and a refusal why.
check "the log names who created a tunnel" grep -q 'pol: CreateTunnel: requested by uid 0 (:' "$WORKDIR/l2wgd.log"
check "the kernel's missing GRE is said once per tunnel" \
  bash -c "[ \$(grep -c 'l2-pol: the kernel has no GRE\|pol: .*the kernel has no GRE' $WORKDIR/l2wgd.log) -le 1 ]"
"$L2WG" down pol
check "the log says it was removed" grep -q 'pol: removed' "$WORKDIR/l2wgd.log"

# --- Bad input: a named error and nothing left behind -------------------------------------------
create() { busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager CreateTunnel 'sa{sv}b' "$@"; }
refused() {  # refused DESCRIPTION PATTERN CMD...
  local what=$1 pattern=$2
  shift 2
  check_fails "$what" "$pattern" "$@"
  check "$what: nothing left behind" unchanged
  check "$what: no tunnel object left" bash -c "[ \"\$(busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager ListTunnels)\" = 'a(so) 0' ]"
}
refused "unknown key" "Foo" create bad 3 WireGuard s "$WGL" Peer s 10.0.31.10 Foo s bar false
refused "wrong variant type" "Peer: expected type s" create bad 2 WireGuard s "$WGL" Peer u 5 false
refused "bad name" "name" create 'bad/name' 2 WireGuard s "$WGL" Peer s 10.0.31.10 false
refused "name over 12 characters" "name" create abcdefghijklm 2 WireGuard s "$WGL" Peer s 10.0.31.10 false
refused "both Bridge and PrefixDelegation" "exclusive" \
  create bad 4 WireGuard s "$WGL" Peer s 10.0.31.10 Bridge s br-wan LAN as 1 eth0 false
refused "a peer outside every allowed IP" "no peer of $WGL has 10.0.31.99" \
  create bad 2 WireGuard s "$WGL" Peer s 10.0.31.99 false
refused "a bridge that is not a bridge" "not a bridge" \
  create bad 3 WireGuard s "$WGL" Peer s 10.0.31.10 Bridge s "ve-$TAG-a" false
"$L2WG" up dup --wg "$WGL" --peer 10.0.31.10 >/dev/null
check_fails "a duplicate name" "already exists" create dup 2 WireGuard s "$WGL" Peer s 10.0.31.10 false
check_fails "l2wg reports a refusal with exit status 1" "^l2wg: " "$L2WG" up dup --wg "$WGL" --peer 10.0.31.10
check "exit status is 1 for a refusal" bash -c "$L2WG up dup --wg $WGL --peer 10.0.31.10; [ \$? -eq 1 ]"
check "exit status is 2 for a usage error" bash -c "$L2WG up x --create-bridge; [ \$? -eq 2 ]"
check "the log says whose request was refused, and why" \
  grep -q 'dup: CreateTunnel: refused for uid 0 (:.*a tunnel named dup already exists' "$WORKDIR/l2wgd.log"
check_fails "Renew of a tunnel not in routed mode answers NotSupported" \
  '^Error net\.l2wg1\.Error\.NotSupported: dup is not in routed mode' \
  dbus-send --system --print-reply --dest=net.l2wg1 /net/l2wg1/tunnel/dup net.l2wg1.Tunnel.Renew
check "l2wg release of it exits 1 with the daemon's sentence" bash -c \
  "out=\$($L2WG release dup 2>&1); [ \$? -eq 1 ] && [ \"\$out\" = 'l2wg: dup is not in routed mode ([PrefixDelegation])' ]"
# A second tunnel on the same GRE flow (WireGuard interface, peer, GRE key) would duplicate every
# frame: refused, naming the tunnel that carries it, whichever way the peer is named.
dup_key=$(ip netns exec "$LAB" wg show "$WGL" peers | head -1)
refused_again() { check_fails "$1" "tunnel dup already carries GRE" "${@:2}"; check "$1: no tap" bash -c "! ip -n $LAB link show l2-dup2 2>/dev/null"; }
refused_again "the same peer and no key again" "$L2WG" up dup2 --wg "$WGL" --peer 10.0.31.10
refused_again "the same peer named by its key" "$L2WG" up dup2 --wg "$WGL" --peer "$dup_key"
check "the same peer with a GRE key of its own is another flow" "$L2WG" up dup2 --wg "$WGL" --peer 10.0.31.10 --key 9
"$L2WG" up dup3 --wg "$WGL" --peer 10.0.31.10 --key 10 >/dev/null
"$L2WG" up dup4 --wg "$WGL" --peer 10.0.31.10 --key 11 >/dev/null
check "four tunnels to one peer have four MACs" bash -c \
  "[ \$(for t in dup dup2 dup3 dup4; do ip -n $LAB -o link show l2-\$t | grep -o 'link/ether [0-9a-f:]*'; done | sort -u | wc -l) -eq 4 ]"
for t in dup dup2 dup3 dup4; do "$L2WG" down "$t"; done

# --- Routed mode from the first second: shown as routed, and what it waits for -------------------
ip -n "$LAB" link add lan-x type bridge
ip -n "$LAB" link set lan-x up
check "a routed tunnel with no DHCPv6 server behind it" \
  "$L2WG" up rt --wg "$WGL" --peer 10.0.31.10 --key 21 --pd --lan lan-x
check "l2wg list shows it routed before any prefix" bash -c "$L2WG list | grep -E '^rt .*routed, no prefix'"
check "l2wg show has its prefix and upstream router lines" bash -c \
  "$L2WG show rt | grep -E 'Delegated prefix.*\(none\)' && $L2WG show rt | grep -E 'Upstream router.*\(none seen\)'"
handshake
wait_for 15 state_is rt up
check_fails "l2wg doctor says it waits for a prefix (exit 1)" "no prefix is delegated" "$L2WG" doctor rt
"$L2WG" down rt
ip -n "$LAB" link del lan-x

# --- Config files, SIGHUP and Reload ----------------------------------------------------------
cat >"$WORKDIR/etc/cfg.conf" <<CONF
[Tunnel]
WireGuard=$WGL
Peer=10.0.31.10
Key=77

[Bridge]
Bridge=br-wan
CONF
printf '[Tunnel]\nWireGuard=%s\nPeer 10.0.31.10\n' "$WGL" >"$WORKDIR/etc/broken.conf"
kill -HUP "$DAEMON_PID"
check "a config file creates its tunnel on SIGHUP" wait_for 10 link_has "$LAB" l2-cfg 'master br-wan'
check "a config file with a syntax error is reported with file and line" \
  grep -q 'broken.conf:3' "$WORKDIR/l2wgd.log"
check_fails "Reload reports the broken file, having applied the others" "broken.conf:3" \
  busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager Reload
check "a tunnel from a file is Persistent" bash -c "[ \"\$(busctl --system get-property net.l2wg1 /net/l2wg1/tunnel/cfg net.l2wg1.Tunnel Persistent)\" = 'b true' ]"
rm "$WORKDIR/etc/cfg.conf" "$WORKDIR/etc/broken.conf"
busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager Reload
check "removing the file and reloading deletes the tunnel" unchanged

# --- persist and a restart ---------------------------------------------------------------------
check "l2wg up --persist" "$L2WG" up keep --wg "$WGL" --peer 10.0.31.10 --bridge br-wan --persist
check "persist wrote keep.conf" grep -q "WireGuard=$WGL" "$WORKDIR/etc/keep.conf"
ifindex=$(ip -n "$LAB" -o link show l2-keep | cut -d: -f1)
"$L2WG" up eph --wg "$WGL" --peer 10.0.31.10 --key 2 >/dev/null
eph_ifindex=$(ip -n "$LAB" -o link show l2-eph | cut -d: -f1)
stop_pid "$DAEMON_PID"
check "monitor saw the daemon go away" wait_for 5 monitored '"Event":"daemon-gone"'
check "SIGTERM leaves the tap in place" link_has "$LAB" l2-keep 'master br-wan'
start_daemon "$LAB"
check "monitor saw the daemon come back" wait_for 5 monitored '"Event":"daemon-back"'
check "after a restart the tunnel is back" wait_for 10 state_is keep up
check "the tap was adopted, not recreated" test "$(ip -n "$LAB" -o link show l2-keep | cut -d: -f1)" = "$ifindex"
check "a tunnel created without --persist is restored too" wait_for 10 state_is eph up
# Across the restart monitor tells the truth: no tunnel was removed, and the restored ones are added.
added_keep() { [ "$(grep -c '"Event":"added".*"Tunnel":"keep"' "$WORKDIR/monitor.log")" -eq 2 ]; }
check "monitor reported no tunnel removed when l2wgd stopped" bash -c \
  "! grep -Eq '\"Event\":\"removed\".*\"Tunnel\":\"(keep|eph)\"' $WORKDIR/monitor.log"
check "monitor saw keep added again when l2wgd came back" wait_for 5 added_keep
check "and its tap adopted" test "$(ip -n "$LAB" -o link show l2-eph | cut -d: -f1)" = "$eph_ifindex"
"$L2WG" down eph

# A second l2wgd on the same bus and directories: it fails on the bus name before touching a tunnel.
snapshot "$LAB" >"$WORKDIR/before-second"
check_fails "a second l2wgd exits, saying another one runs" "is another l2wgd running" \
  timeout 10 ip netns exec "$LAB" "$L2WG_BUILD_DIR/daemon/l2wgd" --config-dir "$WORKDIR/etc" \
  --state-dir "$WORKDIR/state"
same_as() { snapshot "$LAB" | diff -u "$1" -; }
check "and changed nothing" same_as "$WORKDIR/before-second"
check "the first one still answers" state_is keep up

# --- kill -9 and adoption, traffic after --------------------------------------------------------
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
start_daemon "$LAB"
check "after kill -9 the tap is adopted again" test "$(ip -n "$LAB" -o link show l2-keep | cut -d: -f1)" = "$ifindex"
check "no second tap appeared" bash -c "[ \$(ip -n $LAB -o link show | grep -c l2-) -eq 1 ]"
ip -n "$LAB" addr add 198.51.100.1/24 dev br-wan
bg_in "$DORM" "$WORKDIR/dorm-plumb.log" "$L2WG_BUILD_DIR/examples/l2wg-plumb" --wg "$WGD" --peer 10.0.31.1 --interface l2-dorm
wait_for 10 grep -q '^{' "$WORKDIR/dorm-plumb.log"
DORM_PLUMB=$BG_PID
ip -n "$DORM" addr add 198.51.100.2/24 dev l2-dorm
check "traffic crosses the adopted tunnel" ip netns exec "$DORM" ping -c 3 -i 0.2 -W 2 198.51.100.1
stop_pid "$DORM_PLUMB"
ip -n "$LAB" addr del 198.51.100.1/24 dev br-wan

# --- The WireGuard interface deleted and recreated -------------------------------------------------
wg_pid=${_l2wg_pids[0]}  # wireguard-go of the lab side (first started)
ip netns exec "$LAB" wg showconf "$WGL" >"$WORKDIR/wgl.conf"
stop_pid "$wg_pid"
check "with the WireGuard interface gone the tunnel waits" wait_for 10 state_is keep waiting-for-peer
check "monitor saw that state change (PropertiesChanged)" \
  wait_for 5 monitored '"Event":"state".*"State":"waiting-for-peer".*"Tunnel":"keep"'
wg_link "$LAB" "$WGL"
ip netns exec "$LAB" wg setconf "$WGL" "$WORKDIR/wgl.conf"
ip -n "$LAB" addr add 10.0.31.1/24 dev "$WGL"
ip -n "$LAB" link set "$WGL" up
handshake || handshake
check "the tunnel returns to up by itself" wait_for 20 state_is keep up
check "monitor saw it return to up" \
  wait_for 5 monitored '"Event":"state".*"State":"up".*"Tunnel":"keep"'
stop_pid "$MONITOR_PID"
# l2wg down stops a tunnel that has a file (kept, as wg-quick down or nmcli con down keep it), until
# l2wg up NAME, also across a daemon restart; l2wg delete removes tunnel and file.
check "l2wg down of a tunnel with a file stops it" "$L2WG" down keep
check "it is stopped" state_is keep stopped
check "its tap is gone" bash -c "! ip -n $LAB link show l2-keep 2>/dev/null"
check "keep.conf stays" test -e "$WORKDIR/etc/keep.conf"
stop_pid "$DAEMON_PID"
start_daemon "$LAB"
check "a daemon restart leaves it stopped" state_is keep stopped
check "and builds nothing" bash -c "! ip -n $LAB link show l2-keep 2>/dev/null"
check "l2wg up keep starts it from its file" "$L2WG" up keep
check "its tap is back in br-wan" wait_for 5 link_has "$LAB" l2-keep 'master br-wan'
check "l2wg delete removes it" "$L2WG" delete keep
check "and keep.conf" test ! -e "$WORKDIR/etc/keep.conf"

# --- 100 tunnels created and deleted: no leaks ---------------------------------------------------
# One tunnel first: the userspace datapath opens its workers' wakeup fds on first use, once.
create warm 2 WireGuard s "$WGL" Peer s 10.0.31.10 false >/dev/null
"$L2WG" down warm
fds_before=$(ls "/proc/$DAEMON_PID/fd" | wc -l)
snapshot "$LAB" >"$WORKDIR/before"
for i in $(seq 100); do
  create "t$i" 5 WireGuard s "$WGL" Peer s 10.0.31.10 Key u "$i" Interface s "l2-t$i" Bridge s br-wan false >/dev/null
done
check "100 tunnels exist" bash -c "[ \$(ip -n $LAB -o link show master br-wan | grep -c l2-t) -eq 100 ]"
for i in $(seq 100); do "$L2WG" down "t$i"; done
check "after deleting 100 tunnels no kernel object is left" unchanged
check "and no file descriptor leaked" test "$(ls "/proc/$DAEMON_PID/fd" | wc -l)" -eq "$fds_before"
check "and no state record is left" bash -c "[ -z \"\$(ls -A $WORKDIR/state/tunnels)\" ]"

# --- Every error of a config file at once ------------------------------------------------------
printf '[Tunnel]\nWireGuard=%s\nPeer=10.0.31.10\nKey=abc\nDatapath=fast\n\nColour=blue\n' "$WGL" \
  >"$WORKDIR/etc/three.conf"
printf '[Tunnel]\nWireGuard=%s\nPeer=10.0.31.10\nKey=78\n' "$WGL" >"$WORKDIR/etc/rld.conf"
reload_status=0
busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager Reload >"$WORKDIR/reload.out" 2>&1 ||
  reload_status=$?
check "Reload with a file of three bad lines fails" test "$reload_status" -ne 0
names_every_bad_line() {
  grep -q 'three.conf:4: Key=abc' "$1" && grep -q 'three.conf:5: Datapath=fast' "$1" &&
    grep -q 'three.conf:7: unknown key Colour=' "$1"
}
check "its answer names every bad line of the file" names_every_bad_line "$WORKDIR/reload.out"
check "so does the log" names_every_bad_line "$WORKDIR/l2wgd.log"
check "the good file's tunnel was created" wait_for 5 link_has "$LAB" l2-rld ''
rm "$WORKDIR/etc/three.conf" "$WORKDIR/etc/rld.conf"
busctl --system call net.l2wg1 /net/l2wg1 net.l2wg1.Manager Reload
check "with the files gone and reloaded, the namespace is as before" unchanged

# --- The command line a new user expects -------------------------------------------------------
# exits_with STATUS TEXT CMD...: CMD exits with STATUS, printing exactly TEXT (stdout and stderr).
exits_with() {
  local status=$1 text=$2 out
  shift 2
  out=$("$@" 2>&1)
  local got=$?
  [ "$got" -eq "$status" ] && [ "$out" = "$text" ] || { echo "exit $got: $out"; return 1; }
}
denied='l2wg: permission denied: changing tunnels needs root or group l2wg'
"$L2WG" up rst --wg "$WGL" --peer 10.0.31.10 >/dev/null
check "l2wg alone lists the tunnels" bash -c "$L2WG | grep -qw rst"
check "l2wg --version names the daemon's version too" bash -c "$L2WG --version | grep -q '^l2wgd '"
check "a mistyped subcommand is a usage error naming the nearest" exits_with 2 \
  $'l2wg: unknown command "lsit"; did you mean list?\nRun \'l2wg --help\' for usage.' "$L2WG" lsit
check "l2wg --help lists the exit statuses" bash -c "$L2WG --help | grep -q '3 l2wgd cannot be reached'"
check "an unprivileged l2wg restart is denied" exits_with 1 "$denied" nobody "$L2WG" restart rst
check "an unprivileged l2wg reload too" exits_with 1 "$denied" nobody "$L2WG" reload
rst_ifindex=$(ifindex_of l2-rst)
check "l2wg restart rebuilds the tunnel" "$L2WG" restart rst
check "l2wgd rebuilt it on request" grep -q 'rst: rebuilding: restart requested' "$WORKDIR/l2wgd.log"
check "with a new tap" test "$(ifindex_of l2-rst)" != "$rst_ifindex"
check "which comes back up" wait_for 15 state_is rst up
"$L2WG" down rst
printf '[Tunnel]\nWireGuard=%s\n' "$WGL" >"$WORKDIR/etc/nopeer.conf"
check_fails "l2wg reload reports a broken file" "^l2wg: the other files were applied, but: nopeer.conf:" \
  "$L2WG" reload
check "with exit status 1" bash -c "$L2WG reload 2>/dev/null; [ \$? -eq 1 ]"
rm "$WORKDIR/etc/nopeer.conf"
check "l2wg reload of a good directory exits 0" "$L2WG" reload

# --- Errors in the flags the user typed ----------------------------------------------------------
check_fails "a refused --mtu is named as the flag, with l2wgd's reason" \
  "^l2wg: --mtu 9000 does not fit: the WireGuard interface's MTU 1420 .*; use --mtu auto to fragment" \
  "$L2WG" up big --wg "$WGL" --peer 10.0.31.10 --mtu 9000
check "and exits 1" bash -c "$L2WG up big --wg $WGL --peer 10.0.31.10 --mtu 9000 2>/dev/null; [ \$? -eq 1 ]"
check "an --mtu out of range is a usage error naming the range" exits_with 2 \
  $'l2wg: --mtu: 100 is out of range (1280..65535)\nRun \'l2wg --help\' for usage.' \
  "$L2WG" up big --wg "$WGL" --peer 10.0.31.10 --mtu 100
check "and nothing was created" unchanged

stop_pid "$DAEMON_PID"
check_fails "without a daemon l2wg says so in one sentence" \
  '^l2wg: cannot reach l2wgd: nothing provides net.l2wg1 on the system bus' "$L2WG" list
check "and exits with status 3" bash -c "$L2WG list 2>/dev/null; [ \$? -eq 3 ]"
check "with no bus at all too" bash -c \
  "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent $L2WG show lab 2>/dev/null; [ \$? -eq 3 ]"
finish
