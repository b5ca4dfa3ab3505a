// What a tunnel looks like from the outside: the values of its D-Bus properties, as one value
// type, so change notification is a comparison and Describe() is a rendering.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "l2wg/ip.h"

namespace l2wg {

enum class TunnelState { Configuring, WaitingForPeer, Up, Degraded, Failed };
const char* to_string(TunnelState state);  // "configuring", "waiting-for-peer", ...

struct DelegatedPrefix {
  IpPrefix prefix;
  uint64_t preferred_until_us = 0;  // µs since the epoch
  uint64_t valid_until_us = 0;
  bool operator==(const DelegatedPrefix&) const = default;
};

struct LanPrefix {
  std::string lan;
  IpPrefix prefix;
  bool operator==(const LanPrefix&) const = default;
};

struct TunnelStatus {
  std::string name;
  TunnelState state = TunnelState::Configuring;
  std::string state_reason;
  std::string wireguard;
  std::string peer_public_key;
  std::string local_address;
  std::string remote_address;
  std::string interface;
  std::string bridge;
  std::string datapath;  // "kernel", "userspace", or "" before the tap exists
  uint32_t mtu = 0;
  std::string peer_endpoint;
  uint64_t last_handshake_us = 0;
  std::vector<DelegatedPrefix> delegated_prefixes;
  std::vector<LanPrefix> lan_prefixes;
  std::string upstream_router;
  bool persistent = false;

  bool operator==(const TunnelStatus&) const = default;
};

// The D-Bus names of the properties whose values differ, in the XML's order.
std::vector<std::string> changed_properties(const TunnelStatus& before, const TunnelStatus& after);

// Describe(): every property, keyed by its D-Bus name; prefixes as objects.
std::string describe_json(const TunnelStatus& status);

}  // namespace l2wg
