#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "l2wg/lan/announcement.h"

namespace l2wg::lan {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint64_t kNow = 1'700'000'000'000'000;  // µs since the epoch
constexpr uint64_t kSecond = 1'000'000;

IpPrefix prefix(const char* text) {
  return *IpPrefix::parse(text, true);
}

RouterSettings settings() {
  return RouterSettings{*MacAddress::parse("02:00:5e:10:00:01"), 600, 1800};
}

Announcement up_with_lease(uint64_t preferred_s, uint64_t valid_s) {
  Announcement a;
  a.default_router = true;
  a.prefixes.push_back({prefix("2001:db8:100:1::/64"), kNow + preferred_s * kSecond,
                        kNow + valid_s * kSecond});
  a.delegated = {AnnouncedPrefix{prefix("2001:db8:100::/56"), kNow + preferred_s * kSecond,
                                 kNow + valid_s * kSecond}};
  a.mtu = 1500;
  a.dns_servers = {*IpAddress::parse("2001:db8::53")};
  a.domains = {"example.com"};
  return a;
}

TEST(LanAnnouncement, ShortLeaseLifetimesPassThroughAsWhatIsLeft) {
  const auto ra = build_advertisement(up_with_lease(300, 600), settings(), kNow + 100 * kSecond);
  EXPECT_EQ(ra.router_lifetime, 1800);
  EXPECT_EQ(ra.hop_limit, 64);
  EXPECT_EQ(ra.mtu, 1500u);
  EXPECT_EQ(ra.source_link_layer, MacAddress::parse("02:00:5e:10:00:01"));
  EXPECT_THAT(ra.prefixes, ElementsAre(PrefixInformation{prefix("2001:db8:100:1::/64"), true, true, 500, 200}));
  EXPECT_THAT(ra.routes, ElementsAre(RouteInformation{prefix("2001:db8:100::/56"), RouterPreference::Medium, 500}));
  EXPECT_EQ(ra.dns_servers, (RecursiveDnsServers{500, {*IpAddress::parse("2001:db8::53")}}));
  EXPECT_EQ(ra.search_list, (DnsSearchList{500, {"example.com"}}));
}

TEST(LanAnnouncement, LongLeasesAreCappedAsRfc9096Asks) {
  const auto ra = build_advertisement(up_with_lease(86400, 172800), settings(), kNow);
  EXPECT_THAT(ra.prefixes, ElementsAre(PrefixInformation{prefix("2001:db8:100:1::/64"), true, true, kValidLimit, kPreferredLimit}));
  EXPECT_EQ(ra.routes[0].lifetime, 1800u);
  EXPECT_EQ(ra.dns_servers->lifetime, 1800u);  // 3 × MaxRtrAdvInterval

  auto infinite = up_with_lease(0, 0);
  infinite.prefixes[0].preferred_until_us = infinite.prefixes[0].valid_until_us = UINT64_MAX;
  infinite.delegated[0].valid_until_us = UINT64_MAX;
  const auto forever = build_advertisement(infinite, settings(), kNow);
  EXPECT_EQ(forever.prefixes[0].valid_lifetime, kValidLimit);
  EXPECT_EQ(forever.prefixes[0].preferred_lifetime, kPreferredLimit);
  EXPECT_EQ(forever.routes[0].lifetime, 1800u);
}

TEST(LanAnnouncement, TunnelDownMeansNoDefaultRouterButAddressesStay) {
  auto down = up_with_lease(300, 600);
  down.default_router = false;
  const auto ra = build_advertisement(down, settings(), kNow);
  EXPECT_EQ(ra.router_lifetime, 0);
  EXPECT_EQ(ra.routes[0].lifetime, 0u);
  EXPECT_EQ(ra.prefixes[0].valid_lifetime, 600u);
}

TEST(LanAnnouncement, ReplacedPrefixIsDeprecatedUntilItsOldValidLifetimeEnds) {
  auto a = up_with_lease(300, 600);
  a.deprecated.push_back({prefix("2001:db8:200:1::/64"), kNow, kNow + 50 * kSecond});
  const auto during = build_advertisement(a, settings(), kNow + 10 * kSecond);
  EXPECT_THAT(during.prefixes, ElementsAre(PrefixInformation{prefix("2001:db8:100:1::/64"), true, true, 590, 290},
                                           PrefixInformation{prefix("2001:db8:200:1::/64"), true, true, 0, 0}));
  const auto after = build_advertisement(a, settings(), kNow + 50 * kSecond);
  EXPECT_EQ(after.prefixes.size(), 1u);
}

TEST(LanAnnouncement, ExpiredPrefixIsLeftOutAndTakesTheDnsOptionsWithIt) {
  const auto ra = build_advertisement(up_with_lease(300, 600), settings(), kNow + 600 * kSecond);
  EXPECT_THAT(ra.prefixes, IsEmpty());
  EXPECT_EQ(ra.dns_servers, std::nullopt);
  EXPECT_EQ(ra.search_list, std::nullopt);
  EXPECT_EQ(ra.routes[0].lifetime, 0u);
}

TEST(LanAnnouncement, PreferredNeverExceedsValid) {
  auto a = up_with_lease(600, 600);
  a.prefixes[0].preferred_until_us = kNow + 9000 * kSecond;  // a lease that says so anyway
  const auto ra = build_advertisement(a, settings(), kNow);
  EXPECT_EQ(ra.prefixes[0].preferred_lifetime, 600u);
}

TEST(LanAnnouncement, TheResultEncodes) {
  auto a = up_with_lease(300, 600);
  a.deprecated.push_back({prefix("2001:db8:200:1::/64"), kNow, kNow + 50 * kSecond});
  const auto ra = build_advertisement(a, settings(), kNow);
  EXPECT_EQ(std::get<RouterAdvertisement>(parse_router_advertisement(encode(ra))), ra);
}

}  // namespace
}  // namespace l2wg::lan
