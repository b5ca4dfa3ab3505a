// WireGuard keys and peer selection: the pure parts of wireguard.h that need no I/O.
#include "l2wg/bridge/wireguard.h"

#include <algorithm>
#include <string>

#include "l2wg/error.h"

namespace l2wg::wg {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 32 bytes are 256 bits: 42 full sextets, a 43rd carrying 4 bits and 2 zero bits, then one '='.
constexpr size_t kBase64KeyLength = 44;

int base64_value(char c) {
  const auto pos = kBase64Alphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string join(const std::vector<IpPrefix>& prefixes) {
  std::string out;
  for (const auto& prefix : prefixes) out += (out.empty() ? "" : ", ") + prefix.str();
  return out.empty() ? "none" : out;
}

std::string join(const std::vector<IpAddress>& addresses) {
  std::string out;
  for (const auto& address : addresses) out += (out.empty() ? "" : ", ") + address.str();
  return out.empty() ? "none" : out;
}

// The longest allowed-IP prefix of `peer` containing `address`, or -1.
int longest_match(const Peer& peer, const IpAddress& address) {
  int best = -1;
  for (const auto& prefix : peer.allowed_ips)
    if (prefix.contains(address)) best = std::max(best, static_cast<int>(prefix.length));
  return best;
}

// The peer WireGuard's cryptokey routing sends `address` to, if any.
const Peer* routed_peer(const Device& device, const IpAddress& address) {
  const Peer* best = nullptr;
  int best_length = -1;
  for (const auto& peer : device.peers) {
    const int length = longest_match(peer, address);
    if (length > best_length) {
      best = &peer;
      best_length = length;
    }
  }
  return best;
}

IpAddress remote_for_key(const Device& device, const Peer& peer,
                         const std::optional<IpAddress>& remote) {
  const auto key = to_base64(peer.public_key);
  if (remote) {
    if (longest_match(peer, *remote) < 0)
      throw Error(ErrorCode::InvalidArgument,
                  remote->str() + " is not in the allowed IPs of peer " + key + " on " +
                      device.name + " (" + join(peer.allowed_ips) + ")");
    const Peer* routed = routed_peer(device, *remote);
    if (routed != &peer)
      throw Error(ErrorCode::InvalidArgument, device.name + " sends " + remote->str() +
                                                  " to peer " + to_base64(routed->public_key) +
                                                  " (a longer allowed-IP prefix), not to " + key);
    return *remote;
  }
  std::vector<IpPrefix> host_routes;
  for (const auto& prefix : peer.allowed_ips)
    if (prefix.length == prefix.address.size() * 8) host_routes.push_back(prefix);
  if (host_routes.size() != 1)
    throw Error(ErrorCode::InvalidArgument,
                "peer " + key + " of " + device.name + " has " +
                    (host_routes.empty() ? "no host route (/32 or /128)"
                                         : "several host routes (" + join(host_routes) + ")") +
                    " in its allowed IPs (" + join(peer.allowed_ips) +
                    "); give the peer's inner address instead of its key");
  return host_routes.front().address;
}

IpAddress choose_local(const Device& device, const IpAddress& remote,
                       const std::vector<IpAddress>& interface_addresses,
                       const std::optional<IpAddress>& local) {
  if (local) {
    if (std::find(interface_addresses.begin(), interface_addresses.end(), *local) ==
        interface_addresses.end())
      throw Error(ErrorCode::InvalidArgument, local->str() + " is not an address of " +
                                                  device.name + " (it has " +
                                                  join(interface_addresses) + ")");
    if (local->family() != remote.family())
      throw Error(ErrorCode::InvalidArgument, "local address " + local->str() +
                                                  " and remote address " + remote.str() + " on " +
                                                  device.name + " are of different families");
    return *local;
  }
  for (const auto& address : interface_addresses)
    if (address.family() == remote.family() && !address.is_link_local()) return address;
  throw Error(ErrorCode::InvalidArgument,
              device.name + " has no " + (remote.is_v4() ? "IPv4" : "IPv6") +
                  " address (other than link-local) to use as the local end towards " +
                  remote.str() + "; add one or set the local address");
}

}  // namespace

std::string to_base64(const PublicKey& key) {
  std::string out;
  out.reserve(kBase64KeyLength);
  for (size_t i = 0; i < key.size(); i += 3) {
    const size_t left = key.size() - i;
    const uint32_t group = (uint32_t{key[i]} << 16) | (left > 1 ? uint32_t{key[i + 1]} << 8 : 0) |
                           (left > 2 ? uint32_t{key[i + 2]} : 0);
    for (size_t sextet = 0; sextet < 4; ++sextet)
      out += sextet <= left ? kBase64Alphabet[(group >> (18 - 6 * sextet)) & 0x3f] : '=';
  }
  return out;
}

std::optional<PublicKey> key_from_base64(std::string_view text) {
  if (text.size() != kBase64KeyLength || text.back() != '=') return std::nullopt;
  PublicKey key{};
  uint32_t bits = 0;
  int bit_count = 0;
  size_t out = 0;
  for (const char c : text.substr(0, kBase64KeyLength - 1)) {
    const int value = base64_value(c);
    if (value < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      key[out++] = static_cast<uint8_t>(bits >> bit_count);
    }
  }
  // Canonical encodings only: the two bits left over after the last byte must be zero.
  if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return key;
}

std::optional<PublicKey> key_from_hex(std::string_view text) {
  PublicKey key{};
  if (text.size() != key.size() * 2) return std::nullopt;
  for (size_t i = 0; i < key.size(); ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    key[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return key;
}

std::string uapi_socket_path(const std::string& ifname, const std::string& dir) {
  return dir + "/" + ifname + ".sock";
}

PeerSelection select_peer(const Device& device, std::string_view peer_spec,
                          const std::vector<IpAddress>& interface_addresses,
                          std::optional<IpAddress> local, std::optional<IpAddress> remote) {
  const Peer* peer = nullptr;
  IpAddress remote_address;
  if (const auto address = IpAddress::parse(peer_spec)) {
    if (remote && *remote != *address)
      throw Error(ErrorCode::InvalidArgument,
                  "peer " + address->str() + " on " + device.name +
                      " already names the remote address; it conflicts with " + remote->str());
    peer = routed_peer(device, *address);
    if (!peer)
      throw Error(ErrorCode::NotFound,
                  "no peer of " + device.name + " has " + address->str() + " in its allowed IPs");
    remote_address = *address;
  } else if (const auto key = key_from_base64(peer_spec)) {
    const auto it = std::find_if(device.peers.begin(), device.peers.end(),
                                 [&](const Peer& p) { return p.public_key == *key; });
    if (it == device.peers.end())
      throw Error(ErrorCode::NotFound,
                  device.name + " has no peer with public key " + std::string(peer_spec));
    peer = &*it;
    remote_address = remote_for_key(device, *peer, remote);
  } else {
    throw Error(ErrorCode::InvalidArgument,
                "peer \"" + std::string(peer_spec) + "\" on " + device.name +
                    " is neither an IP address nor a base64 public key");
  }
  const IpAddress local_address = choose_local(device, remote_address, interface_addresses, local);
  return PeerSelection{*peer, remote_address, local_address};
}

}  // namespace l2wg::wg
