#include "l2wg/lan/routing.h"

#include <algorithm>
#include <array>
#include <set>
#include <string>

#include "l2wg/error.h"

namespace l2wg::lan {
namespace {

void require(bool ok, const std::string& problem) {
  if (!ok) throw Error(ErrorCode::InvalidArgument, problem);
}

void validate(const RoutingSetup& setup, const IpPrefix& delegated) {
  require(delegated.address.is_v6() && delegated.length <= 64,
          "the delegated prefix " + delegated.str() + " is not an IPv6 prefix of at most 64 bits");
  std::set<IpAddress> seen;
  for (const auto& [ifindex, subnet] : setup.lan_subnets) {
    require(ifindex > 0, "LAN subnet " + subnet.str() + " has no interface");
    require(subnet.address.is_v6() && subnet.length == 64 && delegated.contains(subnet.address),
            "LAN subnet " + subnet.str() + " is not a /64 of " + delegated.str());
    require(seen.insert(subnet.address.masked(64)).second,
            "LAN subnet " + subnet.str() + " is given to two LANs");
  }
  if (!setup.source_routing) return;
  require(setup.tap_ifindex > 0, "source routing needs the tap's interface");
  require(!setup.upstream_router || setup.upstream_router->is_v6(),
          "the upstream router " + (setup.upstream_router ? setup.upstream_router->str() : "") +
              " is not an IPv6 address");
  // 0 is no table; 253, 254 and 255 are the kernel's default, main and local tables.
  require(setup.table != 0 && (setup.table < 253 || setup.table > 255),
          "routing table " + std::to_string(setup.table) + " is reserved");
  require(setup.rule_priority > 0 && setup.rule_priority < kMainRulePriority,
          "rule priority " + std::to_string(setup.rule_priority) +
              " is not between the local table's rule (0) and main's (32766)");
}

// The router's address on a LAN: SUBNET::1.
IpPrefix router_address(const IpPrefix& subnet) {
  std::array<uint8_t, 16> bytes;
  const IpAddress base = subnet.address.masked(64);
  std::copy(base.data(), base.data() + bytes.size(), bytes.begin());
  bytes[15] = 1;
  return {IpAddress::v6(bytes), 64};
}

Route unreachable(uint32_t table, const IpPrefix& destination, uint32_t metric) {
  return {table, destination, RouteType::Unreachable, std::nullopt, 0, metric};
}

// The elements of `a` that are not in `b`, in `a`'s order.
template <typename T>
std::vector<T> missing_from(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> out;
  for (const auto& x : a)
    if (std::find(b.begin(), b.end(), x) == b.end()) out.push_back(x);
  return out;
}

}  // namespace

RoutingPlan plan_routing(const RoutingSetup& setup) {
  const IpPrefix delegated{setup.delegated.address.masked(setup.delegated.length),
                           setup.delegated.length};
  validate(setup, delegated);
  RoutingPlan plan;
  for (const auto& [ifindex, subnet] : setup.lan_subnets)
    plan.addresses.push_back({ifindex, router_address(subnet)});
  plan.routes.push_back(unreachable(kMainTable, delegated, kRouteMetric));
  if (!setup.source_routing) return plan;

  const uint32_t t = setup.table;
  for (const auto& [ifindex, subnet] : setup.lan_subnets)
    plan.routes.push_back({t, IpPrefix{subnet.address.masked(64), 64}, RouteType::Unicast,
                           std::nullopt, ifindex, kRouteMetric});
  plan.routes.push_back(unreachable(t, delegated, kRouteMetric));
  const IpPrefix any{IpAddress::v6({}), 0};
  plan.routes.push_back(unreachable(t, any, kFallbackMetric));
  if (setup.upstream_router)
    plan.routes.push_back(
        {t, any, RouteType::Unicast, setup.upstream_router, setup.tap_ifindex, kRouteMetric});
  plan.rules.push_back({setup.rule_priority, delegated, t});
  return plan;
}

RoutingChange routing_change(const RoutingPlan& from, const RoutingPlan& to) {
  RoutingChange change;
  change.remove = {missing_from(from.addresses, to.addresses), missing_from(from.routes, to.routes),
                   missing_from(from.rules, to.rules)};
  change.add = {missing_from(to.addresses, from.addresses), missing_from(to.routes, from.routes),
                missing_from(to.rules, from.rules)};
  return change;
}

}  // namespace l2wg::lan
