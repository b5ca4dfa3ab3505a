// Kernel WireGuard over generic netlink: parsing a WG_CMD_GET_DEVICE dump (pure, every length
// checked) and performing one (libnl for the family lookup and the request, plain recv for the
// answer so that every buffer holding the private key is ours to wipe).
#include "wireguard_genl.h"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <span>

#include "l2wg/bridge/wireguard.h"
#include "l2wg/error.h"

namespace l2wg::wg {
namespace {

using Bytes = std::span<const uint8_t>;

constexpr size_t kMessageHeaderSize = NLMSG_HDRLEN;
constexpr size_t kAttributeHeaderSize = NLA_HDRLEN;

[[noreturn]] void malformed(const std::string& where, const std::string& why) {
  throw Error(ErrorCode::InvalidArgument,
              "malformed WireGuard netlink dump (" + where + "): " + why);
}

template <typename T>
T read_raw(Bytes bytes) {
  T value;
  std::memcpy(&value, bytes.data(), sizeof value);
  return value;
}

struct Message {
  uint16_t type;
  uint16_t flags;
  Bytes payload;
};

// Splits concatenated netlink messages; each header's length is checked against what is left.
std::vector<Message> split_messages(Bytes bytes) {
  std::vector<Message> messages;
  while (!bytes.empty()) {
    const std::string where = "message " + std::to_string(messages.size() + 1);
    if (bytes.size() < kMessageHeaderSize) malformed(where, "truncated message header");
    const auto header = read_raw<nlmsghdr>(bytes);
    if (header.nlmsg_len < kMessageHeaderSize || header.nlmsg_len > bytes.size())
      malformed(where, "message length " + std::to_string(header.nlmsg_len) + " with " +
                           std::to_string(bytes.size()) + " bytes left");
    messages.push_back({header.nlmsg_type, header.nlmsg_flags,
                        bytes.subspan(kMessageHeaderSize, header.nlmsg_len - kMessageHeaderSize)});
    bytes = bytes.subspan(std::min<size_t>(NLMSG_ALIGN(header.nlmsg_len), bytes.size()));
  }
  return messages;
}

struct Attribute {
  uint16_t type;  // NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off
  Bytes payload;
};

// Splits a run of attributes; each length is checked against what is left, and bytes that
// cannot hold another attribute header are an error, not silently skipped.
std::vector<Attribute> split_attributes(Bytes bytes, const std::string& where) {
  std::vector<Attribute> attributes;
  while (!bytes.empty()) {
    if (bytes.size() < kAttributeHeaderSize) malformed(where, "truncated attribute header");
    const auto header = read_raw<nlattr>(bytes);
    if (header.nla_len < kAttributeHeaderSize || header.nla_len > bytes.size())
      malformed(where, "attribute " + std::to_string(header.nla_type & NLA_TYPE_MASK) +
                           " of length " + std::to_string(header.nla_len) + " with " +
                           std::to_string(bytes.size()) + " bytes left");
    attributes.push_back(
        {static_cast<uint16_t>(header.nla_type & NLA_TYPE_MASK),
         bytes.subspan(kAttributeHeaderSize, header.nla_len - kAttributeHeaderSize)});
    bytes = bytes.subspan(std::min<size_t>(NLA_ALIGN(header.nla_len), bytes.size()));
  }
  return attributes;
}

// The attributes of a WireGuard device message, past the genetlink header.
Bytes device_attributes(const Message& message, const std::string& where) {
  if (message.payload.size() < GENL_HDRLEN) malformed(where, "truncated genetlink header");
  const auto header = read_raw<genlmsghdr>(message.payload);
  if (header.cmd != WG_CMD_GET_DEVICE)
    malformed(where, "command " + std::to_string(header.cmd) + " is not WG_CMD_GET_DEVICE");
  return message.payload.subspan(GENL_HDRLEN);
}

template <typename T>
T fixed(const Attribute& attribute, const std::string& where, const char* name) {
  if (attribute.payload.size() != sizeof(T))
    malformed(where, std::string(name) + " has " + std::to_string(attribute.payload.size()) +
                         " bytes, expected " + std::to_string(sizeof(T)));
  return read_raw<T>(attribute.payload);
}

PublicKey key(const Attribute& attribute, const std::string& where, const char* name) {
  return fixed<PublicKey>(attribute, where, name);
}

Endpoint endpoint(const Attribute& attribute, const std::string& where) {
  const auto payload = attribute.payload;
  if (payload.size() == sizeof(sockaddr_in)) {
    const auto address = read_raw<sockaddr_in>(payload);
    if (address.sin_family == AF_INET)
      return Endpoint{IpAddress::from(address.sin_addr), ntohs(address.sin_port)};
  } else if (payload.size() == sizeof(sockaddr_in6)) {
    const auto address = read_raw<sockaddr_in6>(payload);
    if (address.sin6_family == AF_INET6)
      return Endpoint{IpAddress::from(address.sin6_addr), ntohs(address.sin6_port)};
  }
  malformed(where, "WGPEER_A_ENDPOINT is neither a sockaddr_in nor a sockaddr_in6 (" +
                       std::to_string(payload.size()) + " bytes)");
}

uint64_t handshake_us(const Attribute& attribute, const std::string& where) {
  struct Timespec {  // struct __kernel_timespec
    int64_t tv_sec;
    int64_t tv_nsec;
  };
  const auto time = fixed<Timespec>(attribute, where, "WGPEER_A_LAST_HANDSHAKE_TIME");
  if (time.tv_sec < 0 || time.tv_nsec < 0 || time.tv_nsec >= 1'000'000'000 ||
      static_cast<uint64_t>(time.tv_sec) > UINT64_MAX / 1'000'000)
    malformed(where, "WGPEER_A_LAST_HANDSHAKE_TIME out of range");
  return static_cast<uint64_t>(time.tv_sec) * 1'000'000 +
         static_cast<uint64_t>(time.tv_nsec) / 1'000;
}

IpPrefix allowed_ip(Bytes nested, const std::string& where) {
  std::optional<uint16_t> family;
  std::optional<Bytes> address;
  std::optional<uint8_t> length;
  for (const auto& attribute : split_attributes(nested, where)) {
    switch (attribute.type) {
      case WGALLOWEDIP_A_FAMILY:
        family = fixed<uint16_t>(attribute, where, "WGALLOWEDIP_A_FAMILY");
        break;
      case WGALLOWEDIP_A_IPADDR:
        address = attribute.payload;
        break;
      case WGALLOWEDIP_A_CIDR_MASK:
        length = fixed<uint8_t>(attribute, where, "WGALLOWEDIP_A_CIDR_MASK");
        break;
    }
  }
  if (!family || !address || !length)
    malformed(where, "allowed IP without family, address or mask");
  IpAddress ip;
  if (*family == AF_INET && address->size() == 4) {
    ip = IpAddress::from(read_raw<in_addr>(*address));
  } else if (*family == AF_INET6 && address->size() == 16) {
    ip = IpAddress::from(read_raw<in6_addr>(*address));
  } else {
    malformed(where, "allowed IP of family " + std::to_string(*family) + " with a " +
                         std::to_string(address->size()) + "-byte address");
  }
  if (*length > ip.size() * 8)
    malformed(where, "prefix length " + std::to_string(*length) + " for " + ip.str());
  return IpPrefix{ip, *length};
}

Peer peer(Bytes nested, const std::string& where) {
  Peer parsed;
  bool has_key = false;
  for (const auto& attribute : split_attributes(nested, where)) {
    switch (attribute.type) {
      case WGPEER_A_PUBLIC_KEY:
        parsed.public_key = key(attribute, where, "WGPEER_A_PUBLIC_KEY");
        has_key = true;
        break;
      case WGPEER_A_ENDPOINT:
        parsed.endpoint = endpoint(attribute, where);
        break;
      case WGPEER_A_LAST_HANDSHAKE_TIME:
        parsed.last_handshake_us = handshake_us(attribute, where);
        break;
      case WGPEER_A_RX_BYTES:
        parsed.rx_bytes = fixed<uint64_t>(attribute, where, "WGPEER_A_RX_BYTES");
        break;
      case WGPEER_A_TX_BYTES:
        parsed.tx_bytes = fixed<uint64_t>(attribute, where, "WGPEER_A_TX_BYTES");
        break;
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
        parsed.persistent_keepalive_s =
            fixed<uint16_t>(attribute, where, "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL");
        break;
      case WGPEER_A_ALLOWEDIPS: {
        const auto entries = split_attributes(attribute.payload, where);
        for (size_t i = 0; i < entries.size(); ++i)
          parsed.allowed_ips.push_back(
              allowed_ip(entries[i].payload, where + ", allowed IP " + std::to_string(i + 1)));
        break;
      }
    }
  }
  if (!has_key) malformed(where, "peer without WGPEER_A_PUBLIC_KEY");
  return parsed;
}

// Adds one message's device attributes and peers to `device`.
void merge_message(Bytes attributes, const std::string& where, Device& device) {
  for (const auto& attribute : split_attributes(attributes, where)) {
    switch (attribute.type) {
      case WGDEVICE_A_IFNAME: {
        const auto& text = attribute.payload;
        const auto* end = static_cast<const uint8_t*>(std::memchr(text.data(), 0, text.size()));
        if (!end) malformed(where, "WGDEVICE_A_IFNAME is not NUL-terminated");
        device.name.assign(reinterpret_cast<const char*>(text.data()), end - text.data());
        break;
      }
      case WGDEVICE_A_PUBLIC_KEY:
        device.public_key = key(attribute, where, "WGDEVICE_A_PUBLIC_KEY");
        break;
      case WGDEVICE_A_LISTEN_PORT:
        device.listen_port = fixed<uint16_t>(attribute, where, "WGDEVICE_A_LISTEN_PORT");
        break;
      case WGDEVICE_A_PEERS: {
        const auto peers = split_attributes(attribute.payload, where);
        for (size_t i = 0; i < peers.size(); ++i) {
          Peer next = peer(peers[i].payload, where + ", peer " + std::to_string(i + 1));
          // A peer whose allowed IPs did not fit in one message is repeated, key first, in the
          // next one with the rest of its allowed IPs.
          if (!device.peers.empty() && device.peers.back().public_key == next.public_key) {
            auto& ips = device.peers.back().allowed_ips;
            ips.insert(ips.end(), next.allowed_ips.begin(), next.allowed_ips.end());
          } else {
            device.peers.push_back(std::move(next));
          }
        }
        break;
      }
    }
  }
}

// The errno carried by an NLMSG_ERROR or NLMSG_DONE payload (0: none).
int carried_errno(const Message& message, const std::string& where) {
  if (message.payload.size() < sizeof(int)) malformed(where, "truncated error code");
  return -read_raw<int>(message.payload);
}

}  // namespace

Device parse_genl_get_device(std::span<const uint8_t> dump, uint16_t family_id) {
  Device device;
  device.implementation = Implementation::Kernel;
  bool device_seen = false;
  bool done = false;
  const auto messages = split_messages(dump);
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& message = messages[i];
    const std::string where = "message " + std::to_string(i + 1);
    if (done) malformed(where, "message after NLMSG_DONE");
    if (message.flags & NLM_F_DUMP_INTR)
      throw Error(ErrorCode::Kernel, "the WireGuard device changed during the dump; read it again");
    if (message.type == NLMSG_DONE || message.type == NLMSG_ERROR) {
      if (const int err = carried_errno(message, where); err != 0)
        throw_errno("kernel WireGuard dump of " + (device.name.empty() ? "a device" : device.name),
                    err);
      done = message.type == NLMSG_DONE;
    } else if (message.type == family_id) {
      merge_message(device_attributes(message, where), where, device);
      device_seen = true;
    } else if (message.type != NLMSG_NOOP) {
      malformed(where, "unexpected message type " + std::to_string(message.type));
    }
  }
  if (!done) malformed("end", "the dump ends without NLMSG_DONE");
  if (!device_seen || device.name.empty())
    malformed("end", "no WireGuard device message with WGDEVICE_A_IFNAME");
  return device;
}

namespace {

struct NlSockFree {
  void operator()(nl_sock* sock) const { nl_socket_free(sock); }
};
struct NlMsgFree {
  void operator()(nl_msg* msg) const { nlmsg_free(msg); }
};

// A receive buffer that may hold the private key: zeroed when it goes away.
struct WipedBuffer {
  std::vector<uint8_t> bytes;
  explicit WipedBuffer(size_t size) : bytes(size) {}
  WipedBuffer(const WipedBuffer&) = delete;
  WipedBuffer& operator=(const WipedBuffer&) = delete;
  ~WipedBuffer() { explicit_bzero(bytes.data(), bytes.size()); }
};

// The kernel fills one dump message per skb of at most 32 KiB (netlink_dump), so this always
// holds a whole datagram.
constexpr size_t kReceiveBufferSize = 64 * 1024;

[[noreturn]] void throw_nl(const std::string& what, int nl_error) {
  throw Error(ErrorCode::Kernel, what + ": " + nl_geterror(nl_error));
}

// Zeroes WGDEVICE_A_PRIVATE_KEY in the device messages of `chunk`.
void redact_private_key(std::span<uint8_t> chunk, uint16_t family_id) {
  for (const auto& message : split_messages(chunk)) {
    if (message.type != family_id) continue;
    const auto attributes = device_attributes(message, "redaction");
    for (const auto& attribute : split_attributes(attributes, "redaction")) {
      if (attribute.type != WGDEVICE_A_PRIVATE_KEY) continue;
      const auto offset = attribute.payload.data() - chunk.data();
      explicit_bzero(chunk.data() + offset, attribute.payload.size());
    }
  }
}

// A generic netlink socket with a 2 s receive timeout and no automatic ACK.
std::unique_ptr<nl_sock, NlSockFree> connect_genl() {
  std::unique_ptr<nl_sock, NlSockFree> sock(nl_socket_alloc());
  if (!sock) throw Error(ErrorCode::Io, "out of memory allocating a netlink socket");
  if (const int err = genl_connect(sock.get()); err < 0)
    throw_nl("opening a generic netlink socket", err);
  nl_socket_disable_auto_ack(sock.get());
  const timeval timeout{.tv_sec = 2, .tv_usec = 0};
  if (setsockopt(nl_socket_get_fd(sock.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) <
      0)
    throw_errno("setting a netlink receive timeout", errno, ErrorCode::Io);
  return sock;
}

enum class DumpOutcome { Complete, Interrupted, NoDevice };

DumpOutcome dump_once(nl_sock* sock, uint16_t family_id, const std::string& ifname,
                      std::vector<uint8_t>& out) {
  std::unique_ptr<nl_msg, NlMsgFree> request(nlmsg_alloc());
  if (!request) throw Error(ErrorCode::Io, "out of memory building a WireGuard request");
  if (!genlmsg_put(request.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family_id, 0, NLM_F_DUMP,
                   WG_CMD_GET_DEVICE, WG_GENL_VERSION) ||
      nla_put_string(request.get(), WGDEVICE_A_IFNAME, ifname.c_str()) < 0)
    throw Error(ErrorCode::Io, "cannot build the WireGuard request for " + ifname);
  if (const int err = nl_send_auto(sock, request.get()); err < 0)
    throw_nl("sending the WireGuard request for " + ifname, err);

  out.clear();
  bool interrupted = false;
  WipedBuffer buffer(kReceiveBufferSize);
  for (;;) {
    const ssize_t received =
        recv(nl_socket_get_fd(sock), buffer.bytes.data(), buffer.bytes.size(), MSG_TRUNC);
    if (received < 0 && errno == EINTR) continue;
    if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      throw Error(ErrorCode::Io, "kernel WireGuard did not answer for " + ifname + " in time");
    if (received < 0) throw_errno("reading the WireGuard dump of " + ifname, errno, ErrorCode::Io);
    if (static_cast<size_t>(received) > buffer.bytes.size())
      throw Error(ErrorCode::Io,
                  "a WireGuard netlink message for " + ifname + " exceeds the receive buffer");
    const std::span<uint8_t> chunk(buffer.bytes.data(), static_cast<size_t>(received));
    redact_private_key(chunk, family_id);
    out.insert(out.end(), chunk.begin(), chunk.end());
    for (const auto& message : split_messages(chunk)) {
      interrupted = interrupted || (message.flags & NLM_F_DUMP_INTR);
      if (message.type == NLMSG_ERROR) {
        const int err = carried_errno(message, "answer");
        // ENODEV: no link of that name; EOPNOTSUPP: a link, but not WireGuard.
        if (err == ENODEV || err == EOPNOTSUPP) return DumpOutcome::NoDevice;
        if (err != 0) throw_errno("kernel WireGuard refused to dump " + ifname, err);
      }
      if (message.type == NLMSG_DONE)
        return interrupted ? DumpOutcome::Interrupted : DumpOutcome::Complete;
    }
  }
}

}  // namespace

std::optional<GenlDump> dump_genl_device(const std::string& ifname) {
  auto sock = connect_genl();
  const int family = genl_ctrl_resolve(sock.get(), WG_GENL_NAME);
  if (family == -NLE_OBJ_NOTFOUND) return std::nullopt;  // no WireGuard in this kernel
  if (family < 0) throw_nl("looking up the \"wireguard\" generic netlink family", family);

  GenlDump dump{static_cast<uint16_t>(family), {}};
  // A dump that raced with a configuration change is flagged; a fresh one is consistent again.
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    switch (dump_once(sock.get(), dump.family_id, ifname, dump.bytes)) {
      case DumpOutcome::Complete:
        return dump;
      case DumpOutcome::NoDevice:
        return std::nullopt;
      case DumpOutcome::Interrupted:
        break;
    }
  }
  throw Error(ErrorCode::Kernel, "the WireGuard device " + ifname + " kept changing during " +
                                     std::to_string(kAttempts) + " dumps");
}

std::vector<uint8_t> encode_genl_set_peers(const std::string& ifname, uint16_t family_id,
                                           uint32_t sequence,
                                           const std::vector<PeerUpdate>& updates) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    throw Error(ErrorCode::InvalidArgument, "\"" + ifname + "\" is not an interface name");
  std::vector<uint8_t> out;
  const auto append = [&](const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    out.insert(out.end(), p, p + size);
  };
  const auto pad = [&] { out.resize(NLMSG_ALIGN(out.size())); };
  // An attribute's header now, its length once its payload is written.
  const auto begin = [&](uint16_t type) {
    const size_t at = out.size();
    const nlattr header{0, type};
    append(&header, sizeof header);
    return at;
  };
  const auto end = [&](size_t at) {
    const auto length = static_cast<uint16_t>(out.size() - at);
    std::memcpy(out.data() + at, &length, sizeof length);
    pad();
  };
  const auto attribute = [&](uint16_t type, const void* data, size_t size) {
    const size_t at = begin(type);
    append(data, size);
    end(at);
  };

  nlmsghdr header{};
  header.nlmsg_type = family_id;
  header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  header.nlmsg_seq = sequence;
  append(&header, sizeof header);
  const genlmsghdr genl{WG_CMD_SET_DEVICE, WG_GENL_VERSION, 0};
  append(&genl, sizeof genl);
  attribute(WGDEVICE_A_IFNAME, ifname.c_str(), ifname.size() + 1);
  // Nested attributes flagged as such, as wg(8) writes them.
  const size_t peers = begin(WGDEVICE_A_PEERS | NLA_F_NESTED);
  for (const auto& update : updates) {
    const size_t peer = begin(NLA_F_NESTED);
    attribute(WGPEER_A_PUBLIC_KEY, update.public_key.data(), update.public_key.size());
    const uint32_t flags = WGPEER_F_UPDATE_ONLY;
    attribute(WGPEER_A_FLAGS, &flags, sizeof flags);
    if (update.endpoint) {
      if (update.endpoint->address.is_v4()) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(update.endpoint->port);
        std::memcpy(&sin.sin_addr, update.endpoint->address.data(), 4);
        attribute(WGPEER_A_ENDPOINT, &sin, sizeof sin);
      } else {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(update.endpoint->port);
        std::memcpy(&sin6.sin6_addr, update.endpoint->address.data(), 16);
        attribute(WGPEER_A_ENDPOINT, &sin6, sizeof sin6);
      }
    }
    if (update.persistent_keepalive_s) {
      const uint16_t interval = *update.persistent_keepalive_s;
      attribute(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, &interval, sizeof interval);
    }
    end(peer);
  }
  end(peers);
  const auto length = static_cast<uint32_t>(out.size());
  std::memcpy(out.data(), &length, sizeof length);
  return out;
}

bool set_genl_peers(const std::string& ifname, const std::vector<PeerUpdate>& updates) {
  auto sock = connect_genl();
  const int family = genl_ctrl_resolve(sock.get(), WG_GENL_NAME);
  if (family == -NLE_OBJ_NOTFOUND) return false;
  if (family < 0) throw_nl("looking up the \"wireguard\" generic netlink family", family);
  auto request = encode_genl_set_peers(ifname, static_cast<uint16_t>(family), 1, updates);
  if (const int err = nl_sendto(sock.get(), request.data(), request.size()); err < 0)
    throw_nl("sending the WireGuard set request for " + ifname, err);
  std::vector<uint8_t> buffer(8192);
  for (;;) {
    const ssize_t received = recv(nl_socket_get_fd(sock.get()), buffer.data(), buffer.size(), 0);
    if (received < 0 && errno == EINTR) continue;
    if (received < 0)
      throw_errno("reading kernel WireGuard's answer for " + ifname, errno, ErrorCode::Io);
    for (const auto& message :
         split_messages(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(received)))) {
      if (message.type != NLMSG_ERROR) continue;
      const int err = carried_errno(message, "answer");
      if (err == ENODEV || err == EOPNOTSUPP) return false;
      if (err != 0) throw_errno("kernel WireGuard refused to update the peers of " + ifname, err);
      return true;
    }
  }
}

}  // namespace l2wg::wg
