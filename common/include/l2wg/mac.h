// Ethernet MAC address as a value type.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace l2wg {

struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  // "02:00:5e:10:00:01"; nullopt for anything else.
  static std::optional<MacAddress> parse(std::string_view text);
  std::string str() const;
  bool is_multicast() const { return bytes[0] & 0x01; }

  auto operator<=>(const MacAddress&) const = default;
};

}  // namespace l2wg
