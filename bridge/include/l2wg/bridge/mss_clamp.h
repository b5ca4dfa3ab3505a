// TCP MSS clamping for Ethernet frames crossing the userspace datapath, as a router's
// `iptables -j TCPMSS --clamp-mss-to-pmtu` does: with MTU=auto a full 1500-byte frame becomes
// two WireGuard packets, so TCP SYNs get their MSS option lowered until a full segment, with
// every header up to the outer IP one, fits the WireGuard MTU in one packet. Pure functions, no
// I/O, cheap on frames that are not TCP SYNs (a few comparisons).
#pragma once

#include <cstdint>
#include <span>

#include "l2wg/ip.h"

namespace l2wg::mss {

// The IPv4 (20 + 20) and IPv6 (40 + 20) and TCP header bytes an MSS leaves out of an IP packet.
inline constexpr uint32_t kIpv4TcpHeaders = 40;
inline constexpr uint32_t kIpv6TcpHeaders = 60;

// The MSS that fills an untagged IP packet of `ip_mtu` bytes (0 if the headers do not fit).
uint32_t mss_for(IpAddress::Family inner, uint32_t ip_mtu);

enum class Outcome : uint8_t {
  NotTcpSyn,  // anything else (the fast path), including fragments and IPv6 packets whose
              // extension headers are not walked (Fragment, AH, ESP, unknown)
  Malformed,  // a TCP SYN whose lengths or options do not add up: left as it is
  NoMss,      // a SYN without an MSS option: none is added
  Kept,       // every MSS option was already small enough
  Clamped,    // at least one MSS option was lowered and the checksum updated
};

// If `frame` (an Ethernet frame without FCS, up to two 802.1Q/802.1ad tags) carries an
// unfragmented IPv4 or IPv6 TCP segment with SYN set (and RST clear) whose MSS option exceeds
// what fits an IP packet of `ip_mtu` bytes (less 4 per VLAN tag, since the tags cross the tunnel
// too), lowers that option and updates the TCP checksum incrementally (RFC 1624). Never raises
// an MSS, never adds one, never writes anything but MSS values and the checksum, and reads
// nothing outside `frame` or beyond the IP packet's own length.
Outcome clamp(std::span<uint8_t> frame, uint32_t ip_mtu);

}  // namespace l2wg::mss
