// WGIF.discovery: both roles, their defaults, and every error naming file, line and key.
#include <gtest/gtest.h>

#include "l2wg/daemon/discovery.h"

namespace l2wg::config {
namespace {

constexpr const char* kKey = "xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=";

TEST(DiscoveryConfig, BothRolesWithDefaults) {
  const auto parsed = parse_discovery(
      "[Registry]\nZone=example.com.\n\n[Client]\nRegistry=198.51.100.1\nZone=example.com\n",
      "wg0.discovery");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].what();
  const auto& d = *parsed.discovery;
  EXPECT_EQ(d.interface, "wg0");
  EXPECT_EQ(d.registry, (RegistryRole{"example.com", 53}));
  ASSERT_TRUE(d.client);
  EXPECT_EQ(d.client->registry, *Endpoint::parse("198.51.100.1:53"));
  EXPECT_EQ(d.client->zone, "example.com");
  EXPECT_TRUE(d.client->peers.empty());
  EXPECT_FALSE(d.client->override_endpoints);
  EXPECT_EQ(d.client->keepalive_s, 25);
  EXPECT_EQ(d.client->interval_us, 60'000'000u);
  EXPECT_EQ(d.client->stale_us, 135'000'000u);
}

TEST(DiscoveryConfig, EveryClientKey) {
  const auto parsed = parse_discovery(
      std::string("[Client]\nRegistry=2001:db8::1\nPort=5353\nZone=wg.example\nPeer=") + kKey +
          "\nOverride=yes\nPersistentKeepalive=5\nInterval=30\nStaleAfter=20\n",
      "wgA.discovery");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].what();
  const auto& c = *parsed.discovery->client;
  EXPECT_EQ(c.registry, *Endpoint::parse("[2001:db8::1]:5353"));
  ASSERT_EQ(c.peers.size(), 1u);
  EXPECT_TRUE(c.override_endpoints);
  EXPECT_EQ(c.keepalive_s, 5);
  EXPECT_EQ(c.interval_us, 30'000'000u);
  EXPECT_EQ(c.stale_us, 20'000'000u);
  EXPECT_FALSE(parsed.discovery->registry);
}

TEST(DiscoveryConfig, EveryErrorAtOnceNamingLineAndKey) {
  const auto parsed = parse_discovery(
      "[Registry]\nZone=\nPort=99999\nPort=53\nColour=blue\n[Client]\nRegistry=nowhere\n"
      "Peer=abc\nOverride=maybe\n[Hub]\nX=1\n",
      "wg0.discovery");
  EXPECT_FALSE(parsed.discovery);
  std::vector<std::string> messages;
  for (const auto& e : parsed.errors) messages.push_back(e.what());
  const std::vector<std::string> expected = {
      "wg0.discovery:2: Zone=: empty: name the zone, e.g. example.com",
      "wg0.discovery:3: Port=99999: out of range (1..65535)",
      "wg0.discovery:4: Port= given twice (lines 3 and 4)",
      "wg0.discovery:5: unknown key Colour= in [Registry] (keys: Zone=, Port=)",
      "wg0.discovery:7: Registry=nowhere: not an IP address (the registry's inner address)",
      "wg0.discovery:8: Peer=abc: not a WireGuard public key (44 characters of base64)",
      "wg0.discovery:9: Override=maybe: not a boolean (yes/no, true/false, on/off, 1/0)",
      "wg0.discovery:10: unknown section [Hub] (use [Registry] or [Client])",
      // Zone= and Registry= were there, only bad: not reported missing too.
      "wg0.discovery:6: [Client] needs Zone=",
  };
  EXPECT_EQ(messages, expected);
}

TEST(DiscoveryConfig, NothingToDoAndBadFileName) {
  auto parsed = parse_discovery("# empty\n", "wg0.discovery");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_STREQ(parsed.errors[0].what(),
               "wg0.discovery:0: neither [Registry] nor [Client]: nothing to do");
  parsed = parse_discovery("[Registry]\nZone=example.com\n", "a very long name.discovery");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_FALSE(parsed.discovery);
}

TEST(DiscoveryConfig, ZoneMustLeaveRoomForAPeersName) {
  const auto parsed =
      parse_discovery("[Registry]\nZone=" + std::string(64, 'a') + ".example\n", "wg0.discovery");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_NE(std::string(parsed.errors[0].what()).find("not a DNS zone"), std::string::npos);
}

}  // namespace
}  // namespace l2wg::config
