// Carving one /64 per LAN out of a delegated prefix, with subnet ids that stay put: a LAN keeps its
// id across restarts and prefix changes, so a LAN host's interface id and the subnet part of its
// address do not move when only the upstream prefix does.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/ip.h"

namespace l2wg::lan {

// The /64 number `subnet_id` of `delegated`: nullopt when `delegated` is not an IPv6 prefix of at
// most 64 bits or the id does not fit in its 64 - length subnet bits.
std::optional<IpPrefix> subnet_of(const IpPrefix& delegated, uint64_t subnet_id);

struct SubnetPlan {
  std::map<std::string, IpPrefix> subnets;  // LAN → its /64
  std::map<std::string, uint64_t> ids;      // LAN → subnet id (to remember for next time)
  std::vector<std::string> problems;        // LANs left without a /64, and why
};

// Assigns each LAN a /64 of `delegated`. Ids come from `configured` (SubnetId=), else from
// `remembered` (a previous plan, kept in the state dir), else the lowest id free in LAN order. An id
// is never shared, never outside the prefix, and never overlaps `excluded` (RFC 6603: the prefix the
// upstream uses on the link to us). A configured id that cannot be used leaves its LAN without a
// subnet, with a problem that says why; a remembered one that cannot be used is replaced.
SubnetPlan plan_subnets(const IpPrefix& delegated, const std::optional<IpPrefix>& excluded,
                        const std::vector<std::string>& lans,
                        const std::map<std::string, uint64_t>& configured,
                        const std::map<std::string, uint64_t>& remembered);

}  // namespace l2wg::lan
