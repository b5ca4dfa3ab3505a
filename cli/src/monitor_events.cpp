#include "l2wg/cli/monitor_events.h"

#include <array>
#include <utility>

#include "l2wg/dbus/tunnel_properties_json.h"

namespace l2wg::cli {
namespace {

constexpr std::string_view kTunnelPathPrefix = "/net/l2wg1/tunnel/";

// Properties in the order of net.l2wg1.xml, with the words monitor uses for them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 19> kPropertyLabels{{
    {"WireGuard", "WireGuard interface"},
    {"PeerPublicKey", "peer public key"},
    {"LocalAddress", "local address"},
    {"RemoteAddress", "remote address"},
    {"Interface", "interface"},
    {"Bridge", "bridge"},
    {"Datapath", "datapath"},
    {"MTU", "MTU"},
    {"PeerEndpoint", "peer endpoint"},
    {"LastHandshake", "handshake"},
    {"LANPrefixes", "LAN prefixes"},
    {"UpstreamRouter", "upstream router"},
    {"Persistent", "persistent"},
    {"GREKey", "GRE key"},
    {"MACAddress", "MAC address"},
    {"MSSClamp", "MSS clamp"},
    {"Path", "GRE path"},
    {"PeerMACAddress", "peer MAC address"},
    {"StateReason", "reason"},
}};

std::string_view label_of(std::string_view property) {
  for (const auto& [name, label] : kPropertyLabels)
    if (name == property) return label;
  return property;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct ValueText {
  std::string operator()(const std::string& s) const { return s; }
  std::string operator()(bool b) const { return b ? "yes" : "no"; }
  std::string operator()(uint32_t n) const { return std::to_string(n); }
  std::string operator()(uint64_t n) const { return std::to_string(n); }
  std::string operator()(const std::vector<DelegatedPrefixInfo>& prefixes) const {
    std::string out;
    for (const auto& p : prefixes) out += (out.empty() ? "" : ", ") + p.prefix;
    return out;
  }
  std::string operator()(const std::vector<LanPrefixInfo>& prefixes) const {
    std::string out;
    for (const auto& p : prefixes) out += (out.empty() ? "" : ", ") + p.lan + ' ' + p.prefix;
    return out;
  }
};

const char* kind_name(MonitorEvent::Kind kind) {
  using Kind = MonitorEvent::Kind;
  switch (kind) {
    case Kind::TunnelAdded:
      return "added";
    case Kind::TunnelRemoved:
      return "removed";
    case Kind::StateChanged:
      return "state";
    case Kind::PropertyChanged:
      return "property";
    case Kind::PrefixDelegated:
      return "prefix-delegated";
    case Kind::PrefixLost:
      return "prefix-lost";
    case Kind::DaemonGone:
      return "daemon-gone";
    case Kind::DaemonBack:
      return "daemon-back";
  }
  return "property";
}

}  // namespace

std::vector<MonitorEvent> events_from_properties_changed(
    const std::string& tunnel, const std::map<std::string, PropertyValue>& changed,
    const std::vector<std::string>& invalidated) {
  std::vector<MonitorEvent> events;
  auto text_of = [&](const std::string& property) -> std::optional<std::string> {
    if (const auto it = changed.find(property); it != changed.end())
      return std::visit(ValueText{}, it->second);
    for (const auto& name : invalidated)
      if (name == property) return std::string();
    return std::nullopt;
  };
  auto json_of = [&](const std::string& property) -> nlohmann::json {
    const auto it = changed.find(property);
    return it == changed.end()
               ? nlohmann::json()
               : std::visit([](const auto& value) { return nlohmann::json(value); }, it->second);
  };

  const auto state = text_of("State");
  const auto reason = text_of("StateReason");
  if (state) {
    events.push_back({MonitorEvent::Kind::StateChanged,
                      tunnel,
                      "State",
                      *state,
                      reason.value_or(std::string()),
                      {}});
  }
  for (const auto& [property, label] : kPropertyLabels) {
    if (property == "StateReason" && (state || !reason)) continue;  // told with the state
    const auto value = text_of(std::string(property));
    if (value)
      events.push_back({MonitorEvent::Kind::PropertyChanged, tunnel, std::string(property), *value,
                        "", json_of(std::string(property))});
  }
  return events;
}

std::optional<std::string> tunnel_name_from_path(std::string_view path) {
  if (!path.starts_with(kTunnelPathPrefix)) return std::nullopt;
  const std::string_view label = path.substr(kTunnelPathPrefix.size());
  if (label.empty() || label.find('/') != std::string_view::npos) return std::nullopt;
  if (label == "_") return std::string();  // how sd_bus_path_encode spells the empty string
  std::string name;
  for (size_t i = 0; i < label.size(); ++i) {
    if (label[i] != '_') {
      name += label[i];
      continue;
    }
    if (i + 2 >= label.size()) return std::nullopt;
    const int high = hex_digit(label[i + 1]);
    const int low = hex_digit(label[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    name += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return name;
}

std::string render_event_line(const MonitorEvent& e) {
  using Kind = MonitorEvent::Kind;
  switch (e.kind) {
    case Kind::TunnelAdded:
      return e.tunnel + ": added" + (e.value.empty() ? "" : " (state " + e.value + ")");
    case Kind::TunnelRemoved:
      return e.tunnel + ": removed";
    case Kind::StateChanged:
      return e.tunnel + ": state " + e.value + (e.reason.empty() ? "" : " (" + e.reason + ")");
    case Kind::PropertyChanged: {
      const std::string label(label_of(e.property));
      if (e.property == "LastHandshake") return e.tunnel + ": handshake";
      return e.tunnel + ": " + label + ' ' + (e.value.empty() ? "(none)" : e.value);
    }
    case Kind::PrefixDelegated:
      return e.tunnel + ": prefix " + e.value + " delegated";
    case Kind::PrefixLost:
      return e.tunnel + ": prefix " + e.value + " lost" + (e.reason.empty() ? "" : ": " + e.reason);
    case Kind::DaemonGone:
      return "l2wgd went away (nothing provides net.l2wg1 any more)";
    case Kind::DaemonBack:
      return "l2wgd is back";
  }
  return e.tunnel;
}

nlohmann::json event_to_json(const MonitorEvent& e, uint64_t now_us) {
  using Kind = MonitorEvent::Kind;
  // Keys spelt as Describe()'s (the D-Bus names), so `show --json`, `monitor --json` and
  // `doctor --json` read alike.
  nlohmann::json j = {{"Time", now_us}, {"Event", kind_name(e.kind)}};
  if (e.kind != Kind::DaemonGone && e.kind != Kind::DaemonBack) j["Tunnel"] = e.tunnel;
  switch (e.kind) {
    case Kind::TunnelAdded:
    case Kind::StateChanged:
      j["State"] = e.value;
      if (e.kind == Kind::StateChanged) j["StateReason"] = e.reason;
      break;
    case Kind::PropertyChanged:
      j["Property"] = e.property;
      j["Value"] = e.json_value.is_null() ? nlohmann::json(e.value) : e.json_value;
      break;
    case Kind::PrefixDelegated:
      j["Prefix"] = e.value;
      break;
    case Kind::PrefixLost:
      j["Prefix"] = e.value;
      j["Reason"] = e.reason;
      break;
    case Kind::TunnelRemoved:
    case Kind::DaemonGone:
    case Kind::DaemonBack:
      break;
  }
  return j;
}

}  // namespace l2wg::cli
