// The l2wg command line as plain values: what the user asked for, parsed with CLI11, and the
// CreateTunnel settings built from `up`'s flags. No D-Bus here, so all of it is unit-testable.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace l2wg::cli {

// Exit statuses of the contract.
enum ExitStatus : int {
  kExitOk = 0,
  kExitDaemonError = 1,  // the daemon refused or failed (or doctor found an error)
  kExitUsage = 2,
  kExitUnreachable = 3,
};

struct UpOptions {
  std::string wireguard;  // --wg
  std::string peer;       // --peer: inner address or base64 public key
  std::optional<std::string> local;
  std::optional<std::string> interface;
  std::optional<uint32_t> key;
  std::optional<std::string> mtu;  // "auto" or a number, checked by the parser
  std::optional<std::string> datapath;
  std::optional<std::string> bridge;
  bool create_bridge = false;
  bool isolated = false;
  bool prefix_delegation = false;  // --pd
  std::optional<uint32_t> prefix_length;
  std::vector<std::string> lans;
  bool no_source_routing = false;
  bool rapid_commit = false;
  bool persist = false;

  bool operator==(const UpOptions&) const = default;
};

// Endpoint discovery: `registry WGIF`, `discover WGIF` and `discovery [WGIF]`.
struct DiscoveryOptions {
  std::string zone;                   // --zone
  std::optional<uint32_t> port;       // --port
  std::string registry;               // discover --registry: the registry's inner address
  std::vector<std::string> peers;     // discover --peer (repeatable)
  bool override_endpoints = false;    // discover --override
  std::optional<uint32_t> keepalive;  // discover --keepalive
  bool off = false;                   // registry/discover/discovery --off: RemoveDiscovery

  bool operator==(const DiscoveryOptions&) const = default;
};

// Up creates a tunnel; Start is `up NAME` alone (a stopped tunnel, or one from its file).
enum class Verb {
  List,
  Show,
  Up,
  Start,
  Down,
  Delete,
  Renew,
  Release,
  Restart,
  Reload,
  Monitor,
  Doctor,
  Version,
  Registry,
  Discover,
  Discovery
};

struct Command {
  Verb verb = Verb::List;  // also what `l2wg` alone does
  std::string name;  // show/up/down/renew/release/restart; doctor's optional NAME ("" = every one)
  bool json = false;
  bool all = false;  // down --all
  UpOptions up;
  DiscoveryOptions discovery;  // registry, discover, discovery (name: the WireGuard interface)
};

// Either a command to run, or what to print and the exit status (for --help, or a usage error
// whose text goes to stderr).
struct ParseResult {
  std::optional<Command> command;
  int exit_status = kExitOk;
  std::string out;  // for stdout (help)
  std::string err;  // for stderr (usage errors), already prefixed "l2wg: "
};

// `args` excludes the program name.
ParseResult parse_command_line(const std::vector<std::string>& args);

// The a{sv} of Manager.CreateTunnel, with the config keys as names; only what the user gave
// (the daemon applies the defaults). MTU is "auto" or a number.
using SettingValue = std::variant<std::string, bool, uint32_t, std::vector<std::string>>;
using Settings = std::map<std::string, SettingValue>;
Settings build_settings(const UpOptions& options);
// The a{sv} of Manager.SetDiscovery for `registry` (RegistryZone, RegistryPort) and `discover`
// (Registry, Zone, Port, Peer, Override, PersistentKeepalive).
Settings build_discovery_settings(const Command& command);

// A refusal of CreateTunnel in the words of `up`'s flags: the daemon checks config keys and names
// them ("MTU=9000 does not fit …; use MTU=auto …"), the user typed flags ("--mtu 9000 does not
// fit …; use --mtu auto …").
std::string with_flag_names(std::string_view daemon_message);

}  // namespace l2wg::cli
