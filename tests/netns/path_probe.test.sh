#!/usr/bin/env bash
# The GRE path probe between two l2wgd, each on its own bus: a lab bridging its tunnel into
# br-wan and a dorm with a plain tap, over wireguard-go (both userspace datapaths). Shown:
#   - both ends verify the path and learn the far tap's MAC; round-trip time and last answer
#     are on D-Bus and in `l2wg show`;
#   - the lab's firewall dropping IP protocol 47 on its WireGuard interface: both ends degraded
#     within seconds, each naming the direction, doctor exits 1; the rule removed, both up;
#   - the probe frames never leave the lab's bridge by its other port;
#   - idle for 200 s with no keepalive, the tunnels stay up (the probes keep WireGuard
#     handshaking).
source "$(dirname "$0")/../lib/netns.sh"
source "$(dirname "$0")/../lib/routed_chain.sh"
l2wg_test_init
need nft tcpdump

CHAIN_LAB=l2plab-$TAG CHAIN_DORM=l2pdorm-$TAG
WGL=wpl$TAG WGD=wpd$TAG
ns_add "$CHAIN_LAB"
ns_add "$CHAIN_DORM"
wg_pair "$CHAIN_LAB" "$WGL" "$CHAIN_DORM" "$WGD" 10.0.31.1 10.0.31.2 24
wan_bridge "$CHAIN_LAB"
settle "$CHAIN_LAB" "$CHAIN_DORM"
chain_daemon_start lab
chain_daemon_start dorm

prop() {  # prop SIDE NAME PROPERTY: the value alone, as busctl prints it after the type
  chain_busctl "$1" get-property net.l2wg1 "/net/l2wg1/tunnel/$2" net.l2wg1.Tunnel "$3" |
    cut -d' ' -f2- | tr -d '"'
}
path_is() { [ "$(prop "$1" "$2" Path)" = "$3" ]; }
reason_has() { [[ "$(prop "$1" "$2" StateReason)" == *"$3"* ]]; }
mac_of() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }

chain_l2wg lab up lab --wg "$WGL" --peer 10.0.31.2 --bridge br-wan >/dev/null
chain_l2wg dorm up dorm --wg "$WGD" --peer 10.0.31.1 >/dev/null
ip netns exec "$CHAIN_LAB" ping -c 1 -W 2 10.0.31.2 >/dev/null || true
check "the lab's tunnel is up" chain_wait_state lab lab up 20
check "the dorm's tunnel is up" chain_wait_state dorm dorm up 20

# Capture what leaves the lab's bridge by its other port while the probes run.
bg_in "$CHAIN_LAB" "$WORKDIR/uplink.log" tcpdump -n -e -i uplink-peer -w "$WORKDIR/uplink.pcap" ether proto 0x88b5
UPLINK_PID=$BG_PID

check "the lab verifies the path within 10 s" wait_for 10 path_is lab lab verified
check "the dorm verifies the path" wait_for 10 path_is dorm dorm verified
check "the lab learns the dorm tap's MAC" \
  test "$(prop lab lab PeerMACAddress)" = "$(mac_of "$CHAIN_DORM" l2-dorm)"
check "the dorm learns the lab tap's MAC" \
  test "$(prop dorm dorm PeerMACAddress)" = "$(mac_of "$CHAIN_LAB" l2-lab)"
check "the two taps' MACs differ" test "$(mac_of "$CHAIN_DORM" l2-dorm)" != "$(mac_of "$CHAIN_LAB" l2-lab)"
check "LastProbeAnswer is recent" bash -c \
  "[ \$(( \$(date +%s%6N) - $(prop lab lab LastProbeAnswer) )) -lt 10000000 ]"
check "ProbeRoundTrip is measured" test "$(prop lab lab ProbeRoundTrip)" -gt 0
chain_l2wg lab show lab >"$WORKDIR/show-lab.txt"
check "l2wg show tells the path with its round trip" \
  grep -Eq '^  GRE path: +verified, last answer .* ago \(round trip [0-9.]+ ms\)' "$WORKDIR/show-lab.txt"
check "l2wg show tells the peer's MAC" \
  grep -Eq "^  MAC address: +.* \\(peer $(mac_of "$CHAIN_DORM" l2-dorm)\\)" "$WORKDIR/show-lab.txt"
check "doctor finds nothing wrong" chain_l2wg lab doctor lab

# --- GRE dropped on the lab's WireGuard interface, as a firewall without a rule for it does ---
ip netns exec "$CHAIN_LAB" nft -f - <<EOF
table inet l2wg_test_drop_gre {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "$WGL" meta l4proto gre drop
  }
}
EOF
dropped_at=$SECONDS
check "the lab goes degraded within 20 s" chain_wait_state lab lab degraded 20
echo "    after $((SECONDS - dropped_at)) s"
check "its reason names GRE from the dorm and the interface" \
  reason_has lab lab "GRE from 10.0.31.2 does not arrive: is IP protocol 47 dropped on $WGL?"
check "its Path is inbound-lost" path_is lab lab inbound-lost
check "the dorm goes degraded" chain_wait_state dorm dorm degraded 20
check "its reason says its GRE does not arrive at the lab" \
  reason_has dorm dorm "GRE to 10.0.31.1 does not arrive there"
check "its Path is outbound-lost" path_is dorm dorm outbound-lost
check_fails "doctor on the lab exits 1 and names protocol 47" "IP protocol 47" chain_l2wg lab doctor lab
ip netns exec "$CHAIN_LAB" nft delete table inet l2wg_test_drop_gre
check "the rule removed, the lab is up again within 15 s" chain_wait_state lab lab up 15
check "and the dorm" chain_wait_state dorm dorm up 15
check "the lab's path verified again" path_is lab lab verified
check "the dorm's path verified again" path_is dorm dorm verified

stop_pid "$UPLINK_PID"
check "no probe left the lab's bridge by its other port" \
  bash -c "[ \$(tcpdump -r $WORKDIR/uplink.pcap 2>/dev/null | wc -l) -eq 0 ]"

# --- idle: nothing but the probes for 200 s, no persistent keepalive -----------------------------
check "no persistent keepalive is configured" bash -c \
  "ip netns exec $CHAIN_LAB wg show $WGL persistent-keepalive | grep -q 'off\$'"
sleep 200
check "after 200 s idle the lab's tunnel is still up" chain_state_is lab lab up
check "and the dorm's" chain_state_is dorm dorm up
check "and WireGuard's last handshake is recent (under 180 s)" bash -c \
  "[ \$(( \$(date +%s) - \$(ip netns exec $CHAIN_LAB wg show $WGL latest-handshakes | cut -f2) )) -lt 180 ]"

chain_l2wg lab down lab
chain_l2wg dorm down dorm
finish
