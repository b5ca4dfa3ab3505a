// Test frames: a TCP segment in an IPv4 or IPv6 packet in an Ethernet frame, built field by field
// with checksums from a reference implementation of its own (not bridge/'s), for the tests of
// the code that rewrites frames (MSS clamping, TAP offloads).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <vector>

#include "l2wg/ip.h"

namespace l2wg::test {

using Family = IpAddress::Family;
using Bytes = std::vector<uint8_t>;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kRst = 0x04;

inline Bytes mss_option(uint16_t value) {
  return {2, 4, static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
}
inline const Bytes kNop = {1};
inline const Bytes kEol = {0};
inline const Bytes kSackPermitted = {4, 2};
inline const Bytes kWindowScale = {3, 3, 7};
inline const Bytes kTimestamps = {8, 10, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0};

inline Bytes join(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

inline void put16(Bytes& b, size_t at, uint16_t value) {
  b[at] = static_cast<uint8_t>(value >> 8);
  b[at + 1] = static_cast<uint8_t>(value);
}

inline void put32(Bytes& b, size_t at, uint32_t value) {
  put16(b, at, static_cast<uint16_t>(value >> 16));
  put16(b, at + 2, static_cast<uint16_t>(value));
}

inline uint16_t get16(const Bytes& b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

inline uint32_t get32(const Bytes& b, size_t at) {
  return uint32_t{get16(b, at)} << 16 | get16(b, at + 2);
}

inline uint32_t sum16(const uint8_t* data, size_t size, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < size; i += 2) sum += uint32_t{data[i]} << 8 | data[i + 1];
  if (size % 2) sum += uint32_t{data[size - 1]} << 8;
  return sum;
}

inline uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// A TCP segment in an IP packet in an Ethernet frame, built field by field, with the offsets the
// tests need.
struct Frame {
  Bytes bytes;
  Family family = Family::V4;
  size_t ip = 0;
  size_t tcp = 0;
  size_t tcp_length = 0;

  // The full RFC 793 checksum with the checksum field taken as zero.
  uint16_t full_checksum() const {
    Bytes pseudo;
    const uint8_t* p = &bytes[ip];
    if (family == Family::V4) {
      pseudo.assign(p + 12, p + 20);
      pseudo.insert(pseudo.end(), {0, 6, static_cast<uint8_t>(tcp_length >> 8),
                                   static_cast<uint8_t>(tcp_length)});
    } else {
      pseudo.assign(p + 8, p + 40);
      pseudo.insert(pseudo.end(), {0, 0, static_cast<uint8_t>(tcp_length >> 8),
                                   static_cast<uint8_t>(tcp_length), 0, 0, 0, 6});
    }
    Bytes segment(bytes.begin() + static_cast<long>(tcp),
                  bytes.begin() + static_cast<long>(tcp + tcp_length));
    segment[16] = segment[17] = 0;
    return static_cast<uint16_t>(
        ~fold(sum16(segment.data(), segment.size(), sum16(pseudo.data(), pseudo.size()))));
  }
  void seal() { put16(bytes, tcp + 16, full_checksum()); }
  uint16_t checksum() const { return get16(bytes, tcp + 16); }
};

struct Spec {
  Family family = Family::V4;
  uint8_t flags = kSyn;
  Bytes options = join({mss_option(1460), kSackPermitted, kTimestamps, kNop, kWindowScale});
  std::vector<uint16_t> vlan_types{};  // TPIDs of the tags, outermost first
  Bytes ip_options{};                  // IPv4: a multiple of 4
  Bytes extension_headers{};           // IPv6, already chained; the last one's next header is TCP
  uint8_t first_next_header = 6;       // IPv6: what the fixed header says comes next
  Bytes payload{};
  size_t padding = 0;  // Ethernet padding after the IP packet
  uint32_t sequence = 0x11223344;
  uint32_t ack_number = 1;  // sent with ACK only
  uint16_t ip_id = 0x1234;
  uint8_t traffic_class = 0;  // IPv4 TOS, IPv6 traffic class
  uint8_t hop_limit = 64;     // IPv4 TTL, IPv6 hop limit
  uint16_t window = 0xfaf0;
  uint16_t source_port = 0xc350;
};

inline Frame build(const Spec& s) {
  Frame f;
  f.family = s.family;
  Bytes& b = f.bytes;
  b = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  for (uint16_t tpid : s.vlan_types) {
    b.insert(b.end(), {static_cast<uint8_t>(tpid >> 8), static_cast<uint8_t>(tpid), 0x00, 0x2a});
  }
  b.insert(b.end(), {static_cast<uint8_t>(s.family == Family::V4 ? 0x08 : 0x86),
                     static_cast<uint8_t>(s.family == Family::V4 ? 0x00 : 0xdd)});
  f.ip = b.size();

  Bytes tcp(20, 0);
  put16(tcp, 0, s.source_port);
  put16(tcp, 2, 80);
  put32(tcp, 4, s.sequence);
  tcp[13] = s.flags;
  put16(tcp, 14, s.window);
  tcp.insert(tcp.end(), s.options.begin(), s.options.end());
  while (tcp.size() % 4) tcp.push_back(0);  // EOL padding, as senders do
  tcp[12] = static_cast<uint8_t>(tcp.size() / 4 << 4);
  if (s.flags & kAck) put32(tcp, 8, s.ack_number);
  tcp.insert(tcp.end(), s.payload.begin(), s.payload.end());
  f.tcp_length = tcp.size();

  if (s.family == Family::V4) {
    const size_t header = 20 + s.ip_options.size();
    Bytes ip(20, 0);
    ip[0] = static_cast<uint8_t>(0x40 | header / 4);
    ip[1] = s.traffic_class;
    ip[6] = 0x40;  // DF
    ip[8] = s.hop_limit;
    ip[9] = 6;
    const uint8_t addresses[] = {192, 0, 2, 1, 198, 51, 100, 7};
    std::copy(std::begin(addresses), std::end(addresses), ip.begin() + 12);
    put16(ip, 4, s.ip_id);
    ip.insert(ip.end(), s.ip_options.begin(), s.ip_options.end());
    put16(ip, 2, static_cast<uint16_t>(header + tcp.size()));
    put16(ip, 10, static_cast<uint16_t>(~fold(sum16(ip.data(), ip.size()))));
    b.insert(b.end(), ip.begin(), ip.end());
  } else {
    Bytes ip(8, 0);
    ip[0] = static_cast<uint8_t>(0x60 | s.traffic_class >> 4);
    ip[1] = static_cast<uint8_t>(s.traffic_class << 4);
    ip[6] = s.first_next_header;
    ip[7] = s.hop_limit;
    for (int i = 0; i < 2; ++i) {
      const Bytes address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                             0,    0,    0,    0,    0, 0, 0, static_cast<uint8_t>(i + 1)};
      ip.insert(ip.end(), address.begin(), address.end());
    }
    put16(ip, 4, static_cast<uint16_t>(s.extension_headers.size() + tcp.size()));
    ip.insert(ip.end(), s.extension_headers.begin(), s.extension_headers.end());
    b.insert(b.end(), ip.begin(), ip.end());
  }
  f.tcp = b.size();
  b.insert(b.end(), tcp.begin(), tcp.end());
  b.insert(b.end(), s.padding, 0);
  f.seal();
  return f;
}

}  // namespace l2wg::test
