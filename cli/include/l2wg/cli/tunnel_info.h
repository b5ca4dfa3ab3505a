// A tunnel as Tunnel.Describe() reports it (the JSON of every property, keyed by its D-Bus
// name), and its renderings for people: `show`, the `list` table, relative times.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace l2wg::cli {

struct DelegatedPrefixInfo {
  std::string prefix;
  uint64_t preferred_until_us = 0;  // µs since the epoch
  uint64_t valid_until_us = 0;
  bool operator==(const DelegatedPrefixInfo&) const = default;
};

struct LanPrefixInfo {
  std::string lan;
  std::string prefix;
  bool operator==(const LanPrefixInfo&) const = default;
};

// One outer endpoint the peer was seen at (Describe's optional "EndpointHistory").
struct EndpointSighting {
  std::string endpoint;  // ip:port
  uint64_t seen_us = 0;  // 0 if the daemon did not say when
  bool operator==(const EndpointSighting&) const = default;
};

struct TunnelInfo {
  std::string name;
  std::string state;
  std::string state_reason;
  std::string wireguard;
  std::string peer_public_key;
  std::string local_address;
  std::string remote_address;
  std::string interface;
  std::string bridge;
  std::string datapath;
  uint32_t mtu = 0;
  std::string peer_endpoint;
  uint64_t last_handshake_us = 0;  // 0 = never
  std::vector<DelegatedPrefixInfo> delegated_prefixes;
  std::vector<LanPrefixInfo> lan_prefixes;
  std::string upstream_router;
  bool persistent = false;
  // Not (yet) in every daemon: absent keys leave these empty.
  std::vector<EndpointSighting> endpoint_history;
  std::vector<std::string> lans;  // "LAN": the configured LAN interfaces of a routed tunnel

  // Routed (prefix delegation) mode, as far as Describe tells.
  bool routed() const {
    return !lans.empty() || !lan_prefixes.empty() || !delegated_prefixes.empty();
  }

  bool operator==(const TunnelInfo&) const = default;
};

// Missing keys keep their defaults (an older or newer daemon still works); a key of the wrong
// type or text that is not a JSON object throws l2wg::Error(InvalidArgument).
TunnelInfo tunnel_info_from_json(const nlohmann::json& describe);
TunnelInfo parse_describe(std::string_view describe_json);

// "42 s", "5 min 3 s", "2 h 5 min", "3 d 4 h".
std::string format_duration(uint64_t seconds);
// "never" for 0, "42 s ago", "just now" for a time in the future (clock skew).
std::string format_ago(uint64_t then_us, uint64_t now_us);

// `show`: aligned "Key: value" lines, the state with its reason, relative times.
std::string render_tunnel(const TunnelInfo& tunnel, uint64_t now_us);
// `list`: a table with a header, or a sentence when there are no tunnels.
std::string render_tunnel_table(const std::vector<TunnelInfo>& tunnels, uint64_t now_us);

}  // namespace l2wg::cli
