#include "l2wg/lan/ra.h"

#include <cstring>

#include "l2wg/bytes.h"
#include "l2wg/dns_name.h"
#include "l2wg/error.h"

namespace l2wg::lan {
namespace {

// Option types (RFC 4861 §4.6, RFC 4191 §2.3, RFC 8106 §5).
constexpr uint8_t kSourceLinkLayer = 1;
constexpr uint8_t kTargetLinkLayer = 2;
constexpr uint8_t kPrefixInformation = 3;
constexpr uint8_t kMtu = 5;
constexpr uint8_t kRouteInformation = 24;
constexpr uint8_t kRdnss = 25;
constexpr uint8_t kDnssl = 31;

constexpr size_t kRaHeaderSize = 16;  // type, code, checksum, hop limit, flags, lifetime, 2 timers
constexpr size_t kRsHeaderSize = 8;   // type, code, checksum, reserved
constexpr size_t kNdHeaderSize = 24;  // type, code, checksum, flags + reserved, target
constexpr size_t kUnit = 8;           // option lengths count 8-octet units

constexpr uint8_t kManagedFlag = 0x80;
constexpr uint8_t kOtherFlag = 0x40;
constexpr uint8_t kOnLinkFlag = 0x80;
constexpr uint8_t kAutonomousFlag = 0x40;
constexpr uint8_t kRouterFlag = 0x80;
constexpr uint8_t kSolicitedFlag = 0x40;
constexpr uint8_t kOverrideFlag = 0x20;

[[noreturn]] void unencodable(const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, "cannot encode router advertisement: " + what);
}

struct Malformed {
  std::string reason;
};
[[noreturn]] void malformed(std::string reason) {
  throw Malformed{std::move(reason)};
}

void put_v6(std::vector<uint8_t>& out, const IpAddress& address, size_t bytes) {
  out.insert(out.end(), address.data(), address.data() + bytes);
}
IpAddress get_v6(const uint8_t* p, size_t bytes) {
  std::array<uint8_t, 16> address{};
  std::memcpy(address.data(), p, bytes);
  return IpAddress::v6(address);
}

uint8_t preference_bits(RouterPreference preference) {
  return static_cast<uint8_t>(static_cast<uint8_t>(preference) << 3);
}
RouterPreference preference_from(uint8_t flags) {
  const uint8_t bits = (flags >> 3) & 0x3;
  return bits == 2 ? RouterPreference::Medium : static_cast<RouterPreference>(bits);
}

// Writes one option: `body` is everything after type and length, padded here to 8 octets.
void put_option(std::vector<uint8_t>& out, uint8_t type, std::vector<uint8_t> body) {
  const size_t units = (2 + body.size() + kUnit - 1) / kUnit;
  if (units > 255) unencodable("option " + std::to_string(type) + " over 2040 octets");
  body.resize(units * kUnit - 2, 0);
  out.push_back(type);
  out.push_back(static_cast<uint8_t>(units));
  out.insert(out.end(), body.begin(), body.end());
}

void put_source_link_layer(std::vector<uint8_t>& out, const std::optional<MacAddress>& mac) {
  if (mac) put_option(out, kSourceLinkLayer, {mac->bytes.begin(), mac->bytes.end()});
}

void check_prefix(const IpPrefix& prefix, const char* what) {
  if (!prefix.address.is_v6() || prefix.length > 128)
    unencodable(std::string(what) + " " + prefix.str() + " is not an IPv6 prefix");
}

// ---- parsing ----

// Calls f(type, body) for each option, body being everything after type and length.
template <typename F>
void for_each_option(std::span<const uint8_t> area, F&& f) {
  while (!area.empty()) {
    if (area.size() < 2) malformed("option header truncated");
    const uint8_t type = area[0];
    const size_t size = size_t{area[1]} * kUnit;
    if (size == 0) malformed("option " + std::to_string(type) + " has length 0");
    if (size > area.size())
      malformed("option " + std::to_string(type) + " of " + std::to_string(size) +
                " octets runs past the end (" + std::to_string(area.size()) + " left)");
    f(type, area.subspan(2, size - 2));
    area = area.subspan(size);
  }
}

MacAddress parse_mac(std::span<const uint8_t> body) {
  // Ethernet: exactly one unit (RFC 2464 §6).
  if (body.size() != 6) malformed("link-layer address option is not 8 octets");
  MacAddress mac;
  std::memcpy(mac.bytes.data(), body.data(), 6);
  return mac;
}

PrefixInformation parse_prefix(std::span<const uint8_t> body) {
  if (body.size() != 30) malformed("prefix information option is not 32 octets");
  PrefixInformation pio;
  const uint8_t length = body[0];
  if (length > 128) malformed("prefix information length " + std::to_string(length) + " over 128");
  pio.on_link = body[1] & kOnLinkFlag;
  pio.autonomous = body[1] & kAutonomousFlag;
  pio.valid_lifetime = get_be32(body.data() + 2);
  pio.preferred_lifetime = get_be32(body.data() + 6);
  pio.prefix = IpPrefix{get_v6(body.data() + 14, 16).masked(length), length};
  return pio;
}

RouteInformation parse_route(std::span<const uint8_t> body) {
  // RFC 4191 §2.3: 8, 16 or 24 octets; the prefix bytes must cover its length.
  if (body.size() != 6 && body.size() != 14 && body.size() != 22)
    malformed("route information option of " + std::to_string(body.size() + 2) + " octets");
  const uint8_t length = body[0];
  const size_t prefix_bytes = body.size() - 6;
  if (length > 128 || size_t{length} + 7 > prefix_bytes * 8 + 7)
    malformed("route information length " + std::to_string(length) + " does not fit the option");
  return RouteInformation{IpPrefix{get_v6(body.data() + 6, prefix_bytes).masked(length), length},
                          preference_from(body[1]), get_be32(body.data() + 2)};
}

RecursiveDnsServers parse_rdnss(std::span<const uint8_t> body) {
  // RFC 8106 §5.1: length 3 + 2n, at least one address.
  if (body.size() < 22 || (body.size() - 6) % 16 != 0)
    malformed("RDNSS option of " + std::to_string(body.size() + 2) + " octets");
  RecursiveDnsServers rdnss{get_be32(body.data() + 2), {}};
  for (size_t at = 6; at < body.size(); at += 16) rdnss.servers.push_back(get_v6(body.data() + at, 16));
  return rdnss;
}

DnsSearchList parse_dnssl(std::span<const uint8_t> body) {
  if (body.size() < 14) malformed("DNSSL option shorter than 16 octets");
  DnsSearchList dnssl{get_be32(body.data() + 2), {}};
  const auto names = body.subspan(6);
  size_t pos = 0;
  try {
    // Names until the zero padding of the last unit.
    while (pos < names.size() && names[pos] != 0) dnssl.domains.push_back(read_dns_name(names, pos));
  } catch (const Error& error) {
    malformed(std::string("DNSSL: ") + error.what());
  }
  for (; pos < names.size(); ++pos)
    if (names[pos] != 0) malformed("DNSSL: padding is not zero");
  if (dnssl.domains.empty()) malformed("DNSSL option without a domain");
  return dnssl;
}

template <typename T>
void set_once(std::optional<T>& field, T value, const char* name) {
  // A second copy would leave the receiver guessing which to believe.
  if (field) malformed(std::string(name) + " option appears twice");
  field = std::move(value);
}

void check_header(std::span<const uint8_t> icmp, uint8_t type, size_t header, const char* name) {
  if (icmp.size() < header)
    malformed(std::string(name) + " shorter than " + std::to_string(header) + " octets (" +
              std::to_string(icmp.size()) + ")");
  if (icmp[0] != type) malformed("ICMPv6 type " + std::to_string(icmp[0]) + " is not " + name);
  if (icmp[1] != 0) malformed(std::string(name) + " with code " + std::to_string(icmp[1]));
}

// The common header of NS and NA: flags (NA only) in the first reserved octet, then the target.
std::vector<uint8_t> neighbor_header(uint8_t type, uint8_t flags, const IpAddress& target) {
  if (!target.is_v6()) unencodable("neighbor discovery target " + target.str() + " is not IPv6");
  std::vector<uint8_t> out{type, 0, 0, 0, flags, 0, 0, 0};
  put_v6(out, target, 16);
  return out;
}

IpAddress parse_target(std::span<const uint8_t> icmp) {
  const IpAddress target = get_v6(icmp.data() + 8, 16);
  if (target.data()[0] == 0xff)
    malformed("neighbor discovery target " + target.str() + " is multicast");
  return target;
}

}  // namespace

std::vector<uint8_t> encode(const RouterAdvertisement& ra) {
  std::vector<uint8_t> out{kRouterAdvertisement, 0, 0, 0, ra.hop_limit};
  out.push_back(static_cast<uint8_t>((ra.managed ? kManagedFlag : 0) | (ra.other ? kOtherFlag : 0) |
                                     preference_bits(ra.preference)));
  put_be16(out, ra.router_lifetime);
  put_be32(out, ra.reachable_time);
  put_be32(out, ra.retrans_timer);
  put_source_link_layer(out, ra.source_link_layer);
  if (ra.mtu) {
    std::vector<uint8_t> body{0, 0};
    put_be32(body, *ra.mtu);
    put_option(out, kMtu, std::move(body));
  }
  for (const auto& pio : ra.prefixes) {
    check_prefix(pio.prefix, "prefix");
    std::vector<uint8_t> body{pio.prefix.length, static_cast<uint8_t>(
                                                     (pio.on_link ? kOnLinkFlag : 0) |
                                                     (pio.autonomous ? kAutonomousFlag : 0))};
    put_be32(body, pio.valid_lifetime);
    put_be32(body, pio.preferred_lifetime);
    put_be32(body, 0);
    put_v6(body, pio.prefix.address.masked(pio.prefix.length), 16);
    put_option(out, kPrefixInformation, std::move(body));
  }
  for (const auto& rio : ra.routes) {
    check_prefix(rio.prefix, "route");
    std::vector<uint8_t> body{rio.prefix.length, preference_bits(rio.preference)};
    put_be32(body, rio.lifetime);
    // The shortest form that holds the prefix (RFC 4191 §2.3).
    const size_t bytes = rio.prefix.length == 0 ? 0 : rio.prefix.length <= 64 ? 8 : 16;
    put_v6(body, rio.prefix.address.masked(rio.prefix.length), bytes);
    put_option(out, kRouteInformation, std::move(body));
  }
  if (ra.dns_servers) {
    if (ra.dns_servers->servers.empty()) unencodable("RDNSS without a server");
    std::vector<uint8_t> body{0, 0};
    put_be32(body, ra.dns_servers->lifetime);
    for (const auto& server : ra.dns_servers->servers) {
      if (!server.is_v6()) unencodable("DNS server " + server.str() + " is not IPv6");
      put_v6(body, server, 16);
    }
    put_option(out, kRdnss, std::move(body));
  }
  if (ra.search_list) {
    if (ra.search_list->domains.empty()) unencodable("DNSSL without a domain");
    std::vector<uint8_t> body{0, 0};
    put_be32(body, ra.search_list->lifetime);
    for (const auto& domain : ra.search_list->domains) {
      if (domain.empty()) unencodable("DNSSL with an empty domain");
      try {
        append_dns_name(body, domain);
      } catch (const Error& error) {
        unencodable(error.what());
      }
    }
    put_option(out, kDnssl, std::move(body));
  }
  return out;
}

std::vector<uint8_t> encode(const RouterSolicitation& rs) {
  std::vector<uint8_t> out{kRouterSolicitation, 0, 0, 0, 0, 0, 0, 0};
  put_source_link_layer(out, rs.source_link_layer);
  return out;
}

std::variant<RouterAdvertisement, ParseError> parse_router_advertisement(
    std::span<const uint8_t> icmp) {
  try {
    check_header(icmp, kRouterAdvertisement, kRaHeaderSize, "router advertisement");
    RouterAdvertisement ra;
    ra.hop_limit = icmp[4];
    ra.managed = icmp[5] & kManagedFlag;
    ra.other = icmp[5] & kOtherFlag;
    ra.preference = preference_from(icmp[5]);
    ra.router_lifetime = get_be16(icmp.data() + 6);
    ra.reachable_time = get_be32(icmp.data() + 8);
    ra.retrans_timer = get_be32(icmp.data() + 12);
    for_each_option(icmp.subspan(kRaHeaderSize), [&](uint8_t type, std::span<const uint8_t> body) {
      switch (type) {
        case kSourceLinkLayer: set_once(ra.source_link_layer, parse_mac(body), "link-layer address"); break;
        case kMtu:
          if (body.size() != 6) malformed("MTU option is not 8 octets");
          set_once(ra.mtu, get_be32(body.data() + 2), "MTU");
          break;
        case kPrefixInformation: ra.prefixes.push_back(parse_prefix(body)); break;
        case kRouteInformation: ra.routes.push_back(parse_route(body)); break;
        case kRdnss: set_once(ra.dns_servers, parse_rdnss(body), "RDNSS"); break;
        case kDnssl: set_once(ra.search_list, parse_dnssl(body), "DNSSL"); break;
        default: break;  // RFC 4861 §4.6: unknown options are skipped
      }
    });
    return ra;
  } catch (const Malformed& error) {
    return ParseError{error.reason};
  }
}

std::variant<RouterSolicitation, ParseError> parse_router_solicitation(
    std::span<const uint8_t> icmp) {
  try {
    check_header(icmp, kRouterSolicitation, kRsHeaderSize, "router solicitation");
    RouterSolicitation rs;
    for_each_option(icmp.subspan(kRsHeaderSize), [&](uint8_t type, std::span<const uint8_t> body) {
      if (type == kSourceLinkLayer) set_once(rs.source_link_layer, parse_mac(body), "link-layer address");
    });
    return rs;
  } catch (const Malformed& error) {
    return ParseError{error.reason};
  }
}

std::vector<uint8_t> encode(const NeighborSolicitation& ns) {
  auto out = neighbor_header(kNeighborSolicitation, 0, ns.target);
  put_source_link_layer(out, ns.source_link_layer);
  return out;
}

std::vector<uint8_t> encode(const NeighborAdvertisement& na) {
  const uint8_t flags =
      static_cast<uint8_t>((na.router ? kRouterFlag : 0) | (na.solicited ? kSolicitedFlag : 0) |
                           (na.override ? kOverrideFlag : 0));
  auto out = neighbor_header(kNeighborAdvertisement, flags, na.target);
  if (na.target_link_layer)
    put_option(out, kTargetLinkLayer,
               {na.target_link_layer->bytes.begin(), na.target_link_layer->bytes.end()});
  return out;
}

std::variant<NeighborSolicitation, ParseError> parse_neighbor_solicitation(
    std::span<const uint8_t> icmp) {
  try {
    check_header(icmp, kNeighborSolicitation, kNdHeaderSize, "neighbor solicitation");
    NeighborSolicitation ns{parse_target(icmp), std::nullopt};
    for_each_option(icmp.subspan(kNdHeaderSize), [&](uint8_t type, std::span<const uint8_t> body) {
      if (type == kSourceLinkLayer)
        set_once(ns.source_link_layer, parse_mac(body), "link-layer address");
    });
    return ns;
  } catch (const Malformed& error) {
    return ParseError{error.reason};
  }
}

std::variant<NeighborAdvertisement, ParseError> parse_neighbor_advertisement(
    std::span<const uint8_t> icmp) {
  try {
    check_header(icmp, kNeighborAdvertisement, kNdHeaderSize, "neighbor advertisement");
    NeighborAdvertisement na;
    na.router = icmp[4] & kRouterFlag;
    na.solicited = icmp[4] & kSolicitedFlag;
    na.override = icmp[4] & kOverrideFlag;
    na.target = parse_target(icmp);
    for_each_option(icmp.subspan(kNdHeaderSize), [&](uint8_t type, std::span<const uint8_t> body) {
      if (type == kTargetLinkLayer)
        set_once(na.target_link_layer, parse_mac(body), "link-layer address");
    });
    return na;
  } catch (const Malformed& error) {
    return ParseError{error.reason};
  }
}

}  // namespace l2wg::lan
