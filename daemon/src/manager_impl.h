// TunnelManager's insides, shared by its two source files: manager.cpp (the tunnels' lifecycle:
// create, delete, stop, start, restart, reload, restore, and routed mode's set-up) and
// tunnel_state.cpp (how each tunnel's state follows WireGuard, link and address events, and its
// bridge).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "device_snapshots.h"
#include "l2wg/bridge/path_probe.h"
#include "l2wg/daemon/manager.h"
#include "routed_tunnel.h"
#include "state_store.h"

namespace l2wg {

class TunnelManager::Impl {
 public:
  Impl(nl::Netlink& netlink, wg::WireGuardReader& wireguard, dp::Datapath& datapath, Clock& clock,
       EventLoop& loop, ManagerOptions options);

  void restore();
  std::vector<std::string> reload();
  TunnelStatus create(const config::Tunnel& tunnel, bool persist);
  void remove(const std::string& name);
  void stop(const std::string& name);
  void start(const std::string& name);
  void restart(const std::string& name);
  RoutedTunnel& routed_of(const std::string& name);
  std::vector<TunnelStatus> list() const;
  Statistics statistics(const std::string& name);
  ProbeTimes probe_times(const std::string& name) const;
  const TunnelStatus* find(const std::string& name) const;
  void handle(const std::vector<nl::Event>& events);
  void poll_peers();

  ManagerObserver* observer_ = nullptr;

 private:
  // A built tunnel's GRE path probe: its socket on the tap and its timer, on the loop.
  struct PathWatch {
    PathWatch(Clock& clock, int tap_ifindex, MacAddress mac)
        : socket(tap_ifindex), prober(clock, socket, mac) {}
    probe::PacketSocket socket;
    probe::Prober prober;
    EventLoop::Registration readable;
    std::unique_ptr<EventLoop::Timer> timer;
  };

  // One tunnel. Its address never changes (tunnels_ holds it by pointer): its routed mode reports
  // straight to it.
  struct Entry final : RoutedTunnel::Owner {
    Entry(Impl& owner, config::Tunnel tunnel, bool is_persistent)
        : manager(owner), config(std::move(tunnel)), persistent(is_persistent) {
      status.name = config.name;
    }
    void routed_changed(bool health) override {
      if (health)
        manager.refresh_state(*this);
      else
        manager.update(*this, manager.base_status(*this));
    }
    void prefix_delegated(const IpPrefix& prefix) override {
      if (manager.observer_) manager.observer_->prefix_delegated(status, prefix);
    }
    void prefix_lost(const IpPrefix& prefix, const std::string& reason) override {
      if (manager.observer_) manager.observer_->prefix_lost(status, prefix, reason);
    }

    Impl& manager;
    config::Tunnel config;
    bool persistent = false;
    bool stopped = false;  // l2wg down: nothing built, nothing retried until start()
    std::optional<TunnelPlumbing> plumbing;
    // Why the tap is not in its bridge (it left it, or the bridge went): degraded until it is back.
    std::optional<std::string> bridge_problem;
    TunnelStatus status;
    std::unique_ptr<RoutedTunnel> routed;  // with plumbing, for a [PrefixDelegation] tunnel
    std::unique_ptr<PathWatch> path;       // with plumbing, when paths are probed
  };
  using Tunnels = std::map<std::string, std::unique_ptr<Entry>>;

  Entry& insert(std::unique_ptr<Entry> entry);
  void bring_up(Entry& entry, bool strict);
  void tear_down(Entry& entry, RoutedTunnel::Ending ending = RoutedTunnel::Ending::Quietly);
  void rebuild(Entry& entry, const std::string& why);
  void remove_entry(Tunnels::iterator it);
  Entry& entry_of(const std::string& name);
  void set_stopped(Entry& entry);
  void update(Entry& entry, TunnelStatus next);
  void refresh_state(Entry& entry);
  void apply_peer(Entry& entry, const wg::Device* device, TunnelStatus& next);
  TunnelStatus base_status(const Entry& entry) const;
  void record(const Entry& entry);
  std::filesystem::path config_file(const std::string& name) const;
  const Entry* same_flow(const config::Tunnel& tunnel) const;
  void check_flow(const config::Tunnel& tunnel) const;
  void watch_path(Entry& entry);
  void path_event(Entry& entry);
  std::optional<std::string> path_problem(const Entry& entry) const;
  void bridge_membership_changed(Entry& entry, const nl::Link& tap);
  void bridge_gone(Entry& entry);
  void bridge_back(Entry& entry);
  // Routed mode
  void check_routed(const config::Tunnel& tunnel) const;
  bool routed_supported() const;
  std::unique_ptr<RoutedTunnel> make_routed(Entry& entry, bool initial_delay);
  uint32_t free_routed_table(const std::string& name, uint32_t wanted) const;
  TunnelSpec build_spec(const config::Tunnel& tunnel) const;

  nl::Netlink& netlink_;
  DeviceSnapshots wireguard_;
  TunnelBuilder builder_;
  Clock& clock_;
  EventLoop& loop_;
  ManagerOptions options_;
  StateStore store_;
  FinalAdvertisements finals_;
  Tunnels tunnels_;  // last: its routed tunnels use everything above
};

}  // namespace l2wg
