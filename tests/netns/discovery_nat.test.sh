#!/usr/bin/env bash
# Endpoint discovery through a registry peer (WGIF.discovery; wgsd's DNS-SD records). A registry
# on the "internet" (203.0.113.10) and two dorms, each behind an nftables masquerade NAT in its own
# namespace, each with only the registry as a configured endpoint; every side runs its own l2wgd
# on its own bus, over wireguard-go. Shown:
#   - the registry answers dig and dnspython over WireGuard with exactly wgsd's records (PTR, SRV
#     with A in additional, A, TXT, NXDOMAIN with SOA, REFUSED for another zone), and nothing to
#     a query from outside its WireGuard interface;
#   - each dorm learns the other's NAT mapping, sets it with persistent keepalive, and the two
#     handshake directly: a ping between them does not cross the registry; a gretap between them
#     (l2wg tunnel, userspace datapath) carries frames;
#   - an endpoint set by hand is left alone though the registry knows another;
#   - the status in STATE_DIR/discovery/WGIF.json, l2wg show and l2wg discovery ("endpoint E
#     from registry R, N s ago");
#   - the registry's l2wgd restarted: answers again; a NAT mapping change (dorm a's NAT gets
#     another public address): the registry sees it, dorm b re-resolves and both talk again;
#   - malformed DNS, another zone and a flood: counted, l2wgd alive and answering.
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
need nft dig wg jq conntrack
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import dns.message' ||
  { echo "FAIL: python3-dnspython is missing (scripts/deps.sh)"; exit 1; }

L2WGD="$L2WG_BUILD_DIR/daemon/l2wgd"
L2WG_CLI="$L2WG_BUILD_DIR/cli/l2wg"
NS_NET=ndnet-$TAG NS_REG=ndreg-$TAG
NS_NATA=ndnata-$TAG NS_NATB=ndnatb-$TAG NS_A=nda-$TAG NS_B=ndb-$TAG
WGR=ndr$TAG WGA=nda$TAG WGB=ndb$TAG
ZONE=example.com
for ns in "$NS_NET" "$NS_REG" "$NS_NATA" "$NS_NATB" "$NS_A" "$NS_B"; do ns_add "$ns"; done

# The internet: one bridge, the registry and both NATs' WAN sides on 203.0.113.0/24.
ip -n "$NS_NET" link add inet type bridge
ip -n "$NS_NET" link set inet up
wan() {  # wan NS ADDRESS NAME
  ip link add "nd$3-$TAG" netns "$NS_NET" type veth peer name wan netns "$1"
  ip -n "$NS_NET" link set "nd$3-$TAG" master inet up
  ip -n "$1" addr add "$2/24" dev wan
  ip -n "$1" link set wan up
}
wan "$NS_REG" 203.0.113.10 r
wan "$NS_NATA" 203.0.113.1 a
wan "$NS_NATB" 203.0.113.2 b
# Each dorm behind its NAT: LAN 192.0.2.0/25 (a) and 192.0.2.128/25 (b), masquerade on the WAN.
nat() {  # nat NAT_NS DORM_NS NAT_ADDR DORM_ADDR
  ip link add lan netns "$1" type veth peer name nat0 netns "$2"
  ip -n "$1" addr add "$3/25" dev lan
  ip -n "$2" addr add "$4/25" dev nat0
  ip -n "$1" link set lan up
  ip -n "$2" link set nat0 up
  ip -n "$2" route add default via "$3"
  ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$1" nft -f - <<'EOF'
table ip nat {
  chain postrouting { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
}
table ip filter {
  chain forward { type filter hook forward priority 0; policy drop;
    ct state established,related accept; iifname "lan" accept; }
  # As a home router's firewall: nothing unsolicited reaches the NAT itself, so a peer's early
  # packet leaves no conntrack entry that would make the NAT pick another port for ours.
  chain input { type filter hook input priority 0; policy drop;
    ct state established,related accept; iifname { "lan", "lo" } accept; }
}
EOF
}
nat "$NS_NATA" "$NS_A" 192.0.2.1 192.0.2.2
nat "$NS_NATB" "$NS_B" 192.0.2.129 192.0.2.130

# WireGuard: the registry knows both dorms without endpoints; each dorm knows the registry's
# public endpoint and the other dorm's key alone. Inner 198.51.100.0/24.
wg_link "$NS_REG" "$WGR"
wg_link "$NS_A" "$WGA"
wg_link "$NS_B" "$WGB"
KR=$(wg genkey) KA=$(wg genkey) KB=$(wg genkey)
PR=$(wg pubkey <<<"$KR") PA=$(wg pubkey <<<"$KA") PB=$(wg pubkey <<<"$KB")
ip netns exec "$NS_REG" wg set "$WGR" listen-port 51820 private-key <(echo "$KR") \
  peer "$PA" allowed-ips 198.51.100.2/32 peer "$PB" allowed-ips 198.51.100.3/32
ip netns exec "$NS_A" wg set "$WGA" listen-port 51820 private-key <(echo "$KA") \
  peer "$PR" endpoint 203.0.113.10:51820 allowed-ips 198.51.100.1/32 \
  peer "$PB" allowed-ips 198.51.100.3/32
ip netns exec "$NS_B" wg set "$WGB" listen-port 51820 private-key <(echo "$KB") \
  peer "$PR" endpoint 203.0.113.10:51820 allowed-ips 198.51.100.1/32 \
  peer "$PA" allowed-ips 198.51.100.2/32
# A third peer C that dorm a's administrator gave an endpoint by hand, and that the registry
# knows elsewhere: discovery must leave it alone (no Override=).
PC=$(wg pubkey <<<"$(wg genkey)")
ip netns exec "$NS_REG" wg set "$WGR" peer "$PC" endpoint 203.0.113.99:51820 allowed-ips 198.51.100.4/32
ip netns exec "$NS_A" wg set "$WGA" peer "$PC" endpoint 192.0.2.99:51820 allowed-ips 198.51.100.4/32
for x in "$NS_REG $WGR 198.51.100.1" "$NS_A $WGA 198.51.100.2" "$NS_B $WGB 198.51.100.3"; do
  set -- $x
  ip -n "$1" addr add "$3/24" dev "$2"
  ip -n "$1" link set "$2" up
done

# ---- one l2wgd per side, each on its own bus -------------------------------------------------
declare -A NS_OF=([reg]=$NS_REG [a]=$NS_A [b]=$NS_B) DAEMON_PID=() RUNS=()
bus_of() { echo "unix:path=$WORKDIR/$1/bus"; }
on_bus() {
  [ "$(DBUS_SYSTEM_BUS_ADDRESS=$(bus_of "$1") busctl --system call org.freedesktop.DBus \
    /org/freedesktop/DBus org.freedesktop.DBus GetConnectionUnixProcessID s net.l2wg1 \
    2>/dev/null)" = "u $2" ]
}
daemon_start() {  # daemon_start SIDE
  local side=$1 dir=$WORKDIR/$1
  if [ ! -S "$dir/bus" ]; then
    mkdir -p "$dir/etc" "$dir/state"
    sed -e "s|@SOCKET@|$dir/bus|" -e "s|@POLICY@|$L2WG_SOURCE_DIR/dbus/net.l2wg1.conf|" \
      "$L2WG_SOURCE_DIR/tests/lib/system-bus.conf.in" >"$dir/bus.conf"
    dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile >"$WORKDIR/dbus-$side.log" 2>&1 &
    register_pid "$!"
    wait_for 10 test -S "$dir/bus"
  fi
  RUNS[$side]=$((${RUNS[$side]:-0} + 1))
  bg_in "${NS_OF[$side]}" "$WORKDIR/l2wgd-$side-${RUNS[$side]}.log" \
    env DBUS_SYSTEM_BUS_ADDRESS="$(bus_of "$side")" "$L2WGD" \
    --config-dir "$dir/etc" --state-dir "$dir/state" --log-level debug
  DAEMON_PID[$side]=$BG_PID
  wait_for 20 on_bus "$side" "$BG_PID" || { echo "l2wgd ($side) did not start"; return 1; }
}
log_of() { echo "$WORKDIR/l2wgd-$1-${RUNS[$1]}.log"; }
cli() { local side=$1; shift; DBUS_SYSTEM_BUS_ADDRESS=$(bus_of "$side") "$L2WG_CLI" "$@"; }
status() { cat "$WORKDIR/$1/state/discovery/$2.json"; }  # status SIDE WGIF

mkdir -p "$WORKDIR"/{reg,a,b}/etc
for side in a b; do
  wgif=$WGA
  [ $side = a ] || wgif=$WGB
  cat >"$WORKDIR/$side/etc/$wgif.discovery" <<EOF
[Client]
Registry=198.51.100.1
Zone=$ZONE
PersistentKeepalive=2
Interval=10
EOF
done
daemon_start reg
daemon_start a
daemon_start b
# The registry over D-Bus (Manager.SetDiscovery), the dorms from their files.
check "l2wg registry makes the registry" cli reg registry "$WGR" --zone "$ZONE"
check "and writes its file" grep -qx "Zone=$ZONE" "$WORKDIR/reg/etc/$WGR.discovery"
check_fails "a bad setting is refused, naming it" "Registry=nowhere: not an IP address" \
  cli a discover "$WGA" --registry nowhere --zone "$ZONE"
check "and changes nothing" grep -qx "Registry=198.51.100.1" "$WORKDIR/a/etc/$WGA.discovery"

# ---- the registry's records, as dig and dnspython read them ---------------------------------
check "the registry answers on its inner address" \
  wait_for 10 grep -q "registry answers DNS for $ZONE on 198.51.100.1:53" "$(log_of reg)"
check "both dorms reach the registry" wait_for 20 bash -c \
  "ip netns exec $NS_REG wg show $WGR endpoints | grep -cE '203\.0\.113\.[12]:' | grep -qx 2"
text_is() {  # text_is FILE EXPECTED: the same lines in any order, whitespace runs as one space
  diff <(tr -s ' \t' ' ' <"$1" | sort) <(tr -s ' \t' ' ' <<<"$2" | sort)
}
b32() { base64 -d <<<"$1" | base32 | tr 'A-Z' 'a-z'; }
NAME_A=$(b32 "$PA")._wireguard._udp.$ZONE NAME_B=$(b32 "$PB")._wireguard._udp.$ZONE
NAME_C=$(b32 "$PC")._wireguard._udp.$ZONE
ep_on_registry() { ip netns exec "$NS_REG" wg show "$WGR" endpoints | awk -v k="$1" '$1 == k {print $2}'; }
EP_A=$(ep_on_registry "$PA") EP_B=$(ep_on_registry "$PB")
dig_a() { ip netns exec "$NS_A" dig +time=2 +tries=1 @198.51.100.1 "$@"; }
ptr_lists_both() {  # the registry reads its device at most once a second: allow for that
  dig_a +noall +answer "_wireguard._udp.$ZONE" PTR >"$WORKDIR/ptr.txt"
  text_is "$WORKDIR/ptr.txt" \
    "$(printf '_wireguard._udp.%s. 0 IN PTR %s.\n' "$ZONE" "$NAME_A" "$ZONE" "$NAME_B" \
      "$ZONE" "$NAME_C")"
}
check "PTR lists every peer with an endpoint (both dorms and C), TTL 0" wait_for 5 ptr_lists_both
dig_a +noall +answer +additional "$NAME_B" SRV >"$WORKDIR/srv.txt"
check "SRV of dorm b: its NAT mapping's port, target itself, A in additional" text_is \
  "$WORKDIR/srv.txt" "$(printf '%s. 0 IN SRV 0 0 %s %s.\n%s. 0 IN A %s' \
  "$NAME_B" "${EP_B#*:}" "$NAME_B" "$NAME_B" "${EP_B%:*}")"
check "TXT of dorm b" test "$(dig_a +short "$NAME_B" TXT)" = \
  "\"txtvers=1\" \"pub=$PB\" \"allowed=198.51.100.3/32\""
check "an unknown name is NXDOMAIN with the SOA" bash -c \
  "ip netns exec $NS_A dig @198.51.100.1 nobody._wireguard._udp.$ZONE SRV | grep -q 'status: NXDOMAIN' &&
   ip netns exec $NS_A dig +noall +authority @198.51.100.1 nobody._wireguard._udp.$ZONE SRV | grep -q SOA"
check "another zone is REFUSED" bash -c \
  "ip netns exec $NS_A dig @198.51.100.1 www.example.org A | grep -q 'status: REFUSED'"
check "TCP answers too" test "$(dig_a +tcp +short "$NAME_A" A)" = "${EP_A%:*}"
cat >"$WORKDIR/dnspython.py" <<'EOF'
import sys, dns.flags, dns.message, dns.query, dns.rdatatype
zone, name_a, ep_a, name_b, ep_b, name_c = sys.argv[1:]
def ask(name, rdtype):
    return dns.query.udp(dns.message.make_query(name, rdtype), "198.51.100.1", timeout=2)
ptr = ask(f"_wireguard._udp.{zone}.", "PTR")
assert ptr.flags & dns.flags.AA, ptr
assert sorted(str(r) for rr in ptr.answer for r in rr) == sorted([name_a + ".", name_b + ".", name_c + "."]), ptr
for name, ep in ((name_a, ep_a), (name_b, ep_b)):
    srv = ask(name + ".", "SRV")  # as wgsd-client asks (its names are upper case)
    assert len(srv.answer) == 1 and len(srv.answer[0]) == 1, srv
    rr = srv.answer[0][0]
    assert (rr.priority, rr.weight, rr.port, str(rr.target)) == (0, 0, int(ep.split(":")[1]), name + "."), srv
    assert srv.answer[0].ttl == 0
    assert [str(r) for rrset in srv.additional for r in rrset] == [ep.split(":")[0]], srv
    upper = ask(name.split(".")[0].upper() + "." + name.split(".", 1)[1] + ".", "SRV")
    assert upper.answer[0][0].port == rr.port, upper
print("dnspython: ok")
EOF
check "dnspython reads exactly wgsd's records" ip netns exec "$NS_A" /usr/bin/python3 \
  "$WORKDIR/dnspython.py" "$ZONE" "$NAME_A" "$EP_A" "$NAME_B" "$EP_B" "$NAME_C"
check "nothing answers from outside the WireGuard interface" bash -c \
  "! ip netns exec $NS_NATA dig +time=1 +tries=1 @203.0.113.10 _wireguard._udp.$ZONE PTR >/dev/null"
check "nor on the registry's inner address from its public side" bash -c \
  "ip -n $NS_NATA route add 198.51.100.1/32 via 203.0.113.10 dev wan &&
   ! ip netns exec $NS_NATA dig +time=1 +tries=1 @198.51.100.1 _wireguard._udp.$ZONE PTR >/dev/null"

# ---- the dorms find each other --------------------------------------------------------------
endpoint_of() { ip netns exec "$1" wg show "$2" endpoints | awk -v k="$3" '$1 == k {print $2}'; }
handshake_of() { ip netns exec "$1" wg show "$2" latest-handshakes | awk -v k="$3" '$1 == k {print $2}'; }
direct() { [ "$(handshake_of "$NS_A" "$WGA" "$PB")" -gt 0 ] && [ "$(handshake_of "$NS_B" "$WGB" "$PA")" -gt 0 ]; }
check "dorm a sets dorm b's endpoint from the registry" wait_for 30 bash -c \
  "ip netns exec $NS_A wg show $WGA endpoints | grep -q '^$PB[[:space:]]203.0.113.2:'"
check "dorm b sets dorm a's endpoint" wait_for 30 bash -c \
  "ip netns exec $NS_B wg show $WGB endpoints | grep -q '^$PA[[:space:]]203.0.113.1:'"
check "the dorms handshake directly" wait_for 40 direct
check "persistent keepalive is on towards the registry and the other dorm" bash -c \
  "ip netns exec $NS_A wg show $WGA persistent-keepalive | grep -c '[[:space:]]2\$' | grep -qx 2"
check "the log says where the endpoint came from" \
  grep -q "peer $PB: endpoint 203.0.113.2:[0-9]* from registry 198.51.100.1:53" "$(log_of a)"
check "the status file says it too" wait_for 5 bash -c \
  "jq -e '.Client.Peers[] | select(.PublicKey == \"$PB\") | .State == \"resolved\" and
     (.Summary | test(\"endpoint 203.0.113.2:[0-9]+ from registry 198.51.100.1:53\")) and .LearntAt > 0' \
     $WORKDIR/a/state/discovery/$WGA.json"
check "an endpoint set by hand stays" wait_for 10 bash -c \
  "jq -e '.Client.Peers[] | select(.PublicKey == \"$PC\") | .State == \"admin-endpoint\" and
     .Endpoint == \"203.0.113.99:51820\"' $WORKDIR/a/state/discovery/$WGA.json"
check "on the device too" test "$(endpoint_of "$NS_A" "$WGA" "$PC")" = 192.0.2.99:51820
reg_rx() { ip netns exec "$NS_REG" wg show "$WGR" transfer | awk -v k="$PA" '$1 == k {print $2}'; }
before=$(reg_rx)
check "a ping between the dorms" ip netns exec "$NS_A" ping -c 200 -i 0.01 -s 1000 -W 2 -q 198.51.100.3
check "does not cross the registry (< 40 kB of the 200 kB reached it)" \
  at_most "$(($(reg_rx) - before))" 40000

# A gretap between the dorms, bridged L2 (userspace datapath, as wireguard-go has no gretap).
cli a up nd --wg "$WGA" --peer 198.51.100.3 >/dev/null
cli b up nd --wg "$WGB" --peer 198.51.100.2 >/dev/null
tunnel_up() { [ "$(DBUS_SYSTEM_BUS_ADDRESS=$(bus_of "$1") busctl --system get-property net.l2wg1 \
  /net/l2wg1/tunnel/nd net.l2wg1.Tunnel State 2>/dev/null)" = 's "up"' ]; }
check "the tunnel is up in dorm a" wait_for 30 tunnel_up a
check "the tunnel is up in dorm b" wait_for 30 tunnel_up b
ip -n "$NS_A" addr add 198.18.0.1/24 dev l2-nd
ip -n "$NS_B" addr add 198.18.0.2/24 dev l2-nd
check "frames cross the gretap between the dorms" \
  wait_for 10 ip netns exec "$NS_A" ping -c 1 -W 1 198.18.0.2
check "the neighbour is learnt at layer 2" bash -c \
  "ip -n $NS_A neigh show 198.18.0.2 dev l2-nd | grep -q lladdr"
check "l2wg show tells where the peer's endpoint came from" bash -c \
  "DBUS_SYSTEM_BUS_ADDRESS=$(bus_of a) $L2WG_CLI show nd | grep -Eq \
   '^  Discovery: +endpoint 203.0.113.2:[0-9]+ from registry 198.51.100.1:53, [0-9]+ s ago'"
check "l2wg discovery lists the peer as resolved" bash -c \
  "DBUS_SYSTEM_BUS_ADDRESS=$(bus_of a) $L2WG_CLI discovery $WGA | grep -q '^  peer $PB: endpoint 203.0.113.2'"
check "DescribeDiscovery: the registry's counters" test "$(cli reg discovery --json |
  jq '.[0].Registry.Counters.Answered')" -gt 2

# ---- bad input: malformed, another zone, a flood ----------------------------------------------
cat >"$WORKDIR/junk.py" <<'EOF'
import os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    kind = i % 3
    if kind == 0:
        packet = os.urandom(1 + i % 80)  # malformed
    elif kind == 1:
        packet = struct.pack("!HHHHHH", i & 0xffff, 0, 1, 0, 0, 0) + b"\x03www\x07example\x03org\x00\x00\x01\x00\x01"
    else:
        packet = struct.pack("!HHHHHH", i & 0xffff, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"
    s.sendto(packet, ("198.51.100.1", 53))
EOF
cpu_before=$(cpu_ticks "${DAEMON_PID[reg]}")
ip netns exec "$NS_A" /usr/bin/python3 "$WORKDIR/junk.py" 30000
sleep 2
check "the registry survives the flood" kill -0 "${DAEMON_PID[reg]}"
check "and still answers" test "$(dig_a +short "$NAME_A" A)" = "${EP_A%:*}"
check "malformed queries are counted" test "$(status reg "$WGR" | jq '.Registry.Counters.Malformed')" -gt 100
check "refused ones too" test "$(status reg "$WGR" | jq '.Registry.Counters.Refused')" -gt 100
check "the flood was rate-limited" test "$(status reg "$WGR" | jq '.Registry.Counters.RateLimited')" -gt 0
check "bounded CPU: under 5 s for 30000 datagrams" \
  at_most "$(($(cpu_ticks "${DAEMON_PID[reg]}") - cpu_before))" 500

# ---- the registry's l2wgd restarted -----------------------------------------------------------
stop_pid "${DAEMON_PID[reg]}"
check "nothing answers while it is down" bash -c \
  "[ -z \"\$(ip netns exec $NS_A dig +time=1 +tries=1 +short @198.51.100.1 $NAME_A A | grep -v '^;;')\" ]"
daemon_start reg
check "the restarted registry answers again" wait_for 10 bash -c \
  "[ \"\$(ip netns exec $NS_A dig +time=1 +tries=1 +short @198.51.100.1 $NAME_A A)\" = ${EP_A%:*} ]"
check "the dorms still talk directly" ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 -q 198.51.100.3

# ---- a NAT mapping change: dorm a's NAT gets another public address ------------------------
ip -n "$NS_NATA" addr add 203.0.113.3/24 dev wan
ip netns exec "$NS_NATA" nft flush chain ip nat postrouting
ip netns exec "$NS_NATA" nft add rule ip nat postrouting oifname wan snat to 203.0.113.3
ip netns exec "$NS_NATA" conntrack -F >/dev/null 2>&1
new_mapping() { endpoint_of "$NS_REG" "$WGR" "$PA" | grep -q '^203.0.113.3:'; }
check "the registry sees dorm a's new mapping" wait_for 30 new_mapping
check "dorm b learns it and sets it" wait_for 60 bash -c \
  "ip netns exec $NS_B wg show $WGB endpoints | grep -q '^$PA[[:space:]]203.0.113.3:'"
check "the dorms talk directly again" wait_for 60 ip netns exec "$NS_A" ping -c 1 -W 1 198.51.100.3
check "and the gretap carries frames again" wait_for 30 ip netns exec "$NS_A" ping -c 1 -W 1 198.18.0.2
check "dorm b's log says it" grep -q "peer $PA: endpoint 203.0.113.3:[0-9]* from registry" "$(log_of b)"

cli a down nd >/dev/null
cli b down nd >/dev/null
finish
