// The nftables evaluator doctor's firewall checks stand on, against rulesets captured from
// libnftables' JSON API (tests/unit/data/nft/*.nft loaded by capture.sh): fw4's own rendering for
// the lab and dorm routers, a host firewall dropping GRE, a strict one that drops nothing needed.
#include "l2wg/daemon/firewall.h"

#include <gtest/gtest.h>

#include "l2wg/error.h"
#include "nft_captures.h"

namespace l2wg::firewall {
namespace {

Ruleset captured(const std::string& name) {
  return testing::captured_ruleset(name);
}

IpAddress ip(const char* text) {
  return *IpAddress::parse(text);
}

Packet gre_from_peer(const std::string& wg = "wg0") {
  Packet p;
  p.ip = IpAddress::Family::V4;
  p.hooks = {Hook::Prerouting, Hook::Input};
  p.iif = wg;
  p.l4proto = kGre;
  p.saddr = ip("10.0.31.1");
  p.daddr = ip("10.0.31.2");
  p.ct_state = "established";
  return p;
}

Packet gre_to_peer() {
  Packet p = gre_from_peer();
  p.hooks = {Hook::Output, Hook::Postrouting};
  p.iif.clear();
  p.oif = "wg0";
  std::swap(p.saddr, p.daddr);
  return p;
}

Packet dhcpv6_reply(const std::string& tap) {
  Packet p;
  p.hooks = {Hook::Prerouting, Hook::Input};
  p.iif = tap;
  p.l4proto = kUdp;
  p.sport = 547;
  p.dport = 546;
  p.saddr = ip("fe80::1");
  p.daddr = ip("fe80::2");
  p.ct_state = "new";
  return p;
}

Packet icmpv6_in(const std::string& iface, uint8_t type) {
  Packet p;
  p.hooks = {Hook::Prerouting, Hook::Input};
  p.iif = iface;
  p.l4proto = kIcmpv6;
  p.icmp_type = type;
  p.icmp_code = 0;
  p.saddr = ip("fe80::1");
  p.ct_state = "untracked";
  return p;
}

Packet forwarded(const std::string& from, const std::string& to, const std::string& state) {
  Packet p;
  p.hooks = {Hook::Prerouting, Hook::Forward, Hook::Postrouting};
  p.iif = from;
  p.oif = to;
  p.l4proto = kTcp;
  p.dport = 443;
  p.tcp_flags = {state == "new" ? "syn" : "ack"};
  p.ct_state = state;
  return p;
}

TEST(Firewall, Fw4LabAcceptsTheTunnelButDropsInvalidToTheWanBridge) {
  const Ruleset fw4 = captured("fw4_lab");
  EXPECT_FALSE(fw4.evaluate(gre_from_peer()).dropped);
  EXPECT_FALSE(fw4.evaluate(gre_to_peer()).dropped);
  Packet first = gre_from_peer();
  first.ct_state = "new";  // wg0 is in zone lan, whose input is accepted
  EXPECT_FALSE(fw4.evaluate(first).dropped);

  // Seed 002's trace: an IPv4 reply routed from wg0 out of br-wan, conntrack state invalid.
  Packet invalid = forwarded("wg0", "br-wan", "invalid");
  invalid.ip = IpAddress::Family::V4;
  invalid.l4proto = 1;
  invalid.tcp_flags.clear();
  const Verdict v = fw4.evaluate(invalid);
  ASSERT_TRUE(v.dropped);
  EXPECT_TRUE(v.certain);
  EXPECT_EQ(v.family, "inet");
  EXPECT_EQ(v.table, "fw4");
  EXPECT_EQ(v.chain, "accept_to_wan");
  EXPECT_EQ(v.comment, "!fw4: Prevent NAT leakage");
  EXPECT_NE(std::find(v.named_interfaces.begin(), v.named_interfaces.end(), "br-wan"),
            v.named_interfaces.end());
  EXPECT_EQ(v.where().find("rule "), 0u) << v.where();
  // The same state over IPv6 passes: fw4 only guards masqueraded IPv4.
  invalid.ip = IpAddress::Family::V6;
  EXPECT_FALSE(fw4.evaluate(invalid).dropped);
}

TEST(Firewall, Fw4DormWithTheTapInZoneWanPassesEverythingTheTunnelNeeds) {
  const Ruleset fw4 = captured("fw4_dorm");
  EXPECT_FALSE(fw4.evaluate(dhcpv6_reply("l2wg-dorm")).dropped);
  for (const uint8_t type : {kRouterAdvert, kNeighborSolicit, kNeighborAdvert})
    EXPECT_FALSE(fw4.evaluate(icmpv6_in("l2wg-dorm", type)).dropped) << int(type);
  EXPECT_FALSE(fw4.evaluate(icmpv6_in("br-lan", kRouterSolicit)).dropped);
  EXPECT_FALSE(fw4.evaluate(forwarded("br-lan", "l2wg-dorm", "new")).dropped);
  EXPECT_FALSE(fw4.evaluate(forwarded("l2wg-dorm", "br-lan", "established")).dropped);
  Packet too_big = forwarded("l2wg-dorm", "br-lan", "related");
  too_big.l4proto = kIcmpv6;
  too_big.icmp_type = kPacketTooBig;
  too_big.icmp_code = 0;
  EXPECT_FALSE(fw4.evaluate(too_big).dropped);
}

TEST(Firewall, Fw4DormWithTheTapInNoZoneRejectsDhcpv6AndTheLansFlows) {
  const Ruleset fw4 = captured("fw4_dorm_tap_unzoned");
  const Verdict dhcp = fw4.evaluate(dhcpv6_reply("l2wg-dorm"));
  ASSERT_TRUE(dhcp.dropped);
  EXPECT_EQ(dhcp.chain, "handle_reject");
  const Verdict out = fw4.evaluate(forwarded("br-lan", "l2wg-dorm", "new"));
  ASSERT_TRUE(out.dropped);
  EXPECT_EQ(out.chain, "handle_reject");
  EXPECT_TRUE(out.certain);
  // Replies are established: the vmap accepts them before any zone is asked.
  EXPECT_FALSE(fw4.evaluate(forwarded("l2wg-dorm", "br-lan", "established")).dropped);
  // Untracked ND is not in the vmap and the tap is in no zone: rejected too.
  EXPECT_TRUE(fw4.evaluate(icmpv6_in("l2wg-dorm", kNeighborAdvert)).dropped);
}

TEST(Firewall, AHostFirewallDroppingGreOnWireGuard) {
  const Ruleset rules = captured("gre_dropped");
  const Verdict v = rules.evaluate(gre_from_peer());
  ASSERT_TRUE(v.dropped);
  EXPECT_EQ(v.chain, "input");
  EXPECT_EQ(v.comment, "no tunnels in tunnels");
  ASSERT_TRUE(v.handle);
  EXPECT_EQ(v.named_interfaces, std::vector<std::string>{"wg0"});
  EXPECT_FALSE(rules.evaluate(gre_from_peer("wg1")).dropped);  // another interface: not matched
  EXPECT_FALSE(rules.evaluate(gre_to_peer()).dropped);
}

TEST(Firewall, AStrictFirewallThatAcceptsWhatIsNeededDropsNothingNeeded) {
  const Ruleset rules = captured("strict_clean");
  EXPECT_FALSE(rules.evaluate(gre_from_peer()).dropped);
  EXPECT_FALSE(rules.evaluate(gre_to_peer()).dropped);
  EXPECT_FALSE(rules.evaluate(dhcpv6_reply("l2wg-dorm")).dropped);
  for (const uint8_t type : {kRouterAdvert, kNeighborSolicit, kNeighborAdvert})
    EXPECT_FALSE(rules.evaluate(icmpv6_in("l2wg-dorm", type)).dropped);
  EXPECT_FALSE(rules.evaluate(forwarded("br-lan", "l2wg-dorm", "new")).dropped);
  EXPECT_FALSE(rules.evaluate(forwarded("l2wg-dorm", "br-lan", "established")).dropped);
  // A peer outside the named set is dropped by the policy, but `meta mark` (which doctor cannot
  // know) might have accepted it first: the drop is reported as uncertain.
  Packet stranger = gre_from_peer();
  stranger.saddr = ip("10.0.31.9");
  stranger.ct_state = "new";
  const Verdict v = rules.evaluate(stranger);
  ASSERT_TRUE(v.dropped);
  EXPECT_FALSE(v.handle);  // the policy
  EXPECT_FALSE(v.certain);
  // A flow the LAN did not start is dropped for sure by the forward policy.
  const Verdict in = rules.evaluate(forwarded("l2wg-dorm", "br-lan", "new"));
  ASSERT_TRUE(in.dropped);
  EXPECT_TRUE(in.certain);
  EXPECT_EQ(in.where(), "the policy of inet filter forward");
}

TEST(Firewall, BridgeFamilySeesOnlyBridgedFrames) {
  const Ruleset rules = captured("bridge_eats_dhcpv6");
  Packet solicit;
  solicit.bridged = true;
  solicit.hooks = {Hook::Prerouting, Hook::Forward, Hook::Postrouting};
  solicit.iif = "gre4t-gre1";
  solicit.oif = "eth1";
  solicit.l4proto = kUdp;
  solicit.sport = 546;
  solicit.dport = 547;
  solicit.ct_state = "new";
  const Verdict v = rules.evaluate(solicit);
  ASSERT_TRUE(v.dropped);
  EXPECT_EQ(v.family, "bridge");
  solicit.bridged = false;  // routed, the inet family: no table there
  EXPECT_FALSE(rules.evaluate(solicit).dropped);
  EXPECT_TRUE(Ruleset::parse(R"({"nftables": []})").empty());
  EXPECT_FALSE(rules.empty());
}

TEST(Firewall, UndecidedRulesAreNeverClaimed) {
  // A drop behind a fib match (reverse-path filtering by nftables) is not claimed.
  const auto rules = Ruleset::parse(R"({"nftables": [
    {"table": {"family": "inet", "name": "t", "handle": 1}},
    {"chain": {"family": "inet", "table": "t", "name": "in", "handle": 1, "type": "filter",
               "hook": "input", "prio": 0, "policy": "accept"}},
    {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [
      {"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "iif"]}},
                 "right": false}}, {"drop": null}]}},
    {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [
      {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": 47}},
      {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "wg*"}},
      {"drop": null}]}}]})");
  EXPECT_FALSE(rules.evaluate(gre_from_peer()).dropped);       // wg0 matches "wg*"
  EXPECT_TRUE(rules.evaluate(gre_from_peer("eth0")).dropped);  // eth0 does not
}

TEST(Firewall, MalformedRulesetsAreRefusedByName) {
  for (const char* text : {"", "[]", R"({"nftables": 1})", "{not json",
                           R"({"nftables": [{"rule": {"family": "inet", "table": "t",
                              "chain": "missing", "expr": []}}]})"}) {
    try {
      Ruleset::parse(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("nftables"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace l2wg::firewall
