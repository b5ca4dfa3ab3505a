// doctor's host checks (Tunnel.Diagnose): each finds what breaks the tunnel, with the command that
// fixes it, and a clean host gives nothing at all; the facts are read from a /proc/sys of files
// and the fake kernel's routes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fake_netlink.h"
#include "l2wg/daemon/host_checks.h"
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
  const HostFacts f = read_host_facts(netlink, tunnel, "10.0.31.1", 1500, root.string());
  EXPECT_EQ(f.ipv6_forwarding, 0);
  EXPECT_EQ(f.rp_filter, 1) << "the larger of all and the interface's";
  EXPECT_EQ(f.reply_interface, "eth0") << "the longest prefix wins";
  EXPECT_TRUE(f.routed);
  EXPECT_EQ(codes(f), (std::vector<std::string>{"ipv6-forwarding-off", "rp-filter-asymmetric"}));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace l2wg
