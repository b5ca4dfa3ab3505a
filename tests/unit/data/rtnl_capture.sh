#!/bin/bash
# Records the kernel's answers to an IPv6 route dump of table 1000 and an IPv6 rule dump, which
# tests/unit/rtnl_test.cpp parses: rtnl_route_dump.hex and rtnl_rule_dump.hex (one datagram per
# line, what `ip` printed from the same answer as comments). Not run by the test suite; run as root
# to refresh them. The namespace holds what lan/routing.h plans for 2001:db8:100::/56, plus routes
# and rules a Route or Rule cannot express (blackhole, multipath, source-specific; iif, fwmark,
# negated, suppress_prefixlength), which the parser must skip.
set -euo pipefail
out_dir=$(cd "$(dirname "$0")" && pwd)
ns=rtnl-capture-$$
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add rc-tap type veth peer name rc-lan  # rc-lan is ifindex 2, rc-tap 3
ip -n "$ns" link set rc-tap up
ip -n "$ns" link set rc-lan up
r() { ip -n "$ns" -6 route add "$@"; }
r 2001:db8:100:1::/64 dev rc-lan table 1000 metric 1024 proto static
r unreachable 2001:db8:100::/56 table 1000 metric 1024 proto static
r unreachable default table 1000 metric 4294967295 proto static
r default via fe80::1 dev rc-tap table 1000 metric 1024 proto static
r blackhole 2001:db8:dead::/48 table 1000
r 2001:db8:cafe::/48 table 1000 nexthop via fe80::1 dev rc-tap nexthop via fe80::2 dev rc-lan
r 2001:db8:beef::/48 from 2001:db8:100::/56 dev rc-tap table 1000
rule() { ip -n "$ns" -6 rule add "$@"; }
rule from 2001:db8:100::/56 lookup 1000 pref 1000 proto static
rule iif rc-tap lookup 1000 pref 500
rule fwmark 1 lookup 1000 pref 600
rule not from 2001:db8:200::/56 lookup 1000 pref 700
rule from all lookup main suppress_prefixlength 0 pref 800
rule from 2001:db8:300::/48 lookup 70000 pref 900

# capture FILE CMD...: the datagrams CMD reads from its netlink socket (fd 3), as hex lines.
capture() {
  local file=$1
  shift
  {
    echo "# $* (recorded by rtnl_capture.sh on $(uname -r)); it printed:"
    ip netns exec "$ns" "$@" | sed 's/^/#   /'
    ip netns exec "$ns" strace -e trace=recvmsg -e read=3 "$@" 2>&1 >/dev/null |
      awk '/bytes in buffer/ { if (line != "") print line; line = ""; next }
           /^ \| [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]  / { hex = substr($0, 11, 49); gsub(/ /, "", hex); line = line hex }
           END { if (line != "") print line }'
  } >"$out_dir/$file"
}
capture rtnl_route_dump.hex ip -6 route show table 1000
capture rtnl_rule_dump.hex ip -6 rule show
