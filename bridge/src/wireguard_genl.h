// Kernel WireGuard over generic netlink: the raw WG_CMD_GET_DEVICE dump, shared by the reader and
// the wg-capture test tool (which records dumps from a real kernel as test data).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/bridge/wireguard.h"

namespace l2wg::wg {

struct GenlDump {
  uint16_t family_id = 0;
  std::vector<uint8_t> bytes;  // every message received, NLMSG_DONE included
};

// Dumps `ifname` from kernel WireGuard. The device's private key is zeroed in the returned bytes
// (and in every buffer that held it). nullopt when the kernel has no WireGuard family or no
// WireGuard device of that name (the kernel does not say which); throws Error for other failures.
std::optional<GenlDump> dump_genl_device(const std::string& ifname);

// WG_CMD_SET_DEVICE with WGPEER_F_UPDATE_ONLY for each update (a peer the device does not have is
// not added). false when the kernel has no WireGuard device of that name; throws Error when the
// kernel refuses.
bool set_genl_peers(const std::string& ifname, const std::vector<PeerUpdate>& updates);

}  // namespace l2wg::wg
