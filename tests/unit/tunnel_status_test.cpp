// TunnelStatus, the daemon's side of net.l2wg1.Tunnel's properties: Describe()'s JSON byte for
// byte, change notification in the XML's order, and the CLI reading back what the daemon wrote.
#include <gtest/gtest.h>

#include "l2wg/cli/tunnel_info.h"
#include "l2wg/daemon/status.h"

namespace l2wg {
namespace {

IpPrefix prefix(std::string_view text) {
  return IpPrefix::parse(text).value();
}

TunnelStatus routed_dorm() {
  TunnelStatus s;
  s.name = "dorm";
  s.state = TunnelState::Degraded;
  s.state_reason = "The upstream router fe80::1 stopped answering.";
  s.wireguard = "wg1";
  s.peer_public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
  s.local_address = "10.0.31.2";
  s.remote_address = "10.0.31.10";
  s.interface = "l2-dorm";
  s.datapath = "userspace";
  s.mtu = 1500;
  s.peer_endpoint = "203.0.113.5:51820";
  s.last_handshake_us = 1699999990000000;
  s.delegated_prefixes = {{prefix("2001:db8:1200::/56"), 1700011520000000, 1700018000000000}};
  s.lan_prefixes = {{"br-lan", prefix("2001:db8:1200:1::/64")}};
  s.upstream_router = "fe80::1";
  s.persistent = true;
  s.gre_key = "7";
  s.mac_address = "02:11:22:33:44:55";
  s.mss_clamp = 1420;
  s.path = "verified";
  s.peer_mac_address = "06:aa:bb:cc:dd:ee";
  return s;
}

// nlohmann::json keeps an object's keys sorted.
TEST(TunnelStatus, DescribeJson) {
  EXPECT_EQ(describe_json(routed_dorm(), {1699999999000000, 1234}),
            R"({"Bridge":"","Datapath":"userspace","DelegatedPrefixes":[{"PreferredUntil":)"
            R"(1700011520000000,"Prefix":"2001:db8:1200::/56","ValidUntil":1700018000000000}],)"
            R"("GREKey":"7","Interface":"l2-dorm","LANPrefixes":[{"LAN":"br-lan","Prefix":)"
            R"("2001:db8:1200:1::/64"}],"LastHandshake":1699999990000000,)"
            R"("LastProbeAnswer":1699999999000000,"LocalAddress":)"
            R"("10.0.31.2","MACAddress":"02:11:22:33:44:55","MSSClamp":1420,"MTU":1500,)"
            R"("Name":"dorm","Path":"verified","PeerEndpoint":"203.0.113.5:51820",)"
            R"("PeerMACAddress":"06:aa:bb:cc:dd:ee",)"
            R"("PeerPublicKey":"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=","Persistent":true,)"
            R"("ProbeRoundTrip":1234,"RemoteAddress":"10.0.31.10","State":"degraded","StateReason":"The upstream )"
            R"(router fe80::1 stopped answering.","UpstreamRouter":"fe80::1","WireGuard":"wg1"})");
  EXPECT_EQ(describe_json(TunnelStatus{}),
            R"({"Bridge":"","Datapath":"","DelegatedPrefixes":[],"GREKey":"","Interface":"",)"
            R"("LANPrefixes":[],"LastHandshake":0,"LastProbeAnswer":0,"LocalAddress":"",)"
            R"("MACAddress":"","MSSClamp":0,"MTU":0,"Name":"","Path":"",)"
            R"("PeerEndpoint":"","PeerMACAddress":"","PeerPublicKey":"","Persistent":false,)"
            R"("ProbeRoundTrip":0,"RemoteAddress":"",)"
            R"("State":"configuring","StateReason":"","UpstreamRouter":"","WireGuard":""})");
}

TEST(TunnelStatus, ChangedPropertiesInTheXmlsOrder) {
  const TunnelStatus before = routed_dorm();
  EXPECT_TRUE(changed_properties(before, before).empty());
  TunnelStatus after = before;
  after.persistent = false;
  after.lan_prefixes[0].lan = "br-lan2";
  after.mtu = 1420;
  after.state = TunnelState::Up;
  after.delegated_prefixes[0].valid_until_us += 1;
  EXPECT_EQ(
      changed_properties(before, after),
      (std::vector<std::string>{"State", "MTU", "DelegatedPrefixes", "LANPrefixes", "Persistent"}));
  EXPECT_EQ(changed_properties(TunnelStatus{}, before).size(), 21u);  // all but Bridge
}

TEST(TunnelStatus, TheCliReadsBackWhatTheDaemonWrites) {
  const cli::TunnelInfo info = cli::parse_describe(describe_json(routed_dorm(), {17, 1234}));
  EXPECT_EQ(info.name, "dorm");
  EXPECT_EQ(info.state, "degraded");
  EXPECT_EQ(info.state_reason, "The upstream router fe80::1 stopped answering.");
  EXPECT_EQ(info.peer_public_key, "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=");
  EXPECT_EQ(info.local_address, "10.0.31.2");
  EXPECT_EQ(info.remote_address, "10.0.31.10");
  EXPECT_EQ(info.interface, "l2-dorm");
  EXPECT_EQ(info.datapath, "userspace");
  EXPECT_EQ(info.mtu, 1500u);
  EXPECT_EQ(info.peer_endpoint, "203.0.113.5:51820");
  EXPECT_EQ(info.last_handshake_us, 1699999990000000u);
  EXPECT_EQ(info.delegated_prefixes,
            (std::vector<cli::DelegatedPrefixInfo>{
                {"2001:db8:1200::/56", 1700011520000000, 1700018000000000}}));
  EXPECT_EQ(info.lan_prefixes,
            (std::vector<cli::LanPrefixInfo>{{"br-lan", "2001:db8:1200:1::/64"}}));
  EXPECT_EQ(info.upstream_router, "fe80::1");
  EXPECT_TRUE(info.persistent);
  EXPECT_EQ(info.gre_key, "7");
  EXPECT_EQ(info.mac_address, "02:11:22:33:44:55");
  EXPECT_EQ(info.mss_clamp, 1420u);
  EXPECT_EQ(info.path, "verified");
  EXPECT_EQ(info.peer_mac_address, "06:aa:bb:cc:dd:ee");
  EXPECT_EQ(info.last_probe_answer_us, 17u);
  EXPECT_EQ(info.probe_round_trip_us, 1234u);
}

}  // namespace
}  // namespace l2wg
