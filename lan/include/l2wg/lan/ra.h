// Neighbor Discovery messages of a router (RFC 4861 §4.1, §4.2) and the options l2wg announces:
// Prefix Information, MTU, Source Link-Layer Address, Route Information (RFC 4191), RDNSS and
// DNSSL (RFC 8106), as plain values. encode() writes the ICMPv6 message with a zero checksum: a raw
// IPPROTO_ICMPV6 socket has the kernel fill it in (RFC 3542 §3.1). The parsers check every length
// and refuse what RFC 4861 §6.1 says to discard silently; hop limit and source address are the
// socket's to check.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "l2wg/ip.h"
#include "l2wg/mac.h"

namespace l2wg::lan {

inline constexpr uint8_t kRouterSolicitation = 133;
inline constexpr uint8_t kRouterAdvertisement = 134;
inline constexpr uint8_t kNeighborSolicitation = 135;
inline constexpr uint8_t kNeighborAdvertisement = 136;

// RFC 4191 §2.1; the wire value 2 is reserved and read as Medium.
enum class RouterPreference : uint8_t { Medium = 0, High = 1, Low = 3 };

struct PrefixInformation {
  IpPrefix prefix;
  bool on_link = true;     // L
  bool autonomous = true;  // A: hosts form addresses with SLAAC
  uint32_t valid_lifetime = 0;      // seconds, 0xffffffff infinite
  uint32_t preferred_lifetime = 0;
  bool operator==(const PrefixInformation&) const = default;
};

struct RouteInformation {
  IpPrefix prefix;
  RouterPreference preference = RouterPreference::Medium;
  uint32_t lifetime = 0;
  bool operator==(const RouteInformation&) const = default;
};

struct RecursiveDnsServers {
  uint32_t lifetime = 0;
  std::vector<IpAddress> servers;  // IPv6, at least one
  bool operator==(const RecursiveDnsServers&) const = default;
};

struct DnsSearchList {
  uint32_t lifetime = 0;
  std::vector<std::string> domains;  // "example.com", at least one
  bool operator==(const DnsSearchList&) const = default;
};

struct RouterAdvertisement {
  uint8_t hop_limit = 0;  // 0: unspecified
  bool managed = false;   // M
  bool other = false;     // O
  RouterPreference preference = RouterPreference::Medium;
  uint16_t router_lifetime = 0;  // seconds; 0: not a default router
  uint32_t reachable_time = 0;   // ms, 0: unspecified
  uint32_t retrans_timer = 0;    // ms, 0: unspecified
  std::optional<MacAddress> source_link_layer;
  std::optional<uint32_t> mtu;
  std::vector<PrefixInformation> prefixes;
  std::vector<RouteInformation> routes;
  std::optional<RecursiveDnsServers> dns_servers;
  std::optional<DnsSearchList> search_list;
  bool operator==(const RouterAdvertisement&) const = default;
};

struct RouterSolicitation {
  std::optional<MacAddress> source_link_layer;
  bool operator==(const RouterSolicitation&) const = default;
};

// RFC 4861 §4.3, §4.4: what the upstream-router probe sends and hears (unicast, as Neighbor
// Unreachability Detection does).
struct NeighborSolicitation {
  IpAddress target;
  std::optional<MacAddress> source_link_layer;
  bool operator==(const NeighborSolicitation&) const = default;
};

struct NeighborAdvertisement {
  bool router = false;     // R
  bool solicited = false;  // S: an answer to a solicitation, i.e. proof of two-way reachability
  bool override = false;   // O
  IpAddress target;
  std::optional<MacAddress> target_link_layer;
  bool operator==(const NeighborAdvertisement&) const = default;
};

struct ParseError {
  std::string reason;
};

// Options are written in the order: source link-layer address, MTU, prefixes, routes, RDNSS,
// DNSSL. Throws l2wg::Error(InvalidArgument) for values without a wire form (a non-IPv6 prefix or
// server, an empty RDNSS/DNSSL, a bad domain name).
std::vector<uint8_t> encode(const RouterAdvertisement& ra);
std::vector<uint8_t> encode(const RouterSolicitation& rs);
// Throw l2wg::Error(InvalidArgument) for a target that is not IPv6.
std::vector<uint8_t> encode(const NeighborSolicitation& ns);
std::vector<uint8_t> encode(const NeighborAdvertisement& na);

std::variant<RouterAdvertisement, ParseError> parse_router_advertisement(std::span<const uint8_t> icmp);
std::variant<RouterSolicitation, ParseError> parse_router_solicitation(std::span<const uint8_t> icmp);
// Also refused (§7.1.2): a multicast target.
std::variant<NeighborSolicitation, ParseError> parse_neighbor_solicitation(
    std::span<const uint8_t> icmp);
std::variant<NeighborAdvertisement, ParseError> parse_neighbor_advertisement(
    std::span<const uint8_t> icmp);

}  // namespace l2wg::lan
