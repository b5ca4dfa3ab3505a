#include "l2wg/bridge/checksum.h"

#include <bit>
#include <cstring>

namespace l2wg::checksum {

// RFC 1071 §2(B)-(C): the sum is independent of byte order and may be taken over wider words
// with the carries added back in ("end-around carry"), so it runs over the host's 64-bit words,
// two chains at a time, and the folded result is swapped once at the end.
uint64_t add(std::span<const uint8_t> data, uint64_t sum) {
  auto add_carried = [](uint64_t& total, uint64_t word) {
    total += word;
    total += total < word;
  };
  uint64_t even = 0, odd = 0;
  const uint8_t* p = data.data();
  size_t left = data.size();
  for (; left >= 16; left -= 16, p += 16) {
    uint64_t words[2];
    std::memcpy(words, p, sizeof words);
    add_carried(even, words[0]);
    add_carried(odd, words[1]);
  }
  add_carried(even, odd);
  uint8_t tail[16] = {};  // the rest, padded with zeros to whole words
  if (left) std::memcpy(tail, p, left);  // an empty span's data() may be null
  for (size_t at = 0; at < left; at += 8) {
    uint64_t word;
    std::memcpy(&word, tail + at, sizeof word);
    add_carried(even, word);
  }
  uint16_t folded = fold((even & 0xffffffff) + (even >> 32));
  if constexpr (std::endian::native == std::endian::little)
    folded = static_cast<uint16_t>(folded << 8 | folded >> 8);
  return sum + folded;
}

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

uint16_t adjust(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  const uint64_t sum =
      uint64_t{static_cast<uint16_t>(~checksum)} + static_cast<uint16_t>(~old_word) + new_word;
  return static_cast<uint16_t>(~fold(sum));
}

}  // namespace l2wg::checksum
