#include "l2wg/bridge/mss_clamp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "tcp_frame.h"

namespace l2wg::mss {
namespace {

using namespace l2wg::test;

// With a WireGuard MTU of 1420 and IPv4 GRE without key, 1382 bytes of inner IP fit.
constexpr uint32_t kMtu = 1382;
constexpr uint16_t kIpv4Limit = 1342;  // 1382 - 20 - 20
constexpr uint16_t kIpv6Limit = 1322;  // 1382 - 40 - 20

// `frame` with the MSS value at option offset `option` (from the start of the options) set to
// `value` and the checksum recomputed in full: what a clamp must produce, byte for byte.
Frame with_mss(Frame frame, size_t option, uint16_t value) {
  put16(frame.bytes, frame.tcp + 20 + option + 2, value);
  frame.seal();
  return frame;
}

Outcome run(Frame& frame, uint32_t mtu = kMtu) {
  return clamp(frame.bytes, mtu);
}

TEST(MssFor, SubtractsIpAndTcpHeaders) {
  EXPECT_EQ(mss_for(Family::V4, 1382), 1342u);
  EXPECT_EQ(mss_for(Family::V6, 1382), 1322u);
  EXPECT_EQ(mss_for(Family::V6, 1362), 1302u);
  EXPECT_EQ(mss_for(Family::V4, 40), 0u);
}

TEST(MssClamp, Ipv4SynIsClampedByteForByte) {
  Frame frame = build({});
  const Frame expected = with_mss(frame, 0, kIpv4Limit);
  ASSERT_EQ(run(frame), Outcome::Clamped);
  EXPECT_EQ(frame.bytes, expected.bytes);
  EXPECT_EQ(frame.checksum(), frame.full_checksum());
}

TEST(MssClamp, Ipv6SynIsClampedByteForByte) {
  Frame frame = build({.family = Family::V6, .options = join({mss_option(1440), kSackPermitted})});
  const Frame expected = with_mss(frame, 0, kIpv6Limit);
  ASSERT_EQ(run(frame), Outcome::Clamped);
  EXPECT_EQ(frame.bytes, expected.bytes);
}

TEST(MssClamp, SynAckIsClampedToo) {
  for (Family family : {Family::V4, Family::V6}) {
    Frame frame = build({.family = family, .flags = kSyn | kAck});
    const Frame expected = with_mss(frame, 0, family == Family::V4 ? kIpv4Limit : kIpv6Limit);
    ASSERT_EQ(run(frame), Outcome::Clamped);
    EXPECT_EQ(frame.bytes, expected.bytes);
  }
}

TEST(MssClamp, NeverRaisesAnMss) {
  for (uint16_t small : {uint16_t{536}, uint16_t{1220}, kIpv4Limit}) {
    Frame frame = build({.options = mss_option(small)});
    const Bytes before = frame.bytes;
    EXPECT_EQ(run(frame), Outcome::Kept) << small;
    EXPECT_EQ(frame.bytes, before);
  }
  Frame v6 = build({.family = Family::V6, .options = mss_option(kIpv6Limit)});
  const Bytes before = v6.bytes;
  EXPECT_EQ(run(v6), Outcome::Kept);
  EXPECT_EQ(v6.bytes, before);
}

TEST(MssClamp, AddsNoMssWhereThereIsNone) {
  for (const Bytes& options :
       {Bytes{}, join({kNop, kNop, kSackPermitted, kTimestamps, kWindowScale}),
        join({kEol, mss_option(1460)})}) {  // after the end of the option list: not an option
    for (Family family : {Family::V4, Family::V6}) {
      Frame frame = build({.family = family, .options = options});
      const Bytes before = frame.bytes;
      EXPECT_EQ(run(frame), Outcome::NoMss);
      EXPECT_EQ(frame.bytes, before);
    }
  }
}

TEST(MssClamp, LeavesSegmentsWithoutSynAlone) {
  for (uint8_t flags : {kAck, uint8_t{kAck | 0x08}, uint8_t{kSyn | kRst}, uint8_t{0x01}}) {
    for (Family family : {Family::V4, Family::V6}) {
      Frame frame = build({.family = family, .flags = flags, .payload = {1, 2, 3}});
      const Bytes before = frame.bytes;
      EXPECT_EQ(run(frame), Outcome::NotTcpSyn) << int{flags};
      EXPECT_EQ(frame.bytes, before);
    }
  }
}

// Options in the orders real stacks send them, the MSS at even and odd offsets (an odd one
// straddles two checksum words).
TEST(MssClamp, FindsTheMssAmongOtherOptionsInAnyOrder) {
  struct Case {
    Bytes options;
    size_t mss_at;
  };
  const std::vector<Case> cases = {
      {join({mss_option(1460), kSackPermitted, kTimestamps, kNop, kWindowScale}), 0},  // Linux
      {join({mss_option(1460), kNop, kWindowScale, kNop, kNop, kSackPermitted}), 0},   // Windows
      {join({mss_option(1460), kNop, kWindowScale, kNop, kNop, kTimestamps, kSackPermitted, kEol}),
       0},  // macOS
      {join({kNop, mss_option(1460), kNop, kWindowScale}), 1},
      {join({kWindowScale, mss_option(1460)}), 3},
      {join({kSackPermitted, kTimestamps, kWindowScale, mss_option(1460)}), 15},
      {join({kNop, kNop, kNop, mss_option(1460)}), 3},
      {join({kTimestamps, kNop, kNop, mss_option(65535)}), 12},
      {join({Bytes{0xfe, 6, 0xf9, 0x89, 1, 2}, mss_option(1460)}), 6},  // an experimental option
  };
  for (Family family : {Family::V4, Family::V6}) {
    const uint16_t limit = family == Family::V4 ? kIpv4Limit : kIpv6Limit;
    for (const auto& c : cases) {
      Frame frame = build({.family = family, .options = c.options});
      const Frame expected = with_mss(frame, c.mss_at, limit);
      ASSERT_EQ(run(frame), Outcome::Clamped) << c.mss_at;
      EXPECT_EQ(frame.bytes, expected.bytes) << c.mss_at;
      EXPECT_EQ(frame.checksum(), frame.full_checksum()) << c.mss_at;
    }
  }
}

TEST(MssClamp, ClampsEveryMssOption) {
  Frame frame =
      build({.options = join({mss_option(1460), kNop, mss_option(9000), kNop, mss_option(600)})});
  const Frame expected = with_mss(with_mss(frame, 0, kIpv4Limit), 5, kIpv4Limit);
  ASSERT_EQ(run(frame), Outcome::Clamped);
  EXPECT_EQ(frame.bytes, expected.bytes);
}

TEST(MssClamp, LeavesMalformedOptionListsAlone) {
  const std::vector<Bytes> lists = {
      join({mss_option(1460), kNop, kNop, kNop, Bytes{3}}),     // a kind without its length byte
      join({mss_option(1460), Bytes{8, 0, 0, 0}}),              // length 0
      join({mss_option(1460), Bytes{8, 1, 0, 0}}),              // length 1
      join({mss_option(1460), Bytes{8, 10, 0, 0}}),             // longer than the header
      join({kNop, Bytes{2, 4, 0x05}}),                          // MSS cut off by the header's end
      join({Bytes{2, 3, 0x05, 0xb4}}),                          // MSS with length 3
      join({Bytes{2, 5, 0x05, 0xb4, 0}, kNop, kNop, kNop}),     // MSS with length 5
      join({Bytes{2, 4, 0x05, 0xb4, 0x08, 0x0c}, kNop, kNop}),  // garbage after a good MSS
  };
  for (Family family : {Family::V4, Family::V6}) {
    for (const auto& options : lists) {
      Spec spec{.family = family, .options = options};
      Frame frame = build(spec);
      const Bytes before = frame.bytes;
      EXPECT_EQ(run(frame), Outcome::Malformed) << ::testing::PrintToString(options);
      EXPECT_EQ(frame.bytes, before);
    }
  }
}

TEST(MssClamp, VlanTagsCountAgainstTheMtu) {
  for (Family family : {Family::V4, Family::V6}) {
    const uint16_t limit = family == Family::V4 ? kIpv4Limit : kIpv6Limit;
    Frame tagged = build({.family = family, .vlan_types = {0x8100}});
    const Frame one_tag = with_mss(tagged, 0, static_cast<uint16_t>(limit - 4));
    ASSERT_EQ(run(tagged), Outcome::Clamped);
    EXPECT_EQ(tagged.bytes, one_tag.bytes);

    Frame qinq = build({.family = family, .vlan_types = {0x88a8, 0x8100}});
    const Frame two_tags = with_mss(qinq, 0, static_cast<uint16_t>(limit - 8));
    ASSERT_EQ(run(qinq), Outcome::Clamped);
    EXPECT_EQ(qinq.bytes, two_tags.bytes);
  }
  // A third tag is more than the clamp looks through.
  Frame three = build({.vlan_types = {0x88a8, 0x8100, 0x8100}});
  const Bytes before = three.bytes;
  EXPECT_EQ(run(three), Outcome::NotTcpSyn);
  EXPECT_EQ(three.bytes, before);
}

TEST(MssClamp, Ipv4OptionsAndEthernetPadding) {
  // A SYN with only an MSS option is 44 bytes of IP: padded to a 60-byte frame.
  Frame frame = build({.options = mss_option(1460), .ip_options = {1, 1, 1, 0}, .padding = 10});
  const Frame expected = with_mss(frame, 0, kIpv4Limit);
  ASSERT_EQ(run(frame), Outcome::Clamped);
  EXPECT_EQ(frame.bytes, expected.bytes);
}

TEST(MssClamp, LeavesIpv4FragmentsAlone) {
  for (uint16_t fragment : {uint16_t{0x2000} /* MF */, uint16_t{0x0001}, uint16_t{0x20b9}}) {
    Frame frame = build({});
    put16(frame.bytes, frame.ip + 6, fragment);
    const Bytes before = frame.bytes;
    EXPECT_EQ(run(frame), Outcome::NotTcpSyn) << fragment;
    EXPECT_EQ(frame.bytes, before);
  }
}

TEST(MssClamp, LeavesBadIpv4LengthsAlone) {
  const auto mangled = [](auto change, const Spec& spec = {}) {
    Frame frame = build(spec);
    change(frame);
    const Bytes before = frame.bytes;
    const Outcome outcome = run(frame);
    EXPECT_EQ(frame.bytes, before);
    return outcome;
  };
  // Total length beyond the frame, shorter than the IP header, or cutting the TCP header.
  EXPECT_EQ(mangled([](Frame& f) { put16(f.bytes, f.ip + 2, 2000); }), Outcome::Malformed);
  EXPECT_EQ(mangled([](Frame& f) { put16(f.bytes, f.ip + 2, 19); }), Outcome::Malformed);
  EXPECT_EQ(mangled([](Frame& f) { put16(f.bytes, f.ip + 2, 30); }), Outcome::NotTcpSyn);
  EXPECT_EQ(mangled([](Frame& f) { put16(f.bytes, f.ip + 2, 34); }), Outcome::Malformed);
  // IHL below 5 or beyond the packet; not version 4.
  EXPECT_EQ(mangled([](Frame& f) { f.bytes[f.ip] = 0x44; }), Outcome::Malformed);
  EXPECT_EQ(mangled([](Frame& f) { f.bytes[f.ip] = 0x4f; }, {.options = mss_option(1460)}),
            Outcome::Malformed);
  EXPECT_EQ(mangled([](Frame& f) { f.bytes[f.ip] = 0x65; }), Outcome::Malformed);
  // TCP data offset below 5 or beyond the segment.
  EXPECT_EQ(mangled([](Frame& f) { f.bytes[f.tcp + 12] = 0x40; }), Outcome::Malformed);
  EXPECT_EQ(mangled([](Frame& f) { f.bytes[f.tcp + 12] = 0xf0; }), Outcome::Malformed);
  // The frame cut short, anywhere.
  const Frame whole = build({});
  for (size_t size = 0; size < whole.bytes.size(); ++size) {
    Bytes cut(whole.bytes.begin(), whole.bytes.begin() + static_cast<long>(size));
    const Bytes before = cut;
    EXPECT_NE(clamp(cut, kMtu), Outcome::Clamped) << size;
    EXPECT_EQ(cut, before);
  }
}

// Extension headers in the generic layout: next header, length in 8 octets beyond the first.
Bytes extension(uint8_t next, size_t extra_units = 0) {
  Bytes header(8 + 8 * extra_units, 0);
  header[0] = next;
  header[1] = static_cast<uint8_t>(extra_units);
  header[2] = 1;  // PadN, to keep the options well formed
  header[3] = static_cast<uint8_t>(header.size() - 4);
  return header;
}

TEST(MssClamp, WalksIpv6HopByHopRoutingAndDestinationOptions) {
  Frame frame = build({.family = Family::V6,
                       .extension_headers = join({extension(43), extension(60, 1), extension(6)}),
                       .first_next_header = 0});
  const Frame expected = with_mss(frame, 0, kIpv6Limit);
  ASSERT_EQ(run(frame), Outcome::Clamped);
  EXPECT_EQ(frame.bytes, expected.bytes);
}

TEST(MssClamp, LeavesIpv6FragmentsAhAndUnknownHeadersAlone) {
  for (uint8_t header : {uint8_t{44}, uint8_t{51}, uint8_t{50}, uint8_t{135}}) {
    for (bool behind_hop_by_hop : {false, true}) {
      Bytes chain = join({extension(6)});
      chain[2] = chain[3] = 0;
      if (behind_hop_by_hop) chain = join({extension(header), chain});
      Frame frame = build({.family = Family::V6,
                           .extension_headers = chain,
                           .first_next_header = behind_hop_by_hop ? uint8_t{0} : header});
      const Bytes before = frame.bytes;
      EXPECT_EQ(run(frame), Outcome::NotTcpSyn) << int{header};
      EXPECT_EQ(frame.bytes, before);
    }
  }
  // More extension headers than the clamp walks.
  Bytes chain;
  for (int i = 0; i < 8; ++i) chain = join({chain, extension(60)});
  chain = join({chain, extension(6)});
  Frame frame = build({.family = Family::V6, .extension_headers = chain, .first_next_header = 60});
  const Bytes before = frame.bytes;
  EXPECT_EQ(run(frame), Outcome::NotTcpSyn);
  EXPECT_EQ(frame.bytes, before);
}

TEST(MssClamp, LeavesBadIpv6LengthsAlone) {
  const auto mangled = [](const Spec& spec, auto change) {
    Frame frame = build(spec);
    change(frame);
    const Bytes before = frame.bytes;
    const Outcome outcome = run(frame);
    EXPECT_EQ(frame.bytes, before);
    return outcome;
  };
  const Spec plain{.family = Family::V6};
  const Spec with_header{
      .family = Family::V6, .extension_headers = extension(6, 1), .first_next_header = 60};
  EXPECT_EQ(mangled(plain, [](Frame& f) { put16(f.bytes, f.ip + 4, 2000); }), Outcome::Malformed);
  EXPECT_EQ(mangled(plain, [](Frame& f) { put16(f.bytes, f.ip + 4, 0); }), Outcome::Malformed);
  EXPECT_EQ(mangled(plain, [](Frame& f) { put16(f.bytes, f.ip + 4, 19); }), Outcome::Malformed);
  EXPECT_EQ(mangled(plain, [](Frame& f) { f.bytes[f.ip] = 0x40; }), Outcome::Malformed);
  // An extension header longer than the payload.
  EXPECT_EQ(mangled(with_header, [](Frame& f) { f.bytes[f.ip + 41] = 200; }), Outcome::Malformed);
  const Frame whole = build(with_header);
  for (size_t size = 0; size < whole.bytes.size(); ++size) {
    Bytes cut(whole.bytes.begin(), whole.bytes.begin() + static_cast<long>(size));
    const Bytes before = cut;
    EXPECT_NE(clamp(cut, kMtu), Outcome::Clamped) << size;
    EXPECT_EQ(cut, before);
  }
}

TEST(MssClamp, LeavesOtherTrafficAlone) {
  Frame udp = build({});
  udp.bytes[udp.ip + 9] = 17;
  Bytes arp = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1};
  for (Bytes* frame : {&udp.bytes, &arp}) {
    const Bytes before = *frame;
    EXPECT_EQ(clamp(*frame, kMtu), Outcome::NotTcpSyn);
    EXPECT_EQ(*frame, before);
  }
  Bytes empty;
  EXPECT_EQ(clamp(empty, kMtu), Outcome::NotTcpSyn);
}

TEST(MssClamp, AnMtuTooSmallForTheHeadersChangesNothing) {
  Frame frame = build({});
  const Bytes before = frame.bytes;
  EXPECT_EQ(run(frame, 40), Outcome::Kept);
  EXPECT_EQ(frame.bytes, before);
}

// Random well-formed SYNs: the result must be exactly the frame rebuilt with each MSS lowered
// to the limit and the checksum recomputed in full.
TEST(MssClampRandomized, MatchesAFullRecomputation) {
  std::mt19937 random(20240601);
  std::map<Outcome, int> seen;
  const std::vector<Bytes> others = {kNop,
                                     kSackPermitted,
                                     kWindowScale,
                                     kTimestamps,
                                     Bytes{5, 10, 0, 0, 0, 1, 0, 0, 0, 2},
                                     Bytes{30, 3, 9}};
  for (int round = 0; round < 20000; ++round) {
    Spec spec;
    spec.family = random() % 2 ? Family::V4 : Family::V6;
    spec.flags = static_cast<uint8_t>(kSyn | (random() % 2 ? kAck : 0));
    const size_t tags = random() % 3;
    for (size_t t = 0; t < tags; ++t)
      spec.vlan_types.push_back(t == 0 && tags == 2 ? 0x88a8 : 0x8100);
    spec.options.clear();
    std::vector<std::pair<size_t, uint16_t>> mss_options;  // offset, value
    while (true) {
      const size_t pick = random() % (others.size() + 2);
      if (pick == others.size() + 1) break;
      const uint16_t value = static_cast<uint16_t>(500 + random() % 9000);
      const Bytes option = pick < others.size() ? others[pick] : mss_option(value);
      if (spec.options.size() + option.size() > 40) break;
      if (pick == others.size()) mss_options.emplace_back(spec.options.size(), value);
      spec.options.insert(spec.options.end(), option.begin(), option.end());
    }
    spec.payload.resize(random() % 64, static_cast<uint8_t>(random()));
    const uint32_t mtu = 1280 + random() % 300;

    Frame frame = build(spec);
    Frame expected = frame;
    const uint32_t headers = spec.family == Family::V4 ? 40 : 60;
    const uint32_t limit = mtu - static_cast<uint32_t>(4 * tags) - headers;
    bool lowered = false;
    for (const auto& [offset, value] : mss_options) {
      if (value <= limit) continue;
      expected = with_mss(expected, offset, static_cast<uint16_t>(limit));
      lowered = true;
    }
    const Outcome outcome = run(frame, mtu);
    ++seen[outcome];
    ASSERT_EQ(outcome, mss_options.empty() ? Outcome::NoMss
                       : lowered           ? Outcome::Clamped
                                           : Outcome::Kept);
    ASSERT_EQ(frame.bytes, expected.bytes) << round;
  }
  // Every kind of case came up.
  EXPECT_GT(seen[Outcome::Clamped], 1000);
  EXPECT_GT(seen[Outcome::Kept], 100);
  EXPECT_GT(seen[Outcome::NoMss], 100);
}

// Random damage to random SYNs: the clamp never reads or writes outside the frame (a sanitizer
// build checks reads, canaries around a copy check writes), never changes a frame it does not
// report as clamped, and when it clamps changes no more than the MSS values and the checksum.
TEST(MssClampRandomized, DamagedFramesStayInBoundsAndUntouched) {
  std::mt19937 random(7);
  std::map<Outcome, int> seen;
  constexpr size_t kGuard = 64;
  for (int round = 0; round < 50000; ++round) {
    Spec spec;
    spec.family = random() % 2 ? Family::V4 : Family::V6;
    if (random() % 4 == 0) spec.vlan_types.push_back(0x8100);
    if (spec.family == Family::V6 && random() % 3 == 0) {
      spec.extension_headers = extension(6, random() % 2);
      spec.first_next_header = 60;
    }
    if (random() % 2) spec.options = join({kNop, mss_option(1460), kWindowScale, kNop});
    Frame frame = build(spec);
    Bytes& b = frame.bytes;
    const int damage = 1 + static_cast<int>(random() % 4);
    for (int d = 0; d < damage; ++d) {
      switch (random() % 4) {
        case 0:
          b[random() % b.size()] = static_cast<uint8_t>(random());
          break;
        case 1:
          b[random() % b.size()] ^= static_cast<uint8_t>(1u << (random() % 8));
          break;
        case 2:
          b.resize(random() % (b.size() + 1));
          break;
        default:  // a random length byte in the TCP options or the IP header
          if (b.size() > frame.tcp + 22)
            b[frame.tcp + 21 + random() % (b.size() - frame.tcp - 21)] =
                static_cast<uint8_t>(random() % 48);
          break;
      }
      if (b.empty()) break;
    }

    // An exactly sized copy first: a sanitizer build catches any read past its end.
    Bytes exact = b;
    exact.shrink_to_fit();
    clamp(exact, kMtu);
    Bytes buffer(kGuard, 0xa5);
    buffer.insert(buffer.end(), b.begin(), b.end());
    buffer.insert(buffer.end(), kGuard, 0x5a);
    const Outcome outcome = clamp(std::span(buffer).subspan(kGuard, b.size()), kMtu);
    ++seen[outcome];
    ASSERT_TRUE(
        std::all_of(buffer.begin(), buffer.begin() + kGuard, [](uint8_t x) { return x == 0xa5; }));
    ASSERT_TRUE(
        std::all_of(buffer.end() - kGuard, buffer.end(), [](uint8_t x) { return x == 0x5a; }));
    const Bytes after(buffer.begin() + kGuard, buffer.end() - kGuard);
    ASSERT_EQ(exact, after);
    size_t changed = 0;
    for (size_t i = 0; i < b.size(); ++i) changed += after[i] != b[i];
    if (outcome != Outcome::Clamped) {
      ASSERT_EQ(changed, 0u) << round;
    } else {
      // The checksum and MSS values: the generator puts one at most, the damage (up to four
      // bytes) may forge two more.
      ASSERT_LE(changed, 8u) << round;
      Bytes again = after;
      ASSERT_EQ(clamp(again, kMtu), Outcome::Kept) << round;
      ASSERT_EQ(again, after);
    }
  }
  for (Outcome outcome : {Outcome::NotTcpSyn, Outcome::Malformed, Outcome::NoMss, Outcome::Clamped})
    EXPECT_GT(seen[outcome], 100) << static_cast<int>(outcome);
}

}  // namespace
}  // namespace l2wg::mss
