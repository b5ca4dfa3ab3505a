// Time and randomness as injected dependencies, so that every timer and every jitter can be tested
// on a fake clock in microseconds.
#pragma once

#include <cstdint>
#include <memory>

namespace l2wg {

class Clock {
 public:
  virtual ~Clock() = default;
  // Timers run on this one: it never jumps (CLOCK_BOOTTIME, so time asleep counts).
  virtual uint64_t monotonic_us() = 0;
  // µs since the epoch: what is stored, compared with kernel timestamps, and shown to users.
  virtual uint64_t wall_us() = 0;
};
std::unique_ptr<Clock> make_system_clock();

class Random {
 public:
  virtual ~Random() = default;
  virtual uint32_t next() = 0;  // uniformly distributed over all 32-bit values
};
std::unique_ptr<Random> make_system_random();  // seeded once from getrandom()

}  // namespace l2wg
