#!/usr/bin/env bash
# Routed mode's source routing and LAN addressing (lan/routing.h applied through bridge/'s Netlink
# by tests/tools/routing-driver) on a real kernel. A "dorm" router has a native uplink to an "isp"
# (its default route), a tap-like veth to an "upstream" router (link-local only) and a LAN with a
# "host". With the delegated prefix 2001:db8:100::/56 and LAN subnet id 1: traffic from the prefix
# leaves through the tap towards the upstream router, even to a destination main has a more
# specific route for; the router's own traffic from its native address keeps the native uplink;
# LAN traffic stays on the LAN; unassigned parts of the prefix are unreachable; and before an
# upstream router is known, traffic from the prefix is unreachable instead of leaking out of the
# native uplink. Routes, rules and addresses read back as planned; adding what is there and
# deleting what is not fail with Exists and NotFound; removal leaves the namespace exactly as it
# was, and main's default route is never touched.
source "$(dirname "$0")/../lib/netns.sh"
l2wg_test_init
DRIVER="$L2WG_BUILD_DIR/tests/tools/routing-driver"
[ -x "$DRIVER" ] || { echo "FAIL: $DRIVER is not built"; exit 1; }

DORM=rt-dorm-$TAG ISP=rt-isp-$TAG UP=rt-up-$TAG HOST=rt-host-$TAG
for ns in "$DORM" "$ISP" "$UP" "$HOST"; do ns_add "$ns"; done
ip link add dwan netns "$DORM" type veth peer name iwan netns "$ISP"
ip link add dtap netns "$DORM" type veth peer name utap netns "$UP"
ip link add dlan netns "$DORM" type veth peer name hlan netns "$HOST"
ip netns exec "$DORM" sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n "$ISP" addr add 2001:db8:ffff::1/64 dev iwan
ip -n "$DORM" addr add 2001:db8:ffff::2/64 dev dwan
ip -n "$UP" addr add 2001:db8:beef::1/128 dev lo
ip -n "$HOST" addr add 2001:db8:100:1::5/64 dev hlan
for pair in "$DORM dwan" "$DORM dtap" "$DORM dlan" "$ISP iwan" "$UP utap" "$HOST hlan"; do
  read -r ns dev <<<"$pair"
  ip -n "$ns" link set "$dev" up
done
ip -n "$DORM" -6 route add default via 2001:db8:ffff::1 dev dwan
settle "$DORM" "$ISP" "$UP" "$HOST"
UPSTREAM_LL=$(link_local "$UP" utap)
DORM_TAP_LL=$(link_local "$DORM" dtap)
# The upstream router routes the delegated prefix to the dorm router, as a DHCPv6 server's relay
# or router does for the prefixes it delegates.
ip -n "$UP" -6 route add 2001:db8:100::/56 via "$DORM_TAP_LL" dev utap
ip -n "$HOST" -6 route add default via 2001:db8:100:1::1 dev hlan

in_dorm() { ip netns exec "$DORM" "$@"; }
drive() { in_dorm "$DRIVER" "$@"; }
setup() {  # setup [UPSTREAM]: the setup JSON, with the upstream router if given
  local upstream=${1:+,\"upstream\":\"$1\"}
  echo "{\"prefix\":\"2001:db8:100::/56\",\"lans\":{\"dlan\":1},\"tap\":\"dtap\",\"table\":1000,\"priority\":1000$upstream}"
}
WITHOUT=$(setup) WITH=$(setup "$UPSTREAM_LL")

# state: everything removal must restore.
state() {
  ip -n "$DORM" -6 rule
  ip -n "$DORM" -6 route show table all
  ip -n "$DORM" -6 addr
}
main_default() { ip -n "$DORM" -6 route show default; }
route_get() { ip -n "$DORM" -6 route get "$@"; }
# json_has FILE EXPR: the Python expression EXPR is true of the driver's output `d`.
json_has() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not eval(sys.argv[2]))' "$1" "$2"; }
READ_BACK='d["table_is_plan"] and d["rules_are_plan"] and d["addresses_present"]'

# IPv6 interface settings the daemon writes on the tap.
check "accept_ra=0 written on the tap" drive ipv6-conf dtap accept_ra 0
check "optimistic_dad=1 written on the tap" drive ipv6-conf dtap optimistic_dad 1
check "the kernel has both" bash -c "[ \"\$(ip netns exec $DORM cat /proc/sys/net/ipv6/conf/dtap/accept_ra /proc/sys/net/ipv6/conf/dtap/optimistic_dad | tr '\n' ' ')\" = '0 1 ' ]"
check_fails "an unknown setting is NotFound" '"code":"not found"' drive ipv6-conf dtap no_such_setting 1
check_fails "a key that is a path is refused" '"code":"invalid argument"' drive ipv6-conf dtap ../all/forwarding 0

state >"$WORKDIR/state.before"
main_default >"$WORKDIR/default.before"

# 1. No upstream router yet.
check "the plan without an upstream router applies" drive apply "$WITHOUT"
check "the router's address is on the LAN" bash -c "ip -n $DORM -6 addr show dev dlan | grep -q '2001:db8:100:1::1/64'"
check "the kernel added the LAN's connected route to main" \
  bash -c "ip -n $DORM -6 route show 2001:db8:100:1::/64 | grep -q 'dev dlan proto kernel'"
check_fails "without an upstream router, traffic from the prefix is unreachable (no leak to the native uplink)" \
  'No route to host|unreachable' route_get 2001:db8:beef::1 from 2001:db8:100:1::1
drive show "$WITHOUT" >"$WORKDIR/show1.json" || true
check "table 1000 reads back as the plan" json_has "$WORKDIR/show1.json" "$READ_BACK"

# 2. The upstream router appears: only its default route is added.
drive change "$WITHOUT" "$WITH" >"$WORKDIR/change.json" || true
TAP_INDEX=$(ip -n "$DORM" -o link show dtap | cut -d: -f1)
check "the change adds the default route via the upstream router, nothing else" json_has "$WORKDIR/change.json" \
  "not any(d['removed'].values()) and not d['added']['addresses'] and not d['added']['rules'] and d['added']['routes'] == ['default via $UPSTREAM_LL dev #$TAP_INDEX table 1000 metric 1024']"
drive show "$WITH" >"$WORKDIR/show2.json" || true
check "table 1000 and the rule read back as the plan" json_has "$WORKDIR/show2.json" "$READ_BACK"
check "the rule is in place" bash -c "ip -n $DORM -6 rule | grep -q '^1000:.*from 2001:db8:100::/56 lookup 1000'"

check "traffic from the prefix leaves through the tap to the upstream router" \
  bash -c "ip -n $DORM -6 route get 2001:db8:beef::1 from 2001:db8:100:1::1 | grep -q 'via $UPSTREAM_LL dev dtap table 1000'"
check "forwarded LAN traffic from the prefix too" \
  bash -c "ip -n $DORM -6 route get 2001:db8:beef::1 from 2001:db8:100:1::5 iif dlan | grep -q 'via $UPSTREAM_LL dev dtap'"
check "even to the native uplink's subnet, which main has a more specific route for" \
  bash -c "ip -n $DORM -6 route get 2001:db8:ffff::1 from 2001:db8:100:1::5 iif dlan | grep -q 'via $UPSTREAM_LL dev dtap'"
check "the router's own traffic from its native address keeps the native uplink" \
  bash -c "ip -n $DORM -6 route get 2001:db8:beef::1 from 2001:db8:ffff::2 | grep -q 'via 2001:db8:ffff::1 dev dwan'"
check "the router's own traffic with no source chosen yet keeps the native uplink" \
  bash -c "ip -n $DORM -6 route get 2001:db8:beef::1 | grep -q 'via 2001:db8:ffff::1 dev dwan'"
check "traffic from the prefix to the LAN stays on the LAN" \
  bash -c "ip -n $DORM -6 route get 2001:db8:100:1::5 from 2001:db8:100:1::1 | grep -Eq '^2001:db8:100:1::5 from 2001:db8:100:1::1 dev dlan'"
check_fails "an unassigned part of the prefix is unreachable" 'No route to host|unreachable' \
  route_get 2001:db8:100:7::1
check_fails "also from the prefix (no loop back up the tunnel)" 'No route to host|unreachable' \
  route_get 2001:db8:100:7::1 from 2001:db8:100:1::1
check_fails "also for traffic arriving on the tap" 'No route to host|unreachable' \
  route_get 2001:db8:100:7::1 from 2001:db8:beef::1 iif dtap
check "main's default route is unchanged" diff <(main_default) "$WORKDIR/default.before"
# The upstream namespace is reachable through the tap only, so an answer proves the path.
check "the LAN host reaches the upstream router's address through the tunnel" \
  ip netns exec "$HOST" ping -6 -c 3 -i 0.2 -W 2 2001:db8:beef::1
# The upstream namespace does not forward: what the dorm sends it for the ISP goes no further.
check_fails "the LAN host does not reach the ISP from the prefix: that path is the tunnel's" \
  ' 0 received' ip netns exec "$HOST" ping -6 -c 1 -W 1 2001:db8:ffff::1
check "the router itself still reaches the ISP natively" ip netns exec "$DORM" ping -6 -c 1 -W 2 2001:db8:ffff::1

# 3. Exists and NotFound from the real kernel, for each kind of object.
check_fails "an address already there is Exists" '"code":"exists"' drive apply --part addresses "$WITH"
check_fails "a route already there is Exists" '"code":"exists"' drive apply --part routes "$WITH"
check_fails "a rule already there is Exists" '"code":"exists"' drive apply --part rules "$WITH"

# 4. Removal leaves the namespace as it was.
check "the plan is removed" drive remove "$WITH"
state >"$WORKDIR/state.after"
same_text "rules, every table and addresses are exactly as before" "$WORKDIR/state.before" "$WORKDIR/state.after"
check "main's default route is unchanged" diff <(main_default) "$WORKDIR/default.before"
check_fails "a rule not there is NotFound" '"code":"not found"' drive remove --part rules "$WITH"
check_fails "a route not there is NotFound" '"code":"not found"' drive remove --part routes "$WITH"
check_fails "an address not there is NotFound" '"code":"not found"' drive remove --part addresses "$WITH"

# 5. Without source routing: the LAN address and main's unreachable prefix only.
NO_SR=$(setup | sed 's/}$/,"source_routing":false}/')
check "the plan without source routing applies" drive apply "$NO_SR"
check "no rule for the prefix" bash -c "! ip -n $DORM -6 rule | grep -q 2001:db8:100::/56"
check "no table 1000" bash -c "[ -z \"\$(ip -n $DORM -6 route show table 1000 2>/dev/null)\" ]"
check "traffic from the prefix follows main" \
  bash -c "ip -n $DORM -6 route get 2001:db8:beef::1 from 2001:db8:100:1::1 | grep -q 'via 2001:db8:ffff::1 dev dwan'"
check_fails "the unassigned prefix is unreachable" 'No route to host|unreachable' route_get 2001:db8:100:7::1
check "and removed" drive remove "$NO_SR"
state >"$WORKDIR/state.after2"
same_text "exactly as before again" "$WORKDIR/state.before" "$WORKDIR/state.after2"
finish
