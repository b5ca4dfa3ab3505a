#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <variant>
#include <vector>

#include "l2wg/lan/advertiser.h"

namespace l2wg::lan {
namespace {

constexpr uint64_t kSecond = 1'000'000;
constexpr uint64_t kWallStart = 1'700'000'000'000'000;

struct FakeClock : Clock {
  uint64_t mono = 5 * kSecond;
  uint64_t monotonic_us() override { return mono; }
  uint64_t wall_us() override { return kWallStart + mono; }
};

// Cycles through fixed values so that "random" intervals are known.
struct FakeRandom : Random {
  std::vector<uint32_t> values{0x80000000};
  size_t at = 0;
  uint32_t next() override { return values[at++ % values.size()]; }
};

struct Recorder : RaSender {
  FakeClock& clock;
  std::vector<std::pair<uint64_t, RouterAdvertisement>> sent;
  explicit Recorder(FakeClock& c) : clock(c) {}
  void send(std::span<const uint8_t> icmp) override {
    const auto parsed = parse_router_advertisement(icmp);
    ASSERT_TRUE(std::holds_alternative<RouterAdvertisement>(parsed));
    sent.emplace_back(clock.mono, std::get<RouterAdvertisement>(parsed));
  }
};

IpPrefix prefix(const char* text) {
  return *IpPrefix::parse(text, true);
}

class LanAdvertiser : public ::testing::Test {
 protected:
  FakeClock clock;
  FakeRandom random;
  Recorder sender{clock};
  RouterSettings settings{*MacAddress::parse("02:00:5e:10:00:01"), 60, 180};
  Advertiser advertiser{settings, clock, random, sender};

  Announcement bound(const char* subnet, bool up = true) {
    Announcement a;
    a.default_router = up;
    a.prefixes.push_back({prefix(subnet), clock.wall_us() + 3000 * kSecond, clock.wall_us() + 6000 * kSecond});
    return a;
  }
  // Runs the timer until `until` (monotonic µs), as the event loop would.
  void run_until(uint64_t until) {
    while (auto deadline = advertiser.next_deadline_us()) {
      if (*deadline > until) break;
      ASSERT_GE(*deadline, clock.mono - 0) << "deadline in the past";
      clock.mono = *deadline;
      advertiser.on_timer();
    }
    clock.mono = until;
  }
  std::vector<uint64_t> send_times() const {
    std::vector<uint64_t> times;
    for (const auto& [at, ra] : sender.sent) times.push_back(at);
    return times;
  }
};

TEST_F(LanAdvertiser, FirstAdvertisementLeavesAtOnceThenTwoMoreThenPeriodic) {
  advertiser.update(bound("2001:db8:100:1::/64"));
  EXPECT_EQ(advertiser.next_deadline_us(), clock.mono);
  const uint64_t start = clock.mono;
  run_until(start + 200 * kSecond);
  // Random 0x80000000… picks the middle of [Max/3, Max] = [20 s, 60 s]: 40 s, under the 16 s cap
  // for the initial ones.
  const auto times = send_times();
  ASSERT_GE(times.size(), 5u);
  EXPECT_EQ(times[0], start);
  EXPECT_EQ(times[1] - times[0], 16 * kSecond);
  EXPECT_EQ(times[2] - times[1], 16 * kSecond);
  EXPECT_NEAR(static_cast<double>(times[3] - times[2]), 40.0 * kSecond, 1.0 * kSecond);
  EXPECT_NEAR(static_cast<double>(times[4] - times[3]), 40.0 * kSecond, 1.0 * kSecond);
  EXPECT_EQ(sender.sent[0].second.prefixes[0].prefix, prefix("2001:db8:100:1::/64"));
  EXPECT_EQ(sender.sent[0].second.router_lifetime, 180);
}

TEST_F(LanAdvertiser, ALifetimeRefreshWaitsForThePeriodicAdvertisement) {
  advertiser.update(bound("2001:db8:100:1::/64"));
  run_until(clock.mono + 100 * kSecond);
  const auto before = sender.sent.size();
  const auto next = advertiser.next_deadline_us();
  auto refreshed = bound("2001:db8:100:1::/64");  // the same prefix, later lifetimes
  advertiser.update(refreshed);
  EXPECT_EQ(advertiser.next_deadline_us(), next);
  EXPECT_EQ(sender.sent.size(), before);
}

TEST_F(LanAdvertiser, AShortLeaseRenewedGoesOutBeforeHostsWouldDeprecateItsPrefix) {
  // A lease with 30 s preferred, renewed at T1 = 15 s: the next periodic RA (20-60 s) may come
  // after the hosts' 30 s ran out, and they would deprecate an address the lease still covers.
  auto lease = [&](uint64_t renewed_at_mono) {
    Announcement a = bound("2001:db8:100:1::/64");
    a.prefixes[0].preferred_until_us = kWallStart + renewed_at_mono + 30 * kSecond;
    a.prefixes[0].valid_until_us = kWallStart + renewed_at_mono + 60 * kSecond;
    return a;
  };
  const uint64_t start = clock.mono;
  advertiser.update(lease(start));
  run_until(start + 17 * kSecond);  // the initial RAs at 0 and 16 s: hosts told 30 s, then 14 s
  ASSERT_EQ(sender.sent.size(), 2u);
  ASSERT_EQ(advertiser.next_deadline_us(), start + 32 * kSecond) << "the third initial RA";
  const uint64_t hosts_deprecate_at = sender.sent.back().first +
                                      sender.sent.back().second.prefixes[0].preferred_lifetime * kSecond;
  advertiser.update(lease(clock.mono));  // renewed
  ASSERT_TRUE(advertiser.next_deadline_us());
  EXPECT_LT(*advertiser.next_deadline_us(), hosts_deprecate_at);
  EXPECT_EQ(*advertiser.next_deadline_us(), sender.sent.back().first + 3 * kSecond)
      << "as soon as the rate limit allows";

  // The same lifetimes again (no renewal) change nothing.
  run_until(clock.mono + 1);
  const auto next = advertiser.next_deadline_us();
  advertiser.update(lease(clock.mono - 1));
  EXPECT_EQ(advertiser.next_deadline_us(), next);
}

TEST_F(LanAdvertiser, TunnelDownGoesOutAtOnceButNotWithinThreeSecondsOfTheLast) {
  advertiser.update(bound("2001:db8:100:1::/64"));
  run_until(clock.mono + 1);  // the first RA
  clock.mono += 1 * kSecond;
  advertiser.update(bound("2001:db8:100:1::/64", false));
  EXPECT_EQ(advertiser.next_deadline_us(), sender.sent.back().first + 3 * kSecond);
  run_until(clock.mono + 3 * kSecond);
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[1].second.router_lifetime, 0);
  EXPECT_EQ(sender.sent[1].second.prefixes.size(), 1u);
}

TEST_F(LanAdvertiser, SolicitationsAreAnsweredSoonAndRateLimited) {
  advertiser.update(bound("2001:db8:100:1::/64"));
  run_until(clock.mono + 60 * kSecond);  // past the first two initial RAs
  const auto before = sender.sent.size();
  const uint64_t asked = clock.mono;
  advertiser.solicited();
  ASSERT_TRUE(advertiser.next_deadline_us());
  EXPECT_LE(*advertiser.next_deadline_us(), asked + 500'000);
  // A flood of solicitations: one multicast RA per 3 s at most.
  for (int i = 0; i < 100; ++i) {
    advertiser.solicited();
    clock.mono += 100'000;
    if (*advertiser.next_deadline_us() <= clock.mono) advertiser.on_timer();
  }
  const auto times = send_times();
  EXPECT_GE(times.size() - before, 3u);
  EXPECT_LE(times.size() - before, 5u);
  for (size_t i = 1; i < times.size(); ++i) EXPECT_GE(times[i] - times[i - 1], 3 * kSecond);
}

TEST_F(LanAdvertiser, StopSendsThreeFinalAdvertisementsThatDeprecateEverything) {
  advertiser.update(bound("2001:db8:100:1::/64"));
  run_until(clock.mono + 30 * kSecond);
  const auto before = sender.sent.size();
  advertiser.stop();
  EXPECT_FALSE(advertiser.finished());
  run_until(clock.mono + 30 * kSecond);
  EXPECT_TRUE(advertiser.finished());
  EXPECT_EQ(advertiser.next_deadline_us(), std::nullopt);
  ASSERT_EQ(sender.sent.size() - before, 3u);
  for (size_t i = before; i < sender.sent.size(); ++i) {
    const auto& ra = sender.sent[i].second;
    EXPECT_EQ(ra.router_lifetime, 0);
    ASSERT_EQ(ra.prefixes.size(), 1u);
    EXPECT_EQ(ra.prefixes[0].valid_lifetime, 0u);
    EXPECT_EQ(ra.prefixes[0].preferred_lifetime, 0u);
  }
  advertiser.update(bound("2001:db8:100:2::/64"));  // too late: stopped
  EXPECT_EQ(advertiser.next_deadline_us(), std::nullopt);
}

TEST_F(LanAdvertiser, APrefixChangeAnnouncesTheNewAndDeprecatesTheOld) {
  advertiser.update(bound("2001:db8:100:1::/64"));
  run_until(clock.mono + 100 * kSecond);
  auto changed = bound("2001:db8:200:1::/64");
  changed.deprecated.push_back({prefix("2001:db8:100:1::/64"), clock.wall_us(), clock.wall_us() + 6000 * kSecond});
  advertiser.update(changed);
  EXPECT_EQ(advertiser.next_deadline_us(), clock.mono);
  run_until(clock.mono);
  const auto& ra = sender.sent.back().second;
  ASSERT_EQ(ra.prefixes.size(), 2u);
  EXPECT_EQ(ra.prefixes[0].prefix, prefix("2001:db8:200:1::/64"));
  EXPECT_EQ(ra.prefixes[1].prefix, prefix("2001:db8:100:1::/64"));
  EXPECT_EQ(ra.prefixes[1].valid_lifetime, 0u);
}

TEST_F(LanAdvertiser, NothingBeforeTheFirstUpdate) {
  advertiser.solicited();
  advertiser.stop();
  EXPECT_EQ(advertiser.next_deadline_us(), std::nullopt);
  advertiser.on_timer();
  EXPECT_TRUE(sender.sent.empty());
}

}  // namespace
}  // namespace l2wg::lan
