#include "l2wg/deadline_timer.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "l2wg/error.h"

namespace l2wg {

DeadlineTimer::DeadlineTimer(std::string purpose)
    : purpose_(std::move(purpose)),
      fd_(::timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC)) {
  if (!fd_) throw_errno("timerfd for " + purpose_, errno, ErrorCode::Io);
}

void DeadlineTimer::arm(std::optional<uint64_t> deadline_us) {
  itimerspec spec{};
  if (deadline_us) {
    const uint64_t at = std::max<uint64_t>(*deadline_us, 1);  // an all-zero value would disarm
    spec.it_value.tv_sec = static_cast<time_t>(at / 1'000'000);
    spec.it_value.tv_nsec = static_cast<long>(at % 1'000'000 * 1000);
  }
  if (::timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
    throw_errno("arming the timerfd for " + purpose_, errno, ErrorCode::Io);
}

void DeadlineTimer::acknowledge() {
  uint64_t expirations;
  if (::read(fd_.get(), &expirations, sizeof expirations) < 0 && errno != EAGAIN)
    throw_errno("reading the timerfd for " + purpose_, errno, ErrorCode::Io);
}

}  // namespace l2wg
