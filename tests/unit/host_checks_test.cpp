// doctor's host checks (Tunnel.Diagnose): each finds what breaks the tunnel, with the command that
// fixes it, and a clean host gives nothing at all; the facts are read from a /proc/sys of files
// and the fake kernel's routes.
#include "l2wg/daemon/host_checks.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fake_netlink.h"
#include "nft_captures.h"
#include "test_dir.h"

namespace l2wg {
namespace {

HostFacts clean_routed() {
  HostFacts f;
  f.tunnel = "dorm";
  f.wireguard = "wg0";
  f.remote = "10.0.31.1";
  f.routed = true;
  f.ipv6_forwarding = 1;
  f.rp_filter = 1;
  f.reply_interface = "wg0";
  f.tap_mtu = 1500;
  return f;
}

std::vector<std::string> codes(const HostFacts& f) {
  std::vector<std::string> out;
  for (const auto& finding : check_host(f)) out.push_back(finding.code);
  return out;
}

TEST(HostChecks, ACleanHostHasNothingToSay) {
  EXPECT_TRUE(check_host(clean_routed()).empty());
  HostFacts bridged = clean_routed();
  bridged.routed = false;
  bridged.ipv6_forwarding = 0;  // a bridging lab needs no forwarding
  bridged.bridge = "br-wan";
  bridged.bridge_mtu = 1500;
  EXPECT_TRUE(check_host(bridged).empty());
  HostFacts unknown;  // nothing could be read: nothing is claimed
  EXPECT_TRUE(check_host(unknown).empty());
}

TEST(HostChecks, Ipv6ForwardingOffInRoutedMode) {
  HostFacts f = clean_routed();
  f.ipv6_forwarding = 0;
  const auto findings = check_host(f);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].severity, "error");
  EXPECT_EQ(findings[0].code, "ipv6-forwarding-off");
  EXPECT_NE(findings[0].fix.find("sysctl -w net.ipv6.conf.all.forwarding=1"), std::string::npos);
}

TEST(HostChecks, StrictRpFilterAgainstAnAsymmetricRoute) {
  HostFacts f = clean_routed();
  f.reply_interface = "eth0";
  EXPECT_EQ(codes(f), std::vector<std::string>{"rp-filter-asymmetric"});
  EXPECT_NE(check_host(f)[0].fix.find("ip route replace 10.0.31.1 dev wg0"), std::string::npos);
  f.rp_filter = 2;  // loose: GRE arrives, but the host's own replies still go astray
  EXPECT_EQ(codes(f), std::vector<std::string>{"asymmetric-route"});
  EXPECT_EQ(check_host(f)[0].severity, "warning");
  f.reply_interface = std::nullopt;  // no route at all: WireGuard's own checks tell
  EXPECT_TRUE(check_host(f).empty());
}

TEST(HostChecks, ABridgeMtuBelowTheTaps) {
  HostFacts f = clean_routed();
  f.routed = false;
  f.bridge = "br-wan";
  f.bridge_mtu = 1400;
  EXPECT_EQ(codes(f), std::vector<std::string>{"bridge-mtu"});
  EXPECT_NE(check_host(f)[0].fix.find("ip link set br-wan mtu 1500"), std::string::npos);
}

TEST(HostChecks, FactsFromProcSysAndTheMainTable) {
  const auto root = testing::fresh_test_dir("l2wg-host-checks");
  auto write = [&](const std::string& path, const std::string& value) {
    std::filesystem::create_directories((root / path).parent_path());
    std::ofstream(root / path) << value << '\n';
  };
  write("net/ipv6/conf/all/forwarding", "0");
  write("net/ipv4/conf/all/rp_filter", "0");
  write("net/ipv4/conf/wg0/rp_filter", "1");
  testing::FakeNetlink netlink;
  nl::Link wg0, eth0;
  wg0.name = "wg0";
  eth0.name = "eth0";
  const int wg = netlink.add_link(wg0);
  const int eth = netlink.add_link(eth0);
  Route connected, specific;
  connected.destination = *IpPrefix::parse("10.0.31.0/24");
  connected.ifindex = wg;
  specific.destination = *IpPrefix::parse("10.0.31.1/32");
  specific.ifindex = eth;
  netlink.state.routes = {connected, specific};
  config::Tunnel tunnel;
  tunnel.name = "dorm";
  tunnel.spec.wireguard = "wg0";
  tunnel.prefix_delegation = config::PrefixDelegation{};
  TunnelView view;
  view.remote = "10.0.31.1";
  view.tap_mtu = 1500;
  HostPaths paths;
  paths.proc_sys = root.string();
  const HostFacts f = read_host_facts(netlink, tunnel, view, paths);
  EXPECT_EQ(f.ipv6_forwarding, 0);
  EXPECT_EQ(f.rp_filter, 1) << "the larger of all and the interface's";
  EXPECT_EQ(f.reply_interface, "eth0") << "the longest prefix wins";
  EXPECT_TRUE(f.routed);
  EXPECT_EQ(codes(f), (std::vector<std::string>{"ipv6-forwarding-off", "rp-filter-asymmetric"}));
  std::filesystem::remove_all(root);
}

// --- the firewall, on rulesets captured from libnftables (tests/unit/data/nft) ---------------

firewall::Ruleset captured(const std::string& name) {
  return testing::captured_ruleset(name);
}

FirewallScope dorm_scope(const std::string& tap = "l2wg-dorm") {
  FirewallScope s;
  s.wireguard = "wg0";
  s.remote = IpAddress::parse("10.0.31.1");
  s.local = IpAddress::parse("10.0.31.2");
  s.tap = tap;
  s.routed = true;
  s.lans = {"br-lan"};
  return s;
}

FirewallScope lab_scope(bool bridge_netfilter = false) {
  FirewallScope s;
  s.wireguard = "wg0";
  s.remote = IpAddress::parse("10.0.31.2");
  s.local = IpAddress::parse("10.0.31.1");
  s.tap = "gre4t-gre1";
  s.bridge = "br-wan";
  s.bridge_ports = {"eth1"};
  s.bridge_netfilter = bridge_netfilter;
  return s;
}

std::vector<std::string> drop_codes(const std::vector<FirewallDrop>& drops) {
  std::vector<std::string> out;
  for (const auto& d : drops) out.push_back(d.code);
  return out;
}

std::vector<HostFinding> findings_of(const std::vector<FirewallDrop>& drops) {
  HostFacts f;
  f.firewall_drops = drops;
  return check_host(f);
}

TEST(HostChecksFirewall, CleanRulesetsGiveNothing) {
  EXPECT_TRUE(judge_firewall(captured("fw4_dorm"), dorm_scope()).empty());
  EXPECT_TRUE(judge_firewall(captured("strict_clean"), dorm_scope()).empty());
  EXPECT_TRUE(judge_firewall(captured("strict_clean"), lab_scope()).empty());
  EXPECT_TRUE(
      judge_firewall(firewall::Ruleset::parse(R"({"nftables": []})"), lab_scope(true)).empty());
}

TEST(HostChecksFirewall, Fw4WithTheTapInNoZone) {
  const auto drops = judge_firewall(captured("fw4_dorm_tap_unzoned"), dorm_scope());
  EXPECT_EQ(drop_codes(drops),
            (std::vector<std::string>{"firewall-dhcpv6", "firewall-nd-tap", "firewall-forward"}));
  const auto findings = findings_of(drops);
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].severity, "error");
  EXPECT_EQ(findings[0].diagnosis.find("DHCPv6 replies on l2wg-dorm are dropped by rule "), 0u)
      << findings[0].diagnosis;
  EXPECT_NE(findings[0].diagnosis.find("of inet fw4 handle_reject"), std::string::npos);
  EXPECT_NE(findings[0].fix.find("`nft insert rule inet fw4 handle_reject position "),
            std::string::npos)
      << findings[0].fix;
  EXPECT_NE(findings[0].fix.find(" iifname \"l2wg-dorm\" udp dport 546 accept`"),
            std::string::npos);
  EXPECT_NE(findings[0].fix.find("fw4 rewrites its table on reload"), std::string::npos);
  EXPECT_NE(findings[2].diagnosis.find("new connections from the LAN br-lan into l2wg-dorm"),
            std::string::npos)
      << findings[2].diagnosis;
  EXPECT_NE(findings[2].fix.find("iifname \"br-lan\" oifname \"l2wg-dorm\" accept`"),
            std::string::npos);
}

TEST(HostChecksFirewall, GreDroppedOnTheWireGuardInterface) {
  const auto drops = judge_firewall(captured("gre_dropped"), dorm_scope());
  ASSERT_EQ(drop_codes(drops), std::vector<std::string>{"firewall-gre-in"});
  const auto f = findings_of(drops);
  EXPECT_EQ(f[0].severity, "error");
  EXPECT_EQ(f[0].diagnosis.find("GRE from 10.0.31.1 on wg0 are dropped by rule "), 0u)
      << f[0].diagnosis;
  EXPECT_NE(f[0].diagnosis.find("(\"no tunnels in tunnels\") of inet filter input"),
            std::string::npos);
  EXPECT_NE(f[0].diagnosis.find("IP protocol 47"), std::string::npos);
  EXPECT_NE(f[0].fix.find("`nft insert rule inet filter input position " +
                          std::to_string(*drops[0].verdict.handle) +
                          " iifname \"wg0\" ip saddr 10.0.31.1 meta l4proto gre accept`"),
            std::string::npos)
      << f[0].fix;
  EXPECT_EQ(f[0].fix.find("fw4"), std::string::npos);
}

TEST(HostChecksFirewall, Fw4LabsNatLeakageRuleNamesMasqAllowInvalid) {
  const auto drops = judge_firewall(captured("fw4_lab"), lab_scope());
  ASSERT_EQ(drop_codes(drops), std::vector<std::string>{"firewall-ct-invalid"});
  const auto f = findings_of(drops);
  EXPECT_EQ(f[0].severity, "warning");
  EXPECT_EQ(
      f[0].diagnosis.find("IPv4 packets of state invalid from wg0 to br-wan are dropped by rule "),
      0u)
      << f[0].diagnosis;
  EXPECT_NE(f[0].fix.find("masq_allow_invalid '1'"), std::string::npos) << f[0].fix;
  EXPECT_NE(f[0].fix.find("`nft delete rule inet fw4 accept_to_wan handle "), std::string::npos);
  // A host-wide `ct state invalid drop` (strict_clean's input has one; here in forward) names no
  // interface of ours: not a finding.
}

TEST(HostChecksFirewall, BridgeNetfilterSendsBridgedFramesThroughFw4sForwardChain) {
  const auto drops = judge_firewall(captured("fw4_lab"), lab_scope(true));
  ASSERT_EQ(drop_codes(drops),
            (std::vector<std::string>{"bridge-netfilter", "firewall-ct-invalid"}));
  const auto f = findings_of(drops);
  EXPECT_EQ(f[0].severity, "error");
  EXPECT_EQ(f[0].diagnosis.find("Router Solicitations bridged by br-wan are dropped by rule "), 0u)
      << f[0].diagnosis;
  EXPECT_NE(f[0].fix.find("`sysctl -w net.bridge.bridge-nf-call-ip6tables=0`"), std::string::npos);
}

TEST(HostChecksFirewall, ABridgeTableEatingDhcpv6FromTheTap) {
  const auto drops = judge_firewall(captured("bridge_eats_dhcpv6"), lab_scope());
  ASSERT_EQ(drop_codes(drops), std::vector<std::string>{"firewall-bridge"});
  EXPECT_EQ(drops[0].packet, "DHCPv6 solicitations bridged from gre4t-gre1 to eth1");
  EXPECT_EQ(drops[0].verdict.family, "bridge");
  // Without other ports nothing is bridged, nothing judged.
  FirewallScope alone = lab_scope();
  alone.bridge_ports.clear();
  EXPECT_TRUE(judge_firewall(captured("bridge_eats_dhcpv6"), alone).empty());
}

// --- multicast snooping, accept_ra, the endpoint's route, prefix conflicts ------------------

TEST(HostChecks, MulticastSnoopingWithTheTapNoRouterPort) {
  HostFacts f;
  f.bridge = "br-wan";
  f.tap = "l2-lab";
  f.multicast_snooping = 1;
  f.tap_multicast_router = 2;  // what l2wgd sets
  EXPECT_TRUE(check_host(f).empty());
  f.tap_multicast_router = 1;
  ASSERT_EQ(codes(f), std::vector<std::string>{"multicast-snooping"});
  EXPECT_NE(check_host(f)[0].fix.find("ip link set dev l2-lab type bridge_slave mcast_router 2"),
            std::string::npos);
  f.multicast_snooping = 0;
  EXPECT_TRUE(check_host(f).empty());
}

TEST(HostChecks, AcceptRaOneOnAnRaUplinkOfAForwardingRouter) {
  HostFacts f = clean_routed();
  f.ra_uplinks = {{"eth0", 2, 1}};
  EXPECT_TRUE(check_host(f).empty());
  f.ra_uplinks = {{"eth0", 1, 1}};
  ASSERT_EQ(codes(f), std::vector<std::string>{"accept-ra-forwarding"});
  EXPECT_NE(check_host(f)[0].fix.find("sysctl -w net.ipv6.conf.eth0.accept_ra=2"),
            std::string::npos);
  f.ra_uplinks = {{"eth0", 1, 0}};  // a host that does not forward takes RAs with 1
  EXPECT_TRUE(check_host(f).empty());
}

TEST(HostChecks, RaDefaultRoutesFromProcNetIpv6Route) {
  const std::string table =
      "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n"
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "20010db8000000000000000000000001 00000400 00000001 00000000 00000003     eth1\n"
      "garbage\n";
  EXPECT_EQ(ra_default_route_interfaces(table), std::vector<std::string>{"eth0"});
  EXPECT_TRUE(ra_default_route_interfaces("").empty());
}

TEST(HostChecks, TheEndpointRoutedThroughWireGuardItself) {
  HostFacts f = clean_routed();
  f.endpoint = "192.0.2.1";
  f.endpoint_interface = "eth0";
  EXPECT_TRUE(check_host(f).empty());
  f.endpoint_interface = "wg0";
  f.endpoint_otherwise = "via 198.51.100.1 dev eth0";
  ASSERT_EQ(codes(f), std::vector<std::string>{"endpoint-via-wireguard"});
  EXPECT_EQ(check_host(f)[0].severity, "error");
  EXPECT_NE(check_host(f)[0].fix.find("`ip route add 192.0.2.1 via 198.51.100.1 dev eth0`"),
            std::string::npos);
}

TEST(HostChecks, FactsOfFirewallBridgeRaUplinksEndpointAndConflicts) {
  const auto root = testing::fresh_test_dir("l2wg-host-facts");
  auto write = [&](const std::string& path, const std::string& value) {
    std::filesystem::create_directories((root / path).parent_path());
    std::ofstream(root / path) << value << '\n';
  };
  write("sys/net/bridge/bridge-nf-call-ip6tables", "1");
  write("sys/net/ipv6/conf/eth0/accept_ra", "1");
  write("sys/net/ipv6/conf/eth0/forwarding", "1");
  write("class/br-wan/bridge/multicast_snooping", "1");
  write("class/l2-lab/brport/multicast_router", "1");
  write("net/ipv6_route",
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0");
  testing::FakeNetlink netlink;
  auto add = [&](const char* name, int master = 0) {
    nl::Link link;
    link.name = name;
    link.master_ifindex = master;
    return netlink.add_link(link);
  };
  const int wg = add("wg0"), eth = add("eth0"), br = add("br-wan"), lan = add("br-lan");
  add("l2-lab", br);
  add("eth1", br);
  Route endpoint_via_wg, default_route, lan_route, stray;
  endpoint_via_wg.destination = *IpPrefix::parse("192.0.2.0/24");
  endpoint_via_wg.ifindex = wg;
  default_route.destination = *IpPrefix::parse("0.0.0.0/0");
  default_route.gateway = IpAddress::parse("198.51.100.1");
  default_route.ifindex = eth;
  lan_route.destination = *IpPrefix::parse("2001:db8:100::/64");
  lan_route.ifindex = lan;
  stray.destination = *IpPrefix::parse("2001:db8:100::/64");
  stray.ifindex = eth;
  netlink.state.routes = {endpoint_via_wg, default_route, lan_route, stray};

  config::Tunnel tunnel;
  tunnel.name = "lab";
  tunnel.spec.wireguard = "wg0";
  tunnel.spec.bridge = BridgeSpec{};
  tunnel.spec.bridge->name = "br-wan";
  const auto rules = captured("bridge_eats_dhcpv6");
  TunnelView view;
  view.remote = "10.0.31.2";
  view.local = "10.0.31.1";
  view.tap = "l2-lab";
  view.tap_mtu = 1500;
  view.endpoint = "192.0.2.1:51820";
  view.ruleset = &rules;
  HostPaths paths{(root / "sys").string(), (root / "class").string(), (root / "net").string()};
  HostFacts f = read_host_facts(netlink, tunnel, view, paths);
  EXPECT_TRUE(f.bridge_netfilter);
  EXPECT_EQ(f.multicast_snooping, 1);
  EXPECT_EQ(f.tap_multicast_router, 1);
  EXPECT_EQ(f.endpoint, "192.0.2.1");
  EXPECT_EQ(f.endpoint_interface, "wg0");
  EXPECT_EQ(f.endpoint_otherwise, "via 198.51.100.1 dev eth0");
  EXPECT_TRUE(f.ra_uplinks.empty())
      << "bridge mode does not forward: accept_ra is not its business";
  EXPECT_TRUE(f.firewall_drops.empty()) << "the rule names gre4t-gre1, not l2-lab";

  // The same host as a routed dorm with a LAN prefix that eth0 claims too.
  tunnel.spec.bridge.reset();
  tunnel.prefix_delegation = config::PrefixDelegation{};
  tunnel.prefix_delegation->lans = {"br-lan"};
  view.prefixes = {{*IpPrefix::parse("2001:db8:100::/56"), ""},
                   {*IpPrefix::parse("2001:db8:100::/64"), "br-lan"}};
  wg::Peer peer;
  peer.allowed_ips = {*IpPrefix::parse("10.0.31.0/24"), *IpPrefix::parse("2001:db8::/32"),
                      *IpPrefix::parse("::/0")};
  view.wireguard_peers = {peer};
  f = read_host_facts(netlink, tunnel, view, paths);
  ASSERT_EQ(f.ra_uplinks.size(), 1u);
  EXPECT_EQ(f.ra_uplinks[0], (RaUplink{"eth0", 1, 1}));
  ASSERT_EQ(f.prefix_conflicts.size(), 4u);
  EXPECT_EQ(f.prefix_conflicts[0].ours, "2001:db8:100::/56 (delegated)");
  EXPECT_EQ(f.prefix_conflicts[0].other, "2001:db8:100::/64 dev eth0");
  EXPECT_FALSE(f.prefix_conflicts[1].route);
  EXPECT_EQ(f.prefix_conflicts[2].ours, "2001:db8:100::/64 on br-lan");
  const auto found = codes(f);
  for (const char* code : {"accept-ra-forwarding", "endpoint-via-wireguard",
                           "prefix-route-conflict", "prefix-in-allowed-ips"})
    EXPECT_NE(std::find(found.begin(), found.end(), code), found.end()) << code;
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace l2wg
