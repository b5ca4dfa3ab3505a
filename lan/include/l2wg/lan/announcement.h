// What a LAN is told about the delegated prefix, turned into a Router Advertisement. The lease
// keeps absolute lifetimes; an RA carries what is left of them, capped by RFC 9096 (2700 s
// preferred, 5400 s valid) so that hosts drop a prefix the tunnel lost within hours, not days.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/ip.h"
#include "l2wg/lan/ra.h"
#include "l2wg/mac.h"
#include "l2wg/timed_prefix.h"

namespace l2wg::lan {

inline constexpr uint32_t kPreferredLimit = 2700;  // RFC 9096 ND_PREFERRED_LIMIT
inline constexpr uint32_t kValidLimit = 5400;      // RFC 9096 ND_VALID_LIMIT

// The LAN's /64 (or, as a route, a delegated prefix) with its wall-clock lifetimes.
using AnnouncedPrefix = TimedPrefix;

struct Announcement {
  // The tunnel is up: announce a default router. Otherwise router lifetime 0 (RFC 7084 G-5), so
  // hosts stop sending through a tunnel that is down, while keeping their addresses.
  bool default_router = false;
  std::vector<AnnouncedPrefix> prefixes;
  // Prefixes replaced or lost: announced with lifetimes 0 until their old valid lifetime ends
  // (RFC 9096 §3.5), so hosts deprecate their addresses at once.
  std::vector<AnnouncedPrefix> deprecated;
  // Each delegated prefix as a Route Information Option (other LANs' /64s are behind us).
  std::vector<AnnouncedPrefix> delegated;
  // The MTU option, 0 for none: it can change with what the upstream router advertises.
  uint32_t mtu = 0;
  std::vector<IpAddress> dns_servers;
  std::vector<std::string> domains;
  bool operator==(const Announcement&) const = default;
};

struct RouterSettings {
  MacAddress mac;                      // source link-layer address option
  uint32_t max_interval_s = 600;       // MaxRtrAdvInterval (RFC 4861 §6.2.1)
  uint16_t router_lifetime_s = 1800;   // AdvDefaultLifetime, 3 × MaxRtrAdvInterval by default
};

// The RA for `announcement` at wall-clock time `now_us`. Deprecated prefixes whose valid lifetime
// has ended are left out, as are DNS options when the announcement has no usable prefix.
RouterAdvertisement build_advertisement(const Announcement& announcement,
                                        const RouterSettings& settings, uint64_t now_us);

}  // namespace l2wg::lan
