// A tunnel as Tunnel.Describe() reports it (the JSON of every property, keyed by its D-Bus
// name), and its renderings for people: `show`, the `list` table, relative times.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "l2wg/dbus/tunnel_properties.h"

namespace l2wg::cli {

// A prefix as Describe() writes it: as text.
using DelegatedPrefixInfo = DelegatedPrefixOf<std::string>;
using LanPrefixInfo = LanPrefixOf<std::string>;

// One outer endpoint the peer was seen at (Describe's optional "EndpointHistory").
struct EndpointSighting {
  std::string endpoint;  // ip:port
  uint64_t seen_us = 0;  // 0 if the daemon did not say when
  bool operator==(const EndpointSighting&) const = default;
};

// The daemon's TunnelStatus as Describe() writes it: the state as text too, so that one this CLI
// does not know yet still shows.
struct TunnelInfo : TunnelProperties<std::string, std::string> {
  // Not (yet) in every daemon: absent keys leave these empty.
  std::vector<EndpointSighting> endpoint_history;
  std::vector<std::string> lans;  // "LAN": the configured LAN interfaces of a routed tunnel
  // "Statistics", which `show` adds from GetStatistics(): the counters the datapath has.
  std::map<std::string, uint64_t> statistics;
  // The path probe's times, which Describe() adds (properties read when asked).
  uint64_t last_probe_answer_us = 0;
  uint32_t probe_round_trip_us = 0;
  // "Discovery", which `show` adds from Manager.DescribeDiscovery(): what endpoint discovery on
  // the WireGuard interface learnt of the peer ("endpoint E from registry R, 12 s ago").
  std::string discovery;

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
