// What a tunnel looks like from the outside: the values of its D-Bus properties, as one value
// type, so change notification is a comparison and Describe() is a rendering, both field by field
// as l2wg/dbus/tunnel_properties.h describes them.
#pragma once

#include <string>
#include <vector>

#include "l2wg/dbus/tunnel_properties.h"
#include "l2wg/ip.h"

namespace l2wg {

enum class TunnelState { Configuring, WaitingForPeer, Up, Degraded, Failed, Stopped };
const char* to_string(TunnelState state);  // "configuring", "waiting-for-peer", ...

using DelegatedPrefix = DelegatedPrefixOf<IpPrefix>;
using LanPrefix = LanPrefixOf<IpPrefix>;

struct TunnelStatus : TunnelProperties<TunnelState, IpPrefix> {
  // A routed tunnel's LAN interfaces: not a property, but Describe() tells them ("LAN", as the
  // config key), so a routed tunnel shows as routed before its first prefix arrives.
  std::vector<std::string> lans;
};
static_assert(TunnelState{} == TunnelState::Configuring, "a new tunnel starts configuring");

// The D-Bus names of the properties whose values differ, in the XML's order.
std::vector<std::string> changed_properties(const TunnelStatus& before, const TunnelStatus& after);

// The path probe's times: properties read when asked, not announced (they change every probe).
struct ProbeTimes {
  uint64_t last_answer_us = 0;  // µs since the epoch; 0: never
  uint32_t round_trip_us = 0;
  bool operator==(const ProbeTimes&) const = default;
};

// Describe(): every property, keyed by its D-Bus name; prefixes as objects; "LAN" when routed.
std::string describe_json(const TunnelStatus& status, const ProbeTimes& probe = {});

}  // namespace l2wg
