#include "l2wg/cli/tunnel_info.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <utility>

#include "l2wg/error.h"

namespace l2wg::cli {
namespace {

template <typename T>
void read(const nlohmann::json& object, const char* key, T& target) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return;
  try {
    target = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(ErrorCode::InvalidArgument,
                std::string("the daemon's description has an unexpected value for ") + key + ": " +
                    it->dump());
  }
}

template <Described Record>
void read_fields(const nlohmann::json& object, Record& record);

// A list of records: anything but an array is ignored, like a key missing from an entry.
template <Described Record>
void read(const nlohmann::json& object, const char* key, std::vector<Record>& target) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return;
  for (const auto& entry : *it) {
    Record record;
    read_fields(entry, record);
    target.push_back(record);
  }
}

template <Described Record>
void read_fields(const nlohmann::json& object, Record& record) {
  for_each_field<Record>([&](const auto& each) { read(object, each.name, record.*each.member); });
}

std::vector<EndpointSighting> read_endpoint_history(const nlohmann::json& object) {
  // Either ["ip:port", ...] or [{"Endpoint":"ip:port","Seen":µs}, ...].
  std::vector<EndpointSighting> history;
  const auto it = object.find("EndpointHistory");
  if (it == object.end() || !it->is_array()) return history;
  for (const auto& entry : *it) {
    EndpointSighting sighting;
    if (entry.is_string()) {
      sighting.endpoint = entry.get<std::string>();
    } else if (entry.is_object()) {
      read(entry, "Endpoint", sighting.endpoint);
      read(entry, "Seen", sighting.seen_us);
    }
    if (!sighting.endpoint.empty()) history.push_back(sighting);
  }
  return history;
}

std::string or_dash(const std::string& text) {
  return text.empty() ? "-" : text;
}

}  // namespace

TunnelInfo tunnel_info_from_json(const nlohmann::json& j) {
  if (!j.is_object())
    throw Error(ErrorCode::InvalidArgument,
                "the daemon's description of a tunnel is not a JSON object: " + j.dump());
  TunnelInfo t;
  read_fields(j, t);
  read(j, "LAN", t.lans);
  read(j, "Statistics", t.statistics);
  read(j, "LastProbeAnswer", t.last_probe_answer_us);
  read(j, "ProbeRoundTrip", t.probe_round_trip_us);
  t.endpoint_history = read_endpoint_history(j);
  return t;
}

TunnelInfo parse_describe(std::string_view describe_json) {
  const auto j = nlohmann::json::parse(describe_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw Error(ErrorCode::InvalidArgument,
                "the daemon's description of a tunnel is not valid JSON: " +
                    std::string(describe_json.substr(0, 200)));
  return tunnel_info_from_json(j);
}

std::string format_duration(uint64_t seconds) {
  struct Unit {
    uint64_t seconds;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}};
  size_t first = 0;
  while (first + 1 < std::size(kUnits) && seconds < kUnits[first].seconds) ++first;
  // The largest unit and the one below it are precise enough for people: "2 h 5 min".
  const uint64_t major = seconds / kUnits[first].seconds;
  std::string out = std::to_string(major) + ' ' + kUnits[first].name;
  if (first + 1 < std::size(kUnits)) {
    const uint64_t minor = seconds % kUnits[first].seconds / kUnits[first + 1].seconds;
    if (minor != 0) out += ' ' + std::to_string(minor) + ' ' + kUnits[first + 1].name;
  }
  return out;
}

std::string format_ago(uint64_t then_us, uint64_t now_us) {
  if (then_us == 0) return "never";
  if (then_us >= now_us) return "just now";
  return format_duration((now_us - then_us) / 1000000) + " ago";
}

namespace {

std::string format_lifetime(uint64_t until_us, uint64_t now_us) {
  if (until_us <= now_us) return "expired";
  return format_duration((until_us - now_us) / 1000000);
}

class Lines {
 public:
  void add(std::string key, std::string value) {
    width_ = std::max(width_, key.size());
    lines_.emplace_back(std::move(key), std::move(value));
  }
  std::string str(const std::string& indent) const {
    std::string out;
    for (const auto& [key, value] : lines_)
      out += indent + key + ':' + std::string(width_ - key.size() + 2, ' ') + value + '\n';
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> lines_;
  size_t width_ = 0;
};

std::string state_with_reason(const TunnelInfo& t) {
  const std::string state = or_dash(t.state);
  return t.state_reason.empty() ? state : state + " (" + t.state_reason + ")";
}

std::string mode(const TunnelInfo& t) {
  if (!t.bridge.empty()) return "bridge " + t.bridge;
  if (!t.routed()) return "tap";
  if (t.delegated_prefixes.empty()) return "routed, no prefix";
  std::string prefixes;
  for (const auto& p : t.delegated_prefixes) prefixes += (prefixes.empty() ? "" : ",") + p.prefix;
  return "routed " + prefixes;
}

std::string path(const TunnelInfo& t, uint64_t now_us) {
  std::string text = t.path;
  if (t.path == "unverified") text += " (the far end never answered a probe: not l2wg, or not yet)";
  if (t.last_probe_answer_us != 0) {
    char round_trip[32];
    std::snprintf(round_trip, sizeof round_trip, "%.1f ms", t.probe_round_trip_us / 1000.0);
    text += ", last answer " + format_ago(t.last_probe_answer_us, now_us) + " (round trip " +
            round_trip + ")";
  }
  return text;
}

std::string mss_clamp(const TunnelInfo& t) {
  if (t.mss_clamp == 0) return "off";
  const auto mss = [&](uint32_t headers) {
    return t.mss_clamp > headers ? std::to_string(t.mss_clamp - headers) : std::string("0");
  };
  return "TCP SYNs fitted to " + std::to_string(t.mss_clamp) + "-byte packets (MSS " + mss(40) +
         " over IPv4, " + mss(60) + " over IPv6)";
}

uint64_t counter(const std::map<std::string, uint64_t>& statistics, const std::string& name) {
  const auto it = statistics.find(name);
  return it == statistics.end() ? 0 : it->second;
}

std::string frames_and_bytes(const std::map<std::string, uint64_t>& statistics,
                             const std::string& direction) {
  return std::to_string(counter(statistics, "Frames" + direction)) + " frames, " +
         std::to_string(counter(statistics, "Bytes" + direction)) + " bytes";
}

// The counters GetStatistics() gave, in words; those that are zero or absent are left out of the
// drops and offload lines.
void add_statistics(const std::map<std::string, uint64_t>& statistics, Lines& lines) {
  if (statistics.empty()) return;
  lines.add("Sent", frames_and_bytes(statistics, "Out") + " (tap to GRE)");
  lines.add("Received", frames_and_bytes(statistics, "In") + " (GRE to tap)");
  struct Word {
    const char* counter;
    const char* words;
  };
  const auto some = [&](std::initializer_list<Word> words) {
    std::string out;
    for (const auto& [name, text] : words)
      if (const uint64_t n = counter(statistics, name))
        out += (out.empty() ? "" : ", ") + std::to_string(n) + ' ' + text;
    return out;
  };
  const std::string drops = some({{"DroppedOut", "on the way out"},
                                  {"DroppedIn", "on the way in"},
                                  {"ErrorsOut", "send errors (gretap)"},
                                  {"ErrorsIn", "receive errors (gretap)"},
                                  {"DroppedMalformed", "malformed GRE"},
                                  {"DroppedWrongKey", "with another GRE key"},
                                  {"SendErrors", "send errors"}});
  lines.add("Dropped", drops.empty() ? "none" : drops);
  const std::string offloads = some({{"MSSClamped", "SYNs clamped"},
                                     {"SegmentedOut", "TSO frames cut"},
                                     {"CoalescedIn", "packets merged"}});
  if (!offloads.empty()) lines.add("Offloads", offloads);
}

}  // namespace

std::string render_tunnel(const TunnelInfo& t, uint64_t now_us) {
  Lines lines;
  lines.add("State", state_with_reason(t));
  lines.add("WireGuard", or_dash(t.wireguard));
  // As in `list`: the peer's inner address, the far GRE endpoint.
  lines.add("Peer", or_dash(t.remote_address) +
                        (t.peer_public_key.empty() ? "" : " (key " + t.peer_public_key + ")"));
  lines.add("Peer endpoint", t.peer_endpoint.empty() ? "(not set)" : t.peer_endpoint);
  if (!t.discovery.empty()) lines.add("Discovery", t.discovery);
  lines.add("Last handshake", format_ago(t.last_handshake_us, now_us));
  lines.add("Local address", or_dash(t.local_address));
  std::string tap = or_dash(t.interface);
  if (!t.datapath.empty() || t.mtu != 0) {
    std::string details;
    if (!t.datapath.empty()) details = t.datapath + " datapath";
    if (t.mtu != 0) details += (details.empty() ? "" : ", ") + ("MTU " + std::to_string(t.mtu));
    tap += " (" + details + ")";
  }
  lines.add("Interface", tap);
  lines.add("MAC address", or_dash(t.mac_address) + (t.peer_mac_address.empty()
                                                          ? ""
                                                          : " (peer " + t.peer_mac_address + ")"));
  if (!t.path.empty()) lines.add("GRE path", path(t, now_us));
  lines.add("GRE key", t.gre_key.empty() ? "none" : t.gre_key);
  lines.add("MSS clamp", mss_clamp(t));
  if (!t.bridge.empty()) lines.add("Bridge", t.bridge);
  if (t.routed()) {
    if (t.delegated_prefixes.empty()) lines.add("Delegated prefix", "(none)");
    for (const auto& p : t.delegated_prefixes)
      lines.add("Delegated prefix", p.prefix + " (preferred " +
                                        format_lifetime(p.preferred_until_us, now_us) + ", valid " +
                                        format_lifetime(p.valid_until_us, now_us) + ")");
    for (const auto& p : t.lan_prefixes) lines.add("LAN prefix", p.lan + " " + p.prefix);
    lines.add("Upstream router", t.upstream_router.empty() ? "(none seen)" : t.upstream_router);
  }
  lines.add("Persistent", t.persistent ? "yes" : "no");
  add_statistics(t.statistics, lines);
  return "Tunnel " + or_dash(t.name) + '\n' + lines.str("  ");
}

std::string render_tunnel_table(const std::vector<TunnelInfo>& tunnels, uint64_t now_us) {
  if (tunnels.empty()) return "No tunnels.\n";
  std::vector<std::vector<std::string>> rows{
      {"NAME", "STATE", "INTERFACE", "WIREGUARD", "PEER", "HANDSHAKE", "MODE"}};
  for (const auto& t : tunnels)
    rows.push_back({or_dash(t.name), or_dash(t.state), or_dash(t.interface), or_dash(t.wireguard),
                    or_dash(t.remote_address), format_ago(t.last_handshake_us, now_us), mode(t)});
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + '\n';
  }
  return out;
}

}  // namespace l2wg::cli
