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

// The WG_CMD_SET_DEVICE request (NLM_F_ACK) for `updates`, each peer with WGPEER_F_UPDATE_ONLY
// and only what the update gives, nested attributes flagged NLA_F_NESTED as wg(8) writes them.
// Pure, for the tests; attribute payloads in host order, sockaddrs as the kernel takes them.
std::vector<uint8_t> encode_genl_set_peers(const std::string& ifname, uint16_t family_id,
                                           uint32_t sequence,
                                           const std::vector<PeerUpdate>& updates);

// Sends encode_genl_set_peers(): WG_CMD_SET_DEVICE with WGPEER_F_UPDATE_ONLY for each update (a
// peer the device does not have is not added). false when the kernel has no WireGuard device of
// that name; throws Error when the kernel refuses.
bool set_genl_peers(const std::string& ifname, const std::vector<PeerUpdate>& updates);

}  // namespace l2wg::wg
