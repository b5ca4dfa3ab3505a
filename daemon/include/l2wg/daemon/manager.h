// The daemon's core: every tunnel's configuration, plumbing and status, kept in step with the
// kernel (link events), with WireGuard (peer polling) and with the config directory. It knows
// nothing of D-Bus: the bus service observes it and calls it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/bridge/link_watcher.h"
#include "l2wg/bridge/tunnel.h"
#include "l2wg/clock.h"
#include "l2wg/daemon/config.h"
#include "l2wg/daemon/routed.h"
#include "l2wg/daemon/status.h"

namespace l2wg {

class ManagerObserver {
 public:
  virtual ~ManagerObserver() = default;
  virtual void tunnel_added(const TunnelStatus& status) = 0;
  virtual void tunnel_removed(const std::string& name) = 0;
  virtual void tunnel_changed(const TunnelStatus& status,
                              const std::vector<std::string>& properties) = 0;
  // Routed mode: the PrefixDelegated and PrefixLost signals. `status` already reflects them.
  virtual void prefix_delegated(const TunnelStatus& /*status*/, const IpPrefix& /*prefix*/) {}
  virtual void prefix_lost(const TunnelStatus& /*status*/, const IpPrefix& /*prefix*/,
                           const std::string& /*reason*/) {}
};

// What routed mode ([PrefixDelegation]) runs on; without both, such tunnels are refused.
struct RoutedServices {
  routed::PrefixDelegationFactory* prefix_delegation = nullptr;
  routed::RaEndpointFactory* router_advertisements = nullptr;
};

struct ManagerOptions {
  std::filesystem::path config_dir = "/etc/l2wg";
  std::filesystem::path state_dir = "/var/lib/l2wg";
  uint64_t handshake_timeout_us = 180'000'000;  // WireGuard's REJECT_AFTER_TIME
  RoutedServices routed;
};

class TunnelManager {
 public:
  TunnelManager(nl::Netlink& netlink, wg::WireGuardReader& wireguard, dp::Datapath& datapath,
                Clock& clock, ManagerOptions options);
  ~TunnelManager();  // leaves the data plane as it is: a restart adopts it
  TunnelManager(const TunnelManager&) = delete;
  TunnelManager& operator=(const TunnelManager&) = delete;

  void set_observer(ManagerObserver* observer) { observer_ = observer; }

  // At start: brings back the tunnels a previous run created over D-Bus without persist, when
  // their tap still exists (the daemon restarted; the host did not reboot). Call before reload().
  void restore();

  // Applies the config directory: new files create tunnels (adopting taps a previous run left),
  // changed files re-apply, removed files delete theirs. Returns the errors of bad files, which
  // create nothing; the other files still apply.
  std::vector<std::string> reload();

  // CreateTunnel. Throws Error (InvalidArgument, Exists, NotFound, Kernel...) and then leaves
  // nothing behind. A WireGuard interface that does not exist yet is not an error: the tunnel
  // waits for it. `persist` writes NAME.conf.
  TunnelStatus create(const config::Tunnel& tunnel, bool persist);
  // DeleteTunnel: removes what the tunnel created and its NAME.conf. Throws Error(NotFound).
  void remove(const std::string& name);
  // Tears the tunnel's plumbing down and builds it again. Throws Error(NotFound).
  void restart(const std::string& name);
  // Routed mode's Renew() and Release(): the DHCPv6 client renews now, or gives the prefixes back
  // (they are deprecated on the LANs as any lost prefix is). Throws Error(NotFound), or
  // Error(Unsupported) for a tunnel that is not routed or whose tap is not built.
  void renew(const std::string& name);
  void release(const std::string& name);

  std::vector<TunnelStatus> list() const;
  const TunnelStatus* find(const std::string& name) const;

  // Routed mode's sockets and timers (DHCPv6 clients, Router Advertisements): poll fds() and call
  // handle_fd() for each readable one. The set changes as tunnels come and go: ask again after
  // every call into the manager.
  std::vector<int> fds() const;
  void handle_fd(int fd);

  // Link and address events from the LinkWatcher.
  void handle(const std::vector<nl::Event>& events);
  // Reads each WireGuard interface in use once, and updates handshakes, endpoints and states.
  void poll_peers();

 private:
  struct Routed;  // a routed tunnel's client, LAN endpoints and prefixes (manager.cpp)
  struct Entry {
    config::Tunnel config;
    bool persistent = false;
    std::optional<TunnelPlumbing> plumbing;
    TunnelStatus status;
    std::unique_ptr<Routed> routed;  // with plumbing, for a [PrefixDelegation] tunnel
  };

  void bring_up(Entry& entry, bool strict);
  void tear_down(Entry& entry, bool final = false);
  // Routed mode; see manager.cpp.
  void check_routed(const config::Tunnel& tunnel) const;
  Routed& routed_of(const std::string& name);
  void set_up_routed(Entry& entry, bool initial_delay);
  uint32_t free_routed_table(const std::string& name, uint32_t wanted) const;
  void start_routed(Entry& entry);
  void stop_routed(Entry& entry, bool final);
  void prefix_bound(const std::string& name, const dhcp6::DelegatedPrefix& prefix,
                    const dhcp6::Lease& lease, bool added);
  void prefix_gone(const std::string& name, const IpPrefix& prefix, const std::string& reason);
  void lease_changed(const std::string& name, const std::optional<dhcp6::Lease>& lease);
  void apply_routing(Entry& entry);
  void save_routed_state(const std::string& name, const Routed& routed);
  void link_came_back(Entry& entry, int ifindex);
  void retire_dropped_lans(Entry& entry, const config::Tunnel& next);
  void upstream_heard(Entry& entry, const routed::UpstreamNews& news);
  void upstream_reachability(Entry& entry, bool reachable);
  void rebind_settled(Entry& entry);
  void refresh_state(Entry& entry);
  void announce(Entry& entry);
  lan::Announcement announcement(const Entry& entry, const std::string& lan) const;
  void routed_status(const Entry& entry, TunnelStatus& status) const;
  TunnelSpec build_spec(const config::Tunnel& tunnel) const;
  std::filesystem::path routed_state_file(const std::string& name) const;
  void rebuild(Entry& entry, const std::string& why);
  void update(Entry& entry, TunnelStatus next);
  void apply_peer(Entry& entry, const wg::Device* device, TunnelStatus& next);
  TunnelStatus base_status(const Entry& entry) const;
  void remove_entry(std::map<std::string, Entry>::iterator it);
  void save_record(const Entry& entry);
  std::filesystem::path config_file(const std::string& name) const;
  std::filesystem::path state_file(const std::string& name) const;

  // Reading a WireGuard device with thousands of peers is costly, and creating a thousand
  // tunnels would read it a thousand times: a read younger than a second is reused. Peer polls
  // read afresh, a peer missing from a snapshot forces a new read (create() retries once), and
  // a WireGuard interface appearing or vanishing drops its snapshot.
  class DeviceSnapshots final : public wg::WireGuardReader {
   public:
    DeviceSnapshots(wg::WireGuardReader& reader, Clock& clock) : reader_(reader), clock_(clock) {}
    wg::Device read_device(const std::string& ifname) override { return device(ifname); }
    const wg::Device& device(const std::string& ifname);
    void forget(const std::string& ifname) { snapshots_.erase(ifname); }
    void clear() { snapshots_.clear(); }

   private:
    static constexpr uint64_t kMaxAgeUs = 1'000'000;
    struct Snapshot {
      wg::Device device;
      uint64_t read_at_us = 0;
    };
    wg::WireGuardReader& reader_;
    Clock& clock_;
    std::map<std::string, Snapshot> snapshots_;
  };

  nl::Netlink& netlink_;
  DeviceSnapshots wireguard_;
  TunnelBuilder builder_;
  Clock& clock_;
  ManagerOptions options_;
  ManagerObserver* observer_ = nullptr;
  std::map<std::string, Entry> tunnels_;
  // Endpoints of deleted tunnels still sending their final Router Advertisements.
  std::vector<std::unique_ptr<routed::RaEndpoint>> retiring_;
};

}  // namespace l2wg
