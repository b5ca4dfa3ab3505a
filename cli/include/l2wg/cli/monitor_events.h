// `l2wg monitor`: bus signals turned into events, and each event as one line for people or one
// JSON object per line for scripts. The D-Bus decoding lives in main.cpp; this is the pure part.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "l2wg/cli/tunnel_info.h"

namespace l2wg::cli {

struct MonitorEvent {
  enum class Kind {
    TunnelAdded,  // value: its state, if the signal carried it
    TunnelRemoved,
    StateChanged,     // value: the state, reason: StateReason
    PropertyChanged,  // property: D-Bus name, value: rendered value
    PrefixDelegated,  // value: the prefix
    PrefixLost,       // value: the prefix, reason: why
    DaemonGone,
    DaemonBack,
  };
  Kind kind = Kind::PropertyChanged;
  std::string tunnel;
  std::string property;
  std::string value;
  std::string reason;
  nlohmann::json json_value;  // PropertyChanged: the value with its type, for --json (null if
                              // invalidated)
  bool operator==(const MonitorEvent&) const = default;
};

// A property value of net.l2wg1.Tunnel as it arrives in PropertiesChanged.
using PropertyValue = std::variant<std::string, bool, uint32_t, uint64_t,
                                   std::vector<DelegatedPrefixInfo>, std::vector<LanPrefixInfo>>;

// The events for one PropertiesChanged of tunnel `tunnel`: State (with StateReason) first, then
// the other properties in the order of the API. DelegatedPrefixes is left to the
// PrefixDelegated/PrefixLost signals; Name never changes. Invalidated properties (sent without a
// value) are reported as changed with an empty value.
std::vector<MonitorEvent> events_from_properties_changed(
    const std::string& tunnel, const std::map<std::string, PropertyValue>& changed,
    const std::vector<std::string>& invalidated);

// The tunnel name of a tunnel object path (/net/l2wg1/tunnel/<name escaped like
// sd_bus_path_encode>), or nullopt for any other path.
std::optional<std::string> tunnel_name_from_path(std::string_view path);

// "lab: state up", "lab: prefix 2001:db8::/60 delegated", ...
std::string render_event_line(const MonitorEvent& event);
// {"Time":µs,"Event":"state","Tunnel":"lab","State":"up","StateReason":""}
nlohmann::json event_to_json(const MonitorEvent& event, uint64_t now_us);

}  // namespace l2wg::cli
