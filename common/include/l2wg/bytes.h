// Big-endian integers and hex text, as wire formats and state files write them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace l2wg {

inline void put_be16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

inline void put_be32(std::vector<uint8_t>& out, uint32_t value) {
  put_be16(out, static_cast<uint16_t>(value >> 16));
  put_be16(out, static_cast<uint16_t>(value));
}

inline void store_be16(uint8_t* p, uint16_t value) {
  p[0] = static_cast<uint8_t>(value >> 8);
  p[1] = static_cast<uint8_t>(value);
}

inline void store_be32(uint8_t* p, uint32_t value) {
  store_be16(p, static_cast<uint16_t>(value >> 16));
  store_be16(p + 2, static_cast<uint16_t>(value));
}

inline uint16_t get_be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

inline uint32_t get_be32(const uint8_t* p) {
  return uint32_t{get_be16(p)} << 16 | get_be16(p + 2);
}

// Lowercase, two digits a byte, no separators.
std::string to_hex(std::span<const uint8_t> bytes);

// Hex digits of either case; ASCII whitespace between them is ignored, so that test vectors can
// be spaced by field. nullopt for any other character or an odd number of digits.
std::optional<std::vector<uint8_t>> from_hex(std::string_view text);

}  // namespace l2wg
