#!/usr/bin/env bash
# Kernel tier smoke test, and the reference recipe for what l2wg builds with netlink:
#   two namespaces joined by a veth (the "internet"), kernel WireGuard between them, and on
#   top a gretap whose endpoints are the two WireGuard inner addresses, `link` = the wg device,
#   `nopmtudisc ignore-df`, tap MTU 1500, bridged on side A. Full-size 1500-byte IPv4 and IPv6
#   packets with DF set must cross it (the GRE packets are fragmented inside WireGuard).
#   Also checks what ip6gretap (IPv6 endpoints) carries: only its default MTU.
# Runs inside the VM of tests/kernel/vm.sh; started on the host, it re-runs itself there.
set -euo pipefail

if [[ -z ${L2WG_IN_VM:-} ]]; then
  exec bash "$(dirname -- "$0")/vm.sh" "$0" "$@"
fi

readonly ns_a=kvm-smoke-a ns_b=kvm-smoke-b
readonly wg_port=51820
started=$SECONDS

step() { echo "smoke [$((SECONDS - started)) s]: $*"; }
fail() {
  echo "smoke: FAILED: $*" >&2
  exit 1
}
cleanup() {
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
}
trap cleanup EXIT
in_a() { ip netns exec "$ns_a" "$@"; }
in_b() { ip netns exec "$ns_b" "$@"; }

step "modules"
modprobe -a wireguard ip_gre ip6_gre || fail "modprobe wireguard ip_gre ip6_gre"

step "underlay: veth between $ns_a (192.0.2.1) and $ns_b (192.0.2.2)"
ip netns add "$ns_a"
ip netns add "$ns_b"
in_a ip link set lo up
in_b ip link set lo up
ip link add veth-a netns "$ns_a" type veth peer name veth-b netns "$ns_b"
in_a ip addr add 192.0.2.1/24 dev veth-a
in_b ip addr add 192.0.2.2/24 dev veth-b
in_a ip link set veth-a up
in_b ip link set veth-b up

step "kernel WireGuard wg0 on both sides (inner 198.51.100.1/.2, 2001:db8:1::1/::2)"
key_a=$(wg genkey)
key_b=$(wg genkey)
pub_a=$(wg pubkey <<<"$key_a")
pub_b=$(wg pubkey <<<"$key_b")
# Side, own key, own inner addresses, peer public key, peer underlay address, peer inner addrs.
setup_wg() {
  local ns=$1 key=$2 addr4=$3 addr6=$4 peer_pub=$5 peer_underlay=$6 peer4=$7 peer6=$8
  ip -n "$ns" link add wg0 type wireguard || fail "ip link add type wireguard in $ns"
  ip netns exec "$ns" wg set wg0 listen-port "$wg_port" private-key <(echo "$key") \
    peer "$peer_pub" endpoint "$peer_underlay:$wg_port" allowed-ips "$peer4/32,$peer6/128"
  ip -n "$ns" addr add "$addr4/24" dev wg0
  ip -n "$ns" addr add "$addr6/64" dev wg0 nodad
  ip -n "$ns" link set wg0 up
}
setup_wg "$ns_a" "$key_a" 198.51.100.1 2001:db8:1::1 "$pub_b" 192.0.2.2 198.51.100.2 2001:db8:1::2
setup_wg "$ns_b" "$key_b" 198.51.100.2 2001:db8:1::2 "$pub_a" 192.0.2.1 198.51.100.1 2001:db8:1::1
in_a ping -c 1 -W 5 198.51.100.2 >/dev/null || fail "no ping through WireGuard"
[[ $(in_a wg show wg0 latest-handshakes | awk '{ print $2 }') != 0 ]] || fail "no WireGuard handshake"
step "WireGuard handshake done; wg0 MTU $(in_a cat /sys/class/net/wg0/mtu)"

step "gretap gt0 over wg0 (nopmtudisc ignore-df, MTU 1500), bridged in $ns_a"
for side in a:198.51.100.1:198.51.100.2 b:198.51.100.2:198.51.100.1; do
  IFS=: read -r name local remote <<<"$side"
  ns=kvm-smoke-$name
  ip -n "$ns" link add gt0 type gretap local "$local" remote "$remote" dev wg0 nopmtudisc ignore-df ||
    fail "ip link add type gretap in $ns"
  ip -n "$ns" link set gt0 mtu 1500
done
in_a ip link add br0 type bridge
in_a ip link set br0 mtu 1500
in_a ip link set gt0 master br0
in_a ip addr add 203.0.113.1/24 dev br0
in_a ip addr add 2001:db8:2::1/64 dev br0 nodad
in_b ip addr add 203.0.113.2/24 dev gt0
in_b ip addr add 2001:db8:2::2/64 dev gt0 nodad
in_a ip link set gt0 up
in_a ip link set br0 up
in_b ip link set gt0 up
[[ $(in_a cat /sys/class/net/br0/mtu) == 1500 ]] || fail "bridge MTU is not 1500"

# The bridge port needs a moment to reach forwarding; retry the first small ping.
step "ping across the bridge and gretap"
for _ in $(seq 1 20); do
  in_a ping -c 1 -W 1 203.0.113.2 >/dev/null 2>&1 && break
  sleep 0.5
done
in_a ping -c 3 -i 0.2 -W 3 203.0.113.2 >/dev/null || fail "IPv4 ping over gretap"
in_a ping -c 3 -i 0.2 -W 3 -M 'do' -s 1472 203.0.113.2 ||
  fail "1500-byte IPv4 with DF over gretap (A to B)"
in_b ping -c 3 -i 0.2 -W 3 -M 'do' -s 1472 203.0.113.1 ||
  fail "1500-byte IPv4 with DF over gretap (B to A)"
in_a ping -6 -c 3 -i 0.2 -W 3 -M 'do' -s 1452 2001:db8:2::2 ||
  fail "1500-byte IPv6 over gretap (A to B)"
in_b ping -6 -c 3 -i 0.2 -W 3 -M 'do' -s 1452 2001:db8:2::1 ||
  fail "1500-byte IPv6 over gretap (B to A)"
fragments=$(in_a awk '$1 == "Ip:" { if (!n) { for (i = 1; i <= NF; i++) col[$i] = i; n = 1 }
  else print $col["FragCreates"] }' /proc/net/snmp)
step "ok: 1500-byte frames crossed; IPv4 fragments created in $ns_a: ${fragments:-?}"

step "ip6gretap g6 over wg0 (IPv6 endpoints): carries its default MTU only"
in_a ip link add g6 type ip6gretap local 2001:db8:1::1 remote 2001:db8:1::2 dev wg0 ||
  fail "ip link add type ip6gretap"
in_b ip link add g6 type ip6gretap local 2001:db8:1::2 remote 2001:db8:1::1 dev wg0 ||
  fail "ip link add type ip6gretap"
in_a ip addr add 203.0.113.129/25 dev g6
in_b ip addr add 203.0.113.130/25 dev g6
in_a ip link set g6 up
in_b ip link set g6 up
g6_mtu=$(in_a cat /sys/class/net/g6/mtu)
for _ in $(seq 1 20); do
  in_a ping -c 1 -W 1 203.0.113.130 >/dev/null 2>&1 && break
  sleep 0.5
done
in_a ping -c 3 -i 0.2 -W 3 -M 'do' -s $((g6_mtu - 28)) 203.0.113.130 ||
  fail "ip6gretap at its default MTU $g6_mtu"
in_a ip link set g6 mtu 1500
in_b ip link set g6 mtu 1500
if in_a ping -c 2 -i 0.2 -W 2 -M 'do' -s 1472 203.0.113.130 >/dev/null 2>&1; then
  step "note: ip6gretap at MTU 1500 DID carry 1500-byte packets on this kernel"
else
  step "note: ip6gretap default MTU $g6_mtu works; at MTU 1500 full-size packets are lost (as known)"
fi

step "PASS"
