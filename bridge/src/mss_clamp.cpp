#include "l2wg/bridge/mss_clamp.h"

#include <array>
#include <cstddef>

#include "frame_headers.h"
#include "l2wg/bridge/checksum.h"
#include "l2wg/bytes.h"

namespace l2wg::mss {
namespace {

constexpr uint8_t kOptionEnd = 0;
constexpr uint8_t kOptionNop = 1;
constexpr uint8_t kOptionMss = 2;
constexpr uint8_t kOptionMssLength = 4;
constexpr size_t kMaxMssOptions = 10;  // 40 bytes of options, 4 per MSS option

uint16_t swap_bytes(uint16_t value) {
  return static_cast<uint16_t>(value << 8 | value >> 8);
}

// Clamps the MSS options of the TCP segment `segment` (header and payload, nothing beyond).
Outcome clamp_segment(std::span<uint8_t> segment, uint32_t limit) {
  if (segment.size() < tcp::kHeader) return Outcome::Malformed;
  const size_t header = tcp::header_length(segment.data());
  if (header < tcp::kHeader || header > segment.size()) return Outcome::Malformed;

  // Every option is checked before anything is written, so that a malformed list stays as it is.
  const std::span<uint8_t> options = segment.subspan(tcp::kHeader, header - tcp::kHeader);
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
  uint16_t tcp_checksum = get_be16(&segment[tcp::kChecksum]);
  for (size_t n = 0; n < count; ++n) {
    const size_t offset = tcp::kHeader + found[n] + 2;
    const uint16_t old_mss = get_be16(&segment[offset]);
    if (old_mss <= limit) continue;
    const uint16_t new_mss = static_cast<uint16_t>(limit);
    store_be16(&segment[offset], new_mss);
    // The checksum sums 16-bit words from the segment's start (the pseudo-header has an even
    // length); a value at an odd offset straddles two words, which equals its byte swap.
    tcp_checksum = offset % 2 == 0
                       ? checksum::adjust(tcp_checksum, old_mss, new_mss)
                       : checksum::adjust(tcp_checksum, swap_bytes(old_mss), swap_bytes(new_mss));
    outcome = Outcome::Clamped;
  }
  if (outcome == Outcome::Clamped) store_be16(&segment[tcp::kChecksum], tcp_checksum);
  return outcome;
}

bool is_syn(std::span<const uint8_t> segment) {
  return segment.size() > tcp::kFlags &&
         (segment[tcp::kFlags] & (tcp::kSyn | tcp::kRst)) == tcp::kSyn;
}

// The limit for a packet of `headers` bytes of IP and TCP header in a frame with `tags` tags.
uint32_t limit_for(uint32_t ip_mtu, size_t tags, uint32_t headers) {
  const uint32_t tag_bytes = static_cast<uint32_t>(tags * ethernet::kVlanTag);
  if (ip_mtu <= tag_bytes + headers) return 0;
  const uint32_t limit = ip_mtu - tag_bytes - headers;
  return limit > 0xffff ? 0xffff : limit;
}

Outcome clamp_ipv4(std::span<uint8_t> packet, uint32_t ip_mtu, size_t tags) {
  if (packet.size() < ipv4::kHeader) return Outcome::NotTcpSyn;
  if (packet[ipv4::kProtocol] != tcp::kProtocol ||
      (get_be16(&packet[ipv4::kFragment]) & ipv4::kFragmentBits) != 0)
    return Outcome::NotTcpSyn;
  const size_t header = size_t{packet[0] & 0x0fu} * 4;
  const size_t total = get_be16(&packet[ipv4::kTotalLength]);
  // The frame may be longer than the packet (Ethernet padding), never shorter.
  if ((packet[0] >> 4) != 4 || header < ipv4::kHeader || total < header || total > packet.size())
    return Outcome::Malformed;
  const std::span<uint8_t> segment = packet.subspan(header, total - header);
  if (!is_syn(segment)) return Outcome::NotTcpSyn;
  const uint32_t limit = limit_for(ip_mtu, tags, kIpv4TcpHeaders);
  return limit ? clamp_segment(segment, limit) : Outcome::Kept;
}

// Walks the IPv6 extension headers whose presence leaves the TCP segment intact: hop-by-hop,
// routing and destination options. Fragment, AH and ESP are not walked.
Outcome clamp_ipv6(std::span<uint8_t> packet, uint32_t ip_mtu, size_t tags) {
  if (packet.size() < ipv6::kHeader) return Outcome::NotTcpSyn;
  uint8_t next = packet[ipv6::kNextHeader];
  if (next != tcp::kProtocol && next != ipv6::kHopByHop && next != ipv6::kRouting &&
      next != ipv6::kDestinationOptions)
    return Outcome::NotTcpSyn;
  const size_t payload = get_be16(&packet[ipv6::kPayloadLength]);
  // A payload length of 0 (a jumbogram) fails the TCP header check below.
  if ((packet[0] >> 4) != 6 || payload > packet.size() - ipv6::kHeader) return Outcome::Malformed;
  const std::span<uint8_t> rest = packet.subspan(ipv6::kHeader, payload);
  size_t offset = 0;
  for (int n = 0; next != tcp::kProtocol; ++n) {
    if (n == ipv6::kMaxExtensionHeaders ||
        (next != ipv6::kHopByHop && next != ipv6::kRouting && next != ipv6::kDestinationOptions))
      return Outcome::NotTcpSyn;
    if (rest.size() - offset < 2) return Outcome::Malformed;
    const size_t length = (size_t{rest[offset + 1]} + 1) * 8;
    if (length > rest.size() - offset) return Outcome::Malformed;
    next = rest[offset];
    offset += length;
  }
  const std::span<uint8_t> segment = rest.subspan(offset);
  if (segment.size() < tcp::kHeader) return Outcome::Malformed;
  if (!is_syn(segment)) return Outcome::NotTcpSyn;
  const uint32_t limit = limit_for(ip_mtu, tags, kIpv6TcpHeaders);
  return limit ? clamp_segment(segment, limit) : Outcome::Kept;
}

}  // namespace

uint32_t mss_for(IpAddress::Family inner, uint32_t ip_mtu) {
  return limit_for(ip_mtu, 0, inner == IpAddress::Family::V4 ? kIpv4TcpHeaders : kIpv6TcpHeaders);
}

Outcome clamp(std::span<uint8_t> frame, uint32_t ip_mtu) {
  const auto layout = ethernet::parse(frame);
  if (!layout) return Outcome::NotTcpSyn;
  const auto packet = frame.subspan(layout->network_offset);
  if (layout->type == ethernet::kTypeIpv4) return clamp_ipv4(packet, ip_mtu, layout->tags);
  if (layout->type == ethernet::kTypeIpv6) return clamp_ipv6(packet, ip_mtu, layout->tags);
  return Outcome::NotTcpSyn;
}

}  // namespace l2wg::mss
