#include "l2wg/clock.h"

#include <sys/random.h>
#include <time.h>

#include <array>
#include <cerrno>
#include <random>
#include <string>

#include "l2wg/error.h"

namespace l2wg {
namespace {

uint64_t now_us(clockid_t clock, const char* name) {
  timespec now{};
  if (clock_gettime(clock, &now) != 0) throw_errno(std::string("clock_gettime ") + name, errno);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
}

class SystemClock final : public Clock {
 public:
  uint64_t monotonic_us() override { return now_us(CLOCK_BOOTTIME, "CLOCK_BOOTTIME"); }
  uint64_t wall_us() override { return now_us(CLOCK_REALTIME, "CLOCK_REALTIME"); }
};

// Transaction ids only need to be hard to guess off-path and jitter only needs to differ between
// hosts: a generator seeded once from the kernel is enough, and never blocks afterwards.
class SystemRandom final : public Random {
 public:
  SystemRandom() {
    std::array<uint32_t, 8> seed{};
    auto* bytes = reinterpret_cast<uint8_t*>(seed.data());
    size_t done = 0;
    while (done < sizeof seed) {
      const ssize_t got = getrandom(bytes + done, sizeof seed - done, 0);
      if (got < 0) {
        if (errno == EINTR) continue;
        throw_errno("getrandom", errno);
      }
      done += static_cast<size_t>(got);
    }
    std::seed_seq sequence(seed.begin(), seed.end());
    engine_.seed(sequence);
  }
  uint32_t next() override { return static_cast<uint32_t>(engine_()); }

 private:
  std::mt19937 engine_;
};

}  // namespace

std::unique_ptr<Clock> make_system_clock() {
  return std::make_unique<SystemClock>();
}

std::unique_ptr<Random> make_system_random() {
  return std::make_unique<SystemRandom>();
}

}  // namespace l2wg
