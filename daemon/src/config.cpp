// Tunnel configuration: the NAME.conf parser, the D-Bus settings conversion and the renderer.
// Both inputs feed the same Draft, key by key through one rule table, so a file and a
// CreateTunnel call accept exactly the same values and fail with the same words.
//
// The INI parser is hand-written rather than libinih: Debian builds libinih without
// INI_HANDLER_LINENO, so its handler never learns the line number, and the contract requires
// every error to name file, line and key.

#include "l2wg/daemon/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config_parser.h"
#include "l2wg/bridge/netlink.h"
#include "l2wg/bridge/wireguard.h"

namespace l2wg::config {

namespace {

constexpr uint8_t kDefaultPrefixLength = PrefixDelegation{}.prefix_length;

enum class Section { Tunnel, Bridge, PrefixDelegation };

std::string_view section_name(Section section) {
  switch (section) {
    case Section::Tunnel:
      return "Tunnel";
    case Section::Bridge:
      return "Bridge";
    case Section::PrefixDelegation:
      return "PrefixDelegation";
  }
  return {};
}

std::string section_header(Section section) {
  return "[" + std::string(section_name(section)) + "]";
}

std::optional<Section> section_from_name(std::string_view name) {
  if (name == "Tunnel") return Section::Tunnel;
  if (name == "Bridge") return Section::Bridge;
  if (name == "PrefixDelegation") return Section::PrefixDelegation;
  return std::nullopt;
}

// Says where errors are. A file's are collected, with their lines, so that one reading reports
// all of them; D-Bus settings have no lines, and their first error is thrown as a plain Error.
class Reporter {
 public:
  Reporter() = default;
  Reporter(const std::string& file, std::vector<ConfigError>& errors)
      : file_(&file), errors_(&errors) {}

  bool in_file() const { return file_ != nullptr; }

  // Callers go on after it: what they check next must not depend on what was wrong.
  void report(int line, const std::string& key, const std::string& what) const {
    if (!file_) throw Error(ErrorCode::InvalidArgument, what);
    errors_->emplace_back(*file_, line, key, what);
  }

  // "Key=value: what is accepted", with a hint when the value looks like it carries a comment.
  void bad_value(int line, const std::string& key, std::string_view value,
                 const std::string& accepted) const {
    std::string what = key + "=" + std::string(value) + ": " + accepted;
    if (in_file() && value.find_first_of("#;") != std::string_view::npos)
      what += " (comments must be on their own line)";
    report(line, key, what);
  }

  // " (lines 3 and 5)" in a file; nothing for settings, which have no lines.
  std::string lines(int first, int second) const {
    if (!in_file()) return {};
    return " (lines " + std::to_string(first) + " and " + std::to_string(second) + ")";
  }
  std::string line(int number) const {
    return in_file() ? " (line " + std::to_string(number) + ")" : std::string();
  }

 private:
  const std::string* file_ = nullptr;
  std::vector<ConfigError>* errors_ = nullptr;
};

// Thrown by the value parsers: what the key accepts. Turned into a located error by Draft::set.
struct BadValue {
  std::string accepted;
};

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

// A number in min..max; `accepted` says what the key takes when `text` is no number at all.
uint64_t parse_number(std::string_view text, uint64_t min, uint64_t max,
                      const std::string& accepted) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; }))
    throw BadValue{accepted};
  uint64_t value = 0;
  const std::errc ec = std::from_chars(text.data(), text.data() + text.size(), value).ec;
  if (ec != std::errc() || value < min || value > max)  // ec: more than 64 bits, out of range too
    throw BadValue{"out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")"};
  return value;
}

bool parse_bool(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "yes" || lower == "true" || lower == "on" || lower == "1") return true;
  if (lower == "no" || lower == "false" || lower == "off" || lower == "0") return false;
  throw BadValue{"not a boolean (yes/no, true/false, on/off, 1/0)"};
}

std::string parse_ifname(std::string_view text) {
  std::string name(text);
  if (!nl::valid_ifname(name))
    throw BadValue{"not an interface name (1-15 characters, no '/', ':' or whitespace)"};
  return name;
}

IpAddress parse_address(std::string_view text) {
  const auto address = IpAddress::parse(text);
  if (!address) throw BadValue{"not an IP address"};
  return *address;
}

const char* family_name(const IpAddress& address) {
  return address.is_v4() ? "IPv4" : "IPv6";
}

// The tunnel as built so far, key by key, plus where each key came from (line 0: a setting).
struct Draft {
  explicit Draft(std::string name) { tunnel.name = std::move(name); }

  Tunnel tunnel;
  BridgeSpec bridge;
  PrefixDelegation prefix_delegation;
  std::optional<IpAddress> peer_address;  // set when Peer= is an address rather than a key
  std::map<Section, int> section_lines;   // first line of each section seen
  std::map<std::string, int, std::less<>> key_lines;  // first line of a key; last one if repeatable
  std::vector<int> lan_lines;                         // parallel to prefix_delegation.lans
  std::vector<int> subnet_id_lines;                   // parallel to prefix_delegation.subnet_ids
  // Keys given but not set (a bad value, the wrong section): reported already, so not missing.
  std::set<std::string, std::less<>> rejected_keys;
  // A line that could not be read may have held any key: then no key is called missing.
  bool unread_lines = false;

  void enter_section(Section section, int line) { section_lines.try_emplace(section, line); }

  int line_of(std::string_view key, Section section) const {
    if (const auto it = key_lines.find(key); it != key_lines.end()) return it->second;
    if (const auto it = section_lines.find(section); it != section_lines.end()) return it->second;
    return 0;
  }

  Tunnel finish(const Reporter& reporter);

 private:
  // Whether a required key (or section) that is not set should be reported as missing.
  bool missing(std::string_view key) const { return !unread_lines && !rejected_keys.contains(key); }
  void check_tunnel(const Reporter& reporter);
  void check_bridge(const Reporter& reporter);
  void check_prefix_delegation(const Reporter& reporter);
};

// Bit i stands for alternative i of SettingValue: the D-Bus types a setting accepts.
constexpr unsigned kTypeString = 1u << 0;
constexpr unsigned kTypeBool = 1u << 1;
constexpr unsigned kTypeUint = 1u << 2;
constexpr unsigned kTypeStrings = 1u << 3;

std::string type_names(unsigned types) {
  static constexpr const char* kNames[] = {"s", "b", "u", "as"};
  std::string out;
  for (unsigned i = 0; i < std::size(kNames); ++i) {
    if (!(types & (1u << i))) continue;
    if (!out.empty()) out += " or ";
    out += kNames[i];
  }
  return out;
}

struct KeyRule {
  std::string_view name;
  Section section;
  bool repeatable;
  unsigned setting_types;
  // Stores a non-empty value (repeatable keys also get empty ones: they clear the list, as in
  // systemd). Throws BadValue.
  void (*apply)(Draft& draft, std::string_view value, int line);
};

const KeyRule kRules[] = {
    {"WireGuard", Section::Tunnel, false, kTypeString,
     [](Draft& d, std::string_view v, int) { d.tunnel.spec.wireguard = parse_ifname(v); }},
    {"Peer", Section::Tunnel, false, kTypeString,
     [](Draft& d, std::string_view v, int) {
       // Stored canonically, so two spellings of one peer compare equal.
       if (const auto address = IpAddress::parse(v)) {
         d.peer_address = address;
         d.tunnel.spec.peer = address->str();
       } else if (const auto key = wg::key_from_base64(v)) {
         d.tunnel.spec.peer = wg::to_base64(*key);
       } else {
         throw BadValue{
             "neither an IP address nor a base64 WireGuard public key (44 characters ending in "
             "'=')"};
       }
     }},
    {"Local", Section::Tunnel, false, kTypeString,
     [](Draft& d, std::string_view v, int) { d.tunnel.spec.local = parse_address(v); }},
    {"Interface", Section::Tunnel, false, kTypeString,
     [](Draft& d, std::string_view v, int) { d.tunnel.spec.tap_name = parse_ifname(v); }},
    {"Key", Section::Tunnel, false, kTypeUint,
     [](Draft& d, std::string_view v, int) {
       d.tunnel.spec.key = static_cast<uint32_t>(parse_number(
           v, 0, std::numeric_limits<uint32_t>::max(), "not a number (0..4294967295)"));
     }},
    {"MTU", Section::Tunnel, false, kTypeString | kTypeUint,
     [](Draft& d, std::string_view v, int) {
       if (v == "auto") {
         d.tunnel.spec.mtu.fixed.reset();
         return;
       }
       d.tunnel.spec.mtu.fixed = static_cast<uint32_t>(
           parse_number(v, 1280, 65535, "not an MTU (auto, or a number 1280..65535)"));
     }},
    {"Datapath", Section::Tunnel, false, kTypeString,
     [](Draft& d, std::string_view v, int) {
       if (v == "auto") {
         d.tunnel.spec.datapath = gre::DatapathChoice::Auto;
       } else if (v == "kernel") {
         d.tunnel.spec.datapath = gre::DatapathChoice::Kernel;
       } else if (v == "userspace") {
         d.tunnel.spec.datapath = gre::DatapathChoice::Userspace;
       } else {
         throw BadValue{"not a datapath (auto, kernel or userspace)"};
       }
     }},
    {"MACAddress", Section::Tunnel, false, kTypeString,
     [](Draft& d, std::string_view v, int) {
       const auto mac = MacAddress::parse(v);
       if (!mac) throw BadValue{"not a MAC address (six hex pairs like 02:00:5e:10:00:01)"};
       if (mac->is_multicast())
         throw BadValue{
             "a multicast address cannot be the tap's own (the first byte must be even)"};
       if (*mac == MacAddress{}) throw BadValue{"the all-zero address cannot be the tap's own"};
       d.tunnel.spec.mac = mac;
     }},
    {"Bridge", Section::Bridge, false, kTypeString,
     [](Draft& d, std::string_view v, int) { d.bridge.name = parse_ifname(v); }},
    {"CreateBridge", Section::Bridge, false, kTypeBool,
     [](Draft& d, std::string_view v, int) { d.bridge.create = parse_bool(v); }},
    {"Isolated", Section::Bridge, false, kTypeBool,
     [](Draft& d, std::string_view v, int) { d.bridge.isolated = parse_bool(v); }},
    {"PrefixLength", Section::PrefixDelegation, false, kTypeUint,
     [](Draft& d, std::string_view v, int) {
       // Longer than /64 could not be split into one /64 per LAN.
       d.prefix_delegation.prefix_length = static_cast<uint8_t>(
           parse_number(v, 0, 64, "not a prefix length (0 = no hint, or 1..64)"));
     }},
    {"LAN", Section::PrefixDelegation, true, kTypeStrings,
     [](Draft& d, std::string_view v, int line) {
       if (v.empty()) {
         d.prefix_delegation.lans.clear();
         d.lan_lines.clear();
         return;
       }
       d.prefix_delegation.lans.push_back(parse_ifname(v));
       d.lan_lines.push_back(line);
     }},
    {"SubnetId", Section::PrefixDelegation, true, kTypeStrings,
     [](Draft& d, std::string_view v, int line) {
       if (v.empty()) {
         d.prefix_delegation.subnet_ids.clear();
         d.subnet_id_lines.clear();
         return;
       }
       const std::string accepted =
           "not LAN:ID (one of the LAN= interfaces, a colon, a subnet number 0..4294967295)";
       const size_t colon = v.find(':');
       if (colon == std::string_view::npos) throw BadValue{accepted};
       const std::string lan(v.substr(0, colon));
       if (!nl::valid_ifname(lan)) throw BadValue{accepted};
       const auto id =
           parse_number(v.substr(colon + 1), 0, std::numeric_limits<uint32_t>::max(), accepted);
       d.prefix_delegation.subnet_ids.emplace_back(lan, static_cast<uint32_t>(id));
       d.subnet_id_lines.push_back(line);
     }},
    {"SourceRouting", Section::PrefixDelegation, false, kTypeBool,
     [](Draft& d, std::string_view v, int) { d.prefix_delegation.source_routing = parse_bool(v); }},
    {"RapidCommit", Section::PrefixDelegation, false, kTypeBool,
     [](Draft& d, std::string_view v, int) { d.prefix_delegation.rapid_commit = parse_bool(v); }},
    {"DNS", Section::PrefixDelegation, true, kTypeStrings,
     [](Draft& d, std::string_view v, int) {
       if (v.empty()) {
         d.prefix_delegation.dns.clear();
         return;
       }
       const auto address = IpAddress::parse(v);
       if (!address || !address->is_v6()) throw BadValue{"not an IPv6 address"};
       d.prefix_delegation.dns.push_back(*address);
     }},
};

const KeyRule* find_rule(std::string_view key) {
  for (const KeyRule& rule : kRules) {
    if (rule.name == key) return &rule;
  }
  return nullptr;
}

std::string key_names(std::optional<Section> section) {
  std::string out;
  for (const KeyRule& rule : kRules) {
    if (section && rule.section != *section) continue;
    if (!out.empty()) out += ", ";
    out += rule.name;
  }
  return out;
}

// Records one Key=Value (line 0 for a setting).
void set(Draft& draft, const KeyRule& rule, std::string_view value, int line,
         const Reporter& reporter) {
  const std::string key(rule.name);
  const auto [it, first] = draft.key_lines.try_emplace(key, line);
  if (rule.repeatable) {
    it->second = line;  // the last one: an empty value there may have cleared the list
  } else {
    if (!first) {
      reporter.report(line, key, key + "= given twice" + reporter.lines(it->second, line));
      return;
    }
    // An empty value means the default, as in systemd.
    if (value.empty()) return;
  }
  try {
    rule.apply(draft, value, line);
  } catch (const BadValue& bad) {
    draft.rejected_keys.insert(key);
    reporter.bad_value(line, key, value, bad.accepted);
  }
}

void Draft::check_tunnel(const Reporter& reporter) {
  TunnelSpec& spec = tunnel.spec;
  if (spec.tap_name.empty()) spec.tap_name = "l2-" + tunnel.name;
  if (reporter.in_file() && !section_lines.contains(Section::Tunnel)) {
    if (missing("[Tunnel]"))
      reporter.report(0, "[Tunnel]",
                      "no [Tunnel] section: a tunnel needs at least WireGuard= and Peer=");
    return;
  }
  if (spec.wireguard.empty() && missing("WireGuard"))
    reporter.report(line_of("WireGuard", Section::Tunnel), "WireGuard",
                    "WireGuard= is required: the WireGuard interface the tunnel runs over");
  if (spec.peer.empty() && missing("Peer"))
    reporter.report(line_of("Peer", Section::Tunnel), "Peer",
                    "Peer= is required: the peer's inner address on " +
                        (spec.wireguard.empty() ? "the WireGuard interface" : spec.wireguard) +
                        ", or its base64 public key");
  if (spec.local && peer_address && spec.local->family() != peer_address->family())
    reporter.report(line_of("Local", Section::Tunnel), "Local",
                    "Local=" + spec.local->str() + ": an " + family_name(*spec.local) +
                        " address, but Peer=" + spec.peer + " is " + family_name(*peer_address) +
                        "; both ends of the tunnel must be the same family");
  if (spec.tap_name == spec.wireguard)  // with the default tap name, WireGuard= is to change
    reporter.report(
        line_of(key_lines.contains("Interface") ? "Interface" : "WireGuard", Section::Tunnel),
        "Interface",
        "Interface=" + spec.tap_name +
            ": that is the WireGuard interface; the tap needs a name of its own");
}

void Draft::check_bridge(const Reporter& reporter) {
  const TunnelSpec& spec = tunnel.spec;
  const int line = line_of("Bridge", Section::Bridge);
  if (bridge.name.empty()) {
    if (missing("Bridge"))
      reporter.report(line, "Bridge",
                      "Bridge= is required in bridge mode: the bridge to plug the tap into");
  } else if (bridge.name == spec.tap_name) {
    reporter.report(line, "Bridge", "Bridge=" + bridge.name + ": that is the tunnel's own tap");
  } else if (bridge.name == spec.wireguard) {
    reporter.report(line, "Bridge", "Bridge=" + bridge.name + ": that is the WireGuard interface");
  }
  tunnel.spec.bridge = bridge;
}

void Draft::check_prefix_delegation(const Reporter& reporter) {
  const TunnelSpec& spec = tunnel.spec;
  PrefixDelegation& pd = prefix_delegation;
  if (pd.lans.empty() && missing("LAN"))
    reporter.report(line_of("LAN", Section::PrefixDelegation), "LAN",
                    "LAN= is required for prefix delegation: at least one LAN interface to give a "
                    "/64 to");
  for (size_t i = 0; i < pd.lans.size(); ++i) {
    const std::string& lan = pd.lans[i];
    const auto earlier = std::find(pd.lans.begin(), pd.lans.begin() + i, lan);
    if (lan == spec.tap_name)
      reporter.report(lan_lines[i], "LAN", "LAN=" + lan + ": that is the tunnel's own tap");
    else if (lan == spec.wireguard)
      reporter.report(lan_lines[i], "LAN", "LAN=" + lan + ": that is the WireGuard interface");
    else if (earlier != pd.lans.begin() + i)
      reporter.report(lan_lines[i], "LAN",
                      "LAN=" + lan + " given twice" +
                          reporter.lines(lan_lines[earlier - pd.lans.begin()], lan_lines[i]));
  }
  // With PrefixLength=L the LANs share 64-L bits of subnet number; ids of 32 bits and more fit.
  const unsigned subnet_bits = 64u - pd.prefix_length;
  const bool limited = pd.prefix_length > 0 && subnet_bits < 32;
  for (size_t i = 0; i < pd.subnet_ids.size(); ++i) {
    const auto& [lan, id] = pd.subnet_ids[i];
    const int line = subnet_id_lines[i];
    const std::string setting = "SubnetId=" + lan + ":" + std::to_string(id);
    if (std::find(pd.lans.begin(), pd.lans.end(), lan) == pd.lans.end()) {
      std::string lans;
      for (const std::string& known : pd.lans) lans += (lans.empty() ? "" : ", ") + known;
      reporter.report(line, "SubnetId",
                      setting + ": " + lan + " is not one of the LAN= interfaces (" + lans + ")");
      continue;
    }
    if (limited && id >= (uint64_t{1} << subnet_bits)) {
      reporter.report(line, "SubnetId",
                      setting + ": does not fit PrefixLength=" + std::to_string(pd.prefix_length) +
                          ", which leaves subnet ids 0.." +
                          std::to_string((uint64_t{1} << subnet_bits) - 1));
      continue;
    }
    for (size_t j = 0; j < i; ++j) {
      const auto& [other_lan, other_id] = pd.subnet_ids[j];
      if (other_lan == lan) {
        reporter.report(line, "SubnetId",
                        setting + ": " + lan + " already has subnet id " +
                            std::to_string(other_id) + reporter.line(subnet_id_lines[j]));
        break;
      }
      if (other_id == id) {
        reporter.report(line, "SubnetId",
                        setting + ": subnet id " + std::to_string(id) + " is already " + other_lan +
                            "'s" + reporter.line(subnet_id_lines[j]));
        break;
      }
    }
  }
  tunnel.prefix_delegation = pd;
}

Tunnel Draft::finish(const Reporter& reporter) {
  check_tunnel(reporter);
  const auto bridge_section = section_lines.find(Section::Bridge);
  const auto pd_section = section_lines.find(Section::PrefixDelegation);
  if (bridge_section != section_lines.end() && pd_section != section_lines.end()) {
    const std::string what =
        reporter.in_file()
            ? "[Bridge]" + reporter.line(bridge_section->second) + " and [PrefixDelegation]" +
                  reporter.line(pd_section->second)
            : "Bridge settings (Bridge, CreateBridge, Isolated) and prefix delegation settings (" +
                  key_names(Section::PrefixDelegation) + ")";
    const bool pd_later = pd_section->second >= bridge_section->second;
    reporter.report(std::max(bridge_section->second, pd_section->second),
                    pd_later ? "[PrefixDelegation]" : "[Bridge]",
                    what + " are mutually exclusive: a tunnel is either bridged or routed");
  }
  if (bridge_section != section_lines.end()) check_bridge(reporter);
  if (pd_section != section_lines.end()) check_prefix_delegation(reporter);
  return tunnel;
}

std::string tunnel_name_rule() {
  return "a tunnel name is 1-12 characters of A-Z, a-z, 0-9, '_' and '-'";
}

std::string render_bool(bool value) {
  return value ? "yes" : "no";
}

// Where the parser is in a file: before any section header, in a section, or under a header it
// could not read, whose lines are skipped (their errors would only repeat the header's).
struct Position {
  std::optional<Section> section;
  bool under_unread_header = false;
};

// One line that is neither empty nor a comment; its error, if any, is reported and the file read
// on.
void read_line(Draft& draft, Position& position, std::string_view line, int line_number,
               const Reporter& reporter) {
  if (line.front() == '[') {
    position = {std::nullopt, true};
    if (line.back() != ']') {
      draft.unread_lines = true;
      std::string what = "\"" + std::string(line) + "\" is not a [Section] header";
      if (line.find_first_of("#;") != std::string_view::npos)
        what += " (comments must be on their own line)";
      reporter.report(line_number, "", what);
      return;
    }
    const std::optional<Section> section = section_from_name(line.substr(1, line.size() - 2));
    if (!section) {
      draft.unread_lines = true;
      reporter.report(line_number, std::string(line),
                      "unknown section " + std::string(line) +
                          " (known: [Tunnel], [Bridge], [PrefixDelegation])");
      return;
    }
    position = {section, false};
    draft.enter_section(*section, line_number);
    return;
  }
  if (position.under_unread_header) return;

  const size_t equals = line.find('=');
  if (equals == std::string_view::npos) {
    draft.unread_lines = true;
    reporter.report(line_number, "",
                    "\"" + std::string(line) +
                        "\": expected Key=Value, a [Section] header or a comment starting with #");
    return;
  }
  const std::string key(trim(line.substr(0, equals)));
  const std::string_view value = trim(line.substr(equals + 1));
  if (key.empty()) {
    draft.unread_lines = true;
    reporter.report(line_number, "", "\"" + std::string(line) + "\": no key before =");
    return;
  }
  const KeyRule* rule = find_rule(key);
  if (!rule) {
    draft.unread_lines = true;  // maybe a misspelt key that the file needs
    const std::string where = position.section ? " in " + section_header(*position.section) : "";
    reporter.report(
        line_number, key,
        "unknown key " + key + "=" + where + " (known: " + key_names(position.section) + ")");
    return;
  }
  if (rule->section != position.section) {
    draft.rejected_keys.insert(key);
    reporter.report(line_number, key,
                    position.section ? key + "= belongs in " + section_header(rule->section) +
                                           ", not in " + section_header(*position.section)
                                     : key + "= comes before any section header; it belongs in " +
                                           section_header(rule->section));
    return;
  }
  set(draft, *rule, value, line_number, reporter);
}

}  // namespace

bool valid_tunnel_name(std::string_view name) {
  return !name.empty() && name.size() <= 12 &&
         std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

std::vector<KeyInfo> known_keys() {
  std::vector<KeyInfo> keys;
  for (const KeyRule& rule : kRules)
    keys.push_back({section_name(rule.section), rule.name, rule.repeatable});
  return keys;
}

bool Tunnel::operator==(const Tunnel& other) const {
  return name == other.name && spec == other.spec && prefix_delegation == other.prefix_delegation;
}

ConfigError::ConfigError(const std::string& file, int line, const std::string& key,
                         const std::string& what)
    : Error(ErrorCode::InvalidArgument, file + ":" + std::to_string(line) + ": " + what),
      file_(file),
      line_(line),
      key_(key) {}

LocatedTunnel parse_tunnel_located(std::string_view text, const std::string& file_name) {
  LocatedTunnel located;
  const Reporter reporter(file_name, located.errors);
  std::string_view stem = file_name;
  if (const size_t slash = stem.rfind('/'); slash != std::string_view::npos)
    stem.remove_prefix(slash + 1);
  if (stem.ends_with(".conf")) stem.remove_suffix(5);
  if (!valid_tunnel_name(stem))
    reporter.report(0, "",
                    "bad tunnel name \"" + std::string(stem) + "\": " + tunnel_name_rule() +
                        ", and the file is NAME.conf");

  Draft draft{std::string(stem)};
  Position position;
  int line_number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view raw = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    const std::string_view line = trim(raw);  // also drops the '\r' of CRLF files
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    read_line(draft, position, line, line_number, reporter);
  }
  const auto interface = draft.key_lines.find("Interface");
  located.interface_line = interface == draft.key_lines.end() ? 0 : interface->second;
  located.tunnel = draft.finish(reporter);
  return located;
}

Tunnel parse_tunnel(std::string_view text, const std::string& file_name) {
  LocatedTunnel located = parse_tunnel_located(text, file_name);
  if (!located.errors.empty()) throw located.errors.front();
  return std::move(located.tunnel);
}

Tunnel tunnel_from_settings(const std::string& name,
                            const std::map<std::string, SettingValue>& settings) {
  const Reporter reporter;  // settings stop at their first error: report() throws it
  if (!valid_tunnel_name(name))
    throw Error(ErrorCode::InvalidArgument,
                "bad tunnel name \"" + name + "\": " + tunnel_name_rule());
  Draft draft(name);
  for (const auto& [key, value] : settings) {
    const KeyRule* rule = find_rule(key);
    if (!rule)
      throw Error(ErrorCode::InvalidArgument,
                  "unknown setting " + key + " (known: " + key_names(std::nullopt) + ")");
    if (!(rule->setting_types & (1u << value.index())))
      throw Error(ErrorCode::InvalidArgument, key + ": expected type " +
                                                  type_names(rule->setting_types) + ", got " +
                                                  type_names(1u << value.index()));
    draft.enter_section(rule->section, 0);
    // Every value goes through the same text parsers as the file, so the rules are one.
    if (const auto* text = std::get_if<std::string>(&value)) {
      set(draft, *rule, *text, 0, reporter);
    } else if (const auto* flag = std::get_if<bool>(&value)) {
      set(draft, *rule, render_bool(*flag), 0, reporter);
    } else if (const auto* number = std::get_if<uint32_t>(&value)) {
      set(draft, *rule, std::to_string(*number), 0, reporter);
    } else {
      for (const std::string& item : std::get<std::vector<std::string>>(value))
        set(draft, *rule, item, 0, reporter);
    }
  }
  return draft.finish(reporter);
}

std::string render_tunnel(const Tunnel& tunnel) {
  const TunnelSpec& spec = tunnel.spec;
  std::string out = "# Written by l2wgd\n[Tunnel]\n";
  const auto line = [&out](std::string_view key, const std::string& value) {
    out.append(key).append("=").append(value).append("\n");
  };
  line("WireGuard", spec.wireguard);
  line("Peer", spec.peer);
  if (spec.local) line("Local", spec.local->str());
  if (spec.tap_name != "l2-" + tunnel.name) line("Interface", spec.tap_name);
  if (spec.key) line("Key", std::to_string(*spec.key));
  if (spec.mtu.fixed) line("MTU", std::to_string(*spec.mtu.fixed));
  if (spec.datapath == gre::DatapathChoice::Kernel) line("Datapath", "kernel");
  if (spec.datapath == gre::DatapathChoice::Userspace) line("Datapath", "userspace");
  if (spec.mac) line("MACAddress", spec.mac->str());

  if (spec.bridge) {
    out += "\n[Bridge]\n";
    line("Bridge", spec.bridge->name);
    if (spec.bridge->create) line("CreateBridge", render_bool(true));
    if (spec.bridge->isolated) line("Isolated", render_bool(true));
  }
  if (const auto& pd = tunnel.prefix_delegation) {
    out += "\n[PrefixDelegation]\n";
    if (pd->prefix_length != kDefaultPrefixLength)
      line("PrefixLength", std::to_string(pd->prefix_length));
    for (const std::string& lan : pd->lans) line("LAN", lan);
    for (const auto& [lan, id] : pd->subnet_ids) line("SubnetId", lan + ":" + std::to_string(id));
    if (!pd->source_routing) line("SourceRouting", render_bool(false));
    if (pd->rapid_commit) line("RapidCommit", render_bool(true));
    for (const IpAddress& dns : pd->dns) line("DNS", dns.str());
  }
  return out;
}

}  // namespace l2wg::config
