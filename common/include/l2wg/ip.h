// IP addresses, prefixes and endpoints as plain value types.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct in_addr;
struct in6_addr;

namespace l2wg {

class IpAddress {
 public:
  enum class Family : uint8_t { V4, V6 };

  IpAddress() = default;
  static IpAddress v4(std::array<uint8_t, 4> bytes);
  static IpAddress v6(std::array<uint8_t, 16> bytes);
  static IpAddress from(const in_addr& a);
  static IpAddress from(const in6_addr& a);
  // Accepts dotted quad or any RFC 4291 text form; nullopt for anything else.
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::V4; }
  bool is_v6() const { return family_ == Family::V6; }
  int af() const;  // AF_INET or AF_INET6
  // 4 or 16 significant bytes.
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return is_v4() ? 4 : 16; }
  bool is_link_local() const;
  // This address with every bit past the first `length` cleared.
  IpAddress masked(unsigned length) const;
  std::string str() const;

  auto operator<=>(const IpAddress&) const = default;

 private:
  Family family_ = Family::V4;
  std::array<uint8_t, 16> bytes_{};  // IPv4 uses the first 4
};

struct IpPrefix {
  IpAddress address;
  uint8_t length = 0;

  // "10.0.0.0/8", "2001:db8::/32"; a bare address is a host prefix. Host bits may be set
  // (interface addresses are written that way) unless `strict`.
  static std::optional<IpPrefix> parse(std::string_view text, bool strict = false);
  bool contains(const IpAddress& a) const;
  std::string str() const;

  auto operator<=>(const IpPrefix&) const = default;
};

struct Endpoint {
  IpAddress address;
  uint16_t port = 0;

  // "192.0.2.1:51820" or "[2001:db8::1]:51820".
  static std::optional<Endpoint> parse(std::string_view text);
  std::string str() const;

  auto operator<=>(const Endpoint&) const = default;
};

}  // namespace l2wg
