// Reading a WireGuard device with thousands of peers is costly, and creating a thousand tunnels
// would read it a thousand times: a read younger than a second is reused. Peer polls read afresh
// (clear()), a peer missing from a snapshot forces a new read (create() retries once), and a
// WireGuard interface appearing or vanishing drops its snapshot (forget()).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "l2wg/bridge/wireguard.h"
#include "l2wg/clock.h"

namespace l2wg {

class DeviceSnapshots final : public wg::WireGuardReader {
 public:
  DeviceSnapshots(wg::WireGuardReader& reader, Clock& clock) : reader_(reader), clock_(clock) {}
  wg::Device read_device(const std::string& ifname) override { return device(ifname); }
  const wg::Device& device(const std::string& ifname);  // throws as read_device does
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

}  // namespace l2wg
