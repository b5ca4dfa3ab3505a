#include "l2wg/bridge/checksum.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace l2wg::checksum {
namespace {

using Bytes = std::vector<uint8_t>;

// The sum as RFC 1071 §1 defines it: big-endian 16-bit words, one at a time.
uint16_t reference_sum(const Bytes& data) {
  uint64_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2)
    sum += uint64_t{data[i]} << 8 | (i + 1 < data.size() ? data[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

TEST(Checksum, Rfc1071NumericalExample) {
  // RFC 1071 §3: 0001 + f203 + f4f5 + f6f7 = 2ddf0, folded ddf2.
  const Bytes data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(fold(add(data)), 0xddf2);
  EXPECT_EQ(finish(add(data)), 0x220d);
}

TEST(Checksum, OddLengthPadsTheLastByte) {
  EXPECT_EQ(fold(add(Bytes{0xab})), 0xab00);
  EXPECT_EQ(fold(add(Bytes{0x12, 0x34, 0xab})), 0x12 * 256 + 0x34 + 0xab00);
  EXPECT_EQ(fold(add(Bytes{})), 0);
}

TEST(Checksum, DataCarryingItsChecksumIsValid) {
  Bytes data = {0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01,
                0x00, 0x00, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07};
  const uint16_t value = finish(add(data));
  data[10] = static_cast<uint8_t>(value >> 8);
  data[11] = static_cast<uint8_t>(value);
  EXPECT_TRUE(valid(data));
  data[19] ^= 1;
  EXPECT_FALSE(valid(data));
}

TEST(Checksum, AgreesWithTheReferenceWholeAndInEvenPieces) {
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    Bytes data(random() % 3000);
    for (auto& byte : data) byte = static_cast<uint8_t>(random());
    // Long runs of 0xff make every carry path count.
    if (round % 5 == 0) std::fill(data.begin(), data.end(), 0xff);
    ASSERT_EQ(fold(add(data)), reference_sum(data)) << data.size() << " bytes";
    uint64_t sum = 0;
    size_t at = 0;
    while (at < data.size()) {
      size_t piece = std::min(data.size() - at, size_t{random() % 200} * 2);
      if (at + piece < data.size() && piece == 0) piece = 2;
      sum = add(std::span<const uint8_t>(data).subspan(at, piece), sum);
      at += piece;
    }
    ASSERT_EQ(fold(sum), reference_sum(data)) << data.size() << " bytes in pieces";
  }
}

TEST(Checksum, AdjustMatchesRecomputing) {
  std::mt19937 random(11);
  for (int round = 0; round < 1000; ++round) {
    Bytes data(2 * (1 + random() % 40));
    for (auto& byte : data) byte = static_cast<uint8_t>(random());
    const uint16_t before = finish(add(data));
    const size_t word = 2 * (random() % (data.size() / 2));
    const uint16_t old_word = static_cast<uint16_t>(data[word] << 8 | data[word + 1]);
    const uint16_t new_word = static_cast<uint16_t>(random());
    data[word] = static_cast<uint8_t>(new_word >> 8);
    data[word + 1] = static_cast<uint8_t>(new_word);
    const uint16_t recomputed = finish(add(data));
    const uint16_t adjusted = adjust(before, old_word, new_word);
    // One's complement has two zeros: where the data sums to zero, RFC 1624 may give 0xffff
    // for recomputing's 0x0000.
    EXPECT_TRUE(adjusted == recomputed || (adjusted ^ recomputed) == 0xffff)
        << std::hex << adjusted << " " << recomputed;
  }
}

}  // namespace
}  // namespace l2wg::checksum
