// A timerfd that fires at absolute deadlines on the clock of Clock::monotonic_us()
// (CLOCK_BOOTTIME), for the owners of pure state machines that ask for their next deadline: the
// owner polls fd() with its other fds and, once it is readable, calls acknowledge() and then the
// machine's timer handler.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "l2wg/fd.h"

namespace l2wg {

class DeadlineTimer {
 public:
  // `purpose` says what the timer is for, e.g. "the Router Advertisements on eth0": errors name
  // it. Non-blocking and close-on-exec; disarmed. Throws Error(Io) when the timerfd cannot be made.
  explicit DeadlineTimer(std::string purpose);

  int fd() const { return fd_.get(); }
  // Fires at `deadline_us` (monotonic µs; one already past fires at once); nullopt disarms.
  // Either way an expiration not yet acknowledged is forgotten.
  void arm(std::optional<uint64_t> deadline_us);
  // Consumes the expiration poll() reported, so that fd() is not readable again before the next
  // deadline. Harmless when there is none.
  void acknowledge();

 private:
  std::string purpose_;
  UniqueFd fd_;
};

}  // namespace l2wg
