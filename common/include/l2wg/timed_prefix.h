// A prefix with the wall-clock times its preferred and valid lifetimes end: what a DHCPv6 lease
// delegates (dhcp6::DelegatedPrefix adds the excluded prefix), what a LAN is told
// (lan::AnnouncedPrefix) and what a tunnel's status shows (DelegatedPrefixes). One type, so a
// prefix passes from one to the other without copying field by field.
#pragma once

#include <cstdint>
#include <tuple>

#include "l2wg/described.h"
#include "l2wg/ip.h"

namespace l2wg {

// `Prefix` is IpPrefix everywhere but in the CLI, which keeps Describe()'s text.
template <typename Prefix>
struct TimedPrefixOf {
  Prefix prefix;
  uint64_t preferred_until_us = 0;  // µs since the epoch; UINT64_MAX: infinite
  uint64_t valid_until_us = 0;

  static constexpr auto fields =
      std::tuple{field("Prefix", &TimedPrefixOf::prefix),
                 field("PreferredUntil", &TimedPrefixOf::preferred_until_us),
                 field("ValidUntil", &TimedPrefixOf::valid_until_us)};
  bool operator==(const TimedPrefixOf&) const = default;
};

using TimedPrefix = TimedPrefixOf<IpPrefix>;

}  // namespace l2wg
