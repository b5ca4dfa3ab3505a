#include "l2wg/cli/command_line.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <sstream>

namespace l2wg::cli {
namespace {

// l2wgd's ranges for MTU= and PrefixLength= (daemon/src/config.cpp), checked here as well so that
// a typo is a usage error in the flag's own words.
constexpr uint64_t kMinMtu = 1280;
constexpr uint64_t kMaxMtu = 65535;
constexpr uint64_t kMaxPrefixLength = 64;

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// What is wrong with `text` as a number in min..max; empty when nothing is.
std::string number_problem(const std::string& text, uint64_t min, uint64_t max) {
  const bool negative = text.starts_with('-') && all_digits(text.substr(1));
  if (!all_digits(text) && !negative) return text + " is not a number";
  uint64_t value = 0;
  const std::errc ec = std::from_chars(text.data(), text.data() + text.size(), value).ec;
  if (negative || ec != std::errc() || value < min || value > max)
    return text + " is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")";
  return {};
}

CLI::Validator number_in(uint64_t min, uint64_t max) {
  return CLI::Validator([=](std::string& text) { return number_problem(text, min, max); },
                        std::to_string(min) + ".." + std::to_string(max));
}

std::string usage_error(const std::string& what) {
  return "l2wg: " + what + "\nRun 'l2wg --help' for usage.\n";
}

// Edits from `a` to `b`: an insertion, a deletion, a replacement, or a swap of neighbours, the
// commonest typo ("lsit").
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// When `error` is about a first word that is no subcommand: the usage error for it, naming the
// subcommand it is nearest to if one is near enough to have been meant (a third of its letters
// wrong at most).
std::optional<std::string> unknown_command_error(const CLI::App& app,
                                                 const CLI::ParseError& error) {
  const std::vector<std::string> unexpected = app.remaining();
  if (dynamic_cast<const CLI::ExtrasError*>(&error) == nullptr || !app.get_subcommands().empty() ||
      unexpected.empty() || unexpected.front().starts_with('-'))
    return std::nullopt;
  const std::string& word = unexpected.front();
  std::string nearest;
  size_t nearest_distance = std::numeric_limits<size_t>::max();
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string& name = sub->get_name();
    const size_t distance = edit_distance(word, name);
    if (distance <= std::max<size_t>(1, name.size() / 3) && distance < nearest_distance) {
      nearest = name;
      nearest_distance = distance;
    }
  }
  std::string what = "unknown command \"" + word + "\"";
  if (!nearest.empty()) what += "; did you mean " + nearest + "?";
  return usage_error(what);
}

// The raw values CLI11 fills; optionals are set afterwards from each option's count.
struct UpFlags {
  std::string local, interface, mtu, datapath, bridge;
  uint32_t key = 0;
  uint32_t prefix_length = 0;
  CLI::Option* local_option = nullptr;
  CLI::Option* interface_option = nullptr;
  CLI::Option* key_option = nullptr;
  CLI::Option* mtu_option = nullptr;
  CLI::Option* datapath_option = nullptr;
  CLI::Option* bridge_option = nullptr;
  CLI::Option* prefix_length_option = nullptr;
};

CLI::App* add_up_command(CLI::App& app, Command& command, UpFlags& flags) {
  UpOptions& up = command.up;
  auto* sub = app.add_subcommand(
      "up", "Create a tunnel (gretap over a WireGuard interface); with NAME alone, start it");
  sub->add_option("NAME", command.name, "Tunnel name: 1-12 of [A-Za-z0-9_-]")->required();
  // Needed to create a tunnel, not to start one: checked after parsing.
  sub->add_option("--wg", up.wireguard, "The WireGuard interface to stack on");
  sub->add_option("--peer", up.peer, "The peer's inner address on it, or its base64 public key");
  flags.local_option =
      sub->add_option("--local", flags.local, "Local inner address (default: the interface's own)");
  flags.interface_option =
      sub->add_option("--interface", flags.interface, "Tap name (default: l2-NAME)");
  flags.key_option = sub->add_option("--key", flags.key, "GRE key (32-bit)")
                         ->check(number_in(0, std::numeric_limits<uint32_t>::max()));
  flags.mtu_option = sub->add_option("--mtu", flags.mtu, "auto (default) or a number")
                         ->check(CLI::Validator(
                             [](std::string& value) {
                               if (value == "auto") return std::string();
                               if (!all_digits(value))
                                 return value + " is neither auto nor a number";
                               return number_problem(value, kMinMtu, kMaxMtu);
                             },
                             "auto|" + std::to_string(kMinMtu) + ".." + std::to_string(kMaxMtu)));
  flags.datapath_option = sub->add_option("--datapath", flags.datapath, "auto, kernel or userspace")
                              ->check(CLI::IsMember({"auto", "kernel", "userspace"}));
  flags.bridge_option =
      sub->add_option("--bridge", flags.bridge, "Enslave the tap into this bridge");
  auto* create_bridge =
      sub->add_flag("--create-bridge", up.create_bridge, "Create the bridge if it does not exist");
  auto* isolated = sub->add_flag("--isolated", up.isolated, "Set the bridge port isolated");
  auto* pd = sub->add_flag("--pd", up.prefix_delegation,
                           "Routed mode: request a prefix with DHCPv6-PD over the tap");
  flags.prefix_length_option =
      sub->add_option("--prefix-length", flags.prefix_length, "Length hint; 0 = no hint")
          ->check(number_in(0, kMaxPrefixLength));
  auto* lan = sub->add_option("--lan", up.lans, "A LAN interface to get a /64 (repeatable)")
                  ->allow_extra_args(false);
  auto* no_source_routing =
      sub->add_flag("--no-source-routing", up.no_source_routing,
                    "Do not route traffic from the delegated prefix through the tap");
  auto* rapid_commit = sub->add_flag("--rapid-commit", up.rapid_commit, "Use DHCPv6 rapid commit");
  sub->add_flag("--persist", up.persist, "Also write /etc/l2wg/NAME.conf");

  create_bridge->needs(flags.bridge_option);
  isolated->needs(flags.bridge_option);
  pd->excludes(flags.bridge_option);
  pd->needs(lan);
  for (auto* option : {flags.prefix_length_option, lan, no_source_routing, rapid_commit})
    option->needs(pd);
  return sub;
}

void fill_optionals(const UpFlags& flags, UpOptions& up) {
  auto take = [](const CLI::Option* option, const auto& value, auto& target) {
    if (option->count() > 0) target = value;
  };
  take(flags.local_option, flags.local, up.local);
  take(flags.interface_option, flags.interface, up.interface);
  take(flags.key_option, flags.key, up.key);
  take(flags.mtu_option, flags.mtu, up.mtu);
  take(flags.datapath_option, flags.datapath, up.datapath);
  take(flags.bridge_option, flags.bridge, up.bridge);
  take(flags.prefix_length_option, flags.prefix_length, up.prefix_length);
}

}  // namespace

ParseResult parse_command_line(const std::vector<std::string>& args) {
  Command command;
  UpFlags up_flags;
  CLI::App app("l2wg: control l2wgd, layer-2 tunnels (gretap) over WireGuard", "l2wg");
  app.require_subcommand(0, 1);  // none: list, as `wg` and `networkctl` do
  app.failure_message(
      [](const CLI::App*, const CLI::Error& error) { return usage_error(error.what()); });
  bool version_flag = false;
  app.add_flag("--version", version_flag,
               "Print the client's and the daemon's version (as version does)");
  app.footer(
      "Without a command, l2wg lists the tunnels.\n\n"
      "Exit status:\n"
      "  0 success\n"
      "  1 l2wgd refused or failed (its message follows \"l2wg: \"); doctor found an error\n"
      "  2 usage error\n"
      "  3 l2wgd cannot be reached (on the system bus, as net.l2wg1)");

  auto* list = app.add_subcommand("list", "List the tunnels and their state (the default)");
  list->add_flag("--json", command.json, "One JSON document");

  auto* show = app.add_subcommand("show", "Show one tunnel");
  show->add_option("NAME", command.name, "Tunnel name")->required();
  show->add_flag("--json", command.json, "One JSON document (Describe)");

  auto* up = add_up_command(app, command, up_flags);

  auto* down = app.add_subcommand(
      "down", "Stop a tunnel (or every tunnel with --all); NAME.conf stays, a tunnel without one "
              "is removed");
  auto* down_name = down->add_option("NAME", command.name, "Tunnel name");
  auto* down_all = down->add_flag("--all", command.all, "Every tunnel");
  down_name->excludes(down_all);
  down->require_option(1);

  auto* remove = app.add_subcommand("delete", "Remove a tunnel and its NAME.conf");
  remove->add_option("NAME", command.name, "Tunnel name")->required();

  auto* renew = app.add_subcommand("renew", "Renew the tunnel's delegated prefix now");
  renew->add_option("NAME", command.name, "Tunnel name")->required();
  auto* release =
      app.add_subcommand("release", "Give the delegated prefix back (deprecates it on the LANs)");
  release->add_option("NAME", command.name, "Tunnel name")->required();
  auto* restart =
      app.add_subcommand("restart", "Take the tunnel's links down and build them again");
  restart->add_option("NAME", command.name, "Tunnel name")->required();
  auto* reload = app.add_subcommand(
      "reload", "Re-read l2wgd's config directory (/etc/l2wg) and apply what changed");

  auto* monitor = app.add_subcommand("monitor", "Stream state changes and prefix events");
  monitor->add_flag("--json", command.json, "One JSON object per line");

  auto* doctor = app.add_subcommand("doctor", "Explain what is wrong and how to fix it");
  doctor->add_option("NAME", command.name, "Only this tunnel");
  doctor->add_flag("--json", command.json, "One JSON document");

  auto* version = app.add_subcommand("version", "Print the client's and the daemon's version");

  // Endpoint discovery through a registry peer (DNS-SD, as wgsd).
  DiscoveryOptions& d = command.discovery;
  CLI::Option* registry_off = nullptr;
  auto* registry = app.add_subcommand(
      "registry", "Serve the peers' endpoints of a WireGuard interface as DNS-SD (wgsd's records)");
  registry->add_option("WGIF", command.name, "The WireGuard interface")->required();
  auto* registry_zone = registry->add_option("--zone", d.zone, "The zone served, e.g. example.com");
  registry->add_option("--port", d.port, "DNS port on the inner addresses (default 53)")
      ->check(number_in(1, 65535));
  registry_off =
      registry->add_flag("--off", d.off, "Stop discovery on WGIF (removes WGIF.discovery)");
  registry_zone->excludes(registry_off);

  auto* discover = app.add_subcommand(
      "discover", "Set the endpoints of WGIF's peers from a registry (l2wg or wgsd)");
  discover->add_option("WGIF", command.name, "The WireGuard interface")->required();
  auto* discover_registry =
      discover->add_option("--registry", d.registry, "The registry's inner address");
  discover->add_option("--zone", d.zone, "The registry's zone");
  discover->add_option("--port", d.port, "The registry's DNS port (default 53)")
      ->check(number_in(1, 65535));
  discover->add_option("--peer", d.peers, "Only this peer's endpoint (base64 key; repeatable)")
      ->allow_extra_args(false);
  discover->add_flag("--override", d.override_endpoints, "Replace endpoints set by hand too");
  discover->add_option("--keepalive", d.keepalive, "Persistent keepalive, seconds (default 25)")
      ->check(number_in(1, 65535));
  auto* discover_off =
      discover->add_flag("--off", d.off, "Stop discovery on WGIF (removes WGIF.discovery)");
  discover_registry->excludes(discover_off);

  auto* discovery = app.add_subcommand(
      "discovery", "Show endpoint discovery: registries' counters, what clients learnt");
  discovery->add_option("WGIF", command.name, "Only this WireGuard interface");
  discovery->add_flag("--json", command.json, "One JSON document (DescribeDiscovery)");

  std::vector<const char*> argv{"l2wg"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  ParseResult result;
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& error) {
    std::ostringstream out, err;
    const int cli11_status = app.exit(error, out, err);
    result.out = out.str();
    result.err = unknown_command_error(app, error).value_or(err.str());
    result.exit_status = cli11_status == 0 ? kExitOk : kExitUsage;
    return result;
  }

  const std::pair<CLI::App*, Verb> verbs[] = {
      {list, Verb::List},         {show, Verb::Show},         {up, Verb::Up},
      {down, Verb::Down},         {remove, Verb::Delete},     {renew, Verb::Renew},
      {release, Verb::Release},   {restart, Verb::Restart},   {reload, Verb::Reload},
      {monitor, Verb::Monitor},   {doctor, Verb::Doctor},     {version, Verb::Version},
      {registry, Verb::Registry}, {discover, Verb::Discover}, {discovery, Verb::Discovery}};
  for (const auto& [sub, verb] : verbs)
    if (sub->parsed()) command.verb = verb;
  if (version_flag) command.verb = Verb::Version;
  if (command.verb == Verb::Up) {
    // `up NAME` alone starts; any other flag means creating, which needs both of these.
    const auto options = up->get_options();
    const bool creating = std::any_of(options.begin(), options.end(), [](const CLI::Option* o) {
      return o->get_name() != "NAME" && o->count() > 0;
    });
    if (!creating) {
      command.verb = Verb::Start;
    } else if (command.up.wireguard.empty() || command.up.peer.empty()) {
      result.err = "l2wg: up: --wg and --peer are needed to create a tunnel (l2wg up NAME alone "
                   "starts a stopped one)\n";
      result.exit_status = kExitUsage;
      return result;
    }
  }
  if (!command.discovery.off &&
      ((command.verb == Verb::Registry && command.discovery.zone.empty()) ||
       (command.verb == Verb::Discover &&
        (command.discovery.zone.empty() || command.discovery.registry.empty())))) {
    result.err = command.verb == Verb::Registry
                     ? "l2wg: registry: --zone is needed (or --off)\n"
                     : "l2wg: discover: --registry and --zone are needed (or --off)\n";
    result.exit_status = kExitUsage;
    return result;
  }
  fill_optionals(up_flags, command.up);
  result.command = command;
  return result;
}

Settings build_settings(const UpOptions& options) {
  Settings settings{{"WireGuard", options.wireguard}, {"Peer", options.peer}};
  if (options.local) settings["Local"] = *options.local;
  if (options.interface) settings["Interface"] = *options.interface;
  if (options.key) settings["Key"] = *options.key;
  if (options.mtu) {
    // The API takes MTU as "auto" or as a number (u); the parser let nothing else through.
    if (*options.mtu == "auto")
      settings["MTU"] = std::string("auto");
    else
      settings["MTU"] = static_cast<uint32_t>(std::stoul(*options.mtu));
  }
  if (options.datapath) settings["Datapath"] = *options.datapath;
  if (options.bridge) settings["Bridge"] = *options.bridge;
  if (options.create_bridge) settings["CreateBridge"] = true;
  if (options.isolated) settings["Isolated"] = true;
  if (options.prefix_delegation) {
    if (options.prefix_length) settings["PrefixLength"] = *options.prefix_length;
    settings["LAN"] = options.lans;
    if (options.no_source_routing) settings["SourceRouting"] = false;
    if (options.rapid_commit) settings["RapidCommit"] = true;
  }
  return settings;
}

Settings build_discovery_settings(const Command& command) {
  const DiscoveryOptions& d = command.discovery;
  Settings settings;
  if (command.verb == Verb::Registry) {
    settings["RegistryZone"] = d.zone;
    if (d.port) settings["RegistryPort"] = *d.port;
    return settings;
  }
  settings["Registry"] = d.registry;
  settings["Zone"] = d.zone;
  if (d.port) settings["Port"] = *d.port;
  if (!d.peers.empty()) settings["Peer"] = d.peers;
  if (d.override_endpoints) settings["Override"] = true;
  if (d.keepalive) settings["PersistentKeepalive"] = *d.keepalive;
  return settings;
}

std::string with_flag_names(std::string_view daemon_message) {
  // The keys `up` has a flag with a value for (the daemon's refusals never quote CreateBridge=,
  // Isolated=, SourceRouting= or RapidCommit=), and the section --pd stands for.
  static constexpr std::pair<std::string_view, std::string_view> kFlags[] = {
      {"WireGuard=", "--wg "},
      {"Peer=", "--peer "},
      {"Local=", "--local "},
      {"Interface=", "--interface "},
      {"Key=", "--key "},
      {"MTU=", "--mtu "},
      {"Datapath=", "--datapath "},
      {"Bridge=", "--bridge "},
      {"PrefixLength=", "--prefix-length "},
      {"LAN=", "--lan "},
      {"[PrefixDelegation]", "--pd"}};
  const auto is_value = [](char c) {
    return !std::isspace(static_cast<unsigned char>(c)) && c != ',' && c != ';' && c != ')';
  };
  std::string out;
  size_t i = 0;
  while (i < daemon_message.size()) {
    const std::string_view rest = daemon_message.substr(i);
    // Whole keys only ("CreateBridge=" holds "Bridge="), and only with a value: "Key=" alone
    // names the key, not anything typed.
    const bool word_start =
        i == 0 || !std::isalnum(static_cast<unsigned char>(daemon_message[i - 1]));
    const auto* flag = std::find_if(std::begin(kFlags), std::end(kFlags), [&](const auto& entry) {
      const std::string_view key = entry.first;
      return rest.starts_with(key) &&
             (!key.ends_with('=') || (rest.size() > key.size() && is_value(rest[key.size()])));
    });
    if (!word_start || flag == std::end(kFlags)) {
      out += daemon_message[i++];
      continue;
    }
    out += flag->second;
    i += flag->first.size();
  }
  return out;
}

}  // namespace l2wg::cli
