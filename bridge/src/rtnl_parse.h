// Pure decoding of rtnetlink route and rule dumps and link counters into value types (links and
// addresses: parse_messages() in link_watcher.h). Messages of other types, and routes or rules that a Route
// or Rule cannot express, are skipped.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "l2wg/bridge/netlink.h"
#include "l2wg/route.h"

namespace l2wg::nl {

// RTM_NEWROUTE messages: unicast and unreachable routes with a single next hop and no source
// prefix. Cached (RTM_F_CLONED) routes are skipped. Unreachable routes read back with ifindex 0
// (the kernel reports them on lo), and every route carries its metric (0 when the kernel omits it).
std::vector<Route> parse_routes(std::span<const uint8_t> datagram);
// RTM_NEWRULE messages whose only selector is the source prefix and whose action is a table
// lookup.
std::vector<Rule> parse_rules(std::span<const uint8_t> datagram);
// The IFLA_STATS64 of the first RTM_NEWLINK message; nullopt when there is none or it has no
// (or a short) IFLA_STATS64.
std::optional<LinkStats> parse_link_stats(std::span<const uint8_t> datagram);

}  // namespace l2wg::nl
