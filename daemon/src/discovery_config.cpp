// WGIF.discovery: the registry and client roles of endpoint discovery (l2wg/daemon/discovery.h).
#include <algorithm>
#include <charconv>
#include <map>

#include "l2wg/bridge/netlink.h"
#include "l2wg/daemon/discovery.h"
#include "l2wg/discovery/dns.h"

namespace l2wg::config {
namespace {

constexpr KeyInfo kKeys[] = {
    {"Registry", "Zone", false},   {"Registry", "Port", false},
    {"Client", "Registry", false}, {"Client", "Port", false},
    {"Client", "Zone", false},     {"Client", "Peer", true},
    {"Client", "Override", false}, {"Client", "PersistentKeepalive", false},
    {"Client", "Interval", false}, {"Client", "StaleAfter", false},
};

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

struct Bad {
  std::string what;
};

uint64_t number(std::string_view text, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    throw Bad{"not a number (" + std::to_string(min) + ".." + std::to_string(max) + ")"};
  if (value < min || value > max)
    throw Bad{"out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")"};
  return value;
}

bool boolean(std::string_view text) {
  std::string lower(text);
  std::ranges::transform(lower, lower.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "yes" || lower == "true" || lower == "on" || lower == "1") return true;
  if (lower == "no" || lower == "false" || lower == "off" || lower == "0") return false;
  throw Bad{"not a boolean (yes/no, true/false, on/off, 1/0)"};
}

std::string zone(std::string_view text) {
  std::string z(text);
  if (z.ends_with('.')) z.pop_back();
  if (z.empty()) throw Bad{"empty: name the zone, e.g. example.com"};
  dns::Message m;
  m.questions.push_back({"_wireguard._udp." + z + "." + std::string(56, 'a'), 0, 1});
  try {
    dns::encode(m);
  } catch (const Error&) {
    throw Bad{"not a DNS zone (labels of 1..63 octets, short enough for a peer's name in it)"};
  }
  if (z.find_first_of(" \t\\") != std::string::npos) throw Bad{"not a DNS zone"};
  return z;
}

discovery::Key key(std::string_view text) {
  const auto k = wg::key_from_base64(text);
  if (!k) throw Bad{"not a WireGuard public key (44 characters of base64)"};
  return *k;
}

}  // namespace

std::vector<KeyInfo> discovery_keys() {
  return {std::begin(kKeys), std::end(kKeys)};
}

ParsedDiscovery parse_discovery(std::string_view text, const std::string& file_name) {
  ParsedDiscovery out;
  const std::string stem = file_name.substr(0, file_name.rfind('.'));
  if (!nl::valid_ifname(stem))
    out.errors.emplace_back(
        file_name, 0, "",
        "the file is named after a WireGuard interface: \"" + stem + "\" is no interface name");
  Discovery d;
  d.interface = stem;
  std::string section;
  std::map<std::string, int> seen;  // "Section.Key" -> line
  bool registry_zone = false, client_zone = false, client_registry = false;
  int registry_line = 0, client_line = 0;
  int line_number = 0;
  for (size_t begin = 0; begin <= text.size();) {
    const size_t end = std::min(text.find('\n', begin), text.size());
    const auto line = trim(text.substr(begin, end - begin));
    begin = end + 1;
    ++line_number;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        out.errors.emplace_back(file_name, line_number, "", "a section header ends with ']'");
        section.clear();
        continue;
      }
      section = std::string(trim(line.substr(1, line.size() - 2)));
      if (section == "Registry") {
        if (!d.registry) d.registry.emplace();
        registry_line = line_number;
      } else if (section == "Client") {
        if (!d.client) d.client.emplace();
        client_line = line_number;
      } else {
        out.errors.emplace_back(file_name, line_number, "",
                                "unknown section [" + section + "] (use [Registry] or [Client])");
        section = "?";
      }
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      out.errors.emplace_back(file_name, line_number, "", "not Key=Value: " + std::string(line));
      continue;
    }
    const std::string k(trim(line.substr(0, eq)));
    const auto value = trim(line.substr(eq + 1));
    if (section == "?") continue;
    if (section.empty()) {
      out.errors.emplace_back(file_name, line_number, k,
                              k + "= outside a section ([Registry] or [Client])");
      continue;
    }
    const auto rule = std::ranges::find_if(
        kKeys, [&](const KeyInfo& i) { return i.section == section && i.name == k; });
    if (rule == std::end(kKeys)) {
      std::string names;
      for (const auto& i : kKeys)
        if (i.section == section) names += (names.empty() ? "" : ", ") + std::string(i.name) + "=";
      out.errors.emplace_back(file_name, line_number, k,
                              "unknown key " + k + "= in [" + section + "] (keys: " + names + ")");
      continue;
    }
    const auto [where, fresh] = seen.try_emplace(section + "." + k, line_number);
    if (!fresh && !rule->repeatable) {
      out.errors.emplace_back(file_name, line_number, k,
                              k + "= given twice (lines " + std::to_string(where->second) +
                                  " and " + std::to_string(line_number) + ")");
      continue;
    }
    // A required key that is there but bad is reported once, for its value.
    if (section == "Registry" && k == "Zone") registry_zone = true;
    if (section == "Client" && k == "Zone") client_zone = true;
    if (section == "Client" && k == "Registry") client_registry = true;
    try {
      if (section == "Registry") {
        if (k == "Zone") {
          d.registry->zone = zone(value);
        } else if (k == "Port") {
          d.registry->port = static_cast<uint16_t>(number(value, 1, 65535));
        }
      } else {
        auto& c = *d.client;
        if (k == "Registry") {
          const auto address = IpAddress::parse(value);
          if (!address) throw Bad{"not an IP address (the registry's inner address)"};
          c.registry.address = *address;
        } else if (k == "Port") {
          c.registry.port = static_cast<uint16_t>(number(value, 1, 65535));
        } else if (k == "Zone") {
          c.zone = zone(value);
        } else if (k == "Peer") {
          c.peers.push_back(key(value));
        } else if (k == "Override") {
          c.override_endpoints = boolean(value);
        } else if (k == "PersistentKeepalive") {
          c.keepalive_s = static_cast<uint16_t>(number(value, 1, 65535));
        } else if (k == "Interval") {
          c.interval_us = number(value, 1, 86400) * 1'000'000;
        } else if (k == "StaleAfter") {
          c.stale_us = number(value, 1, 86400) * 1'000'000;
        }
      }
    } catch (const Bad& bad) {
      out.errors.emplace_back(file_name, line_number, k,
                              k + "=" + std::string(value) + ": " + bad.what);
    }
  }
  if (d.client && d.client->registry.port == 0) d.client->registry.port = 53;
  if (d.registry && !registry_zone)
    out.errors.emplace_back(file_name, registry_line, "Zone", "[Registry] needs Zone=");
  if (d.client && !client_zone)
    out.errors.emplace_back(file_name, client_line, "Zone", "[Client] needs Zone=");
  if (d.client && !client_registry)
    out.errors.emplace_back(file_name, client_line, "Registry",
                            "[Client] needs Registry= (the registry's inner address)");
  if (!d.registry && !d.client)
    out.errors.emplace_back(file_name, 0, "", "neither [Registry] nor [Client]: nothing to do");
  if (out.errors.empty()) out.discovery = std::move(d);
  return out;
}

std::string render_discovery_settings(const std::map<std::string, SettingValue>& settings) {
  struct Rule {
    const char* section;
    const char* key;
    int type;  // SettingValue's index: 0 s, 1 b, 2 u, 3 as
  };
  static constexpr Rule kRules[] = {
      {"Registry", "Zone", 0},   {"Registry", "Port", 2},
      {"Client", "Registry", 0}, {"Client", "Port", 2},
      {"Client", "Zone", 0},     {"Client", "Peer", 3},
      {"Client", "Override", 1}, {"Client", "PersistentKeepalive", 2},
      {"Client", "Interval", 2}, {"Client", "StaleAfter", 2},
  };
  static constexpr const char* kTypes[] = {"s", "b", "u", "as"};
  std::map<std::string, std::string> sections;
  for (const auto& [name, value] : settings) {
    const auto rule = std::ranges::find_if(kRules, [&](const Rule& r) {
      const std::string flat = std::string(r.section) == "Registry"
                                   ? std::string("Registry") + r.key
                                   : std::string(r.key);
      return flat == name;
    });
    if (rule == std::end(kRules))
      throw Error(ErrorCode::InvalidArgument,
                  "unknown setting " + name +
                      " (RegistryZone, RegistryPort, Registry, Port, Zone, Peer, Override, "
                      "PersistentKeepalive, Interval, StaleAfter)");
    if (static_cast<int>(value.index()) != rule->type)
      throw Error(ErrorCode::InvalidArgument, name + ": takes D-Bus type " + kTypes[rule->type]);
    std::string& text = sections[rule->section];
    const auto line = [&](const std::string& v) {
      if (v.find_first_of("\n\r") != std::string::npos)
        throw Error(ErrorCode::InvalidArgument, name + ": a line break in the value");
      text += std::string(rule->key) + "=" + v + "\n";
    };
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>)
            line(v);
          else if constexpr (std::is_same_v<T, bool>)
            line(v ? "yes" : "no");
          else if constexpr (std::is_same_v<T, uint32_t>)
            line(std::to_string(v));
          else
            for (const auto& item : v) line(item);
        },
        value);
  }
  std::string out;
  for (const char* section : {"Registry", "Client"})
    if (const auto it = sections.find(section); it != sections.end())
      out += (out.empty() ? "" : "\n") + std::string("[") + section + "]\n" + it->second;
  return out;
}

}  // namespace l2wg::config
