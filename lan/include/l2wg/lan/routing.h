// The kernel state routed mode needs for a delegated prefix DP, as a pure plan: the router's
// address on each LAN, the routes, and the policy rule of source routing. The daemon applies a plan
// through bridge/'s Netlink, and moves from one plan to the next with routing_change(), so a new
// upstream router or a new prefix touches only what changed.
//
// Source routing is policy routing with a table T of the tunnel's own, not source-specific routes
// in main:
//   rule   from DP lookup T, priority P (before main's 32766)
//   T:     each LAN's /64 dev LAN        LAN-to-LAN and router-to-LAN traffic from DP stays local
//          unreachable DP                no loop back up the tunnel for unassigned parts of DP
//                                        (RFC 7084 WPD-5)
//          default via UPSTREAM dev TAP  everything else from DP goes back through the tunnel
//          unreachable default, metric 2^32-1
//   main:  unreachable DP                traffic from elsewhere (e.g. arriving on the tap) to
//                                        unassigned parts of DP
//   LAN:   SUBNET::1/64                  the kernel adds the connected /64 route to main itself
// Nothing else in main is touched, its default route never: the router's own traffic, sourced from
// its native uplink address, keeps the routing the host already had.
//
// Why a rule and a table: the decision for traffic from DP is exact (only T's routes apply); it
// cannot be shadowed by a more specific destination route in main, as a source-specific route can
// (the kernel's subtree lookup picks the longest destination first); and teardown is one rule and
// one table.
//
// Why the unreachable default in T: when a lookup in T finds no route at all, the kernel goes on to
// the next rule, i.e. main, whose default route would carry traffic from DP out of the native
// uplink, where it does not belong (measured: `ip -6 route get X from DP` then answers "via the
// native gateway"). That happens before an upstream router is known (no RA seen yet: T has no
// default via it) and whenever the kernel flushes the default via the tap (a link going down loses
// every route through it). The unreachable default, with the largest metric, is always there and
// loses to the real default whenever that exists. After the tap comes back up, the daemon applies
// its plan again; Exists from what is still in place counts as done, as when it adopts the plan
// after a restart.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "l2wg/ip.h"
#include "l2wg/route.h"

namespace l2wg::lan {

inline constexpr uint32_t kRouteMetric = 1024;           // the kernel's default for IPv6
inline constexpr uint32_t kFallbackMetric = UINT32_MAX;  // T's unreachable default
inline constexpr uint32_t kMainRulePriority = 32766;     // "from all lookup main"

struct RoutingSetup {
  IpPrefix delegated;                   // DP; host bits are ignored
  std::map<int, IpPrefix> lan_subnets;  // LAN ifindex → its /64 of DP (from plan_subnets)
  int tap_ifindex = 0;
  // The upstream router's link-local address on the tap, once its Router Advertisements were seen.
  std::optional<IpAddress> upstream_router;
  uint32_t table = 0;          // T: a table of this tunnel's own
  uint32_t rule_priority = 0;  // P: 1..32765
  bool source_routing = true;  // SourceRouting=no: LAN addresses and main's unreachable DP only
};

// Everything is listed in the order to add it; remove in the reverse order (rules, routes,
// addresses), so traffic from DP is never looked up in a half-built or half-removed table.
struct RoutingPlan {
  std::vector<InterfaceAddress> addresses;
  std::vector<Route> routes;
  std::vector<Rule> rules;

  bool empty() const { return addresses.empty() && routes.empty() && rules.empty(); }
  bool operator==(const RoutingPlan&) const = default;
};

// The plan for `setup`. Throws Error(InvalidArgument) naming the problem when DP is not an IPv6
// prefix of at most 64 bits, a LAN subnet is not a /64 inside it, or (with source routing) the
// tap, table or priority cannot be used: table 0 and the kernel's 253-255 are refused, and a
// priority must come after the local table's rule (0) and before main's (32766).
RoutingPlan plan_routing(const RoutingSetup& setup);

// Going from plan `from` to plan `to`: apply `remove` first (reverse order, as above), then `add`.
// Removing first matters: a new default route via another upstream router has the same
// destination and metric as the old one, and the kernel refuses a second.
struct RoutingChange {
  RoutingPlan remove;  // in `from`, not in `to`
  RoutingPlan add;     // in `to`, not in `from`
  bool operator==(const RoutingChange&) const = default;
};
RoutingChange routing_change(const RoutingPlan& from, const RoutingPlan& to);

}  // namespace l2wg::lan
