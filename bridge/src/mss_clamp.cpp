#include "l2wg/bridge/mss_clamp.h"

#include <array>
#include <cstddef>

namespace l2wg::mss {
namespace {

constexpr size_t kEthernetHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr size_t kMaxVlanTags = 2;  // 802.1ad outer tag and 802.1Q inner tag
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;

constexpr size_t kIpv4MinimumHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr uint16_t kIpv4FragmentBits = 0x3fff;  // MF and the fragment offset
constexpr uint8_t kProtocolTcp = 6;
// IPv6 extension headers with the generic (next header, length in 8 octets - 1) layout whose
// presence leaves the TCP segment intact. Fragment, AH and ESP are not walked.
constexpr uint8_t kHopByHop = 0;
constexpr uint8_t kRouting = 43;
constexpr uint8_t kDestinationOptions = 60;
constexpr int kMaxExtensionHeaders = 8;

constexpr size_t kTcpMinimumHeader = 20;
constexpr size_t kTcpFlags = 13;
constexpr size_t kTcpChecksum = 16;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kOptionEnd = 0;
constexpr uint8_t kOptionNop = 1;
constexpr uint8_t kOptionMss = 2;
constexpr uint8_t kOptionMssLength = 4;
constexpr size_t kMaxMssOptions = 10;  // 40 bytes of options, 4 per MSS option

uint16_t load16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

void store16(uint8_t* p, uint16_t value) {
  p[0] = static_cast<uint8_t>(value >> 8);
  p[1] = static_cast<uint8_t>(value);
}

uint16_t swap_bytes(uint16_t value) {
  return static_cast<uint16_t>(value << 8 | value >> 8);
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), in one's complement arithmetic.
uint16_t adjust_checksum(uint16_t checksum, uint16_t old_value, uint16_t new_value) {
  uint32_t sum = uint32_t{static_cast<uint16_t>(~checksum)} +
                 uint32_t{static_cast<uint16_t>(~old_value)} + new_value;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Clamps the MSS options of the TCP segment `segment` (header and payload, nothing beyond).
Outcome clamp_segment(std::span<uint8_t> segment, uint32_t limit) {
  if (segment.size() < kTcpMinimumHeader) return Outcome::Malformed;
  const size_t header = size_t{segment[12]} >> 4 << 2;
  if (header < kTcpMinimumHeader || header > segment.size()) return Outcome::Malformed;

  // Every option is checked before anything is written, so that a malformed list stays as it is.
  const std::span<uint8_t> options = segment.subspan(kTcpMinimumHeader, header - kTcpMinimumHeader);
  std::array<size_t, kMaxMssOptions> found{};
  size_t count = 0;
  for (size_t i = 0; i < options.size();) {
    const uint8_t kind = options[i];
    if (kind == kOptionEnd) break;
    if (kind == kOptionNop) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) return Outcome::Malformed;
    const size_t length = options[i + 1];
    if (length < 2 || length > options.size() - i) return Outcome::Malformed;
    if (kind == kOptionMss) {
      if (length != kOptionMssLength) return Outcome::Malformed;
      found[count++] = i;  // at most 10 fit in 40 bytes
    }
    i += length;
  }
  if (count == 0) return Outcome::NoMss;

  // A receiver may take any of several MSS options (Linux takes the last): clamp them all.
  Outcome outcome = Outcome::Kept;
  uint16_t checksum = load16(&segment[kTcpChecksum]);
  for (size_t n = 0; n < count; ++n) {
    const size_t offset = kTcpMinimumHeader + found[n] + 2;
    const uint16_t old_mss = load16(&segment[offset]);
    if (old_mss <= limit) continue;
    const uint16_t new_mss = static_cast<uint16_t>(limit);
    store16(&segment[offset], new_mss);
    // The checksum sums 16-bit words from the segment's start (the pseudo-header has an even
    // length); a value at an odd offset straddles two words, which equals its byte swap.
    checksum = offset % 2 == 0
                   ? adjust_checksum(checksum, old_mss, new_mss)
                   : adjust_checksum(checksum, swap_bytes(old_mss), swap_bytes(new_mss));
    outcome = Outcome::Clamped;
  }
  if (outcome == Outcome::Clamped) store16(&segment[kTcpChecksum], checksum);
  return outcome;
}

bool is_syn(std::span<const uint8_t> segment) {
  return segment.size() > kTcpFlags && (segment[kTcpFlags] & (kSyn | kRst)) == kSyn;
}

// The limit for a packet of `headers` bytes of IP and TCP header in a frame with `tags` tags.
uint32_t limit_for(uint32_t ip_mtu, size_t tags, uint32_t headers) {
  const uint32_t tag_bytes = static_cast<uint32_t>(tags * kVlanTag);
  if (ip_mtu <= tag_bytes + headers) return 0;
  const uint32_t limit = ip_mtu - tag_bytes - headers;
  return limit > 0xffff ? 0xffff : limit;
}

Outcome clamp_ipv4(std::span<uint8_t> packet, uint32_t ip_mtu, size_t tags) {
  if (packet.size() < kIpv4MinimumHeader) return Outcome::NotTcpSyn;
  if (packet[9] != kProtocolTcp || (load16(&packet[6]) & kIpv4FragmentBits) != 0)
    return Outcome::NotTcpSyn;
  const size_t header = size_t{packet[0] & 0x0fu} * 4;
  const size_t total = load16(&packet[2]);
  // The frame may be longer than the packet (Ethernet padding), never shorter.
  if ((packet[0] >> 4) != 4 || header < kIpv4MinimumHeader || total < header ||
      total > packet.size())
    return Outcome::Malformed;
  const std::span<uint8_t> segment = packet.subspan(header, total - header);
  if (!is_syn(segment)) return Outcome::NotTcpSyn;
  const uint32_t limit = limit_for(ip_mtu, tags, kIpv4TcpHeaders);
  return limit ? clamp_segment(segment, limit) : Outcome::Kept;
}

Outcome clamp_ipv6(std::span<uint8_t> packet, uint32_t ip_mtu, size_t tags) {
  if (packet.size() < kIpv6Header) return Outcome::NotTcpSyn;
  uint8_t next = packet[6];
  if (next != kProtocolTcp && next != kHopByHop && next != kRouting && next != kDestinationOptions)
    return Outcome::NotTcpSyn;
  const size_t payload = load16(&packet[4]);
  // A payload length of 0 (a jumbogram) fails the TCP header check below.
  if ((packet[0] >> 4) != 6 || payload > packet.size() - kIpv6Header) return Outcome::Malformed;
  const std::span<uint8_t> rest = packet.subspan(kIpv6Header, payload);
  size_t offset = 0;
  for (int n = 0; next != kProtocolTcp; ++n) {
    if (n == kMaxExtensionHeaders ||
        (next != kHopByHop && next != kRouting && next != kDestinationOptions))
      return Outcome::NotTcpSyn;
    if (rest.size() - offset < 2) return Outcome::Malformed;
    const size_t length = (size_t{rest[offset + 1]} + 1) * 8;
    if (length > rest.size() - offset) return Outcome::Malformed;
    next = rest[offset];
    offset += length;
  }
  const std::span<uint8_t> segment = rest.subspan(offset);
  if (segment.size() < kTcpMinimumHeader) return Outcome::Malformed;
  if (!is_syn(segment)) return Outcome::NotTcpSyn;
  const uint32_t limit = limit_for(ip_mtu, tags, kIpv6TcpHeaders);
  return limit ? clamp_segment(segment, limit) : Outcome::Kept;
}

}  // namespace

uint32_t mss_for(IpAddress::Family inner, uint32_t ip_mtu) {
  return limit_for(ip_mtu, 0, inner == IpAddress::Family::V4 ? kIpv4TcpHeaders : kIpv6TcpHeaders);
}

Outcome clamp(std::span<uint8_t> frame, uint32_t ip_mtu) {
  if (frame.size() < kEthernetHeader) return Outcome::NotTcpSyn;
  size_t offset = kEthernetHeader;
  uint16_t type = load16(&frame[12]);
  size_t tags = 0;
  while ((type == kEtherTypeVlan || type == kEtherTypeQinQ) && tags < kMaxVlanTags) {
    if (frame.size() < offset + kVlanTag) return Outcome::NotTcpSyn;
    type = load16(&frame[offset + 2]);
    offset += kVlanTag;
    ++tags;
  }
  if (type == kEtherTypeIpv4) return clamp_ipv4(frame.subspan(offset), ip_mtu, tags);
  if (type == kEtherTypeIpv6) return clamp_ipv6(frame.subspan(offset), ip_mtu, tags);
  return Outcome::NotTcpSyn;
}

}  // namespace l2wg::mss
