#include "l2wg/bridge/gre.h"

#include <string>

#include "l2wg/bridge/checksum.h"
#include "l2wg/bytes.h"
#include "l2wg/error.h"

namespace l2wg::gre {
namespace {

// First flag octet (RFC 2784 bit 0 is the most significant bit of the packet).
constexpr uint8_t kChecksumPresent = 0x80;  // C
constexpr uint8_t kRoutingPresent = 0x40;   // R (RFC 1701, obsolete)
constexpr uint8_t kKeyPresent = 0x20;       // K (RFC 2890)
constexpr uint8_t kSequencePresent = 0x10;  // S (RFC 2890)
// RFC 2784: a receiver MUST discard a packet with any of bits 1-5 set; RFC 2890 gives K and S a
// meaning. What remains are R, strict source route and the top recursion-control bit. Bits 6-12
// are to be ignored on receipt.
constexpr uint8_t kMustBeZero = 0x40 | 0x08 | 0x04;
constexpr uint8_t kVersionMask = 0x07;  // second octet

constexpr size_t kBaseHeader = 4;
constexpr size_t kOptionalField = 4;
constexpr size_t kIpv4Header = 20;
constexpr size_t kIpv6Header = 40;
constexpr uint32_t kMinimumIpv6Mtu = 1280;

// splitmix64's finalizer: every input bit affects every output bit.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// A sequential (hence order-sensitive) absorption of `key` into `state`.
uint64_t absorb(uint64_t state, const wg::PublicKey& key) {
  for (size_t i = 0; i < key.size(); i += 8) {
    uint64_t word = 0;
    for (size_t j = 0; j < 8; ++j) word = word << 8 | key[i + j];
    state = mix(state ^ word) + 0x9e3779b97f4a7c15ULL;
  }
  return state;
}

const char* family_name(IpAddress::Family family) {
  return family == IpAddress::Family::V4 ? "IPv4" : "IPv6";
}

// The datapath for a request whose MTU needs nothing special from the kernel.
DatapathKind resolve(DatapathChoice choice, bool kernel_gre, std::string& note) {
  switch (choice) {
    case DatapathChoice::Kernel:
      return DatapathKind::Kernel;
    case DatapathChoice::Userspace:
      return DatapathKind::Userspace;
    case DatapathChoice::Auto:
      break;
  }
  if (kernel_gre) return DatapathKind::Kernel;
  note = "the kernel has no GRE support (gretap/ip6gretap), using the userspace datapath";
  return DatapathKind::Userspace;
}

}  // namespace

size_t header_size(const Header& header) {
  return kBaseHeader + (header.key ? kOptionalField : 0);
}

size_t write_header(const Header& header, std::span<uint8_t> out) {
  const size_t size = header_size(header);
  if (out.size() < size) {
    throw Error(ErrorCode::InvalidArgument, "GRE header needs " + std::to_string(size) +
                                                " bytes, the buffer holds " +
                                                std::to_string(out.size()));
  }
  out[0] = header.key ? kKeyPresent : 0;
  out[1] = 0;  // version 0
  out[2] = static_cast<uint8_t>(header.protocol >> 8);
  out[3] = static_cast<uint8_t>(header.protocol);
  if (header.key) {
    const uint32_t key = *header.key;
    out[4] = static_cast<uint8_t>(key >> 24);
    out[5] = static_cast<uint8_t>(key >> 16);
    out[6] = static_cast<uint8_t>(key >> 8);
    out[7] = static_cast<uint8_t>(key);
  }
  return size;
}

std::optional<Parsed> parse_header(std::span<const uint8_t> packet) {
  if (packet.size() < kBaseHeader) return std::nullopt;
  const uint8_t flags = packet[0];
  if ((flags & kMustBeZero) != 0 || (packet[1] & kVersionMask) != 0) return std::nullopt;

  Parsed parsed;
  parsed.header.protocol = get_be16(&packet[2]);
  size_t offset = kBaseHeader;
  const auto take_field = [&]() -> const uint8_t* {
    if (packet.size() < offset + kOptionalField) return nullptr;
    const uint8_t* field = &packet[offset];
    offset += kOptionalField;
    return field;
  };
  if (flags & kChecksumPresent) {
    // The checksum covers the GRE header and payload, so it is checked over the whole packet.
    if (!take_field() || !checksum::valid(packet)) return std::nullopt;
  }
  if (flags & kKeyPresent) {
    const uint8_t* key = take_field();
    if (!key) return std::nullopt;
    parsed.header.key = get_be32(key);
  }
  if (flags & kSequencePresent) {
    // Sequence numbers are accepted but not enforced: gretap delivers out of order too.
    if (!take_field()) return std::nullopt;
  }
  parsed.payload_offset = offset;
  return parsed;
}

size_t encapsulation_overhead(IpAddress::Family outer, bool has_key) {
  const size_t ip = outer == IpAddress::Family::V4 ? kIpv4Header : kIpv6Header;
  return ip + kBaseHeader + (has_key ? kOptionalField : 0) + kEthernetHeader;
}

MacAddress derive_mac(const wg::PublicKey& peer_key, const std::optional<wg::PublicKey>& local_key,
                      const MacFlow& flow) {
  // The peer key goes in first, so swapping the two keys (the view from the other end) yields a
  // different MAC.
  uint64_t state = absorb(0x6c3277672d6d6163ULL /* "l2wg-mac" */, peer_key);
  state = mix(state ^ (local_key ? 1 : 2));
  if (local_key) state = absorb(state, *local_key);
  // Then what tells this peer's tunnels apart: their GRE key and their tap.
  state = mix(state ^ (flow.gre_key ? (uint64_t{1} << 32 | *flow.gre_key) : 0));
  for (unsigned char c : flow.tap) state = mix(state ^ c) + 0x9e3779b97f4a7c15ULL;
  state = mix(state ^ flow.tap.size());

  MacAddress mac;
  for (size_t i = 0; i < mac.bytes.size(); ++i) {
    mac.bytes[i] = static_cast<uint8_t>(state >> (8 * (7 - i)));
  }
  mac.bytes[0] = static_cast<uint8_t>((mac.bytes[0] & ~0x01) | 0x02);  // unicast, local admin
  return mac;
}

Plan plan(DatapathChoice choice, const MtuPolicy& mtu, IpAddress::Family outer, bool has_key,
          uint32_t wg_mtu, bool kernel_gre) {
  if (choice == DatapathChoice::Kernel && !kernel_gre) {
    throw Error(ErrorCode::Unsupported,
                std::string("Datapath=kernel was asked for, but the kernel has no ") +
                    (outer == IpAddress::Family::V4 ? "gretap" : "ip6gretap") +
                    " support; use Datapath=auto or Datapath=userspace");
  }
  const uint32_t overhead = static_cast<uint32_t>(encapsulation_overhead(outer, has_key));
  const uint32_t largest_fit = wg_mtu > overhead ? wg_mtu - overhead : 0;
  const std::string headers = "(" + std::to_string(overhead) + " bytes of " + family_name(outer) +
                              ", GRE" + (has_key ? " with key" : "") + " and Ethernet headers)";
  const std::string leaves = "the WireGuard interface's MTU " + std::to_string(wg_mtu) +
                             " leaves at most " + std::to_string(largest_fit) + " for the tap " +
                             headers;

  Plan result;
  if (mtu.fixed) {
    const uint32_t requested = *mtu.fixed;
    if (requested > largest_fit) {
      throw Error(ErrorCode::InvalidArgument, "MTU=" + std::to_string(requested) +
                                                  " does not fit: " + leaves +
                                                  "; use MTU=auto to fragment inside the tunnel");
    }
    if (requested < kMinimumIpv6Mtu) {
      throw Error(ErrorCode::InvalidArgument,
                  "MTU=" + std::to_string(requested) +
                      " is below 1280, the minimum IPv6 needs on every link; " + leaves);
    }
    result.tap_mtu = requested;
    result.fragment = false;
    result.datapath = resolve(choice, kernel_gre, result.note);
    return result;
  }

  result.tap_mtu = 1500;
  result.fragment = true;
  // Fragmenting doubles WireGuard's packets per frame; clamping TCP's MSS spares TCP that (the
  // userspace datapath does it, kernel gretap gets nftables rules: mss_rules.h).
  if (largest_fit > 0) result.mss_clamp_mtu = largest_fit;
  const auto userspace = [&] {
    result.datapath = DatapathKind::Userspace;
    return result;
  };
  if (outer == IpAddress::Family::V4) {
    if (resolve(choice, kernel_gre, result.note) == DatapathKind::Userspace) return userspace();
    result.datapath = DatapathKind::Kernel;
    return result;
  }
  switch (choice) {
    case DatapathChoice::Userspace:
      return userspace();
    case DatapathChoice::Auto:
      result.note =
          "kernel ip6gretap cannot carry 1500-byte frames over WireGuard with IPv6 inner "
          "addresses, using the userspace datapath, which fragments the outer packets";
      return userspace();
    case DatapathChoice::Kernel:
      break;
  }
  if (largest_fit < kMinimumIpv6Mtu) {
    throw Error(ErrorCode::InvalidArgument,
                "Datapath=kernel with IPv6 inner addresses cannot fragment, and " + leaves +
                    ", below the 1280 IPv6 needs; use Datapath=auto or IPv4 inner addresses");
  }
  result.datapath = DatapathKind::Kernel;
  result.tap_mtu = largest_fit;
  result.fragment = false;
  result.mss_clamp_mtu.reset();  // whole frames fit: nothing to clamp
  result.note = "Datapath=kernel with IPv6 inner addresses: kernel ip6gretap cannot fragment, so " +
                leaves + ", the tap MTU is " + std::to_string(largest_fit) +
                " instead of 1500; IPv4 inner addresses or Datapath=auto avoid this";
  return result;
}

}  // namespace l2wg::gre
