// What l2wgd keeps in its state dir about each tunnel, as typed records: the tunnel record
// (STATE/tunnels/NAME.json), which a later run needs to adopt the tunnel, and the routed record
// (STATE/routed/NAME.json), which a later run needs to pick routed mode up where this one left it.
// Every write is atomic; a record that cannot be read (truncated, hand-edited) is logged, naming
// the file, and read as the safe default: what a first start would have.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/ip.h"
#include "l2wg/lan/routing.h"

namespace l2wg {

struct TunnelRecord {
  bool created_bridge = false;  // the tunnel created its bridge, so deleting it removes the bridge
  // The configuration (a NAME.conf text) of a tunnel that has no config file: made over D-Bus.
  std::optional<std::string> config;
  // Stopped (l2wg down) during the boot with this id: it stays stopped across daemon restarts,
  // not across a reboot.
  std::optional<std::string> stopped_in_boot = {};
  bool operator==(const TunnelRecord&) const = default;
};

struct DeprecatedSubnet {
  std::string lan;
  IpPrefix subnet;
  uint64_t valid_until_us = 0;  // wall clock: announced with lifetimes 0 until then
  bool operator==(const DeprecatedSubnet&) const = default;
};

struct RecordedUpstream {
  IpAddress link_local;
  uint64_t until_us = 0;  // wall clock: when its router lifetime runs out
  std::optional<uint32_t> mtu;
  bool operator==(const RecordedUpstream&) const = default;
};

struct RoutedRecord {
  std::optional<uint32_t> table;              // source routing's table
  std::map<std::string, uint64_t> subnet_ids;  // LAN → the subnet id it had
  std::vector<DeprecatedSubnet> deprecated;
  lan::RoutingPlan applied;  // what is in the kernel: a later run removes it even if never re-bound
  std::optional<RecordedUpstream> upstream;
  bool operator==(const RoutedRecord&) const = default;
};

class StateStore {
 public:
  explicit StateStore(std::filesystem::path state_dir) : dir_(std::move(state_dir)) {}

  const std::filesystem::path& dir() const { return dir_; }

  // The names of the tunnels that have a tunnel record.
  std::vector<std::string> recorded_tunnels() const;
  // nullopt when there is none or it cannot be read.
  std::optional<TunnelRecord> load_tunnel(const std::string& name) const;
  void save_tunnel(const std::string& name, const TunnelRecord& record);  // throws Error(Io)
  void remove_tunnel(const std::string& name);

  RoutedRecord load_routed(const std::string& name) const;  // empty when none or unreadable
  void save_routed(const std::string& name, const RoutedRecord& record);  // throws Error(Io)
  void remove_routed(const std::string& name);

 private:
  std::filesystem::path tunnel_path(const std::string& name) const;
  std::filesystem::path routed_path(const std::string& name) const;
  std::filesystem::path dir_;
};

}  // namespace l2wg
