// The daemon's core: every tunnel's configuration, plumbing and status, kept in step with the
// kernel (link events), with WireGuard (peer polling) and with the config directory. It knows
// nothing of D-Bus: the bus service observes it and calls it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "l2wg/bridge/link_watcher.h"
#include "l2wg/bridge/tunnel.h"
#include "l2wg/clock.h"
#include "l2wg/daemon/config.h"
#include "l2wg/daemon/event_loop.h"
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
  // This boot's id (/proc/sys/kernel/random/boot_id when empty): a stopped tunnel stays stopped
  // until the next boot.
  std::string boot_id = {};
  // Probe each tunnel's GRE path (l2wg/bridge/path_probe.h) through a packet socket on its tap.
  // Off unless asked for: tests on a fake kernel have no tap to bind to.
  bool probe_paths = false;
  // Clamps TCP's MSS on kernel gretap taps (mss_rules.h); none: unclamped.
  nft::Nftables* nftables = nullptr;
};

class TunnelManager {
 public:
  // Routed mode's sockets and timers live on `loop`.
  TunnelManager(nl::Netlink& netlink, wg::WireGuardReader& wireguard, dp::Datapath& datapath,
                Clock& clock, EventLoop& loop, ManagerOptions options);
  ~TunnelManager();  // leaves the data plane as it is: a restart adopts it
  TunnelManager(const TunnelManager&) = delete;
  TunnelManager& operator=(const TunnelManager&) = delete;

  void set_observer(ManagerObserver* observer);

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
  // Tunnel.Stop(): removes what the tunnel created and keeps the tunnel and its NAME.conf, stopped
  // until start() or the next boot; a tunnel without a file is removed instead, as remove() does.
  // Tunnel.Start(): builds a stopped tunnel again (nothing for one that runs). Both throw
  // Error(NotFound).
  void stop(const std::string& name);
  void start(const std::string& name);
  // Tears the tunnel's plumbing down and builds it again. Throws Error(NotFound).
  void restart(const std::string& name);
  // Routed mode's Renew() and Release(): the DHCPv6 client renews now, or gives the prefixes back
  // (they are deprecated on the LANs as any lost prefix is). Throws Error(NotFound), or
  // Error(Unsupported) for a tunnel that is not routed or whose tap is not built.
  void renew(const std::string& name);
  void release(const std::string& name);

  std::vector<TunnelStatus> list() const;
  // Tunnel.GetStatistics(): the datapath's counters, empty while nothing is built. Throws
  // Error(NotFound).
  Statistics statistics(const std::string& name);
  // LastProbeAnswer and ProbeRoundTrip, read when asked. Throws Error(NotFound).
  ProbeTimes probe_times(const std::string& name) const;
  const TunnelStatus* find(const std::string& name) const;

  // Link and address events from the LinkWatcher.
  void handle(const std::vector<nl::Event>& events);
  // Reads each WireGuard interface in use once, and updates handshakes, endpoints and states;
  // retries tunnels that could not be built. The daemon calls it every few seconds.
  void poll_peers();

 private:
  class Impl;  // manager.cpp
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2wg
