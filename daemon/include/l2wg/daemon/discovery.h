// Endpoint discovery in l2wgd (discovery/ on the daemon's loop): /etc/l2wg/WGIF.discovery files
// declare a WireGuard interface a registry ([Registry]: answer DNS-SD on its inner addresses), a
// client of one ([Client]: set peers' endpoints from a registry's answers), or both.
//
//   [Registry]
//   Zone=example.com        # required
//   Port=53
//
//   [Client]
//   Registry=10.99.0.1      # the registry's inner address, required
//   Port=53
//   Zone=example.com        # required
//   Peer=BASE64KEY          # repeatable; none: every peer but the registry's
//   Override=no             # replace endpoints set by hand too
//   PersistentKeepalive=25  # seconds, set on the registry's peer and every resolved peer
//   Interval=60             # seconds between re-resolving a working peer
//   StaleAfter=135          # seconds without a handshake before a peer counts as stale
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "l2wg/bridge/wireguard.h"
#include "l2wg/clock.h"
#include "l2wg/daemon/config.h"
#include "l2wg/daemon/event_loop.h"
#include "l2wg/discovery/resolver.h"

namespace l2wg {

namespace config {

struct RegistryRole {
  std::string zone;
  uint16_t port = 53;
  bool operator==(const RegistryRole&) const = default;
};

struct Discovery {
  std::string interface;  // the file stem
  std::optional<RegistryRole> registry;
  std::optional<discovery::ClientConfig> client;
  bool operator==(const Discovery&) const = default;
};

// Every key of WGIF.discovery, by section ("Registry", "Client"): what l2wg.conf(5) documents.
std::vector<KeyInfo> discovery_keys();

// Parses WGIF.discovery. Every error is a ConfigError naming the file, line and key; all of a
// file's errors are returned at once and nothing of a broken file is used.
struct ParsedDiscovery {
  std::optional<Discovery> discovery;
  std::vector<ConfigError> errors;
};
ParsedDiscovery parse_discovery(std::string_view text, const std::string& file_name);

// The settings of Manager.SetDiscovery as WGIF.discovery's text: RegistryZone (s) and
// RegistryPort (u) make [Registry]; Registry (s), Port (u), Zone (s), Peer (as), Override (b),
// PersistentKeepalive, Interval, StaleAfter (u) make [Client]. Throws Error(InvalidArgument)
// naming an unknown setting or a wrong type; the values are checked by parse_discovery.
std::string render_discovery_settings(const std::map<std::string, SettingValue>& settings);

}  // namespace config

// Runs every *.discovery file of the config directory on `loop`.
class DiscoveryService {
 public:
  DiscoveryService(wg::WireGuardReader& reader, wg::WireGuardWriter& writer, Clock& clock,
                   Random& random, EventLoop& loop, std::filesystem::path config_dir,
                   std::filesystem::path state_dir);
  ~DiscoveryService();
  DiscoveryService(const DiscoveryService&) = delete;
  DiscoveryService& operator=(const DiscoveryService&) = delete;

  // Re-reads the *.discovery files: new and changed ones start (a changed one afresh), removed
  // ones stop. Returns the errors of broken files (logged too), which change nothing.
  std::vector<std::string> reload();
  // Manager.SetDiscovery: checks the settings as a file would be, writes WGIF.discovery and
  // applies it. Throws Error(InvalidArgument) naming every problem; then nothing changed.
  void set(const std::string& ifname, const std::map<std::string, config::SettingValue>& settings);
  // Manager.RemoveDiscovery: removes WGIF.discovery and stops it. Throws Error(NotFound).
  void remove(const std::string& ifname);
  // Manager.DescribeDiscovery: every interface's status as a JSON array (the objects of
  // STATE_DIR/discovery/WGIF.json).
  std::string describe() const;

  // Every second: reads each interface, binds the registry's sockets to its inner addresses as
  // they come and go, feeds the clients, and writes STATE_DIR/discovery/WGIF.json.
  void poll();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2wg
