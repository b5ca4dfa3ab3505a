#include "l2wg/bridge/offload.h"

#include <algorithm>
#include <cstring>

#include "frame_headers.h"
#include "l2wg/bridge/checksum.h"
#include "l2wg/bytes.h"

namespace l2wg::offload {
namespace {

constexpr size_t kMaxIpPayload = 0xffff;

// The pseudo-header's sum (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1): the addresses, the protocol
// and the length of the transport header and payload.
uint64_t pseudo_header_sum(std::span<const uint8_t> ip_header, bool ipv6, size_t length,
                           uint8_t protocol = tcp::kProtocol) {
  const auto addresses =
      ipv6 ? ip_header.subspan(ipv6::kAddresses, 32) : ip_header.subspan(ipv4::kAddresses, 8);
  return checksum::add(addresses) + protocol + (length >> 16) + (length & 0xffff);
}

void store_ipv4_checksum(std::span<uint8_t> ip_header) {
  store_be16(&ip_header[ipv4::kChecksum], 0);
  store_be16(&ip_header[ipv4::kChecksum], checksum::finish(checksum::add(ip_header)));
}

// An IP packet's layout in a frame, as far as the transport header.
struct Transport {
  bool ipv6 = false;
  size_t network_offset = 0;
  size_t offset = 0;  // of the transport header, in the frame
  uint8_t protocol = 0;
  size_t ip_length = 0;  // what the IP header says the packet's length is, header included
};

// nullopt, and the reason in `why`, for anything but an unfragmented IPv4 packet or an IPv6
// packet behind no extension headers but hop-by-hop and destination options, in a frame with at
// most two VLAN tags.
std::optional<Transport> locate_transport(std::span<const uint8_t> frame, std::string_view& why) {
  const auto layout = ethernet::parse(frame);
  if (!layout || (layout->type != ethernet::kTypeIpv4 && layout->type != ethernet::kTypeIpv6)) {
    why = "a frame that is not IPv4 or IPv6";
    return std::nullopt;
  }
  Transport t{.ipv6 = layout->type == ethernet::kTypeIpv6,
              .network_offset = layout->network_offset};
  const auto packet = frame.subspan(t.network_offset);
  if (!t.ipv6) {
    const size_t header = size_t{packet.size() >= ipv4::kHeader ? packet[0] & 0x0fu : 0u} * 4;
    if (packet.size() < ipv4::kHeader || packet[0] >> 4 != 4 || header < ipv4::kHeader ||
        header > packet.size()) {
      why = "a truncated or malformed IPv4 header";
      return std::nullopt;
    }
    if (get_be16(&packet[ipv4::kFragment]) & ipv4::kFragmentBits) {
      why = "an IPv4 fragment";
      return std::nullopt;
    }
    t.offset = t.network_offset + header;
    t.protocol = packet[ipv4::kProtocol];
    t.ip_length = get_be16(&packet[ipv4::kTotalLength]);
    return t;
  }
  if (packet.size() < ipv6::kHeader || packet[0] >> 4 != 6) {
    why = "a truncated or malformed IPv6 header";
    return std::nullopt;
  }
  uint8_t next = packet[ipv6::kNextHeader];
  size_t offset = ipv6::kHeader;
  for (int n = 0; next == ipv6::kHopByHop || next == ipv6::kDestinationOptions; ++n) {
    if (n == ipv6::kMaxExtensionHeaders || packet.size() < offset + 2 ||
        packet.size() < offset + (size_t{packet[offset + 1]} + 1) * 8) {
      why = "a truncated IPv6 extension header";
      return std::nullopt;
    }
    next = packet[offset];
    offset += (size_t{packet[offset + 1]} + 1) * 8;
  }
  t.offset = t.network_offset + offset;
  t.protocol = next;
  t.ip_length = ipv6::kHeader + get_be16(&packet[ipv6::kPayloadLength]);
  return t;
}

// open_checksum() of a frame already located.
std::optional<VnetHeader> open_checksum_of(std::span<const uint8_t> frame, const Transport& t,
                                           uint32_t segment_mtu) {
  if (t.protocol != tcp::kProtocol && t.protocol != udp::kProtocol) return std::nullopt;
  // Padding would be summed as data: Linux never pads what it leaves open.
  if (t.network_offset + t.ip_length != frame.size() || t.ip_length < t.offset - t.network_offset)
    return std::nullopt;
  const bool is_tcp = t.protocol == tcp::kProtocol;
  const size_t transport_length = frame.size() - t.offset;
  const size_t field = is_tcp ? tcp::kChecksum : udp::kChecksum;
  if (transport_length < (is_tcp ? tcp::kHeader : udp::kHeader)) return std::nullopt;
  const auto ip = frame.subspan(t.network_offset, t.offset - t.network_offset);
  const uint64_t pseudo = pseudo_header_sum(ip, t.ipv6, transport_length, t.protocol);
  if (get_be16(&frame[t.offset + field]) != checksum::fold(pseudo)) return std::nullopt;
  VnetHeader vnet{.flags = VnetHeader::kNeedsChecksum,
                  .checksum_start = static_cast<uint16_t>(t.offset),
                  .checksum_offset = static_cast<uint16_t>(field)};
  if (!is_tcp) return vnet;
  const size_t tcp_header = tcp::header_length(&frame[t.offset]);
  if (tcp_header < tcp::kHeader || tcp_header > transport_length) return std::nullopt;
  // Everything past the Ethernet header counts against the IP MTU: the tags cross the tunnel
  // too, as MSS clamping counts them.
  const size_t headers = t.offset - ethernet::kHeader + tcp_header;
  const size_t payload = transport_length - tcp_header;
  if (segment_mtu > headers && payload > segment_mtu - headers) {
    vnet.gso_type = t.ipv6 ? VnetHeader::kGsoTcpV6 : VnetHeader::kGsoTcpV4;
    vnet.gso_size = static_cast<uint16_t>(segment_mtu - headers);
    vnet.header_length = static_cast<uint16_t>(t.offset + tcp_header);
  }
  return vnet;
}

}  // namespace

VnetHeader VnetHeader::parse(std::span<const uint8_t, kSize> bytes) {
  VnetHeader header;
  header.flags = bytes[0];
  header.gso_type = bytes[1];
  std::memcpy(&header.header_length, &bytes[2], 2);
  std::memcpy(&header.gso_size, &bytes[4], 2);
  std::memcpy(&header.checksum_start, &bytes[6], 2);
  std::memcpy(&header.checksum_offset, &bytes[8], 2);
  return header;
}

void VnetHeader::write(std::span<uint8_t, kSize> out) const {
  out[0] = flags;
  out[1] = gso_type;
  std::memcpy(&out[2], &header_length, 2);
  std::memcpy(&out[4], &gso_size, 2);
  std::memcpy(&out[6], &checksum_start, 2);
  std::memcpy(&out[8], &checksum_offset, 2);
}

std::optional<std::string_view> complete_checksum(const VnetHeader& vnet,
                                                  std::span<uint8_t> frame) {
  if (!(vnet.flags & VnetHeader::kNeedsChecksum)) return std::nullopt;
  const size_t start = vnet.checksum_start;
  const size_t field = start + vnet.checksum_offset;
  if (field + 2 > frame.size()) return "the checksum to fill in lies beyond the frame";
  const uint16_t value = checksum::finish(checksum::add(frame.subspan(start)));
  store_be16(&frame[field], value ? value : 0xffff);
  return std::nullopt;
}

std::optional<VnetHeader> open_checksum(std::span<const uint8_t> frame, uint32_t segment_mtu) {
  std::string_view ignored;
  const auto transport = locate_transport(frame, ignored);
  return transport ? open_checksum_of(frame, *transport, segment_mtu) : std::nullopt;
}

std::optional<Segmenter> Segmenter::prepare(const VnetHeader& vnet, std::span<const uint8_t> frame,
                                            std::string_view* why) {
  auto refuse = [why](std::string_view reason) -> std::optional<Segmenter> {
    if (why) *why = reason;
    return std::nullopt;
  };
  // ECN only adds the rule that CWR stays on the first segment, which segment() applies anyway.
  const uint8_t type = vnet.gso_type & ~VnetHeader::kGsoEcn;
  if (type != VnetHeader::kGsoTcpV4 && type != VnetHeader::kGsoTcpV6)
    return refuse("a GSO type other than TCP");
  if (vnet.gso_size == 0) return refuse("a GSO size of 0");
  std::string_view reason;
  const auto transport = locate_transport(frame, reason);
  if (!transport) return refuse(reason);
  if (transport->ipv6 != (type == VnetHeader::kGsoTcpV6))
    return refuse("TCP GSO of the other IP version");
  if (transport->protocol != tcp::kProtocol)
    return refuse("TCP GSO on a packet that is not TCP behind IP (and IPv6 options)");
  Segmenter s;
  s.frame_ = frame;
  s.ipv6_ = transport->ipv6;
  s.network_offset_ = transport->network_offset;
  s.tcp_offset_ = transport->offset;
  if ((vnet.flags & VnetHeader::kNeedsChecksum) &&
      (vnet.checksum_start != s.tcp_offset_ || vnet.checksum_offset != tcp::kChecksum))
    return refuse("checksum offsets that are not the TCP header's");
  if (frame.size() < s.tcp_offset_ + tcp::kHeader) return refuse("a truncated TCP header");
  const size_t tcp_header = tcp::header_length(&frame[s.tcp_offset_]);
  if (tcp_header < tcp::kHeader || frame.size() < s.tcp_offset_ + tcp_header)
    return refuse("a truncated or malformed TCP header");
  s.header_size_ = s.tcp_offset_ + tcp_header;
  if (s.header_size_ > kMaxHeader) return refuse("headers longer than the datapath handles");
  if (frame.size() == s.header_size_) return refuse("TCP GSO without payload");
  const size_t ip_payload = frame.size() - s.network_offset_ - (s.ipv6_ ? ipv6::kHeader : 0);
  if (ip_payload > kMaxIpPayload) return refuse("a frame longer than an IP packet");
  s.gso_size_ = vnet.gso_size;
  const size_t payload = frame.size() - s.header_size_;
  s.count_ = (payload + s.gso_size_ - 1) / s.gso_size_;
  return s;
}

std::span<const uint8_t> Segmenter::segment(size_t index, std::span<uint8_t> header) const {
  std::copy_n(frame_.begin(), header_size_, header.begin());
  const size_t start = header_size_ + index * gso_size_;
  const auto payload = frame_.subspan(start, std::min(gso_size_, frame_.size() - start));
  const auto ip = header.subspan(network_offset_, tcp_offset_ - network_offset_);
  const size_t tcp_length = header_size_ - tcp_offset_ + payload.size();
  if (!ipv6_) {
    store_be16(&ip[ipv4::kTotalLength], static_cast<uint16_t>(ip.size() + tcp_length));
    store_be16(&ip[ipv4::kId], static_cast<uint16_t>(get_be16(&ip[ipv4::kId]) + index));
    store_ipv4_checksum(ip);
  } else {
    store_be16(&ip[ipv6::kPayloadLength],
               static_cast<uint16_t>(ip.size() - ipv6::kHeader + tcp_length));
  }
  const auto th = header.subspan(tcp_offset_, header_size_ - tcp_offset_);
  store_be32(&th[tcp::kSequence],
             static_cast<uint32_t>(get_be32(&th[tcp::kSequence]) + index * gso_size_));
  if (index + 1 < count_) th[tcp::kFlags] &= static_cast<uint8_t>(~(tcp::kFin | tcp::kPush));
  if (index > 0) th[tcp::kFlags] &= static_cast<uint8_t>(~tcp::kCwr);
  store_be16(&th[tcp::kChecksum], 0);
  const uint64_t sum = pseudo_header_sum(ip, ipv6_, tcp_length) + checksum::add(th);
  store_be16(&th[tcp::kChecksum], checksum::finish(checksum::add(payload, sum)));
  return payload;
}

namespace {

// A TCP segment located in an untagged frame with a plain IP header: what flow matching needs.
struct TcpSegment {
  bool ipv6 = false;
  size_t tcp_offset = 0;
  size_t header_size = 0;
  size_t payload = 0;
  uint32_t sequence = 0;
  uint16_t ip_id = 0;
  uint8_t flags = 0;
  bool eligible = false;   // only ACK (and PSH), some payload, no padding
  bool mergeable = false;  // eligible, and its checksums hold
};

}  // namespace

struct Coalescer::Group {
  size_t first = 0;
  size_t last = 0;
  TcpSegment head;
  size_t frames = 1;
  size_t payload = 0;
  uint32_t next_sequence = 0;
  uint16_t next_ip_id = 0;
  bool tcp = false;      // head is a located TCP segment
  bool growing = false;  // may take the flow's next segment
  bool push = false;
  std::optional<VnetHeader> open_checksum;  // the head's, if left open
};

namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

bool same_flow(std::span<const uint8_t> a, const TcpSegment& ca, std::span<const uint8_t> b,
               const TcpSegment& cb) {
  if (ca.ipv6 != cb.ipv6) return false;
  const size_t addresses = ethernet::kHeader + (ca.ipv6 ? ipv6::kAddresses : ipv4::kAddresses);
  const size_t length = ca.ipv6 ? 32 : 8;
  return std::equal(a.begin(), a.begin() + ethernet::kHeader, b.begin()) &&
         std::equal(a.begin() + addresses, a.begin() + addresses + length, b.begin() + addresses) &&
         std::equal(a.begin() + ca.tcp_offset, a.begin() + ca.tcp_offset + 4,
                    b.begin() + cb.tcp_offset);
}

// Equal but for what segmentation changes: the IP length, the IPv4 ID and checksum, the TCP
// sequence number, flags and checksum (flags are checked apart).
bool same_headers(std::span<const uint8_t> a, std::span<const uint8_t> b, size_t tcp_offset,
                  size_t header_size, bool ipv6) {
  auto equal = [&](size_t from, size_t to) {
    return std::equal(a.begin() + from, a.begin() + to, b.begin() + from);
  };
  const size_t ip = ethernet::kHeader;
  const size_t th = tcp_offset;
  const bool ip_equal =
      ipv6 ? equal(ip, ip + ipv6::kPayloadLength) && equal(ip + ipv6::kNextHeader, th)
           : equal(ip, ip + ipv4::kTotalLength) &&
                 equal(ip + ipv4::kFragment, ip + ipv4::kChecksum) &&
                 equal(ip + ipv4::kAddresses, th);
  // Ports; ACK number and data offset; window; urgent pointer and options.
  return ip_equal && equal(th, th + tcp::kSequence) && equal(th + 8, th + tcp::kFlags) &&
         equal(th + 14, th + tcp::kChecksum) && equal(th + 18, header_size);
}

// The TCP segment of a located frame, or nullopt for anything coalescing leaves alone (tagged
// frames, IPv4 options, IPv6 extension headers, truncation).
std::optional<TcpSegment> locate_tcp(std::span<const uint8_t> frame, const Transport& t) {
  if (t.protocol != tcp::kProtocol || t.network_offset != ethernet::kHeader ||
      t.offset != ethernet::kHeader + (t.ipv6 ? ipv6::kHeader : ipv4::kHeader))
    return std::nullopt;
  const auto packet = frame.subspan(ethernet::kHeader);
  TcpSegment c{.ipv6 = t.ipv6, .tcp_offset = t.offset};
  if (!c.ipv6) c.ip_id = get_be16(&packet[ipv4::kId]);
  const size_t ip_length = t.ip_length;  // the IP packet's own length, header included
  if (ip_length > packet.size() || ip_length < c.tcp_offset - ethernet::kHeader + tcp::kHeader)
    return std::nullopt;
  const size_t tcp_header = tcp::header_length(&frame[c.tcp_offset]);
  c.header_size = c.tcp_offset + tcp_header;
  if (tcp_header < tcp::kHeader || c.header_size > ethernet::kHeader + ip_length)
    return std::nullopt;
  c.payload = ethernet::kHeader + ip_length - c.header_size;
  c.sequence = get_be32(&frame[c.tcp_offset + tcp::kSequence]);
  c.flags = frame[c.tcp_offset + tcp::kFlags];
  c.eligible = c.payload != 0 && (c.flags & ~tcp::kPush) == tcp::kAck &&
               frame.size() == ethernet::kHeader + ip_length;
  return c;
}

// The IPv4 header checksum and the TCP checksum of a located segment.
bool checksums_hold(std::span<const uint8_t> frame, const TcpSegment& c) {
  const auto ip = frame.subspan(ethernet::kHeader, c.tcp_offset - ethernet::kHeader);
  if (!c.ipv6 && !checksum::valid(ip)) return false;
  const auto segment = frame.subspan(c.tcp_offset);
  return checksum::fold(checksum::add(segment, pseudo_header_sum(ip, c.ipv6, segment.size()))) ==
         0xffff;
}

}  // namespace

Coalescer::Coalescer(size_t capacity) {
  frames_.reserve(capacity);
  groups_.reserve(capacity);
  next_.reserve(capacity);
  pieces_.reserve(capacity);
  writes_.reserve(capacity);
}

Coalescer::~Coalescer() = default;

void Coalescer::clear(uint32_t segment_mtu) {
  segment_mtu_ = segment_mtu;
  frames_.clear();
  groups_.clear();
  next_.clear();
}

void Coalescer::add(std::span<uint8_t> frame) {
  const size_t index = frames_.size();
  frames_.push_back(frame);
  next_.push_back(kNone);
  std::string_view ignored;
  const auto transport = locate_transport(frame, ignored);
  auto segment = transport ? locate_tcp(frame, *transport) : std::nullopt;
  // A checksum left open was never computed: there is nothing to verify, and the frame already
  // is what the kernel would merge, or nothing to merge.
  const auto open = transport ? open_checksum_of(frame, *transport, segment_mtu_) : std::nullopt;
  if (segment && segment->eligible && !open) segment->mergeable = checksums_hold(frame, *segment);
  // Can `segment` extend `group`, the newest group of its flow?
  auto extends = [&](const Group& group) {
    const TcpSegment& head = group.head;
    if (!group.growing || !segment->mergeable || segment->header_size != head.header_size ||
        segment->sequence != group.next_sequence || segment->payload > head.payload ||
        (!head.ipv6 && segment->ip_id != group.next_ip_id))
      return false;
    const size_t ip_payload = head.header_size - ethernet::kHeader -
                              (head.ipv6 ? ipv6::kHeader : 0) + group.payload + segment->payload;
    return ip_payload <= kMaxIpPayload &&
           same_headers(frames_[group.first], frame, head.tcp_offset, head.header_size, head.ipv6);
  };
  if (segment) {
    // Only the flow's newest group may grow: anything of the flow in between closes it.
    for (auto it = groups_.rbegin(); it != groups_.rend(); ++it) {
      if (!it->tcp || !same_flow(frames_[it->first], it->head, frame, *segment)) continue;
      if (extends(*it)) {
        next_[it->last] = index;
        it->last = index;
        ++it->frames;
        it->payload += segment->payload;
        it->next_sequence += static_cast<uint32_t>(segment->payload);
        ++it->next_ip_id;
        it->push = segment->flags & tcp::kPush;
        it->growing = !it->push && segment->payload == it->head.payload;
        return;
      }
      it->growing = false;
      break;
    }
  }
  Group group;
  group.first = group.last = index;
  group.open_checksum = open;
  if (segment) {
    group.tcp = true;
    group.head = *segment;
    group.payload = segment->payload;
    group.next_sequence = segment->sequence + static_cast<uint32_t>(segment->payload);
    group.next_ip_id = static_cast<uint16_t>(segment->ip_id + 1);
    group.push = segment->flags & tcp::kPush;
    group.growing = segment->mergeable && !group.push;
  }
  groups_.push_back(group);
}

std::span<const Coalescer::Write> Coalescer::finish() {
  pieces_.clear();
  writes_.clear();
  for (const Group& group : groups_) {
    const std::span<uint8_t> head = frames_[group.first];
    pieces_.push_back(head);
    Write write;
    write.frames = group.frames;
    if (group.frames == 1) {
      if (group.open_checksum) {
        write.vnet = *group.open_checksum;
      } else if (group.head.mergeable) {
        write.vnet.flags = VnetHeader::kDataValid;
      }
    } else {
      const TcpSegment& c = group.head;
      for (size_t i = next_[group.first]; i != kNone; i = next_[i])
        pieces_.push_back(frames_[i].subspan(c.header_size));
      const auto ip = head.subspan(ethernet::kHeader, c.tcp_offset - ethernet::kHeader);
      const size_t tcp_length = c.header_size - c.tcp_offset + group.payload;
      if (c.ipv6) {
        store_be16(&ip[ipv6::kPayloadLength], static_cast<uint16_t>(tcp_length));
      } else {
        store_be16(&ip[ipv4::kTotalLength], static_cast<uint16_t>(ip.size() + tcp_length));
        store_ipv4_checksum(ip);
      }
      uint8_t* th = &head[c.tcp_offset];
      if (group.push) th[tcp::kFlags] |= tcp::kPush;
      // The kernel sums from checksum_start on top of the pseudo-header's sum left in the field.
      store_be16(&th[tcp::kChecksum], checksum::fold(pseudo_header_sum(ip, c.ipv6, tcp_length)));
      write.vnet = VnetHeader{
          .flags = VnetHeader::kNeedsChecksum,
          .gso_type = c.ipv6 ? VnetHeader::kGsoTcpV6 : VnetHeader::kGsoTcpV4,
          .header_length = static_cast<uint16_t>(c.header_size),
          .gso_size = static_cast<uint16_t>(c.payload),
          .checksum_start = static_cast<uint16_t>(c.tcp_offset),
          .checksum_offset = tcp::kChecksum,
      };
    }
    writes_.push_back(write);
  }
  // Each frame is one piece of its write. The spans point into pieces_ only once it is complete.
  size_t piece = 0;
  for (Write& write : writes_) {
    write.pieces = std::span<const std::span<const uint8_t>>(pieces_).subspan(piece, write.frames);
    piece += write.frames;
  }
  return writes_;
}

}  // namespace l2wg::offload
