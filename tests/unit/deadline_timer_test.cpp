// DeadlineTimer on the real clock: deadlines are in Clock::monotonic_us() time, and fd() is
// readable once one has passed. Waits are poll() timeouts: a positive check returns as soon as the
// timer fires, and a negative one waits a few ms at the most.
#include "l2wg/deadline_timer.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "l2wg/clock.h"

namespace l2wg {
namespace {

constexpr uint64_t kMillisecond = 1000;
constexpr uint64_t kHour = 3'600'000'000;
constexpr int kFiresWithin_ms = 2000;  // generous: a loaded machine may be slow to run us
constexpr int kSilentFor_ms = 5;

bool readable(const DeadlineTimer& timer, int timeout_ms) {
  pollfd polled{timer.fd(), POLLIN, 0};
  const int ready = ::poll(&polled, 1, timeout_ms);
  EXPECT_GE(ready, 0) << "poll failed";
  return ready > 0 && (polled.revents & POLLIN) != 0;
}

class DeadlineTimerTest : public ::testing::Test {
 protected:
  uint64_t now() { return clock_->monotonic_us(); }

  std::unique_ptr<Clock> clock_ = make_system_clock();
  DeadlineTimer timer_{"the test"};
};

TEST_F(DeadlineTimerTest, StartsDisarmed) {
  EXPECT_FALSE(readable(timer_, kSilentFor_ms));
}

TEST_F(DeadlineTimerTest, ADeadlineNowOrPastFiresAtOnce) {
  timer_.arm(now());
  EXPECT_TRUE(readable(timer_, kFiresWithin_ms));
  timer_.acknowledge();
  EXPECT_FALSE(readable(timer_, kSilentFor_ms));

  timer_.arm(now() / 2);  // halfway since boot: it may be less than an hour ago
  EXPECT_TRUE(readable(timer_, kFiresWithin_ms));
}

TEST_F(DeadlineTimerTest, FiresAtItsDeadlineAndNotBefore) {
  const uint64_t deadline = now() + 3 * kMillisecond;
  timer_.arm(deadline);
  const bool early = readable(timer_, 0);
  const uint64_t checked = now();
  EXPECT_TRUE(!early || checked >= deadline) << "readable " << deadline - checked << " µs early";

  EXPECT_TRUE(readable(timer_, kFiresWithin_ms));
  EXPECT_GE(now(), deadline);
}

// An all-zero itimerspec would disarm the timerfd: 0 is the distant past, not "never".
TEST_F(DeadlineTimerTest, DeadlineZeroFires) {
  timer_.arm(0);
  EXPECT_TRUE(readable(timer_, kFiresWithin_ms));
}

TEST_F(DeadlineTimerTest, DisarmingForgetsTheDeadlineAndAnExpirationNotAcknowledged) {
  timer_.arm(now() + 2 * kMillisecond);
  timer_.arm(std::nullopt);
  EXPECT_FALSE(readable(timer_, kSilentFor_ms));

  timer_.arm(now());
  ASSERT_TRUE(readable(timer_, kFiresWithin_ms));
  timer_.arm(std::nullopt);
  EXPECT_FALSE(readable(timer_, 0));
}

TEST_F(DeadlineTimerTest, ArmingAgainMovesTheDeadline) {
  timer_.arm(now() + kHour);
  EXPECT_FALSE(readable(timer_, kSilentFor_ms));
  const uint64_t sooner = now() + 2 * kMillisecond;
  timer_.arm(sooner);
  EXPECT_TRUE(readable(timer_, kFiresWithin_ms));
  EXPECT_GE(now(), sooner);

  timer_.arm(now() + kHour);  // later: the expiration just seen no longer counts
  EXPECT_FALSE(readable(timer_, kSilentFor_ms));
}

TEST_F(DeadlineTimerTest, AcknowledgingWithoutAnExpirationIsHarmless) {
  EXPECT_NO_THROW(timer_.acknowledge());
  timer_.arm(now() + kHour);
  EXPECT_NO_THROW(timer_.acknowledge());
  EXPECT_FALSE(readable(timer_, 0));
}

}  // namespace
}  // namespace l2wg
