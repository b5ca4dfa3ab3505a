// l2wgd's presence on the system bus: the Manager object (with ObjectManager) and one Tunnel
// object per tunnel, kept in step with the TunnelManager. Hides sdbus-c++ from the daemon.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace l2wg {

class DiscoveryService;
class TunnelManager;

struct BusPollData {
  int fd = -1;
  short events = 0;
  int timeout_ms = -1;  // for poll(2); -1: none
};

class BusService {
 public:
  // Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured) and exports the objects,
  // following the manager's tunnels from then on.
  BusService(TunnelManager& manager, std::string version);
  ~BusService();
  BusService(const BusService&) = delete;
  BusService& operator=(const BusService&) = delete;

  // Takes net.l2wg1, before the daemon touches any tunnel: a second l2wgd must change nothing.
  // Calls wait in the socket until the loop runs. Throws l2wg::Error(Exists) when it is owned.
  void request_name();
  // Manager.SetDiscovery, RemoveDiscovery and DescribeDiscovery, and Reload() of the
  // *.discovery files; without it they answer NotSupported.
  void set_discovery(DiscoveryService* discovery);
  BusPollData poll_data() const;
  // Handles every pending message; call when poll reports the fd ready or the timeout expires.
  void process();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2wg
