#include "l2wg/lan/solicitor.h"

#include <algorithm>

namespace l2wg::lan {
namespace {

// RFC 4861 §10.
constexpr uint64_t kRtrSolicitationInterval_us = 4'000'000;         // RTR_SOLICITATION_INTERVAL
constexpr uint64_t kMaxRtrSolicitationInterval_us = 3'600'000'000;  // RFC 7559's MRT

}  // namespace

void Solicitor::start() {
  interval_us_ = kRtrSolicitationInterval_us;
  next_us_ = clock_.monotonic_us();
}

void Solicitor::advertisement_heard() {
  next_us_.reset();
}

bool Solicitor::on_timer() {
  const uint64_t now = clock_.monotonic_us();
  if (!next_us_ || now < *next_us_) return false;
  ++sent_;
  next_us_ = now + interval_us_;
  interval_us_ = std::min(2 * interval_us_, kMaxRtrSolicitationInterval_us);
  return true;
}

}  // namespace l2wg::lan
