// WireGuard inspection: what a WireGuard interface reports about itself and its peers, read from
// kernel WireGuard (generic netlink) or from a userspace implementation's UAPI socket
// (/var/run/wireguard/IFACE.sock, as wireguard-go serves it). Parsers are pure functions over
// captured bytes; WireGuardReader does the I/O.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "l2wg/ip.h"

namespace l2wg::wg {

using PublicKey = std::array<uint8_t, 32>;

std::string to_base64(const PublicKey& key);
std::optional<PublicKey> key_from_base64(std::string_view text);  // 44 chars, '=' padded
std::optional<PublicKey> key_from_hex(std::string_view text);     // 64 hex digits (UAPI)

struct Peer {
  PublicKey public_key{};
  std::optional<Endpoint> endpoint;
  std::vector<IpPrefix> allowed_ips;
  uint64_t last_handshake_us = 0;  // µs since the epoch; 0 = never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint16_t persistent_keepalive_s = 0;  // 0: off

  bool operator==(const Peer&) const = default;
};

enum class Implementation { Kernel, Userspace };

struct Device {
  std::string name;
  Implementation implementation = Implementation::Kernel;
  uint16_t listen_port = 0;
  std::optional<PublicKey> public_key;
  std::vector<Peer> peers;

  bool operator==(const Device&) const = default;
};

// Parses the reply to a UAPI "get=1" request (key=value lines, ended by "errno=N" and a blank
// line). Throws Error(InvalidArgument) naming the offending line for malformed input, and
// Error(Kernel) carrying the errno when the implementation reports one.
Device parse_uapi_get(std::string_view reply, std::string name);

// Parses a WG_CMD_GET_DEVICE dump: the concatenated netlink messages (nlmsghdr + genlmsghdr +
// attributes) as read from the socket, NLMSG_DONE included. `family_id` is the resolved id of the
// "wireguard" genetlink family. A device with many peers spans several messages; they are merged.
// Throws Error(InvalidArgument) on malformed input (bad lengths, truncated attributes).
Device parse_genl_get_device(std::span<const uint8_t> dump, uint16_t family_id);

// Where wireguard-go and other userspace implementations serve the UAPI for `ifname`.
std::string uapi_socket_path(const std::string& ifname,
                             const std::string& dir = "/var/run/wireguard");

// The seam the tunnel logic sees; tests substitute a fake.
class WireGuardReader {
 public:
  virtual ~WireGuardReader() = default;
  // The device and its peers. Throws Error(NotFound) when `ifname` is neither a kernel WireGuard
  // device nor has a UAPI socket, and Error(InvalidArgument) when it exists but is not WireGuard.
  virtual Device read_device(const std::string& ifname) = 0;
};

// Tries the UAPI socket first (a userspace implementation), then kernel generic netlink.
std::unique_ptr<WireGuardReader> make_wireguard_reader(
    const std::string& uapi_dir = "/var/run/wireguard");

// What endpoint discovery changes on an existing peer: nothing else of it is touched.
struct PeerUpdate {
  PublicKey public_key{};
  std::optional<Endpoint> endpoint;                // none: keep the endpoint
  std::optional<uint16_t> persistent_keepalive_s;  // none: keep the interval

  bool operator==(const PeerUpdate&) const = default;
};

// The UAPI "set=1" request for `updates` (update_only: a peer the device does not have is not
// added), ended by a blank line; the implementation answers "errno=N".
std::string encode_uapi_set(const std::vector<PeerUpdate>& updates);

// The writing side, as WireGuardReader is the reading one: the UAPI socket first, then kernel
// generic netlink (WG_CMD_SET_DEVICE with WGPEER_F_UPDATE_ONLY).
class WireGuardWriter {
 public:
  virtual ~WireGuardWriter() = default;
  // Throws Error(NotFound) when `ifname` is no WireGuard interface here, Error(Kernel) with the
  // implementation's errno when it refuses.
  virtual void update_peers(const std::string& ifname, const std::vector<PeerUpdate>& updates) = 0;
};
std::unique_ptr<WireGuardWriter> make_wireguard_writer(
    const std::string& uapi_dir = "/var/run/wireguard");

// Which peer a tunnel talks to, and the inner addresses that become its GRE endpoints.
struct PeerSelection {
  Peer peer;
  IpAddress remote;
  IpAddress local;
};

// Resolves `peer_spec` (an inner address, or a base64 public key) against `device`:
// - an address selects the peer whose allowed IPs contain it (longest prefix wins, as WireGuard's
//   cryptokey routing does); no such peer is Error(NotFound);
// - a key selects that peer (unknown key: Error(NotFound)); the remote is then `remote` if given
//   (Error(InvalidArgument) if outside the peer's allowed IPs), else the peer's single host route
//   (/32 or /128) in its allowed IPs (none or several: Error(InvalidArgument) asking for an address).
// `local` defaults to the first non-link-local address of the remote's family in
// `interface_addresses`; none is Error(InvalidArgument). An explicit `local` must be one of them.
PeerSelection select_peer(const Device& device, std::string_view peer_spec,
                          const std::vector<IpAddress>& interface_addresses,
                          std::optional<IpAddress> local = std::nullopt,
                          std::optional<IpAddress> remote = std::nullopt);

}  // namespace l2wg::wg
