// The header layouts the frame rewriters (MSS clamping, TAP offloads) share: where an Ethernet
// frame's network header starts past up to two VLAN tags, and the IPv4, IPv6 and TCP fields
// they read and write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "l2wg/bytes.h"

namespace l2wg::ethernet {

inline constexpr size_t kHeader = 14;
inline constexpr size_t kType = 12;  // the EtherType of an untagged frame
inline constexpr size_t kVlanTag = 4;
inline constexpr size_t kMaxVlanTags = 2;  // 802.1ad outer tag and 802.1Q inner tag
inline constexpr uint16_t kTypeIpv4 = 0x0800;
inline constexpr uint16_t kTypeIpv6 = 0x86dd;
inline constexpr uint16_t kTypeVlan = 0x8100;
inline constexpr uint16_t kTypeQinQ = 0x88a8;

struct Layout {
  uint16_t type = 0;          // the EtherType past the tags
  size_t network_offset = 0;  // where that protocol's header starts
  size_t tags = 0;
};

// nullopt when the frame ends inside the Ethernet header or a tag. A third tag is left as the
// payload's type.
inline std::optional<Layout> parse(std::span<const uint8_t> frame) {
  if (frame.size() < kHeader) return std::nullopt;
  Layout layout{.type = get_be16(&frame[kType]), .network_offset = kHeader, .tags = 0};
  while ((layout.type == kTypeVlan || layout.type == kTypeQinQ) && layout.tags < kMaxVlanTags) {
    if (frame.size() < layout.network_offset + kVlanTag) return std::nullopt;
    layout.type = get_be16(&frame[layout.network_offset + 2]);
    layout.network_offset += kVlanTag;
    ++layout.tags;
  }
  return layout;
}

}  // namespace l2wg::ethernet

namespace l2wg::ipv4 {
inline constexpr size_t kHeader = 20;  // without options
inline constexpr size_t kTotalLength = 2;
inline constexpr size_t kId = 4;
inline constexpr size_t kFragment = 6;
inline constexpr uint16_t kFragmentBits = 0x3fff;  // MF and the fragment offset
inline constexpr size_t kProtocol = 9;
inline constexpr size_t kChecksum = 10;
inline constexpr size_t kAddresses = 12;  // source and destination, 4 bytes each
}  // namespace l2wg::ipv4

namespace l2wg::ipv6 {
inline constexpr size_t kHeader = 40;
inline constexpr size_t kPayloadLength = 4;
inline constexpr size_t kNextHeader = 6;
inline constexpr size_t kAddresses = 8;  // source and destination, 16 bytes each
// Extension headers with the generic (next header, length in 8 octets - 1) layout.
inline constexpr uint8_t kHopByHop = 0;
inline constexpr uint8_t kRouting = 43;
inline constexpr uint8_t kDestinationOptions = 60;
inline constexpr int kMaxExtensionHeaders = 8;
}  // namespace l2wg::ipv6

namespace l2wg::tcp {
inline constexpr uint8_t kProtocol = 6;
inline constexpr size_t kHeader = 20;  // without options
inline constexpr size_t kSequence = 4;
inline constexpr size_t kDataOffset = 12;
inline constexpr size_t kFlags = 13;
inline constexpr size_t kChecksum = 16;
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPush = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kCwr = 0x80;

// The header's length from its data offset (a multiple of 4 from 0 to 60; callers check >= 20).
inline size_t header_length(const uint8_t* header) {
  return size_t{header[kDataOffset]} >> 4 << 2;
}
}  // namespace l2wg::tcp

namespace l2wg::udp {
inline constexpr uint8_t kProtocol = 17;
inline constexpr size_t kHeader = 8;
inline constexpr size_t kChecksum = 6;
}  // namespace l2wg::udp
