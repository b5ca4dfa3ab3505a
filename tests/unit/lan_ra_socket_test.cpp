#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <variant>
#include <vector>

#include "l2wg/lan/ra_socket.h"
#include "l2wg/lan/reachability_probe.h"
#include "l2wg/lan/solicitor.h"

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

// Runs the probe's timer up to `until`, answering the probes sent before `answer_until`, and
// returns when it asked for a probe.
std::vector<uint64_t> run(FakeClock& clock, ReachabilityProbe& probe, uint64_t until,
                          uint64_t answer_until = 0) {
  std::vector<uint64_t> sent;
  while (auto deadline = probe.next_deadline_us()) {
    if (*deadline > until) break;
    clock.mono = *deadline;
    if (!probe.on_timer()) continue;
    sent.push_back(clock.mono);
    if (clock.mono < answer_until) probe.answered(*probe.target());
  }
  clock.mono = until;
  return sent;
}

TEST(LanReachabilityProbe, ProbesEveryTwoSecondsAndGivesUpAfterThreeUnanswered) {
  FakeClock clock;
  ReachabilityProbe probe(clock);
  EXPECT_EQ(probe.next_deadline_us(), std::nullopt) << "nothing watched";
  const uint64_t start = clock.mono;
  probe.watch(address("fe80::1"));
  EXPECT_EQ(probe.next_deadline_us(), start) << "the first probe at once";
  EXPECT_THAT(run(clock, probe, start + 5 * kSecond),
              ElementsAre(start, start + 2 * kSecond, start + 4 * kSecond));
  EXPECT_TRUE(probe.reachable()) << "three unanswered, not yet given up";
  run(clock, probe, start + 6 * kSecond);
  EXPECT_FALSE(probe.reachable()) << "6 s after the first unanswered probe";
  EXPECT_THAT(run(clock, probe, start + 10 * kSecond),
              ElementsAre(start + 8 * kSecond, start + 10 * kSecond))
      << "it keeps probing to notice the router's return";
  probe.answered(address("fe80::1"));
  EXPECT_TRUE(probe.reachable());
}

TEST(LanReachabilityProbe, AnAnsweringRouterStaysReachable) {
  FakeClock clock;
  ReachabilityProbe probe(clock);
  const uint64_t start = clock.mono;
  probe.watch(address("fe80::1"));
  EXPECT_EQ(run(clock, probe, start + 60 * kSecond, start + 60 * kSecond).size(), 31u);
  EXPECT_TRUE(probe.reachable());
  // The answers stop: unreachable within (3 + 1) intervals of the last one.
  run(clock, probe, start + 67 * kSecond);
  EXPECT_FALSE(probe.reachable());
}

TEST(LanReachabilityProbe, OnlyTheWatchedRoutersAnswersCountAndANewRouterStartsAfresh) {
  FakeClock clock;
  ReachabilityProbe probe(clock);
  const uint64_t start = clock.mono;
  probe.watch(address("fe80::1"));
  for (uint64_t t = start; t <= start + 6 * kSecond; t += 2 * kSecond) {
    clock.mono = t;
    EXPECT_TRUE(probe.on_timer());
    probe.answered(address("fe80::2"));
  }
  EXPECT_FALSE(probe.reachable());
  probe.watch(address("fe80::2"));
  EXPECT_TRUE(probe.reachable());
  EXPECT_EQ(probe.next_deadline_us(), clock.mono);
  probe.watch(std::nullopt);
  EXPECT_EQ(probe.next_deadline_us(), std::nullopt);
  EXPECT_FALSE(probe.on_timer());
}

TEST(LanSolicitor, AtOnceThenBackingOffFromFourSecondsToAnHour) {
  FakeClock clock;
  Solicitor solicitor(clock);
  EXPECT_EQ(solicitor.next_deadline_us(), std::nullopt);
  const uint64_t start = clock.mono;
  solicitor.start();
  EXPECT_EQ(solicitor.next_deadline_us(), start);  // at once
  EXPECT_THAT(run(clock, solicitor, start + 60 * kSecond),
              ElementsAre(start, start + 4 * kSecond, start + 12 * kSecond, start + 28 * kSecond,
                          start + 60 * kSecond));
  // RFC 7559: the interval doubles up to 3600 s and stays there.
  const auto later = run(clock, solicitor, start + 5 * 3600 * kSecond);
  ASSERT_GE(later.size(), 3u);
  EXPECT_EQ(later[later.size() - 1] - later[later.size() - 2], 3600 * kSecond);
  EXPECT_EQ(later[later.size() - 2] - later[later.size() - 3], 3600 * kSecond);
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
  EXPECT_THAT(run(clock, solicitor, again + 20 * kSecond),
              ElementsAre(again, again + 4 * kSecond, again + 12 * kSecond))
      << "the backoff starts over too";
  EXPECT_EQ(solicitor.sent(), 8u);
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
