// When Router Advertisements go out on one LAN (RFC 4861 §6.2.4–§6.2.6), as a pure state machine:
// the owner arms a timer for next_deadline_us() and calls on_timer(). What they say comes from
// build_advertisement().
//
// - A change of what hosts must know (a prefix bound, lost or replaced, the tunnel going up or
//   down) goes out at once, then twice more at short intervals in case one is lost (§6.2.4's
//   initial advertisements). A routine lifetime refresh waits for the next periodic one, unless
//   hosts would deprecate a prefix before that one, as they do when a short lease is renewed.
// - Periodic RAs at a random interval between MinRtrAdvInterval and MaxRtrAdvInterval.
// - A Router Solicitation is answered by a multicast RA after a random 0–500 ms delay, merged with
//   one already due (§6.2.6).
// - Multicast RAs never follow each other within MIN_DELAY_BETWEEN_RAS (3 s): that MUST bounds
//   what a flood of solicitations can make us send.
// - stop() sends MAX_FINAL_RTR_ADVERTISEMENTS final RAs: router lifetime 0 and the prefixes
//   deprecated (lifetimes 0), so hosts stop using them at once (§6.2.5, RFC 9096).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "l2wg/clock.h"
#include "l2wg/lan/announcement.h"

namespace l2wg::lan {

class RaSender {
 public:
  virtual ~RaSender() = default;
  // To all-nodes (ff02::1) on the LAN. A failed send is logged by the sender; the schedule goes on.
  virtual void send(std::span<const uint8_t> icmp) = 0;
};

class Advertiser {
 public:
  Advertiser(RouterSettings settings, Clock& clock, Random& random, RaSender& sender);
  Advertiser(const Advertiser&) = delete;
  Advertiser& operator=(const Advertiser&) = delete;

  // Starts advertising `announcement`, or changes it.
  void update(Announcement announcement);
  // A valid Router Solicitation arrived on the LAN.
  void solicited();
  // Final advertisements; finished() once they are out (the owner may then drop the object).
  void stop();
  bool finished() const { return stopping_ && finals_left_ == 0; }

  std::optional<uint64_t> next_deadline_us() const;  // monotonic
  void on_timer();

  const Announcement& announcement() const { return announcement_; }
  uint64_t sent() const { return sent_; }

 private:
  // What hosts act on: prefixes, default router, RIO, DNS. Lifetimes alone are a refresh.
  static bool materially_different(const Announcement& a, const Announcement& b);
  void send_now(uint64_t now);
  // `next` lengthens a preferred lifetime that hosts, as last told, see ending before the next RA.
  bool hosts_would_deprecate_first(const Announcement& next) const;
  void schedule_periodic(uint64_t now);
  // The earliest a multicast RA may leave, given the last one.
  uint64_t earliest_allowed() const;
  uint64_t random_between(uint64_t low_us, uint64_t high_us);

  RouterSettings settings_;
  Clock& clock_;
  Random& random_;
  RaSender& sender_;
  Announcement announcement_;
  bool started_ = false;
  bool stopping_ = false;
  uint32_t initial_left_ = 0;  // initial advertisements still to send after a change
  uint32_t finals_left_ = 0;
  std::optional<uint64_t> last_sent_us_;
  // When the shortest preferred lifetime of a current prefix in the last RA ends (monotonic).
  std::optional<uint64_t> told_preferred_end_us_;
  std::optional<uint64_t> next_us_;  // the next RA (periodic, initial, solicited or final)
  uint64_t sent_ = 0;
};

}  // namespace l2wg::lan
