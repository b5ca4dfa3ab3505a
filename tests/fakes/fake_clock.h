// A clock the tunnel manager's tests move by hand: `now` is the wall clock (µs since the epoch),
// and the monotonic clock runs in step with it from an arbitrary origin.
#pragma once

#include <cstdint>

#include "l2wg/clock.h"

namespace l2wg::testing {

class FakeClock : public Clock {
 public:
  uint64_t now = 1'800'000'000'000'000;
  uint64_t wall_us() override { return now; }
  uint64_t monotonic_us() override { return now - 1'700'000'000'000'000; }
};

}  // namespace l2wg::testing
