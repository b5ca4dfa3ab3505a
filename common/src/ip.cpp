#include "l2wg/ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdio>
#include <cstring>

#include "l2wg/mac.h"

namespace l2wg {

IpAddress IpAddress::v4(std::array<uint8_t, 4> bytes) {
  IpAddress a;
  a.family_ = Family::V4;
  std::memcpy(a.bytes_.data(), bytes.data(), 4);
  return a;
}

IpAddress IpAddress::v6(std::array<uint8_t, 16> bytes) {
  IpAddress a;
  a.family_ = Family::V6;
  a.bytes_ = bytes;
  return a;
}

IpAddress IpAddress::from(const in_addr& in) {
  std::array<uint8_t, 4> b;
  std::memcpy(b.data(), &in, 4);
  return v4(b);
}

IpAddress IpAddress::from(const in6_addr& in) {
  std::array<uint8_t, 16> b;
  std::memcpy(b.data(), &in, 16);
  return v6(b);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  in_addr a4;
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) return from(a4);
  in6_addr a6;
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) return from(a6);
  return std::nullopt;
}

int IpAddress::af() const { return is_v4() ? AF_INET : AF_INET6; }

bool IpAddress::is_link_local() const {
  if (is_v4()) return bytes_[0] == 169 && bytes_[1] == 254;
  return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

IpAddress IpAddress::masked(unsigned length) const {
  IpAddress out = *this;
  for (unsigned bit = length; bit < size() * 8; ++bit)
    out.bytes_[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return out;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(af(), bytes_.data(), buf, sizeof buf);
  return buf;
}

static std::optional<unsigned> parse_uint(std::string_view s, unsigned max) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v > max) return std::nullopt;
  return v;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text, bool strict) {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned max = address->is_v4() ? 32 : 128;
  unsigned length = max;
  if (slash != std::string_view::npos) {
    auto parsed = parse_uint(text.substr(slash + 1), max);
    if (!parsed) return std::nullopt;
    length = *parsed;
  }
  if (strict && address->masked(length) != *address) return std::nullopt;
  return IpPrefix{*address, static_cast<uint8_t>(length)};
}

bool IpPrefix::contains(const IpAddress& a) const {
  if (a.family() != address.family()) return false;
  const uint8_t* x = a.data();
  const uint8_t* y = address.data();
  const unsigned full = length / 8;
  if (std::memcmp(x, y, full) != 0) return false;
  const unsigned rest = length % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (x[full] & mask) == (y[full] & mask);
}

std::string IpPrefix::str() const { return address.str() + "/" + std::to_string(length); }

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto address = IpAddress::parse(host);
  auto number = parse_uint(port, 65535);
  if (!address || !number) return std::nullopt;
  if (address->is_v4() && text.front() == '[') return std::nullopt;
  if (address->is_v6() && text.front() != '[') return std::nullopt;
  return Endpoint{*address, static_cast<uint16_t>(*number)};
}

std::string Endpoint::str() const {
  const auto host = address.is_v6() ? "[" + address.str() + "]" : address.str();
  return host + ":" + std::to_string(port);
}

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddress mac;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data() + i * 3, text.data() + i * 3 + 2, v, 16);
    if (ec != std::errc() || end != text.data() + i * 3 + 2) return std::nullopt;
    mac.bytes[i] = static_cast<uint8_t>(v);
  }
  return mac;
}

std::string MacAddress::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

}  // namespace l2wg
