#!/usr/bin/env bash
# `l2wg doctor`'s host checks on the whole routed chain (tests/lib/routed_chain.sh): each pitfall
# of issue 13 staged for real, one at a time, on the lab or the dorm; doctor finds it with the
# fix, and the clean setup before and after gives exit 0 and no finding at all. The firewalls are
# real nftables rulesets: fw4's own rendering for the dorm and the lab
# (tests/unit/data/nft/fw4_*.nft, renamed to this chain's interfaces), loaded with nft.
#   - GRE dropped on the lab's WireGuard interface: error, and the printed nft command run as is
#     makes doctor clean again;
#   - fw4 on the dorm with the tap in no zone: DHCPv6, ND and the LAN's flows rejected (the LAN
#     host really loses the upstream); the tap in zone wan: nothing found, the host reaches it;
#   - fw4's "Prevent NAT leakage" rule on the lab naming br-wan: a warning naming
#     masq_allow_invalid; with bridge netfilter on, fw4's forward chain eats what br-wan
#     bridges: an error naming the sysctl;
#   - a bridge-family rule dropping DHCPv6 from the lab's tap; the tap no multicast router port;
#   - IPv6 forwarding off; accept_ra 1 on an uplink whose default route came from RAs;
#   - the peer's endpoint routed into WireGuard itself; the LAN's prefix routed elsewhere too, or
#     inside the peer's allowed IPs.
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/routed_chain.sh"
l2wg_test_init

NFT_DATA="$(dirname "$0")/../unit/data/nft"
chain_setup "$TAG"
D=$CHAIN_DORM L=$CHAIN_LAB H=$CHAIN_HOST
UNDER_LAB=ve-$TAG-a UNDER_DORM=ve-$TAG-b

check "l2wg up dorm --pd --lan br-lan" chain_dorm_up
check "the dorm's tunnel reaches state up" chain_wait_state dorm dorm up 20
check "a prefix is delegated and a /64 announced on br-lan" chain_wait_prefix 15
DP=$(chain_delegated) LANP=$(chain_lan_prefix)
check "the host gets an address in $LANP" chain_wait_host_address "${LANP:-::/0}" 10
HOST_ADDR=$(chain_host_address_in "${LANP:-::/0}" | cut -d/ -f1)
host_reaches_upstream() {
  ip netns exec "$H" ping -6 -c 2 -i 0.3 -W 1 -I "${HOST_ADDR:-::}" "$CHAIN_TARGET" >/dev/null
}
check "the host reaches the upstream" wait_for 10 host_reaches_upstream

# doctor_json SIDE: `l2wg doctor SIDE --json` (each side's tunnel is named after it), whatever
# its exit status.
doctor_json() { chain_l2wg "$1" doctor "$1" --json 2>&1 || true; }
# findings SIDE: "severity:code" of each finding but the informational ones, one per line.
findings() {
  doctor_json "$1" >"$WORKDIR/doctor-$1.json"
  python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["Tunnels"]:
    for f in t["Findings"]:
        if f["Severity"] != "info":
            print(f["Severity"] + ":" + f["Code"])' "$WORKDIR/doctor-$1.json"
}
# clean SIDE: exit 0 and not one finding.
clean() {
  local out
  chain_l2wg "$1" doctor "$1" >"$WORKDIR/doctor-$1.txt" || { cat "$WORKDIR/doctor-$1.txt"; return 1; }
  out=$(findings "$1")
  [ -z "$out" ] || { echo "findings on a clean $1: $out"; return 1; }
}
# finds SIDE SEVERITY:CODE TEXT...: that finding is there, and the text doctor prints holds each
# TEXT; exit 1 for an error, 0 for a warning.
finds() {
  local side=$1 wanted=$2 status=0 text
  shift 2
  chain_l2wg "$side" doctor "$side" >"$WORKDIR/doctor-$side.txt" 2>&1 || status=$?
  findings "$side" >"$WORKDIR/findings-$side.txt"
  grep -qx "$wanted" "$WORKDIR/findings-$side.txt" ||
    { echo "no $wanted in:"; cat "$WORKDIR/doctor-$side.txt" "$WORKDIR/doctor-$side.json"; return 1; }
  case $wanted in
    error:*) [ "$status" = 1 ] || { echo "exit $status for an error"; return 1; } ;;
    *) [ "$status" = 0 ] || { echo "exit $status for a warning"; cat "$WORKDIR/doctor-$side.txt"; return 1; } ;;
  esac
  for text in "$@"; do
    grep -qF -- "$text" "$WORKDIR/doctor-$side.txt" || { echo "no '$text' in:"; cat "$WORKDIR/doctor-$side.txt"; return 1; }
  done
}
# fix_of SIDE CODE: the first `command` of that finding's fix.
fix_of() {
  doctor_json "$1" >"$WORKDIR/doctor-$1.json"
  python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["Tunnels"]:
    for f in t["Findings"]:
        if f["Code"] == sys.argv[2]:
            print(f["Fix"].split("`")[1])' "$WORKDIR/doctor-$1.json" "$2"
}
# fw4 NAME NS SED...: fw4's captured ruleset NAME, renamed by the sed expressions, loaded in NS.
fw4() {
  local name=$1 ns=$2
  shift 2
  local args=() e
  for e in "$@"; do args+=(-e "$e"); done
  sed "${args[@]}" "$NFT_DATA/$name.nft" >"$WORKDIR/$name.nft"
  ip netns exec "$ns" nft -f "$WORKDIR/$name.nft"
}

check "doctor: the dorm is clean" clean dorm
check "doctor: the lab is clean" clean lab

# --- GRE dropped on the lab's WireGuard interface ----------------------------------------------
ip netns exec "$L" nft -f - <<EOF
table inet l2t {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "$CHAIN_WGL" meta l4proto gre counter drop comment "no tunnels in tunnels"
  }
}
EOF
check "doctor: GRE dropped on $CHAIN_WGL, an error naming the rule and protocol 47" \
  finds lab error:firewall-gre-in "GRE from 10.0.31.2 on $CHAIN_WGL are dropped by rule" \
  '("no tunnels in tunnels") of inet l2t input' "IP protocol 47" "nft insert rule inet l2t input position"
GRE_FIX=$(fix_of lab firewall-gre-in)
echo "    fix: $GRE_FIX"
check "the printed fix, run as it is, is taken by nft" ip netns exec "$L" $GRE_FIX
check "doctor: the lab is clean after the fix" clean lab
ip netns exec "$L" nft delete table inet l2t

# --- fw4 on the dorm -----------------------------------------------------------------------------
# The tap in no zone: fw4 rejects the DHCPv6, ND and forwarded flows of a tap it does not know.
dorm_names=(s/\"wg0\"/\"$CHAIN_WGD\",\ \"$UNDER_DORM\"/g s/\"eth0\"/\"d-isp\"/g s/\"l2wg-dorm\"/\"$CHAIN_TAP\"/g)
fw4 fw4_dorm_tap_unzoned "$D" "${dorm_names[@]}"
check "with the tap in no zone, the host loses the upstream (fw4 rejects it)" \
  wait_for 5 bash -c "! ip netns exec $H ping -6 -c 1 -W 1 -I ${HOST_ADDR:-::} $CHAIN_TARGET >/dev/null"
check "doctor: the LAN's flows into the tap rejected by fw4, with fw4's way to keep the fix" \
  finds dorm error:firewall-forward "new connections from the LAN br-lan into $CHAIN_TAP are dropped by rule" \
  "of inet fw4 handle_reject" "oifname \"$CHAIN_TAP\" accept" "fw4 rewrites its table on reload"
check "doctor: DHCPv6 on the tap rejected" finds dorm error:firewall-dhcpv6 "DHCPv6 replies on $CHAIN_TAP"
check "doctor: neighbour discovery on the tap rejected" finds dorm error:firewall-nd-tap
ip netns exec "$D" nft delete table inet fw4
# The tap in zone wan (the recipe that works): nothing to say, and the host reaches the upstream.
fw4 fw4_dorm "$D" "${dorm_names[@]}"
check "with the tap in zone wan, the host reaches the upstream" wait_for 10 host_reaches_upstream
check "doctor: fw4 with the tap in zone wan, nothing found" clean dorm
ip netns exec "$D" nft delete table inet fw4

# --- fw4 on the lab: NAT leakage, and bridge netfilter --------------------------------------------
lab_names=(s/\"wg0\"/\"$CHAIN_WGL\",\ \"$UNDER_LAB\"/g s/\"gre4t-gre1\"/\"l2-lab\"/g)
ip netns exec "$L" sysctl -qw net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-iptables=0
fw4 fw4_lab "$L" "${lab_names[@]}"
check "doctor: fw4's NAT leakage rule toward br-wan, a warning naming masq_allow_invalid" \
  finds lab warning:firewall-ct-invalid "IPv4 packets of state invalid from $CHAIN_WGL to br-wan are dropped by rule" \
  "Prevent NAT leakage" "masq_allow_invalid '1'"
ip netns exec "$L" sysctl -qw net.bridge.bridge-nf-call-ip6tables=1
check "doctor: bridge netfilter on, fw4's forward chain eats what br-wan bridges" \
  finds lab error:bridge-netfilter "Router Solicitations bridged by br-wan are dropped by rule" \
  "net.bridge.bridge-nf-call-ip6tables=0"
ip netns exec "$L" nft delete table inet fw4
check "doctor: the lab is clean again (bridge netfilter with nothing to eat is no finding)" clean lab

# --- a bridge table on the lab eating DHCPv6 from the tap ---------------------------------------
ip netns exec "$L" nft -f - <<EOF
table bridge l2t {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "l2-lab" udp dport 547 drop
  }
}
EOF
check "doctor: br-wan's bridge table drops the dorm's DHCPv6" \
  finds lab error:firewall-bridge "DHCPv6 solicitations bridged from l2-lab to l-up are dropped" "of bridge l2t forward"
ip netns exec "$L" nft delete table bridge l2t

# --- multicast snooping with the tap no router port ------------------------------------------------
ip -n "$L" link set dev l2-lab type bridge_slave mcast_router 1
check "doctor: br-wan snoops and l2-lab is no multicast router port (warning)" \
  finds lab warning:multicast-snooping "type bridge_slave mcast_router 2"
ip -n "$L" link set dev l2-lab type bridge_slave mcast_router 2
check "doctor: the lab is clean" clean lab

# --- IPv6 forwarding off on the dorm ------------------------------------------------------------
ip netns exec "$D" sysctl -qw net.ipv6.conf.all.forwarding=0
check "doctor: IPv6 forwarding off" finds dorm error:ipv6-forwarding-off "sysctl -w net.ipv6.conf.all.forwarding=1"
ip netns exec "$D" sysctl -qw net.ipv6.conf.all.forwarding=1

# --- accept_ra 1 on an uplink whose default route came from RAs -----------------------------------
ip -n "$D" -6 route del default via "$CHAIN_ISP_ADDR" dev d-isp
ip netns exec "$D" sysctl -qw net.ipv6.conf.d-isp.accept_ra=2
bg_in "$CHAIN_ISP" "$WORKDIR/ra-isp.log" "$L2WG_RA" --interface i-dorm --prefix 2001:db8:ffff::/64 --max-interval 4
ISP_RA_PID=$BG_PID
check "d-isp learns its default route from the ISP's RAs (accept_ra 2)" \
  wait_for 15 bash -c "ip -n $D -6 route show default | grep -q 'proto ra'"
check "doctor: accept_ra 2 on the RA uplink is right" clean dorm
ip netns exec "$D" sysctl -qw net.ipv6.conf.d-isp.accept_ra=1
check "doctor: accept_ra 1 with forwarding on, a warning with the sysctl" \
  finds dorm warning:accept-ra-forwarding "d-isp has its IPv6 default route from Router Advertisements" \
  "sysctl -w net.ipv6.conf.d-isp.accept_ra=2"
stop_pid "$ISP_RA_PID"
ip -n "$D" -6 route flush default proto ra
ip -n "$D" -6 route replace default via "$CHAIN_ISP_ADDR" dev d-isp
ip netns exec "$D" sysctl -qw net.ipv6.conf.d-isp.accept_ra=0

# --- the peer's endpoint routed into WireGuard itself ------------------------------------------
ip -n "$D" route add 192.0.2.1/32 dev "$CHAIN_WGD"
check "doctor: the lab's endpoint routed through $CHAIN_WGD" \
  finds dorm error:endpoint-via-wireguard "the peer's endpoint 192.0.2.1 is routed through $CHAIN_WGD itself" \
  "ip route add 192.0.2.1 dev $UNDER_DORM"
ip -n "$D" route del 192.0.2.1/32 dev "$CHAIN_WGD"

# --- the LAN's prefix claimed by another route, or by the peer's allowed IPs ---------------------
ip -n "$D" -6 route add "$LANP" dev d-isp metric 2048
check "doctor: $LANP routed out of d-isp too" \
  finds dorm error:prefix-route-conflict "$LANP on br-lan is also routed elsewhere ($LANP dev d-isp)"
ip -n "$D" -6 route del "$LANP" dev d-isp metric 2048
ip netns exec "$D" wg set "$CHAIN_WGD" peer "$WG_PUB_A" allowed-ips "10.0.31.1/32,$DP"
check "doctor: the delegated prefix inside the lab's allowed IPs (warning)" wait_for 5 \
  finds dorm warning:prefix-in-allowed-ips "allowed IPs $DP of peer $WG_PUB_A on $CHAIN_WGD"
ip netns exec "$D" wg set "$CHAIN_WGD" peer "$WG_PUB_A" allowed-ips 10.0.31.1/32

check "doctor: the dorm is clean at the end" wait_for 10 clean dorm
check "doctor: the lab is clean at the end" clean lab
check "and the host still reaches the upstream" wait_for 10 host_reaches_upstream

chain_teardown
finish
