#include "l2wg/lan/advertiser.h"

#include <algorithm>

namespace l2wg::lan {
namespace {

// RFC 4861 §10.
constexpr uint64_t kMaxInitialInterval_us = 16'000'000;  // MAX_INITIAL_RTR_ADVERT_INTERVAL
constexpr uint32_t kMaxInitialAdvertisements = 3;       // MAX_INITIAL_RTR_ADVERTISEMENTS
constexpr uint32_t kMaxFinalAdvertisements = 3;         // MAX_FINAL_RTR_ADVERTISEMENTS
constexpr uint64_t kMinDelayBetweenRas_us = 3'000'000;  // MIN_DELAY_BETWEEN_RAS
constexpr uint64_t kMaxRaDelay_us = 500'000;            // MAX_RA_DELAY_TIME
constexpr uint64_t kMicrosPerSecond = 1'000'000;

}  // namespace

Advertiser::Advertiser(RouterSettings settings, Clock& clock, Random& random, RaSender& sender)
    : settings_(settings), clock_(clock), random_(random), sender_(sender) {}

bool Advertiser::materially_different(const Announcement& a, const Announcement& b) {
  auto subnets = [](const std::vector<AnnouncedPrefix>& prefixes) {
    std::vector<IpPrefix> out;
    for (const auto& p : prefixes) out.push_back(p.prefix);
    return out;
  };
  return a.default_router != b.default_router || subnets(a.prefixes) != subnets(b.prefixes) ||
         subnets(a.deprecated) != subnets(b.deprecated) ||
         subnets(a.delegated) != subnets(b.delegated) || a.mtu != b.mtu ||
         a.dns_servers != b.dns_servers || a.domains != b.domains;
}

void Advertiser::update(Announcement announcement) {
  if (stopping_) return;
  const bool changed = !started_ || materially_different(announcement_, announcement);
  announcement_ = std::move(announcement);
  started_ = true;
  if (!changed) {
    if (hosts_would_deprecate_first(announcement_))
      next_us_ = std::max(clock_.monotonic_us(), earliest_allowed());
    return;
  }
  initial_left_ = kMaxInitialAdvertisements;
  next_us_ = std::max(clock_.monotonic_us(), earliest_allowed());
}

bool Advertiser::hosts_would_deprecate_first(const Announcement& next) const {
  if (!told_preferred_end_us_ || !next_us_ || *next_us_ < *told_preferred_end_us_) return false;
  const uint64_t now_us = clock_.monotonic_us();
  const uint64_t wall_us = clock_.wall_us();
  // Wall-clock lifetimes ending after what hosts were told, i.e. the lease was renewed.
  const uint64_t told_wall_end = wall_us + (*told_preferred_end_us_ - std::min(now_us, *told_preferred_end_us_));
  return std::any_of(next.prefixes.begin(), next.prefixes.end(), [&](const AnnouncedPrefix& p) {
    return p.preferred_until_us > told_wall_end + kMicrosPerSecond;
  });
}

void Advertiser::solicited() {
  if (!started_ || stopping_) return;
  const uint64_t now = clock_.monotonic_us();
  // §6.2.6: a random delay, but never later than the RA already due, and never sooner than the
  // rate limit allows (then the delay counts from the last RA).
  const uint64_t delay = random_between(0, kMaxRaDelay_us);
  uint64_t at = now + delay;
  if (last_sent_us_ && *last_sent_us_ + kMinDelayBetweenRas_us > now)
    at = *last_sent_us_ + kMinDelayBetweenRas_us + delay;
  if (!next_us_ || at < *next_us_) next_us_ = at;
}

void Advertiser::stop() {
  if (!started_ || stopping_) return;
  stopping_ = true;
  finals_left_ = kMaxFinalAdvertisements;
  // Hosts must stop using us and our prefixes: no default router, every prefix deprecated.
  announcement_.default_router = false;
  for (auto& prefix : announcement_.prefixes) announcement_.deprecated.push_back(prefix);
  announcement_.prefixes.clear();
  next_us_ = std::max(clock_.monotonic_us(), earliest_allowed());
}

std::optional<uint64_t> Advertiser::next_deadline_us() const {
  if (finished()) return std::nullopt;
  return next_us_;
}

void Advertiser::on_timer() {
  const uint64_t now = clock_.monotonic_us();
  if (!next_us_ || now < *next_us_ || finished()) return;
  send_now(now);
  if (stopping_) {
    --finals_left_;
    next_us_ = finals_left_ ? std::optional<uint64_t>(now + kMinDelayBetweenRas_us) : std::nullopt;
    return;
  }
  if (initial_left_ > 0) --initial_left_;
  schedule_periodic(now);
}

void Advertiser::send_now(uint64_t now) {
  const auto ra = build_advertisement(announcement_, settings_, clock_.wall_us());
  const auto bytes = encode(ra);
  sender_.send(bytes);
  told_preferred_end_us_.reset();
  for (const auto& pio : ra.prefixes) {
    const bool current =
        std::any_of(announcement_.prefixes.begin(), announcement_.prefixes.end(),
                    [&](const AnnouncedPrefix& p) { return p.prefix == pio.prefix; });
    if (!current) continue;  // deprecated on purpose
    const uint64_t end = now + uint64_t{pio.preferred_lifetime} * kMicrosPerSecond;
    if (!told_preferred_end_us_ || end < *told_preferred_end_us_) told_preferred_end_us_ = end;
  }
  last_sent_us_ = now;
  ++sent_;
}

void Advertiser::schedule_periodic(uint64_t now) {
  // §6.2.1: MinRtrAdvInterval defaults to 0.33 × MaxRtrAdvInterval.
  const uint64_t max_us = uint64_t{settings_.max_interval_s} * kMicrosPerSecond;
  uint64_t interval = random_between(max_us / 3, max_us);
  if (initial_left_ > 0) interval = std::min(interval, kMaxInitialInterval_us);
  next_us_ = now + std::max(interval, kMinDelayBetweenRas_us);
}

uint64_t Advertiser::earliest_allowed() const {
  return last_sent_us_ ? *last_sent_us_ + kMinDelayBetweenRas_us : 0;
}

uint64_t Advertiser::random_between(uint64_t low_us, uint64_t high_us) {
  if (high_us <= low_us) return low_us;
  // Scaled rather than taken modulo, so the spread is even. No overflow for spans up to about
  // 4000 s, over twice the largest MaxRtrAdvInterval RFC 4861 allows (1800 s).
  return low_us + ((high_us - low_us) * uint64_t{random_.next()} >> 32);
}

}  // namespace l2wg::lan
