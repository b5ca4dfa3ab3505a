// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), for the frames the
// userspace datapath rewrites: GRE's optional checksum, MSS clamping, TAP offloads.
#pragma once

#include <cstdint>
#include <span>

namespace l2wg::checksum {

// The one's complement sum of `data` read as big-endian 16-bit words (a last odd byte padded
// with zero), added to `sum` and left unfolded, so that a checksum can be summed in pieces:
// every piece but the last must have an even length.
uint64_t add(std::span<const uint8_t> data, uint64_t sum = 0);

// `sum` folded to 16 bits: the one's complement sum. The checksum field takes its complement.
uint16_t fold(uint64_t sum);

// What a checksum field holds once `sum` (covering the field as zero) is final.
inline uint16_t finish(uint64_t sum) {
  return static_cast<uint16_t>(~fold(sum));
}

// True when data carrying its own checksum sums to 0xffff.
inline bool valid(std::span<const uint8_t> data) {
  return fold(add(data)) == 0xffff;
}

// RFC 1624 eqn. 3: `checksum` after one 16-bit word of the data it covers changed.
uint16_t adjust(uint16_t checksum, uint16_t old_word, uint16_t new_word);

}  // namespace l2wg::checksum
