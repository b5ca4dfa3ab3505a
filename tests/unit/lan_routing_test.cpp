// The routing plan of routed mode: what it installs for a delegated prefix, with and without an
// upstream router and source routing, and what changes when either changes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_netlink.h"
#include "l2wg/error.h"
#include "l2wg/lan/routing.h"

namespace l2wg::lan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

IpPrefix prefix(const char* text) {
  return *IpPrefix::parse(text);
}
IpAddress ip(const char* text) {
  return *IpAddress::parse(text);
}

constexpr int kTap = 3, kLan = 5, kGuest = 6;
constexpr uint32_t kTable = 1000, kPriority = 1000;

RoutingSetup dorm() {
  return {.delegated = prefix("2001:db8:100::/56"),
          .lan_subnets = {{kLan, prefix("2001:db8:100:1::/64")},
                          {kGuest, prefix("2001:db8:100:2::/64")}},
          .tap_ifindex = kTap,
          .upstream_router = ip("fe80::1"),
          .table = kTable,
          .rule_priority = kPriority};
}

Route unreachable(uint32_t table, const char* destination, uint32_t metric = kRouteMetric) {
  return {table, prefix(destination), RouteType::Unreachable, std::nullopt, 0, metric};
}
Route on_link(const char* destination, int ifindex) {
  return {kTable, prefix(destination), RouteType::Unicast, std::nullopt, ifindex, kRouteMetric};
}
Route default_via(const char* gateway) {
  return {kTable, prefix("::/0"), RouteType::Unicast, ip(gateway), kTap, kRouteMetric};
}

TEST(LanRouting, SourceRoutingThroughATableOfItsOwn) {
  const auto plan = plan_routing(dorm());
  EXPECT_THAT(plan.addresses,
              ElementsAre(InterfaceAddress{kLan, prefix("2001:db8:100:1::1/64")},
                          InterfaceAddress{kGuest, prefix("2001:db8:100:2::1/64")}));
  EXPECT_THAT(
      plan.routes,
      ElementsAre(unreachable(kMainTable, "2001:db8:100::/56"),
                  on_link("2001:db8:100:1::/64", kLan), on_link("2001:db8:100:2::/64", kGuest),
                  unreachable(kTable, "2001:db8:100::/56"),
                  unreachable(kTable, "::/0", kFallbackMetric), default_via("fe80::1")));
  EXPECT_THAT(plan.rules, ElementsAre(Rule{kPriority, prefix("2001:db8:100::/56"), kTable}));
}

TEST(LanRouting, WithoutAnUpstreamRouterTrafficFromThePrefixIsUnreachable) {
  auto setup = dorm();
  setup.upstream_router.reset();
  const auto plan = plan_routing(setup);
  EXPECT_THAT(plan.routes, ElementsAre(unreachable(kMainTable, "2001:db8:100::/56"),
                                       on_link("2001:db8:100:1::/64", kLan),
                                       on_link("2001:db8:100:2::/64", kGuest),
                                       unreachable(kTable, "2001:db8:100::/56"),
                                       unreachable(kTable, "::/0", kFallbackMetric)));
  EXPECT_EQ(plan.rules.size(), 1u);
}

TEST(LanRouting, NoSourceRoutingLeavesOnlyAddressesAndTheUnreachablePrefix) {
  auto setup = dorm();
  setup.source_routing = false;
  setup.table = 0;  // unused, so not checked
  setup.rule_priority = 0;
  setup.tap_ifindex = 0;
  const auto plan = plan_routing(setup);
  EXPECT_EQ(plan.addresses, plan_routing(dorm()).addresses);
  EXPECT_THAT(plan.routes, ElementsAre(unreachable(kMainTable, "2001:db8:100::/56")));
  EXPECT_THAT(plan.rules, IsEmpty());
}

TEST(LanRouting, HostBitsOfTheDelegatedPrefixAreIgnored) {
  auto setup = dorm();
  setup.delegated = prefix("2001:db8:100:ff::7/56");
  EXPECT_EQ(plan_routing(setup), plan_routing(dorm()));
}

TEST(LanRouting, NoLanStillProtectsThePrefix) {
  auto setup = dorm();
  setup.lan_subnets.clear();
  const auto plan = plan_routing(setup);
  EXPECT_THAT(plan.addresses, IsEmpty());
  EXPECT_THAT(plan.routes,
              ElementsAre(unreachable(kMainTable, "2001:db8:100::/56"),
                          unreachable(kTable, "2001:db8:100::/56"),
                          unreachable(kTable, "::/0", kFallbackMetric), default_via("fe80::1")));
}

TEST(LanRouting, TableAboveTheHeaderByteIsFine) {
  auto setup = dorm();
  setup.table = 0x10000;
  for (const auto& route : plan_routing(setup).routes)
    EXPECT_TRUE(route.table == kMainTable || route.table == 0x10000) << route.str();
}

void expect_refused(const RoutingSetup& setup, const std::string& why) {
  try {
    plan_routing(setup);
    ADD_FAILURE() << "accepted, expected: " << why;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr(why));
  }
}

TEST(LanRouting, RefusesWhatCannotWork) {
  auto setup = dorm();
  setup.delegated = prefix("2001:db8:100::/80");
  expect_refused(setup, "2001:db8:100::/80 is not an IPv6 prefix of at most 64 bits");
  setup.delegated = prefix("10.0.0.0/8");
  expect_refused(setup, "10.0.0.0/8 is not an IPv6 prefix");

  setup = dorm();
  setup.lan_subnets[kLan] = prefix("2001:db8:200:1::/64");
  expect_refused(setup, "LAN subnet 2001:db8:200:1::/64 is not a /64 of 2001:db8:100::/56");
  setup.lan_subnets[kLan] = prefix("2001:db8:100:1::/80");
  expect_refused(setup, "is not a /64 of");
  setup.lan_subnets[kLan] = prefix("2001:db8:100:2::/64");
  expect_refused(setup, "2001:db8:100:2::/64 is given to two LANs");
  setup = dorm();
  setup.lan_subnets[0] = prefix("2001:db8:100:3::/64");
  expect_refused(setup, "has no interface");

  for (uint32_t table : {0u, 253u, 254u, 255u}) {
    setup = dorm();
    setup.table = table;
    expect_refused(setup, "routing table " + std::to_string(table) + " is reserved");
  }
  for (uint32_t priority : {0u, 32766u, 40000u}) {
    setup = dorm();
    setup.rule_priority = priority;
    expect_refused(setup, "rule priority " + std::to_string(priority) + " is not between");
  }
  setup = dorm();
  setup.tap_ifindex = 0;
  expect_refused(setup, "needs the tap");
  setup = dorm();
  setup.upstream_router = ip("192.0.2.1");
  expect_refused(setup, "192.0.2.1 is not an IPv6 address");
}

TEST(LanRoutingChange, AnUpstreamRouterAppearingAddsOnlyTheDefaultRoute) {
  auto before = dorm();
  before.upstream_router.reset();
  const auto change = routing_change(plan_routing(before), plan_routing(dorm()));
  EXPECT_TRUE(change.remove.empty());
  EXPECT_EQ(change.add, (RoutingPlan{{}, {default_via("fe80::1")}, {}}));
}

TEST(LanRoutingChange, AnotherUpstreamRouterReplacesTheDefaultRoute) {
  auto after = dorm();
  after.upstream_router = ip("fe80::2");
  const auto change = routing_change(plan_routing(dorm()), plan_routing(after));
  EXPECT_EQ(change.remove, (RoutingPlan{{}, {default_via("fe80::1")}, {}}));
  EXPECT_EQ(change.add, (RoutingPlan{{}, {default_via("fe80::2")}, {}}));
}

TEST(LanRoutingChange, ANewPrefixReplacesEverythingThatDependsOnIt) {
  auto after = dorm();
  after.delegated = prefix("2001:db8:200::/56");
  after.lan_subnets = {{kLan, prefix("2001:db8:200:1::/64")},
                       {kGuest, prefix("2001:db8:200:2::/64")}};
  const auto change = routing_change(plan_routing(dorm()), plan_routing(after));
  EXPECT_THAT(change.remove.addresses,
              ElementsAre(InterfaceAddress{kLan, prefix("2001:db8:100:1::1/64")},
                          InterfaceAddress{kGuest, prefix("2001:db8:100:2::1/64")}));
  EXPECT_THAT(change.remove.routes, ElementsAre(unreachable(kMainTable, "2001:db8:100::/56"),
                                                on_link("2001:db8:100:1::/64", kLan),
                                                on_link("2001:db8:100:2::/64", kGuest),
                                                unreachable(kTable, "2001:db8:100::/56")));
  EXPECT_THAT(change.remove.rules,
              ElementsAre(Rule{kPriority, prefix("2001:db8:100::/56"), kTable}));
  // The default route and the fallback do not depend on the prefix: untouched.
  EXPECT_THAT(change.add.routes, ElementsAre(unreachable(kMainTable, "2001:db8:200::/56"),
                                             on_link("2001:db8:200:1::/64", kLan),
                                             on_link("2001:db8:200:2::/64", kGuest),
                                             unreachable(kTable, "2001:db8:200::/56")));
  EXPECT_THAT(change.add.rules, ElementsAre(Rule{kPriority, prefix("2001:db8:200::/56"), kTable}));
  EXPECT_EQ(change.add.addresses.size(), 2u);
}

TEST(LanRoutingChange, ALanLeavingTakesItsAddressAndRouteOnly) {
  auto after = dorm();
  after.lan_subnets.erase(kGuest);
  const auto change = routing_change(plan_routing(dorm()), plan_routing(after));
  EXPECT_EQ(change.remove, (RoutingPlan{{{kGuest, prefix("2001:db8:100:2::1/64")}},
                                        {on_link("2001:db8:100:2::/64", kGuest)},
                                        {}}));
  EXPECT_TRUE(change.add.empty());
}

TEST(LanRoutingChange, NoChangeIsEmpty) {
  const auto change = routing_change(plan_routing(dorm()), plan_routing(dorm()));
  EXPECT_TRUE(change.remove.empty());
  EXPECT_TRUE(change.add.empty());
}

// A plan applied in its order and removed in reverse, as the daemon will do.
void apply(nl::Netlink& netlink, const RoutingPlan& plan) {
  for (const auto& a : plan.addresses) netlink.add_address(a);
  for (const auto& r : plan.routes) netlink.add_route(r);
  for (const auto& r : plan.rules) netlink.add_rule(r);
}
void remove(nl::Netlink& netlink, const RoutingPlan& plan) {
  for (auto it = plan.rules.rbegin(); it != plan.rules.rend(); ++it) netlink.delete_rule(*it);
  for (auto it = plan.routes.rbegin(); it != plan.routes.rend(); ++it) netlink.delete_route(*it);
  for (auto it = plan.addresses.rbegin(); it != plan.addresses.rend(); ++it)
    netlink.delete_address(*it);
}

class LanRoutingApplied : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"lo", "wan", "l2-lab", "br0", "lan", "guest"}) {
      nl::Link link;
      link.name = name;
      link.up = true;
      netlink.add_link(link);
    }
    ASSERT_EQ(netlink.link("l2-lab")->ifindex, kTap);
    ASSERT_EQ(netlink.link("lan")->ifindex, kLan);
    ASSERT_EQ(netlink.link("guest")->ifindex, kGuest);
    netlink.add_address({2, prefix("2001:db8:ffff::2/64")});
    netlink.add_route(
        {kMainTable, prefix("::/0"), RouteType::Unicast, ip("2001:db8:ffff::1"), 2, kRouteMetric});
  }
  testing::FakeNetlink netlink;
};

TEST_F(LanRoutingApplied, ApplyingAChangeReachesTheNewPlanAndRemovingLeavesNothing) {
  const auto before = netlink.state;
  auto no_upstream = dorm();
  no_upstream.upstream_router.reset();
  apply(netlink, plan_routing(no_upstream));
  EXPECT_THAT(
      netlink.routes(IpAddress::Family::V6, kTable),
      ElementsAre(on_link("2001:db8:100:1::/64", kLan), on_link("2001:db8:100:2::/64", kGuest),
                  unreachable(kTable, "2001:db8:100::/56"),
                  unreachable(kTable, "::/0", kFallbackMetric)));

  // The upstream router appears, then the prefix changes: each change applied as routing_change
  // says, removals first.
  auto renumbered = dorm();
  renumbered.delegated = prefix("2001:db8:200::/56");
  renumbered.lan_subnets = {{kLan, prefix("2001:db8:200:1::/64")}};
  const std::vector<RoutingSetup> steps{no_upstream, dorm(), renumbered};
  for (size_t i = 1; i < steps.size(); ++i) {
    const auto change = routing_change(plan_routing(steps[i - 1]), plan_routing(steps[i]));
    remove(netlink, change.remove);
    apply(netlink, change.add);
    const auto expected = plan_routing(steps[i]);
    EXPECT_THAT(netlink.rules(IpAddress::Family::V6), ::testing::ContainerEq(expected.rules));
    std::vector<Route> in_table;
    for (const auto& r : expected.routes)
      if (r.table == kTable) in_table.push_back(r);
    EXPECT_THAT(netlink.routes(IpAddress::Family::V6, kTable),
                ::testing::UnorderedElementsAreArray(in_table));
  }
  EXPECT_THAT(netlink.addresses(kLan),
              ElementsAre(InterfaceAddress{kLan, prefix("2001:db8:200:1::1/64")}));
  EXPECT_THAT(netlink.addresses(kGuest), IsEmpty());

  remove(netlink, plan_routing(renumbered));
  EXPECT_EQ(netlink.state, before);
}

TEST_F(LanRoutingApplied, TheFakeRefusesAsTheKernelDoes) {
  const auto plan = plan_routing(dorm());
  apply(netlink, plan);
  // The kernel added each LAN's connected /64 to main, which the plan leaves alone.
  EXPECT_THAT(netlink.routes(IpAddress::Family::V6, kMainTable),
              ::testing::Contains(Route{kMainTable, prefix("2001:db8:100:1::/64"),
                                        RouteType::Unicast, std::nullopt, kLan, 256}));
  auto code_of = [](auto&& call) {
    try {
      call();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::Io;  // "no error" for this comparison
  };
  EXPECT_EQ(code_of([&] { netlink.add_rule(plan.rules[0]); }), ErrorCode::Exists);
  EXPECT_EQ(code_of([&] { netlink.add_route(plan.routes[0]); }), ErrorCode::Exists);
  EXPECT_EQ(code_of([&] { netlink.add_address(plan.addresses[0]); }), ErrorCode::Exists);
  remove(netlink, plan);
  EXPECT_EQ(code_of([&] { netlink.delete_rule(plan.rules[0]); }), ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { netlink.delete_route(plan.routes[0]); }), ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { netlink.delete_address(plan.addresses[0]); }), ErrorCode::NotFound);
}

TEST_F(LanRoutingApplied, TheTapGoingDownTakesTheDefaultRouteButNotTheFallback) {
  apply(netlink, plan_routing(dorm()));
  netlink.set_up(kTap, false);
  const auto left = netlink.routes(IpAddress::Family::V6, kTable);
  EXPECT_THAT(left, ::testing::Not(::testing::Contains(default_via("fe80::1"))));
  EXPECT_THAT(left, ::testing::Contains(unreachable(kTable, "::/0", kFallbackMetric)));
  netlink.set_up(kTap, true);
  EXPECT_NO_THROW(netlink.add_route(default_via("fe80::1")));
}

}  // namespace
}  // namespace l2wg::lan
