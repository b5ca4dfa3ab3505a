// Whether the upstream router still answers through the tunnel, so that the LANs stop using us
// at once when it does not (RFC 7084 G-5). Neighbor Unreachability Detection (RFC 4861 §7.3)
// probes only while traffic flows, and a LAN must be told before its hosts send anything: so a
// unicast Neighbor Solicitation goes to the router every kInterval_us while it is watched, and
// kMaxUnanswered in a row unanswered make it unreachable, within (kMaxUnanswered + 1) intervals
// of its last answer. Its first answer makes it reachable again. A pure state machine.
#pragma once

#include <cstdint>
#include <optional>

#include "l2wg/clock.h"
#include "l2wg/ip.h"

namespace l2wg::lan {

class ReachabilityProbe {
 public:
  static constexpr uint64_t kInterval_us = 2'000'000;
  static constexpr uint32_t kMaxUnanswered = 3;

  explicit ReachabilityProbe(Clock& clock) : clock_(clock) {}

  // Probes `target` from now on (the first probe is due at once), reachable until shown
  // otherwise; nullopt stops probing.
  void watch(std::optional<IpAddress> target);
  const std::optional<IpAddress>& target() const { return target_; }
  // A solicited Neighbor Advertisement for `from`.
  void answered(const IpAddress& from);
  bool reachable() const { return reachable_; }

  std::optional<uint64_t> next_deadline_us() const { return next_us_; }  // monotonic
  // True when a probe is due now: the caller sends it.
  bool on_timer();

 private:
  Clock& clock_;
  std::optional<IpAddress> target_;
  std::optional<uint64_t> next_us_;
  uint32_t unanswered_ = 0;
  bool reachable_ = true;
};

}  // namespace l2wg::lan
