#include "l2wg/lan/reachability_probe.h"

#include <utility>

namespace l2wg::lan {

void ReachabilityProbe::watch(std::optional<IpAddress> target) {
  target_ = std::move(target);
  unanswered_ = 0;
  reachable_ = true;
  next_us_ = target_ ? std::optional(clock_.monotonic_us()) : std::nullopt;
}

void ReachabilityProbe::answered(const IpAddress& from) {
  if (from != target_) return;
  unanswered_ = 0;
  reachable_ = true;
}

bool ReachabilityProbe::on_timer() {
  const uint64_t now = clock_.monotonic_us();
  if (!next_us_ || now < *next_us_) return false;
  if (unanswered_ >= kMaxUnanswered)
    reachable_ = false;
  else
    ++unanswered_;
  next_us_ = now + kInterval_us;
  return true;
}

}  // namespace l2wg::lan
