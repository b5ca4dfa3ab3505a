// When to send Router Solicitations, as a pure state machine: the first at once, then, until an
// advertisement with a non-zero router lifetime is heard, RFC 7559's backoff: the interval starts
// at RTR_SOLICITATION_INTERVAL (4 s) and doubles up to 3600 s. RFC 4861 §6.3.7 stops after three,
// which leaves a tunnel whose upstream answers late without a router until its next periodic RA.
// No random delay or jitter: they spread the hosts of a LAN booting together, and a router's tap
// has no such crowd.
#pragma once

#include <cstdint>
#include <optional>

#include "l2wg/clock.h"

namespace l2wg::lan {

class Solicitor {
 public:
  explicit Solicitor(Clock& clock) : clock_(clock) {}

  // Starts (again, after the link came back) soliciting.
  void start();
  // A valid RA with a non-zero router lifetime: no more solicitations.
  void advertisement_heard();

  std::optional<uint64_t> next_deadline_us() const { return next_us_; }  // monotonic
  // True when a solicitation is due now: the caller sends it.
  bool on_timer();
  uint32_t sent() const { return sent_; }

 private:
  Clock& clock_;
  uint64_t interval_us_ = 0;
  std::optional<uint64_t> next_us_;
  uint32_t sent_ = 0;
};

}  // namespace l2wg::lan
