// TunnelManager in routed mode ([PrefixDelegation]) on a fake kernel, with fake DHCPv6 clients and
// fake Router Advertisement endpoints: what a bound prefix adds to the kernel and the LAN, what a
// lost one takes away, the tunnel's state as the LAN's default router, and deletion and refusals
// leaving the kernel as it was.
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "fake_clock.h"
#include "fake_event_loop.h"
#include "fake_netlink.h"
#include "fake_routed.h"
#include "test_dir.h"
#include "l2wg/daemon/manager.h"
#include "l2wg/daemon/status.h"
#include "l2wg/daemon/routed.h"
#include "l2wg/error.h"
#include "l2wg/lan/routing.h"
#include "l2wg/lan/subnet.h"

namespace l2wg {
namespace {

using testing::FakeClock;
using testing::FakeEventLoop;
using testing::FakePdFactory;
using testing::FakeRaFactory;
using testing::FakeNetlink;
using testing::FakeWireGuard;


struct Recorder : ManagerObserver {
  std::vector<std::string> log;
  void tunnel_added(const TunnelStatus& s) override { log.push_back("added " + s.name); }
  void tunnel_removed(const std::string& name) override { log.push_back("removed " + name); }
  void tunnel_changed(const TunnelStatus&, const std::vector<std::string>&) override {}
  void prefix_delegated(const TunnelStatus& s, const IpPrefix& p) override {
    log.push_back("delegated " + s.name + " " + p.str() + " (" +
                  std::to_string(s.delegated_prefixes.size()) + " in status)");
  }
  void prefix_lost(const TunnelStatus& s, const IpPrefix& p, const std::string& reason) override {
    log.push_back("lost " + s.name + " " + p.str() + ": " + reason + " (" +
                  std::to_string(s.delegated_prefixes.size()) + " in status)");
  }
};

IpPrefix prefix(const char* text) {
  return *IpPrefix::parse(text);
}

constexpr uint64_t kSecond = 1'000'000;

class RoutedTunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = testing::fresh_test_dir("l2wg-routed-test");
    nl::Link wg0;
    wg0.name = "wg0";
    wg0.kind = "wireguard";
    wg0.mtu = 1420;
    const int wg_ifindex = netlink.add_link(wg0);
    netlink.state.addresses.push_back({wg_ifindex, prefix("10.0.31.1/24")});
    wg::Device device;
    device.name = "wg0";
    wg::Peer peer;
    peer.public_key.fill(7);
    peer.allowed_ips = {prefix("10.0.31.10/32")};
    peer.last_handshake_us = clock.now;
    device.peers = {peer};
    wireguard.devices = {device};
    nl::Link lan0;
    lan0.name = "lan0";
    lan0.kind = "bridge";
    lan0.mtu = 1500;
    lan0.up = true;
    lan_ifindex = netlink.add_link(lan0);

    ManagerOptions options{dir / "etc", dir / "state", 180 * kSecond, {&pd, &ra}};
    manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
    manager->set_observer(&recorder);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  config::Tunnel routed_tunnel() {
    config::Tunnel t;
    t.name = "dorm";
    t.spec.wireguard = "wg0";
    t.spec.peer = "10.0.31.10";
    t.spec.tap_name = "l2-dorm";
    t.spec.datapath = gre::DatapathChoice::Kernel;
    config::PrefixDelegation pd_config;
    pd_config.prefix_length = 56;
    pd_config.lans = {"lan0"};
    t.prefix_delegation = pd_config;
    return t;
  }

  dhcp6::DelegatedPrefix delegated() {
    return {prefix("2001:db8:100::/56"), clock.now + 3600 * kSecond, clock.now + 7200 * kSecond,
            std::nullopt};
  }
  dhcp6::Lease lease(const dhcp6::DelegatedPrefix& p) {
    dhcp6::Lease l;
    l.server_id.bytes = {0, 3, 0, 1, 2, 0, 0, 0, 0, 1};  // a DUID-LL
    l.prefixes = {p};
    l.dns_servers = {*IpAddress::parse("2001:db8::53")};
    l.domain_search = {"example.com"};
    return l;
  }
  dhcp6::Observer& client() {
    auto& log = pd.clients.at("dorm");
    EXPECT_NE(log->observer, nullptr);
    return *log->observer;
  }
  int tap() { return netlink.link("l2-dorm")->ifindex; }
  // A routed tunnel with a prefix bound and the upstream router heard: the LANs' default router.
  void create_bound_and_routed() {
    manager->create(routed_tunnel(), false);
    const auto p = delegated();
    client().prefix_added(p, lease(p));
    hear_upstream();
  }
  // fe80::1, not heard again, stays the upstream router until its lifetime ends `seconds` from
  // now (a second before, it is still there), and is gone with every route through it when it
  // ends: the routed tunnel's own deadline, no peer poll needed.
  void expect_upstream_forgotten_after(uint64_t seconds) {
    const auto router = *IpAddress::parse("fe80::1");
    clock.now += (seconds - 1) * kSecond;
    wireguard.devices[0].peers[0].last_handshake_us = clock.now;
    loop.run_due();
    EXPECT_EQ(manager->find("dorm")->upstream_router, "fe80::1");
    EXPECT_EQ(loop.next_deadline(), clock.monotonic_us() + kSecond);
    clock.now += kSecond;
    loop.run_due();
    EXPECT_EQ(manager->find("dorm")->upstream_router, "");
    for (const auto& r : netlink.state.routes) EXPECT_NE(r.gateway, router) << r.str();
  }
  // The upstream router fe80::1 advertises on the tap.
  void hear_upstream(uint16_t router_lifetime = 1800, std::optional<uint32_t> mtu = std::nullopt) {
    auto& upstream = *ra.upstreams.at("l2-dorm");
    upstream.pending = {{*IpAddress::parse("fe80::1"), router_lifetime, mtu}};
    loop.fire(upstream.fd);
  }

  // The plan the kernel should hold for `delegated` on lan0 with subnet id 0, in the table the
  // manager chose (read from its rule: the number is the manager's to choose).
  lan::RoutingPlan expected_plan(const IpPrefix& delegated_prefix,
                                 std::optional<IpAddress> upstream = std::nullopt) {
    EXPECT_EQ(netlink.state.rules.size(), 1u);
    lan::RoutingSetup setup;
    setup.delegated = delegated_prefix;
    setup.lan_subnets = {{lan_ifindex, *lan::subnet_of(delegated_prefix, 0)}};
    setup.tap_ifindex = tap();
    setup.upstream_router = upstream;
    setup.table = netlink.state.rules.empty() ? 1 : netlink.state.rules[0].table;
    setup.rule_priority = netlink.state.rules.empty() ? 1 : netlink.state.rules[0].priority;
    return lan::plan_routing(setup);
  }

  std::filesystem::path dir;
  FakeNetlink netlink;
  FakeWireGuard wireguard;
  FakeClock clock;
  FakeEventLoop loop{clock};
  dp::Datapath datapath{1};
  FakePdFactory pd;
  FakeRaFactory ra;
  Recorder recorder;
  std::unique_ptr<TunnelManager> manager;
  int lan_ifindex = 0;
};

template <typename T>
bool has(const std::vector<T>& all, const T& item) {
  return std::find(all.begin(), all.end(), item) != all.end();
}

TEST_F(RoutedTunnelTest, TheTapIsPlainAndTheClientStartsWithoutDelay) {
  const auto status = manager->create(routed_tunnel(), false);
  EXPECT_EQ(status.state, TunnelState::Up);
  EXPECT_EQ(status.bridge, "");
  const auto tap_link = *netlink.link("l2-dorm");
  EXPECT_EQ(tap_link.master_ifindex, 0) << "routed mode bridges nothing";
  EXPECT_TRUE(tap_link.up);
  EXPECT_EQ((netlink.state.ipv6_conf.at({tap_link.ifindex, "accept_ra"})), 0);
  EXPECT_EQ((netlink.state.ipv6_conf.at({tap_link.ifindex, "accept_dad"})), 0);
  // Both before the tap went up: the kernel acts on accept_ra from the first RA it hears.
  const auto last_conf = std::find(netlink.calls.rbegin(), netlink.calls.rend(), "set_ipv6_conf");
  const auto last_up = std::find(netlink.calls.rbegin(), netlink.calls.rend(), "set_up");
  EXPECT_GT(last_conf - netlink.calls.rbegin(), last_up - netlink.calls.rbegin());

  const auto& log = *pd.clients.at("dorm");
  EXPECT_EQ(log.options.interface, "l2-dorm");
  EXPECT_EQ(log.options.prefix_length_hint, 56);
  EXPECT_FALSE(log.options.initial_delay) << "a tunnel a user just created";
  EXPECT_EQ(log.calls, std::vector<std::string>{"start"});
  EXPECT_TRUE(ra.endpoints.at("lan0")->announced.empty()) << "no RA before a prefix is bound";
}

TEST_F(RoutedTunnelTest, ABoundPrefixIsRoutedAnnouncedAndReported) {
  manager->create(routed_tunnel(), false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));

  const auto plan = expected_plan(p.prefix);
  for (const auto& a : plan.addresses) EXPECT_TRUE(has(netlink.state.addresses, a));
  for (const auto& r : plan.routes) EXPECT_TRUE(has(netlink.state.routes, r)) << r.str();
  EXPECT_EQ(netlink.state.rules, plan.rules);
  EXPECT_TRUE(
      has(netlink.state.addresses, InterfaceAddress{lan_ifindex, prefix("2001:db8:100::1/64")}));
  EXPECT_NE(netlink.state.rules[0].table, kMainTable);

  const auto* status = manager->find("dorm");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->delegated_prefixes,
            (std::vector<DelegatedPrefix>{{p.prefix, p.preferred_until_us, p.valid_until_us}}));
  EXPECT_EQ(status->lan_prefixes, (std::vector<LanPrefix>{{"lan0", prefix("2001:db8:100::/64")}}));
  EXPECT_EQ(recorder.log.back(), "delegated dorm 2001:db8:100::/56 (1 in status)");

  const auto& announced = ra.endpoints.at("lan0")->announced;
  ASSERT_FALSE(announced.empty()) << "the first RA goes out as soon as a prefix is bound";
  EXPECT_FALSE(announced.back().default_router) << "no upstream router heard yet";
  EXPECT_EQ(announced.back().mtu, status->mtu);

  hear_upstream(1800, 1400);
  const auto& a = announced.back();
  EXPECT_TRUE(a.default_router);
  EXPECT_EQ(a.mtu, 1400u) << "the upstream link's MTU, smaller than the tap's";
  EXPECT_EQ(a.prefixes,
            (std::vector<lan::AnnouncedPrefix>{
                {prefix("2001:db8:100::/64"), p.preferred_until_us, p.valid_until_us}}));
  ASSERT_EQ(a.delegated.size(), 1u);
  EXPECT_EQ(a.delegated[0].prefix, p.prefix);
  EXPECT_EQ(a.dns_servers, std::vector<IpAddress>{*IpAddress::parse("2001:db8::53")});
  EXPECT_EQ(a.domains, std::vector<std::string>{"example.com"});
  EXPECT_TRUE(std::filesystem::exists(dir / "state" / "routed" / "dorm.json"))
      << "the subnet ids are remembered";
}

TEST_F(RoutedTunnelTest, ALostPrefixIsUnroutedAndAnnouncedDeprecated) {
  manager->create(routed_tunnel(), false);
  const auto before_bind = netlink.state;
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  ASSERT_NE(netlink.state, before_bind);

  client().prefix_lost(p.prefix, "expired");
  EXPECT_EQ(netlink.state, before_bind) << "every address, route and rule of the prefix removed";
  EXPECT_TRUE(manager->find("dorm")->delegated_prefixes.empty());
  EXPECT_TRUE(manager->find("dorm")->lan_prefixes.empty());
  EXPECT_EQ(recorder.log.back(), "lost dorm 2001:db8:100::/56: expired (0 in status)");

  const auto& a = ra.endpoints.at("lan0")->announced.back();
  EXPECT_TRUE(a.prefixes.empty());
  // Deprecated for as long as hosts may hold it: the old valid time, at most RFC 9096's 5400 s.
  EXPECT_EQ(a.deprecated, (std::vector<lan::AnnouncedPrefix>{
                              {prefix("2001:db8:100::/64"), 0, clock.now + 5400 * kSecond}}));

  // A new prefix: announced at once, the old one still deprecated beside it.
  dhcp6::DelegatedPrefix next{prefix("2001:db8:200::/56"), clock.now + 3600 * kSecond,
                              clock.now + 7200 * kSecond, std::nullopt};
  client().prefix_added(next, lease(next));
  const auto& b = ra.endpoints.at("lan0")->announced.back();
  ASSERT_EQ(b.prefixes.size(), 1u);
  EXPECT_EQ(b.prefixes[0].prefix, prefix("2001:db8:200::/64")) << "the subnet id is kept";
  EXPECT_EQ(b.deprecated.size(), 1u);
  EXPECT_EQ(netlink.state.rules, expected_plan(next.prefix).rules);
}

TEST_F(RoutedTunnelTest, ADeprecatedPrefixIsStillDeprecatedAfterARestart) {
  manager->create(routed_tunnel(), true);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  client().prefix_lost(p.prefix, "replaced by the server's new binding");
  const auto deprecated = ra.endpoints.at("lan0")->announced.back().deprecated;
  ASSERT_EQ(deprecated.size(), 1u);

  // The daemon exits (the tunnel stays) and starts again a minute later.
  manager.reset();
  clock.now += 60 * kSecond;
  ManagerOptions options{dir / "etc", dir / "state", 180 * kSecond, {&pd, &ra}};
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  manager->restore();
  EXPECT_TRUE(manager->reload().empty());
  const auto& announced = ra.endpoints.at("lan0")->announced;
  ASSERT_FALSE(announced.empty()) << "announced at once, before any prefix is bound";
  EXPECT_EQ(announced.back().deprecated, deprecated);
  EXPECT_TRUE(announced.back().prefixes.empty());

  // Once its valid time is over, a later run no longer announces it.
  manager.reset();
  clock.now = deprecated[0].valid_until_us;
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  manager->reload();
  EXPECT_TRUE(ra.endpoints.at("lan0")->announced.empty());
}

TEST_F(RoutedTunnelTest, WhatAPreviousRunAddedIsRemovedEvenIfItsPrefixNeverComesBack) {
  const auto before = netlink.state;
  manager->create(routed_tunnel(), true);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  const auto plan = expected_plan(p.prefix);

  // l2wgd restarts; meanwhile the server replaced the prefix, and the new run never hears of the
  // old one (the client announces a stored lease's prefixes only once confirmed).
  dhcp6::save_lease(dhcp6::lease_path(dir / "state", "dorm"), lease(p));  // as a Session does
  manager.reset();
  ManagerOptions options{dir / "etc", dir / "state", 180 * kSecond, {&pd, &ra}};
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  EXPECT_TRUE(manager->reload().empty());
  EXPECT_EQ(netlink.state.rules, plan.rules) << "left in place until the client has spoken";
  dhcp6::DelegatedPrefix next{prefix("2001:db8:200::/56"), clock.now + 3600 * kSecond,
                              clock.now + 7200 * kSecond, std::nullopt};
  client().prefix_added(next, lease(next));
  EXPECT_EQ(netlink.state.rules, expected_plan(next.prefix).rules);
  for (const auto& a : plan.addresses) EXPECT_FALSE(has(netlink.state.addresses, a));
  for (const auto& r : plan.routes) {
    if (r.destination.length == 0) continue;  // the table's defaults are the new plan's too
    EXPECT_FALSE(has(netlink.state.routes, r)) << r.str();
  }

  manager->remove("dorm");
  EXPECT_EQ(netlink.state, before);
}

TEST_F(RoutedTunnelTest, WhatAPreviousRunAddedGoesAtOnceIfItsLeaseExpiredMeanwhile) {
  manager->create(routed_tunnel(), true);
  const auto before_bind = netlink.state;
  const auto p = delegated();
  dhcp6::save_lease(dhcp6::lease_path(dir / "state", "dorm"), lease(p));
  client().prefix_added(p, lease(p));

  manager.reset();
  clock.now = p.valid_until_us;  // l2wgd was down for two hours
  wireguard.devices[0].peers[0].last_handshake_us = clock.now;
  ManagerOptions options{dir / "etc", dir / "state", 180 * kSecond, {&pd, &ra}};
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  EXPECT_TRUE(manager->reload().empty());
  EXPECT_EQ(netlink.state.rules, before_bind.rules);
  EXPECT_EQ(netlink.state.addresses, before_bind.addresses);
  EXPECT_EQ(netlink.state.routes, before_bind.routes);
}

TEST_F(RoutedTunnelTest, TrafficFromThePrefixLeavesThroughTheUpstreamRouter) {
  const auto before = netlink.state;
  manager->create(routed_tunnel(), false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  auto& upstream = *ra.upstreams.at("l2-dorm");
  ASSERT_TRUE(loop.watched(upstream.fd));

  const auto router = *IpAddress::parse("fe80::1");
  upstream.pending = {{router, 1800, 1400}};
  loop.fire(upstream.fd);
  const auto plan = expected_plan(p.prefix, router);
  for (const auto& r : plan.routes) EXPECT_TRUE(has(netlink.state.routes, r)) << r.str();
  const auto via_router = std::count_if(plan.routes.begin(), plan.routes.end(),
                                        [&](const Route& r) { return r.gateway == router; });
  EXPECT_EQ(via_router, 1) << "the plan has the default via the upstream router";
  EXPECT_EQ(manager->find("dorm")->upstream_router, "fe80::1");

  // It stops being a default router: back to the table's unreachable default.
  upstream.pending = {{router, 0, std::nullopt}};
  loop.fire(upstream.fd);
  for (const auto& r : netlink.state.routes) EXPECT_NE(r.gateway, router) << r.str();
  EXPECT_EQ(manager->find("dorm")->upstream_router, "");

  // A router lifetime running out without a new RA is noticed by the next peer poll.
  upstream.pending = {{router, 30, std::nullopt}};
  loop.fire(upstream.fd);
  EXPECT_EQ(manager->find("dorm")->upstream_router, "fe80::1");
  expect_upstream_forgotten_after(30);

  upstream.pending = {{router, 1800, std::nullopt}};
  loop.fire(upstream.fd);
  EXPECT_EQ(manager->find("dorm")->upstream_router, "fe80::1");
  manager->remove("dorm");
  EXPECT_EQ(netlink.state, before);
}

TEST_F(RoutedTunnelTest, TheTapGoingDownAndUpGetsItsRoutesBackAndRebinds) {
  manager->create(routed_tunnel(), false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  auto& upstream = *ra.upstreams.at("l2-dorm");
  upstream.pending = {{*IpAddress::parse("fe80::1"), 1800, std::nullopt}};
  loop.fire(upstream.fd);
  const auto routed = netlink.state;

  const auto up = *netlink.link("l2-dorm");
  netlink.set_up(up.ifindex, false);  // the kernel drops the routes through it
  const auto down = *netlink.link("l2-dorm");
  ASSERT_NE(netlink.state.routes, routed.routes);
  manager->handle({nl::LinkChanged{up, down}});
  netlink.set_up(up.ifindex, true);
  manager->handle({nl::LinkChanged{down, *netlink.link("l2-dorm")}});

  EXPECT_EQ(netlink.state.routes.size(), routed.routes.size());
  for (const auto& r : routed.routes) EXPECT_TRUE(has(netlink.state.routes, r)) << r.str();
  EXPECT_EQ(pd.clients.at("dorm")->calls.back(), "link_changed");
  EXPECT_EQ(upstream.link_changes, 1);
}

// NetworkManager reapplying the connection of a LAN bridge it manages removes every address it did
// not configure: l2wgd puts its own back (with the connected route), and only its own.
TEST_F(RoutedTunnelTest, ALanAddressSomeoneElseRemovesIsPutBack) {
  manager->create(routed_tunnel(), false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  const auto routed = netlink.state;
  const InterfaceAddress ours{lan_ifindex, prefix("2001:db8:100::1/64")};
  ASSERT_TRUE(has(netlink.state.addresses, ours));
  const size_t announcements = ra.endpoints.at("lan0")->announced.size();

  netlink.delete_address(ours);
  manager->handle({nl::AddressRemoved{ours}});
  EXPECT_TRUE(has(netlink.state.addresses, ours));
  EXPECT_EQ(netlink.state.routes.size(), routed.routes.size());
  for (const auto& r : routed.routes) EXPECT_TRUE(has(netlink.state.routes, r)) << r.str();
  EXPECT_GT(ra.endpoints.at("lan0")->announced.size(), announcements) << "the LAN is told at once";

  // NetworkManager then removes the kernel's route to the /64 too: a second later the address is
  // added anew, which brings its route back.
  const Route connected{kMainTable, prefix("2001:db8:100::/64"), RouteType::Unicast, std::nullopt,
                        lan_ifindex, 256};
  ASSERT_TRUE(has(netlink.state.routes, connected));
  std::erase(netlink.state.routes, connected);
  clock.now += kSecond;
  loop.run_due();
  EXPECT_TRUE(has(netlink.state.routes, connected));
  EXPECT_TRUE(has(netlink.state.addresses, ours));

  // Someone else's address: none of l2wgd's business.
  const InterfaceAddress theirs{lan_ifindex, prefix("2001:db8:ff::7/64")};
  netlink.add_address(theirs);
  netlink.delete_address(theirs);
  manager->handle({nl::AddressRemoved{theirs}});
  EXPECT_FALSE(has(netlink.state.addresses, theirs));
}

// NetworkManager's reapply turns IPv6 off on the bridge for a moment: the address cannot go back
// then, and does once IPv6 is back (an address appears there: NetworkManager's link-local).
TEST_F(RoutedTunnelTest, ALanAddressThatCannotGoBackYetGoesBackWithTheNextAddress) {
  manager->create(routed_tunnel(), false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  const InterfaceAddress ours{lan_ifindex, prefix("2001:db8:100::1/64")};
  netlink.delete_address(ours);
  netlink.before_call = [](const std::string& call) {
    if (call == "add_address") throw Error(ErrorCode::Kernel, "IPv6 is disabled on this device");
  };
  manager->handle({nl::AddressRemoved{ours}});
  EXPECT_FALSE(has(netlink.state.addresses, ours));
  netlink.before_call = [](const std::string&) {};

  const InterfaceAddress link_local{lan_ifindex, prefix("fe80::1/64")};
  netlink.add_address(link_local);
  manager->handle({nl::AddressAdded{link_local}});
  EXPECT_TRUE(has(netlink.state.addresses, ours));
  const size_t adds = std::count(netlink.calls.begin(), netlink.calls.end(), "add_address");
  manager->handle({nl::AddressAdded{ours}});
  EXPECT_EQ(std::count(netlink.calls.begin(), netlink.calls.end(), "add_address"), adds)
      << "once back, addresses appearing are no reason to apply anything";
}

// The tap's own "up" reaches the manager after the client started (the link watcher's events are
// read later): it is no reason to Solicit again, which would restart the exchange with the server.
TEST_F(RoutedTunnelTest, TheTapsFirstUpIsNotALinkChange) {
  manager->create(routed_tunnel(), false);
  auto created = *netlink.link("l2-dorm");
  created.up = false;
  manager->handle({nl::LinkAdded{created}, nl::LinkChanged{created, *netlink.link("l2-dorm")}});
  EXPECT_EQ(pd.clients.at("dorm")->calls, std::vector<std::string>{"start"});
  EXPECT_EQ(ra.upstreams.at("l2-dorm")->link_changes, 0);
}

// Found end to end (tests/netns/routed_chain.test.sh): a restart forgot the upstream router, so
// the client's first Reply removed the default route through it and the LAN was cut off until
// the router was heard again.
TEST_F(RoutedTunnelTest, ARestartKeepsTheUpstreamRouterForWhatIsLeftOfItsLifetime) {
  manager->create(routed_tunnel(), true);
  const auto p = delegated();
  dhcp6::save_lease(dhcp6::lease_path(dir / "state", "dorm"), lease(p));
  client().prefix_added(p, lease(p));
  const auto router = *IpAddress::parse("fe80::1");
  ra.upstreams.at("l2-dorm")->pending = {{router, 1800, 1400}};
  loop.fire(ra.upstreams.at("l2-dorm")->fd);
  const auto plan = expected_plan(p.prefix, router);

  manager.reset();
  clock.now += 60 * kSecond;
  wireguard.devices[0].peers[0].last_handshake_us = clock.now;
  ManagerOptions options{dir / "etc", dir / "state", 180 * kSecond, {&pd, &ra}};
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  EXPECT_TRUE(manager->reload().empty());
  EXPECT_EQ(manager->find("dorm")->upstream_router, "fe80::1") << "before it is heard again";
  EXPECT_EQ(ra.upstreams.at("l2-dorm")->watched,
            (std::vector<std::optional<IpAddress>>{router}))
      << "and probed from the start";
  client().prefix_added(p, lease(p));  // the lease confirmed
  for (const auto& r : plan.routes) EXPECT_TRUE(has(netlink.state.routes, r)) << r.str();

  // Not heard again: gone when the lifetime it last advertised ends, 1800 s after it was heard.
  expect_upstream_forgotten_after(1740);
}

TEST_F(RoutedTunnelTest, ALanThatDisappearsTakesTheTunnelDownUntilItIsBack) {
  manager->create(routed_tunnel(), false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  const auto lan0 = *netlink.link("lan0");
  netlink.delete_link(lan0.ifindex);
  manager->handle({nl::LinkRemoved{lan0}});
  const auto* status = manager->find("dorm");
  EXPECT_EQ(status->state, TunnelState::Failed);
  EXPECT_NE(status->state_reason.find("LAN=lan0: no such interface"), std::string::npos)
      << status->state_reason;
  EXPECT_TRUE(status->delegated_prefixes.empty());
  EXPECT_FALSE(netlink.link("l2-dorm"));
  EXPECT_TRUE(netlink.state.rules.empty());
  EXPECT_EQ(pd.clients.at("dorm")->calls.back(), "destroyed") << "stopped, not released";
  EXPECT_EQ(std::count(pd.clients.at("dorm")->calls.begin(), pd.clients.at("dorm")->calls.end(),
                       "release"),
            0);

  nl::Link again = lan0;
  again.up = true;
  lan_ifindex = netlink.add_link(again);
  manager->handle({nl::LinkAdded{*netlink.link("lan0")}});
  EXPECT_EQ(manager->find("dorm")->state, TunnelState::Up);
  EXPECT_EQ(pd.clients.at("dorm")->calls, std::vector<std::string>{"start"}) << "a new client";
  client().prefix_added(p, lease(p));
  EXPECT_EQ(netlink.state.rules, expected_plan(p.prefix).rules);
  EXPECT_TRUE(
      has(netlink.state.addresses, InterfaceAddress{lan_ifindex, prefix("2001:db8:100::1/64")}));
}

TEST_F(RoutedTunnelTest, TheLansDefaultRouterFollowsTheTunnelsState) {
  manager->create(routed_tunnel(), false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  hear_upstream();
  const auto& announced = ra.endpoints.at("lan0")->announced;
  EXPECT_TRUE(announced.back().default_router);

  clock.now += 181 * kSecond;  // no handshake for longer than REJECT_AFTER_TIME
  manager->poll_peers();
  ASSERT_EQ(manager->find("dorm")->state, TunnelState::WaitingForPeer);
  EXPECT_FALSE(announced.back().default_router) << "router lifetime 0 (RFC 7084 G-5)";
  EXPECT_EQ(announced.back().prefixes.size(), 1u) << "hosts keep their addresses";

  wireguard.devices[0].peers[0].last_handshake_us = clock.now;
  manager->poll_peers();
  EXPECT_TRUE(announced.back().default_router);
}

TEST_F(RoutedTunnelTest, AnUpstreamRouterThatStopsAnsweringTakesTheLansDefaultRouterAway) {
  create_bound_and_routed();
  auto& upstream = *ra.upstreams.at("l2-dorm");
  EXPECT_EQ(upstream.watched, (std::vector<std::optional<IpAddress>>{IpAddress::parse("fe80::1")}))
      << "the router the tunnel's traffic goes through is probed";
  const auto& announced = ra.endpoints.at("lan0")->announced;
  ASSERT_TRUE(announced.back().default_router);

  upstream.reachable = false;  // the WireGuard peer stopped: the probes go unanswered
  loop.fire(upstream.fd);
  EXPECT_FALSE(announced.back().default_router) << "router lifetime 0 (RFC 7084 G-5)";
  EXPECT_EQ(announced.back().prefixes.size(), 1u) << "hosts keep their addresses";
  const auto* status = manager->find("dorm");
  EXPECT_EQ(status->state, TunnelState::Degraded);
  EXPECT_NE(status->state_reason.find("fe80::1 stopped answering through l2-dorm"),
            std::string::npos)
      << status->state_reason;
  manager->poll_peers();  // a fresh handshake does not make it up again
  EXPECT_EQ(manager->find("dorm")->state, TunnelState::Degraded);

  // Back: the client rebinds first; the LANs use the tunnel again once it has.
  upstream.reachable = true;
  loop.fire(upstream.fd);
  EXPECT_EQ(pd.clients.at("dorm")->calls.back(), "link_changed");
  EXPECT_EQ(manager->find("dorm")->state, TunnelState::Up);
  EXPECT_FALSE(announced.back().default_router) << "not before the lease is confirmed";
  const auto renewed = delegated();
  client().prefix_changed(renewed, lease(renewed));
  client().lease_changed(lease(renewed));
  EXPECT_TRUE(announced.back().default_router);
}

TEST_F(RoutedTunnelTest, WithoutAnAnswerToTheRebindTheLansGetTheTunnelBackAfterAWhile) {
  create_bound_and_routed();
  auto& upstream = *ra.upstreams.at("l2-dorm");
  upstream.reachable = false;
  loop.fire(upstream.fd);
  upstream.reachable = true;
  loop.fire(upstream.fd);
  const auto& announced = ra.endpoints.at("lan0")->announced;
  EXPECT_FALSE(announced.back().default_router);
  clock.now += 5 * kSecond;
  loop.run_due();
  EXPECT_FALSE(announced.back().default_router);
  clock.now += 8 * kSecond;  // the client kept its lease: the server did not answer the Rebind
  loop.run_due();
  EXPECT_TRUE(announced.back().default_router);
}

TEST_F(RoutedTunnelTest, EachDelegatedPrefixGetsItsRouteInformation) {
  manager->create(routed_tunnel(), false);
  const auto first = delegated();
  auto second = delegated();
  second.prefix = prefix("2001:db8:200::/56");
  auto both = lease(first);
  both.prefixes.push_back(second);
  client().prefix_added(first, both);
  client().prefix_added(second, both);
  const auto& a = ra.endpoints.at("lan0")->announced.back();
  ASSERT_EQ(a.delegated.size(), 2u);
  EXPECT_EQ(a.delegated[0].prefix, first.prefix);
  EXPECT_EQ(a.delegated[1].prefix, second.prefix);
  EXPECT_EQ(a.prefixes.size(), 2u) << "a /64 out of each on the LAN";
}

TEST_F(RoutedTunnelTest, TunnelsWhoseNamesHashAlikeGetTheirOwnTablesKeptAcrossRestarts) {
  // "tcyx" and "tfdb" share FNV-1a's low 16 bits, which number the tables.
  ASSERT_EQ(dhcp6::iaid_for("tcyx") & 0xffff, dhcp6::iaid_for("tfdb") & 0xffff);
  wg::Peer second = wireguard.devices[0].peers[0];
  second.public_key.fill(8);
  second.allowed_ips = {prefix("10.0.31.11/32")};
  wireguard.devices[0].peers.push_back(second);
  nl::Link lan1 = *netlink.link("lan0");
  lan1.name = "lan1";
  netlink.add_link(lan1);
  auto tunnel = [&](const char* name, const char* peer, const char* lan) {
    auto t = routed_tunnel();
    t.name = name;
    t.spec.peer = peer;
    t.spec.tap_name = std::string("l2-") + name;
    t.prefix_delegation->lans = {lan};
    return t;
  };
  auto bind = [&](const char* name, const char* delegated_prefix) {
    auto p = delegated();
    p.prefix = prefix(delegated_prefix);
    pd.clients.at(name)->observer->prefix_added(p, lease(p));
  };
  auto tables = [&] {
    std::map<std::string, uint32_t> out;
    for (const auto& r : netlink.state.rules) out[r.source.str()] = r.table;
    return out;
  };
  manager->create(tunnel("tcyx", "10.0.31.10", "lan0"), true);
  manager->create(tunnel("tfdb", "10.0.31.11", "lan1"), true);
  bind("tcyx", "2001:db8:100::/56");
  bind("tfdb", "2001:db8:200::/56");
  const auto before = tables();
  ASSERT_EQ(before.size(), 2u);
  EXPECT_NE(before.at("2001:db8:100::/56"), before.at("2001:db8:200::/56"));

  // Started the other way round, each finds its own table again.
  manager.reset();
  std::filesystem::remove(dir / "etc" / "tcyx.conf");
  ManagerOptions options{dir / "etc", dir / "state", 180 * kSecond, {&pd, &ra}};
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  manager->reload();  // tfdb first
  manager->create(tunnel("tcyx", "10.0.31.10", "lan0"), false);
  bind("tfdb", "2001:db8:200::/56");
  bind("tcyx", "2001:db8:100::/56");
  EXPECT_EQ(tables(), before);
}

TEST_F(RoutedTunnelTest, DeletionLeavesNothingBehind) {
  const auto before = netlink.state;
  manager->create(routed_tunnel(), false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  manager->remove("dorm");

  EXPECT_EQ(netlink.state, before);
  EXPECT_EQ(pd.clients.at("dorm")->calls, (std::vector<std::string>{"start", "stop", "destroyed"}))
      << "stopped without Release: a deleted tunnel's prefix simply expires upstream";
  const auto& lan = *ra.endpoints.at("lan0");
  EXPECT_TRUE(lan.stopped) << "final RAs deprecate the prefix";
  EXPECT_FALSE(lan.alive) << "dropped once its final RAs are out";
  EXPECT_FALSE(std::filesystem::exists(dir / "state" / "routed" / "dorm.json"));
  EXPECT_EQ(recorder.log.back(), "removed dorm");
}

TEST_F(RoutedTunnelTest, ABadPrefixDelegationIsRefusedLeavingNothing) {
  const auto before = netlink.state;
  auto expect_refused = [&](const config::Tunnel& t, const std::string& words) {
    try {
      manager->create(t, false);
      ADD_FAILURE() << "created";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    EXPECT_EQ(netlink.state, before);
    EXPECT_EQ(manager->find("dorm"), nullptr);
  };
  auto no_such_lan = routed_tunnel();
  no_such_lan.prefix_delegation->lans = {"lan9"};
  expect_refused(no_such_lan, "LAN=lan9: no such interface");
  auto tap_as_lan = routed_tunnel();
  tap_as_lan.prefix_delegation->lans = {"l2-dorm"};
  expect_refused(tap_as_lan, "the tunnel's own interface");
  EXPECT_TRUE(pd.clients.empty());

  ra.refuse = "lan0";  // found only once the tap exists: undone
  expect_refused(routed_tunnel(), "not Ethernet");
  EXPECT_TRUE(pd.clients.empty());
}

TEST_F(RoutedTunnelTest, ALanDroppedFromTheConfigGetsItsFinalAdvertisements) {
  nl::Link lan1;
  lan1.name = "lan1";
  lan1.kind = "bridge";
  lan1.up = true;
  netlink.add_link(lan1);
  auto t = routed_tunnel();
  t.prefix_delegation->lans = {"lan0", "lan1"};
  manager->create(t, true);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  const auto lan0_log = ra.endpoints.at("lan0");
  const auto lan1_log = ra.endpoints.at("lan1");
  ASSERT_FALSE(lan1_log->announced.empty());

  t.prefix_delegation->lans = {"lan0"};
  std::ofstream(dir / "etc" / "dorm.conf") << config::render_tunnel(t);
  EXPECT_TRUE(manager->reload().empty());
  EXPECT_TRUE(lan1_log->stopped) << "its hosts deprecate the prefix at once";
  EXPECT_FALSE(lan0_log->stopped) << "a LAN kept is not told the prefix is going";
  EXPECT_EQ(ra.endpoints.at("lan1"), lan1_log) << "no new endpoint for the dropped LAN";
}

TEST_F(RoutedTunnelTest, RenewAndReleaseGoToTheClientOfARoutedTunnelOnly) {
  auto t = routed_tunnel();
  t.prefix_delegation->dns = {*IpAddress::parse("2001:db8::1")};  // DNS= wins over the lease's
  manager->create(t, false);
  const auto p = delegated();
  client().prefix_added(p, lease(p));
  EXPECT_EQ(ra.endpoints.at("lan0")->announced.back().dns_servers,
            std::vector<IpAddress>{*IpAddress::parse("2001:db8::1")});

  manager->renew("dorm");
  manager->release("dorm");
  EXPECT_EQ(pd.clients.at("dorm")->calls, (std::vector<std::string>{"start", "renew", "release"}));

  auto bridged = routed_tunnel();
  bridged.name = "lab";
  bridged.spec.tap_name = "l2-lab";
  bridged.prefix_delegation.reset();
  bridged.spec.key = 1;  // another flow to the same peer
  manager->create(bridged, false);
  for (auto call : {&TunnelManager::renew, &TunnelManager::release}) {
    try {
      (manager.get()->*call)("lab");
      ADD_FAILURE() << "a tunnel not in routed mode has no client";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
    }
    try {
      (manager.get()->*call)("nope");
      ADD_FAILURE() << "no such tunnel";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
    }
  }
}

TEST_F(RoutedTunnelTest, AConfigFileStartsTheClientWithTheInitialDelay) {
  std::filesystem::create_directories(dir / "etc");
  std::ofstream(dir / "etc" / "dorm.conf") << config::render_tunnel(routed_tunnel());
  EXPECT_TRUE(manager->reload().empty());
  const auto& log = *pd.clients.at("dorm");
  EXPECT_TRUE(log.options.initial_delay) << "a daemon start brings many tunnels up together";
  EXPECT_EQ(log.calls, std::vector<std::string>{"start"});
}

// A Reply that renews the lease with new lifetimes and new DNS servers reports lease_changed and
// prefix_changed: the LANs get one Router Advertisement with both, and the record one write.
TEST_F(RoutedTunnelTest, OneReplyOneAnnouncement) {
  create_bound_and_routed();
  const auto& announced = ra.endpoints.at("lan0")->announced;
  const auto before = announced.size();
  auto renewed = delegated();
  renewed.preferred_until_us += 600 * kSecond;
  renewed.valid_until_us += 600 * kSecond;
  auto reply = lease(renewed);
  reply.dns_servers = {*IpAddress::parse("2001:db8::54")};
  auto& log = *pd.clients.at("dorm");
  log.pending = {[&](dhcp6::Observer& o) { o.lease_changed(reply); },
                 [&](dhcp6::Observer& o) { o.prefix_changed(renewed, reply); }};
  const auto record = dir / "state" / "routed" / "dorm.json";
  const auto written_before = std::filesystem::last_write_time(record);
  std::filesystem::last_write_time(record, written_before - std::chrono::hours(1));
  loop.fire(log.fd);
  ASSERT_EQ(announced.size(), before + 1);
  EXPECT_EQ(announced.back().dns_servers, reply.dns_servers);
  EXPECT_EQ(announced.back().prefixes.at(0).valid_until_us, renewed.valid_until_us);
  EXPECT_EQ(manager->find("dorm")->delegated_prefixes.at(0).valid_until_us,
            renewed.valid_until_us);
  // Nothing the record keeps changed (subnet ids, routing, upstream): no write at all.
  EXPECT_LT(std::filesystem::last_write_time(record), written_before);
}

// The routed tunnel's fds and timer are on the loop while it lives, and gone with it.
TEST_F(RoutedTunnelTest, ItsFdsAndTimerLeaveTheLoopWithIt) {
  EXPECT_EQ(loop.watches(), 0u);
  create_bound_and_routed();
  EXPECT_TRUE(loop.watched(pd.clients.at("dorm")->fd));
  EXPECT_TRUE(loop.watched(ra.upstreams.at("l2-dorm")->fd));
  EXPECT_TRUE(loop.next_deadline()) << "the upstream router's lifetime";
  manager->remove("dorm");
  EXPECT_EQ(loop.watches(), 0u);
  EXPECT_FALSE(loop.next_deadline());
}

// A Reply that replaces the prefix (lease_changed, prefix_lost, prefix_added) is one event: the
// record, which keeps the new subnet ids, the old subnets deprecated and the new routing, is
// written once.
TEST_F(RoutedTunnelTest, OneReplyOneWriteOfTheRecord) {
  create_bound_and_routed();
  const auto record_dir = dir / "state" / "routed";
  const int watch = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(::inotify_add_watch(watch, record_dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE), 0);
  auto next = delegated();
  next.prefix = prefix("2001:db8:200::/56");
  const auto reply = lease(next);
  auto& log = *pd.clients.at("dorm");
  log.pending = {[&](dhcp6::Observer& o) { o.lease_changed(reply); },
                 [&](dhcp6::Observer& o) {
                   o.prefix_lost(prefix("2001:db8:100::/56"), "replaced by the server's new binding");
                 },
                 [&](dhcp6::Observer& o) { o.prefix_added(next, reply); }};
  loop.fire(log.fd);
  int renames = 0;
  alignas(inotify_event) char buffer[4096];
  for (ssize_t n; (n = ::read(watch, buffer, sizeof buffer)) > 0;) {
    for (char* p = buffer; p < buffer + n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(p);
      if ((event->mask & IN_MOVED_TO) && std::string(event->name) == "dorm.json") ++renames;
      p += sizeof(inotify_event) + event->len;
    }
  }
  ::close(watch);
  EXPECT_EQ(renames, 1);
  EXPECT_EQ(netlink.state.rules, expected_plan(next.prefix, IpAddress::parse("fe80::1")).rules);
}

// Routed from the first second: Describe names the LANs before any prefix arrives, so l2wg list
// says "routed, no prefix" and doctor can say what it waits for.
TEST_F(RoutedTunnelTest, DescribeNamesTheLansBeforeAnyPrefix) {
  manager->create(routed_tunnel(), false);
  const auto json = nlohmann::json::parse(describe_json(*manager->find("dorm")));
  EXPECT_EQ(json.at("LAN"), nlohmann::json::array({"lan0"}));
  EXPECT_TRUE(json.at("DelegatedPrefixes").empty());
}

}  // namespace
}  // namespace l2wg
