// Tunnel configuration: /etc/l2wg/NAME.conf files (systemd-style INI) and the flat settings of
// D-Bus CreateTunnel, both turned into one value type, validated the same way, and written back
// for `persist`. Pure apart from the file functions at the end.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "l2wg/bridge/tunnel.h"
#include "l2wg/error.h"
#include "l2wg/ip.h"

namespace l2wg::config {

struct PrefixDelegation {
  uint8_t prefix_length = 60;  // hint sent to the server; 0 = no hint
  std::vector<std::string> lans;
  std::vector<std::pair<std::string, uint32_t>> subnet_ids;  // LAN -> subnet id
  bool source_routing = true;
  bool rapid_commit = false;
  std::vector<IpAddress> dns;

  bool operator==(const PrefixDelegation&) const = default;
};

struct Tunnel {
  std::string name;  // the file stem: 1-12 of [A-Za-z0-9_-]
  // [Tunnel] and [Bridge]. tap_name defaults to "l2-NAME".
  TunnelSpec spec;
  std::optional<PrefixDelegation> prefix_delegation;

  bool operator==(const Tunnel&) const;
};

bool valid_tunnel_name(std::string_view name);

// Every key of NAME.conf (and setting of CreateTunnel), in the parser's own table order, with
// its section ("Tunnel", "Bridge", "PrefixDelegation"): what l2wg.conf(5) must document.
struct KeyInfo {
  std::string_view section;
  std::string_view name;
  bool repeatable;
};
std::vector<KeyInfo> known_keys();

// A config error names where it is: "lab.conf:7: Key=abc: not a number (0..4294967295)".
// Its ErrorCode is InvalidArgument.
class ConfigError : public Error {
 public:
  ConfigError(const std::string& file, int line, const std::string& key, const std::string& what);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }

 private:
  std::string file_;
  int line_;
  std::string key_;
};

// Parses the text of NAME.conf. `file_name` (e.g. "lab.conf") gives the tunnel's name and is
// used in error messages. Unknown sections and keys, a key outside its section, bad values, a
// missing WireGuard= or Peer=, both [Bridge] and [PrefixDelegation], a non-repeatable key given
// twice: each a ConfigError. The file is read to its end and the first error is thrown (a line's
// before the whole file's); load_directory reports every one.
Tunnel parse_tunnel(std::string_view text, const std::string& file_name);

// The D-Bus CreateTunnel settings, with the config keys as flat names ("WireGuard", "Peer",
// "Bridge", "CreateBridge", "PrefixLength", "LAN", "SourceRouting", ...). A value arrives as one
// of these types; each key accepts the type the contract gives it (LAN, DNS, SubnetId: as;
// CreateBridge, Isolated, SourceRouting, RapidCommit: b; Key, PrefixLength: u; MTU: s or u; the
// rest: s). Throws Error(InvalidArgument) naming the key and the value for an unknown key, a wrong
// type or a bad value, with the same rules as parse_tunnel.
using SettingValue = std::variant<std::string, bool, uint32_t, std::vector<std::string>>;
Tunnel tunnel_from_settings(const std::string& name,
                            const std::map<std::string, SettingValue>& settings);

// NAME.conf text for `tunnel`; parse_tunnel(render_tunnel(t), t.name + ".conf") == t.
std::string render_tunnel(const Tunnel& tunnel);

struct LoadedDirectory {
  std::vector<Tunnel> tunnels;
  // Every error of every bad file, file by file (a file's all at once, so that one edit can fix
  // them); the other files still load.
  std::vector<ConfigError> errors;
};
// Every *.conf in `dir` (missing dir: empty result), sorted by name.
LoadedDirectory load_directory(const std::filesystem::path& dir);

}  // namespace l2wg::config
