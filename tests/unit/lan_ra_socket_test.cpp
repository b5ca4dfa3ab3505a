#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <variant>
#include <vector>

#include "l2wg/lan/ra_socket.h"

namespace l2wg::lan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kSecond = 1'000'000;

struct FakeClock : Clock {
  uint64_t mono = 7 * kSecond;
  uint64_t monotonic_us() override { return mono; }
  uint64_t wall_us() override { return 1'700'000'000'000'000 + mono; }
};

IpAddress address(const char* text) {
  return *IpAddress::parse(text);
}

const MacAddress kMac = *MacAddress::parse("02:00:5e:10:00:02");

// Runs the solicitor's timer up to `until` and returns when it asked for a solicitation.
std::vector<uint64_t> run(FakeClock& clock, Solicitor& solicitor, uint64_t until) {
  std::vector<uint64_t> sent;
  while (auto deadline = solicitor.next_deadline_us()) {
    if (*deadline > until) break;
    clock.mono = *deadline;
    if (solicitor.on_timer()) sent.push_back(clock.mono);
  }
  clock.mono = until;
  return sent;
}

TEST(LanSolicitor, ThreeSolicitationsFourSecondsApartThenSilence) {
  FakeClock clock;
  Solicitor solicitor(clock);
  EXPECT_EQ(solicitor.next_deadline_us(), std::nullopt);
  const uint64_t start = clock.mono;
  solicitor.start();
  EXPECT_EQ(solicitor.next_deadline_us(), start);  // at once
  EXPECT_THAT(run(clock, solicitor, start + 60 * kSecond),
              ElementsAre(start, start + 4 * kSecond, start + 8 * kSecond));
  EXPECT_EQ(solicitor.sent(), 3u);
  EXPECT_EQ(solicitor.next_deadline_us(), std::nullopt);
}

TEST(LanSolicitor, NothingBeforeItsTime) {
  FakeClock clock;
  Solicitor solicitor(clock);
  EXPECT_FALSE(solicitor.on_timer());  // not started
  solicitor.start();
  EXPECT_TRUE(solicitor.on_timer());
  clock.mono += 4 * kSecond - 1;
  EXPECT_FALSE(solicitor.on_timer());  // a spurious wake-up
  clock.mono += 1;
  EXPECT_TRUE(solicitor.on_timer());
  EXPECT_EQ(solicitor.sent(), 2u);
}

TEST(LanSolicitor, AnAdvertisementEndsIt) {
  FakeClock clock;
  Solicitor solicitor(clock);
  solicitor.start();
  EXPECT_TRUE(solicitor.on_timer());
  clock.mono += 1 * kSecond;
  solicitor.advertisement_heard();
  EXPECT_EQ(solicitor.next_deadline_us(), std::nullopt);
  EXPECT_THAT(run(clock, solicitor, clock.mono + 60 * kSecond), ElementsAre());
  EXPECT_EQ(solicitor.sent(), 1u);
}

TEST(LanSolicitor, StartsOverWhenTheLinkComesBack) {
  FakeClock clock;
  Solicitor solicitor(clock);
  solicitor.start();
  run(clock, solicitor, clock.mono + 60 * kSecond);
  const uint64_t again = clock.mono;
  solicitor.start();
  EXPECT_THAT(run(clock, solicitor, again + 60 * kSecond),
              ElementsAre(again, again + 4 * kSecond, again + 8 * kSecond));
  EXPECT_EQ(solicitor.sent(), 6u);
}

TEST(LanRaValidation, SolicitationFromALinkLocalWithItsAddress) {
  const auto result =
      validate_solicitation(encode(RouterSolicitation{kMac}), address("fe80::1"), 255);
  ASSERT_TRUE(std::holds_alternative<RouterSolicitation>(result));
  EXPECT_EQ(std::get<RouterSolicitation>(result).source_link_layer, kMac);
}

TEST(LanRaValidation, SolicitationFromOffLinkIsRefused) {
  const auto result =
      validate_solicitation(encode(RouterSolicitation{kMac}), address("fe80::1"), 64);
  ASSERT_TRUE(std::holds_alternative<ParseError>(result));
  EXPECT_THAT(std::get<ParseError>(result).reason, HasSubstr("hop limit 64, not 255"));
}

TEST(LanRaValidation, SolicitationFromUnspecifiedMustNotCarryALinkLayerAddress) {
  const IpAddress unspecified = address("::");
  EXPECT_TRUE(std::holds_alternative<RouterSolicitation>(
      validate_solicitation(encode(RouterSolicitation{}), unspecified, 255)));
  const auto result = validate_solicitation(encode(RouterSolicitation{kMac}), unspecified, 255);
  ASSERT_TRUE(std::holds_alternative<ParseError>(result));
  EXPECT_THAT(std::get<ParseError>(result).reason, HasSubstr("link-layer address"));
}

TEST(LanRaValidation, MalformedSolicitationKeepsTheParsersReason) {
  std::vector<uint8_t> rs = encode(RouterSolicitation{kMac});
  rs[9] = 0;  // option length 0
  const auto result = validate_solicitation(rs, address("fe80::1"), 255);
  ASSERT_TRUE(std::holds_alternative<ParseError>(result));
  EXPECT_THAT(std::get<ParseError>(result).reason, HasSubstr("length 0"));
}

TEST(LanRaValidation, AdvertisementFromALinkLocalRouter) {
  RouterAdvertisement ra;
  ra.router_lifetime = 1800;
  ra.mtu = 1420;
  const auto result = validate_advertisement(encode(ra), address("fe80::2"), 255);
  ASSERT_TRUE(std::holds_alternative<RouterAdvertisement>(result));
  EXPECT_EQ(std::get<RouterAdvertisement>(result), ra);
}

TEST(LanRaValidation, AdvertisementMustBeLinkLocalAndOnLink) {
  RouterAdvertisement ra;
  ra.router_lifetime = 1800;
  const auto global = validate_advertisement(encode(ra), address("2001:db8::1"), 255);
  ASSERT_TRUE(std::holds_alternative<ParseError>(global));
  EXPECT_THAT(std::get<ParseError>(global).reason, HasSubstr("2001:db8::1 is not link-local"));
  const auto off_link = validate_advertisement(encode(ra), address("fe80::2"), 254);
  ASSERT_TRUE(std::holds_alternative<ParseError>(off_link));
  EXPECT_THAT(std::get<ParseError>(off_link).reason, HasSubstr("hop limit 254"));
  const auto solicitation =
      validate_advertisement(encode(RouterSolicitation{}), address("fe80::2"), 255);
  EXPECT_TRUE(std::holds_alternative<ParseError>(solicitation));
}

}  // namespace
}  // namespace l2wg::lan
