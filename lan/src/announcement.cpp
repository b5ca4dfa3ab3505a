#include "l2wg/lan/announcement.h"

#include <algorithm>

namespace l2wg::lan {
namespace {

constexpr uint64_t kMicrosPerSecond = 1'000'000;
constexpr uint32_t kInfinite = 0xffffffff;

// Seconds left until `until_us`, rounded down, at most `limit`.
uint32_t seconds_left(uint64_t until_us, uint64_t now_us, uint32_t limit) {
  if (until_us == UINT64_MAX) return limit;
  if (until_us <= now_us) return 0;
  return static_cast<uint32_t>(std::min<uint64_t>((until_us - now_us) / kMicrosPerSecond, limit));
}

}  // namespace

RouterAdvertisement build_advertisement(const Announcement& announcement,
                                        const RouterSettings& settings, uint64_t now_us) {
  RouterAdvertisement ra;
  ra.hop_limit = 64;
  ra.router_lifetime = announcement.default_router ? settings.router_lifetime_s : 0;
  ra.source_link_layer = settings.mac;
  if (announcement.mtu != 0) ra.mtu = announcement.mtu;

  uint32_t longest_valid = 0;
  for (const auto& prefix : announcement.prefixes) {
    const uint32_t valid = seconds_left(prefix.valid_until_us, now_us, kValidLimit);
    if (valid == 0) continue;  // expired: announcing it would only make hosts drop it too
    const uint32_t preferred =
        std::min(valid, seconds_left(prefix.preferred_until_us, now_us, kPreferredLimit));
    ra.prefixes.push_back({prefix.prefix, true, true, valid, preferred});
    longest_valid = std::max(longest_valid, valid);
  }
  for (const auto& prefix : announcement.deprecated) {
    if (prefix.valid_until_us <= now_us) continue;
    const bool also_current =
        std::any_of(ra.prefixes.begin(), ra.prefixes.end(),
                    [&](const PrefixInformation& pio) { return pio.prefix == prefix.prefix; });
    if (!also_current) ra.prefixes.push_back({prefix.prefix, true, true, 0, 0});
  }
  for (const auto& delegated : announcement.delegated) {
    const uint32_t lifetime =
        announcement.default_router
            ? std::min<uint32_t>(settings.router_lifetime_s,
                                 seconds_left(delegated.valid_until_us, now_us, kInfinite))
            : 0;
    ra.routes.push_back({delegated.prefix, RouterPreference::Medium, lifetime});
  }
  // RFC 8106 §5.1: at least 3 × MaxRtrAdvInterval, but never past the prefixes the servers
  // came with.
  const uint32_t dns_lifetime =
      std::min<uint64_t>(uint64_t{3} * settings.max_interval_s, longest_valid);
  if (dns_lifetime != 0 && !announcement.dns_servers.empty())
    ra.dns_servers = RecursiveDnsServers{dns_lifetime, announcement.dns_servers};
  if (dns_lifetime != 0 && !announcement.domains.empty())
    ra.search_list = DnsSearchList{dns_lifetime, announcement.domains};
  return ra;
}

}  // namespace l2wg::lan
