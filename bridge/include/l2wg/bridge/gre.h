// Transparent Ethernet bridging over GRE (RFC 2784/2890, protocol 0x6558): the header codec,
// the encapsulation arithmetic and the MAC derived for a tap. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <span>
#include <string>

#include "l2wg/bridge/wireguard.h"
#include "l2wg/ip.h"
#include "l2wg/mac.h"

namespace l2wg::gre {

inline constexpr uint16_t kTransparentEthernetBridging = 0x6558;
inline constexpr size_t kEthernetHeader = 14;

struct Header {
  uint16_t protocol = kTransparentEthernetBridging;
  std::optional<uint32_t> key;

  bool operator==(const Header&) const = default;
};

// 4, or 8 with a key.
size_t header_size(const Header& header);

// Writes `header` (no checksum, no sequence number, as kernel gretap sends by default) at the
// start of `out`, which must hold header_size(header) bytes. Returns the bytes written.
size_t write_header(const Header& header, std::span<uint8_t> out);

struct Parsed {
  Header header;
  size_t payload_offset = 0;  // where the Ethernet frame starts

  bool operator==(const Parsed&) const = default;
};

// Parses the GRE header of `packet` (starting at the GRE header, no IP header). Accepts the
// checksum (verified) and sequence-number options as RFC 2890 allows; rejects version != 0, the
// routing bit, a bad checksum and truncation, returning nullopt.
std::optional<Parsed> parse_header(std::span<const uint8_t> packet);

// Outer IP header + GRE header (+ key) + the inner Ethernet header: what a tap frame of MTU m
// costs on the WireGuard interface beyond m.
size_t encapsulation_overhead(IpAddress::Family outer, bool has_key);

// What tells apart the tunnels to one peer (a peer may carry several, with different GRE keys).
struct MacFlow {
  std::optional<uint32_t> gre_key;
  std::string_view tap;
};

// A locally administered unicast MAC derived from the peer's public key and the tunnel's flow, so
// the tap's MAC (and the upstream's view of us) is stable across restarts and recreation, and
// differs between the tunnels to one peer. Distinct for the two directions: `local_key` is this
// host's WireGuard key, so the two ends never share a MAC.
MacAddress derive_mac(const wg::PublicKey& peer_key, const std::optional<wg::PublicKey>& local_key,
                      const MacFlow& flow);

enum class DatapathKind { Kernel, Userspace };
enum class DatapathChoice { Auto, Kernel, Userspace };

struct MtuPolicy {
  std::optional<uint32_t> fixed;  // nullopt = auto

  bool operator==(const MtuPolicy&) const = default;
};

struct Plan {
  DatapathKind datapath = DatapathKind::Kernel;
  uint32_t tap_mtu = 1500;
  bool fragment = true;  // outer packets may be fragmented (pmtudisc off + ignore-df)
  // With fragmentation: TCP SYNs crossing the tap get their MSS clamped so that IP packets up to
  // this size (the largest tap MTU that would not fragment) carry full segments unfragmented, by
  // the userspace datapath or, on kernel gretap, nftables rules (mss_rules.h). nullopt: no
  // clamping (fixed MTU).
  std::optional<uint32_t> mss_clamp_mtu;
  std::string note;  // why the plan differs from what was asked, for the log and StateReason

  bool operator==(const Plan&) const = default;
};

// The MTU and datapath policy of the contract:
// - auto, IPv4 outer: tap 1500, fragmentation inside WireGuard, the requested datapath (Auto →
//   kernel when `kernel_gre` is true, userspace otherwise, with a note).
// - auto, IPv6 outer: kernel ip6gretap cannot carry 1500 over WireGuard, so Auto picks userspace
//   (with a note); forced Kernel gets the reduced MTU wg_mtu - overhead, no fragmentation and a
//   warning note.
// - auto (either datapath, either family): mss_clamp_mtu = wg_mtu - overhead, so that
//   TCP segments fit WireGuard in one packet while other traffic fragments.
// - fixed N: tap N, no fragmentation; Error(InvalidArgument) if N > wg_mtu - overhead or N < 1280
//   (IPv6 needs 1280 on every link), the message giving the largest N that fits.
// Forced Kernel with kernel_gre false is Error(Unsupported).
Plan plan(DatapathChoice choice, const MtuPolicy& mtu, IpAddress::Family outer, bool has_key,
          uint32_t wg_mtu, bool kernel_gre);

}  // namespace l2wg::gre
