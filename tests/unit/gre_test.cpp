#include "l2wg/bridge/gre.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <vector>

#include "l2wg/error.h"

namespace l2wg::gre {
namespace {

using ::testing::HasSubstr;
using Family = IpAddress::Family;

// A broadcast ARP-looking Ethernet header and three payload bytes (odd length on purpose: the
// checksum pads the last byte).
const std::vector<uint8_t> kFrame = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00,
                                     0x00, 0x00, 0x01, 0x08, 0x06, 0xde, 0xad, 0xbe};

std::vector<uint8_t> concat(std::vector<uint8_t> head, const std::vector<uint8_t>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

wg::PublicKey key_filled(uint8_t first, uint8_t rest) {
  wg::PublicKey key;
  key.fill(rest);
  key[0] = first;
  return key;
}

template <typename F>
ErrorCode error_code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no l2wg::Error thrown";
  return ErrorCode::Io;
}

template <typename F>
std::string error_message_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no l2wg::Error thrown";
  return {};
}

TEST(GreHeader, WritesPlainHeaderAsKernelGretapDoes) {
  std::array<uint8_t, 8> out{};
  const Header header;
  ASSERT_EQ(header_size(header), 4u);
  EXPECT_EQ(write_header(header, out), 4u);
  EXPECT_EQ((std::vector<uint8_t>(out.begin(), out.begin() + 4)),
            (std::vector<uint8_t>{0x00, 0x00, 0x65, 0x58}));
}

TEST(GreHeader, WritesKeyInNetworkOrder) {
  std::array<uint8_t, 8> out{};
  const Header header{.protocol = kTransparentEthernetBridging, .key = 0x01020304};
  ASSERT_EQ(header_size(header), 8u);
  EXPECT_EQ(write_header(header, out), 8u);
  EXPECT_EQ(out, (std::array<uint8_t, 8>{0x20, 0x00, 0x65, 0x58, 0x01, 0x02, 0x03, 0x04}));
}

TEST(GreHeader, WriteRejectsShortBuffer) {
  std::array<uint8_t, 7> out{};
  EXPECT_EQ(error_code_of([&] { write_header(Header{.key = 1}, out); }),
            ErrorCode::InvalidArgument);
}

TEST(GreHeader, ParsesPlainEncapsulation) {
  const auto packet = concat({0x00, 0x00, 0x65, 0x58}, kFrame);
  const auto parsed = parse_header(packet);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, (Parsed{.header = Header{}, .payload_offset = 4}));
  EXPECT_EQ(std::vector<uint8_t>(packet.begin() + parsed->payload_offset, packet.end()), kFrame);
}

TEST(GreHeader, ParsesKey) {
  const auto packet = concat({0x20, 0x00, 0x65, 0x58, 0x00, 0x00, 0x00, 0x2a}, kFrame);
  const auto parsed = parse_header(packet);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, (Parsed{.header = Header{.key = 42}, .payload_offset = 8}));
}

TEST(GreHeader, RoundTripsWhatItWrites) {
  for (const Header& header : {Header{}, Header{.key = 0}, Header{.key = 0xffffffff}}) {
    std::vector<uint8_t> packet(8);
    packet.resize(write_header(header, packet));
    packet = concat(packet, kFrame);
    const auto parsed = parse_header(packet);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->header, header);
    EXPECT_EQ(parsed->payload_offset, header_size(header));
  }
}

// What a peer configured with `ocsum okey oseq` (checksum, key 42, sequence 7) sends.
const std::vector<uint8_t> kChecksumKeySequence =
    concat({0xb0, 0x00, 0x65, 0x58, 0x43, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00,
            0x00, 0x07},
           kFrame);

TEST(GreHeader, AcceptsVerifiedChecksumAndSequence) {
  const auto parsed = parse_header(kChecksumKeySequence);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, (Parsed{.header = Header{.key = 42}, .payload_offset = 16}));
}

TEST(GreHeader, AcceptsChecksumWithoutKey) {
  const auto packet = concat({0x80, 0x00, 0x65, 0x58, 0x73, 0xf1, 0x00, 0x00}, kFrame);
  const auto parsed = parse_header(packet);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, (Parsed{.header = Header{}, .payload_offset = 8}));
}

TEST(GreHeader, RejectsBadChecksum) {
  auto packet = kChecksumKeySequence;
  packet.back() ^= 0x01;
  EXPECT_FALSE(parse_header(packet));
  packet = kChecksumKeySequence;
  packet[5] ^= 0x80;
  EXPECT_FALSE(parse_header(packet));
}

TEST(GreHeader, RejectsVersionOne) {
  // PPTP's enhanced GRE is version 1.
  EXPECT_FALSE(parse_header(concat({0x00, 0x01, 0x65, 0x58}, kFrame)));
}

TEST(GreHeader, RejectsRoutingAndOtherRfc2784Bits) {
  EXPECT_FALSE(parse_header(concat({0x40, 0x00, 0x65, 0x58, 0, 0, 0, 0}, kFrame)));  // R
  EXPECT_FALSE(parse_header(concat({0x08, 0x00, 0x65, 0x58}, kFrame)));  // strict source route
  EXPECT_FALSE(parse_header(concat({0x04, 0x00, 0x65, 0x58}, kFrame)));  // recursion control
}

TEST(GreHeader, IgnoresReservedBitsSixToTwelve) {
  // RFC 2784: sent as zero, ignored on receipt.
  const auto parsed = parse_header(concat({0x03, 0xf8, 0x65, 0x58}, kFrame));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->payload_offset, 4u);
}

TEST(GreHeader, RejectsTruncation) {
  EXPECT_FALSE(parse_header(std::vector<uint8_t>{}));
  EXPECT_FALSE(parse_header(std::vector<uint8_t>{0x00, 0x00, 0x65}));
  EXPECT_FALSE(parse_header(std::vector<uint8_t>{0x20, 0x00, 0x65, 0x58, 0x00, 0x00, 0x00}));
  EXPECT_FALSE(parse_header(std::vector<uint8_t>{0x10, 0x00, 0x65, 0x58}));
  EXPECT_FALSE(parse_header(std::vector<uint8_t>{0x80, 0x00, 0x65, 0x58, 0x9a, 0xa7}));
  // Every prefix of the full option set that cuts an option short.
  for (size_t length = 4; length < 16; ++length) {
    EXPECT_FALSE(parse_header(std::span(kChecksumKeySequence).first(length))) << length;
  }
}

TEST(GreHeader, HeaderWithoutPayloadParses) {
  // An empty payload is the datapath's business (too short for Ethernet), not the codec's.
  const auto parsed = parse_header(std::vector<uint8_t>{0x00, 0x00, 0x65, 0x58});
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->payload_offset, 4u);
}

TEST(GreHeader, ReportsOtherProtocols) {
  const auto parsed = parse_header(concat({0x00, 0x00, 0x08, 0x00}, kFrame));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->header.protocol, 0x0800);
}

TEST(GreOverhead, CountsIpGreKeyAndEthernet) {
  EXPECT_EQ(encapsulation_overhead(Family::V4, false), 38u);
  EXPECT_EQ(encapsulation_overhead(Family::V4, true), 42u);
  EXPECT_EQ(encapsulation_overhead(Family::V6, false), 58u);
  EXPECT_EQ(encapsulation_overhead(Family::V6, true), 62u);
  // The figure the contract measured: ip6gretap over a 1420-byte WireGuard MTU tops out at 1362.
  EXPECT_EQ(1420 - encapsulation_overhead(Family::V6, false), 1362u);
}

constexpr MacFlow kFlow{std::nullopt, "l2-lab"};

TEST(DeriveMac, IsStable) {
  const auto peer = key_filled(1, 0x11);
  const auto local = key_filled(2, 0x22);
  EXPECT_EQ(derive_mac(peer, local, kFlow), derive_mac(peer, local, kFlow));
  EXPECT_EQ(derive_mac(peer, std::nullopt, kFlow), derive_mac(peer, std::nullopt, kFlow));
}

TEST(DeriveMac, IsLocallyAdministeredUnicast) {
  for (int i = 0; i < 256; ++i) {
    const auto mac = derive_mac(key_filled(static_cast<uint8_t>(i), 0x5a), key_filled(0, 0), kFlow);
    EXPECT_EQ(mac.bytes[0] & 0x03, 0x02) << mac.str();
    EXPECT_FALSE(mac.is_multicast());
  }
}

TEST(DeriveMac, DiffersBetweenTheTwoEnds) {
  const auto a = key_filled(1, 0x11);
  const auto b = key_filled(2, 0x22);
  EXPECT_NE(derive_mac(b, a, kFlow), derive_mac(a, b, kFlow));
  // Even when both ends share a key (a misconfiguration), the order keeps the MACs apart from
  // the keyless derivation.
  EXPECT_NE(derive_mac(a, a, kFlow), derive_mac(a, std::nullopt, kFlow));
}

TEST(DeriveMac, DistinctKeysGiveDistinctMacs) {
  std::set<MacAddress> seen;
  const auto local = key_filled(9, 0x99);
  for (int first = 0; first < 64; ++first) {
    for (size_t position : {0u, 7u, 8u, 31u}) {
      wg::PublicKey peer{};
      peer[position] = static_cast<uint8_t>(first + 1);
      seen.insert(derive_mac(peer, local, kFlow));
      seen.insert(derive_mac(peer, std::nullopt, kFlow));
    }
  }
  EXPECT_EQ(seen.size(), 64u * 4u * 2u);
}

// Four tunnels to one peer (each with its own GRE key, or its own tap) get four MACs.
TEST(DeriveMac, DiffersPerTunnelToOnePeer) {
  const auto peer = key_filled(1, 0x11);
  const auto local = key_filled(2, 0x22);
  std::set<MacAddress> seen = {derive_mac(peer, local, {std::nullopt, "l2-a"}),
                               derive_mac(peer, local, {std::nullopt, "l2-b"}),
                               derive_mac(peer, local, {0, "l2-a"}),
                               derive_mac(peer, local, {1, "l2-a"})};
  EXPECT_EQ(seen.size(), 4u);
}

TEST(DeriveMac, LocalKeyMatters) {
  const auto peer = key_filled(1, 0x11);
  EXPECT_NE(derive_mac(peer, key_filled(2, 0x22), kFlow), derive_mac(peer, key_filled(3, 0x22), kFlow));
  EXPECT_NE(derive_mac(peer, key_filled(2, 0x22), kFlow), derive_mac(peer, std::nullopt, kFlow));
}

constexpr MtuPolicy kAuto{};

TEST(Plan, AutoIpv4PrefersKernel) {
  EXPECT_EQ(plan(DatapathChoice::Auto, kAuto, Family::V4, false, 1420, true),
            (Plan{.datapath = DatapathKind::Kernel,
                  .tap_mtu = 1500,
                  .fragment = true,
                  .mss_clamp_mtu = 1382,
                  .note = ""}));
  EXPECT_EQ(plan(DatapathChoice::Kernel, kAuto, Family::V4, true, 1420, true),
            (Plan{.datapath = DatapathKind::Kernel,
                  .tap_mtu = 1500,
                  .fragment = true,
                  .mss_clamp_mtu = 1378,
                  .note = ""}));
}

TEST(Plan, AutoIpv4WithoutKernelGreUsesUserspaceAndSaysSo) {
  const Plan p = plan(DatapathChoice::Auto, kAuto, Family::V4, false, 1420, false);
  EXPECT_EQ(p.datapath, DatapathKind::Userspace);
  EXPECT_EQ(p.tap_mtu, 1500u);
  EXPECT_TRUE(p.fragment);
  EXPECT_THAT(p.note, HasSubstr("userspace"));
}

TEST(Plan, ForcedUserspaceNeedsNoNote) {
  EXPECT_EQ(plan(DatapathChoice::Userspace, kAuto, Family::V4, false, 1420, true),
            (Plan{.datapath = DatapathKind::Userspace,
                  .tap_mtu = 1500,
                  .fragment = true,
                  .mss_clamp_mtu = 1382,
                  .note = ""}));
  EXPECT_EQ(plan(DatapathChoice::Userspace, kAuto, Family::V6, false, 1420, true),
            (Plan{.datapath = DatapathKind::Userspace,
                  .tap_mtu = 1500,
                  .fragment = true,
                  .mss_clamp_mtu = 1362,
                  .note = ""}));
}

// Fragmenting makes every full frame two WireGuard packets: TCP's segments are kept below that,
// whatever the datapath; fixed MTUs and forced kernel ip6gretap (whole frames fit) do not clamp.
TEST(Plan, AutoClampsTheMssToWhatFitsWireGuard) {
  EXPECT_EQ(plan(DatapathChoice::Auto, kAuto, Family::V4, false, 1420, false).mss_clamp_mtu, 1382u);
  EXPECT_EQ(plan(DatapathChoice::Auto, kAuto, Family::V4, true, 1420, false).mss_clamp_mtu, 1378u);
  EXPECT_EQ(plan(DatapathChoice::Auto, kAuto, Family::V6, false, 1420, true).mss_clamp_mtu, 1362u);
  EXPECT_EQ(plan(DatapathChoice::Auto, kAuto, Family::V6, true, 1280, true).mss_clamp_mtu, 1218u);
  EXPECT_EQ(plan(DatapathChoice::Auto, kAuto, Family::V4, false, 1420, true).mss_clamp_mtu, 1382u);
  EXPECT_EQ(plan(DatapathChoice::Kernel, kAuto, Family::V6, false, 1420, true).mss_clamp_mtu,
            std::nullopt);
  EXPECT_EQ(
      plan(DatapathChoice::Userspace, MtuPolicy{1382}, Family::V4, false, 1420, true).mss_clamp_mtu,
      std::nullopt);
}

TEST(Plan, AutoIpv6PicksUserspaceEvenWithKernelGre) {
  for (bool kernel_gre : {true, false}) {
    const Plan p = plan(DatapathChoice::Auto, kAuto, Family::V6, false, 1420, kernel_gre);
    EXPECT_EQ(p.datapath, DatapathKind::Userspace);
    EXPECT_EQ(p.tap_mtu, 1500u);
    EXPECT_TRUE(p.fragment);
    EXPECT_THAT(p.note, HasSubstr("ip6gretap"));
  }
}

TEST(Plan, ForcedKernelIpv6ReducesMtuAndWarns) {
  const Plan p = plan(DatapathChoice::Kernel, kAuto, Family::V6, false, 1420, true);
  EXPECT_EQ(p.datapath, DatapathKind::Kernel);
  EXPECT_EQ(p.tap_mtu, 1362u);
  EXPECT_FALSE(p.fragment);
  EXPECT_THAT(p.note, HasSubstr("1362"));
  EXPECT_EQ(plan(DatapathChoice::Kernel, kAuto, Family::V6, true, 1420, true).tap_mtu, 1358u);
}

TEST(Plan, ForcedKernelIpv6BelowIpv6MinimumFails) {
  const auto message =
      error_message_of([] { plan(DatapathChoice::Kernel, kAuto, Family::V6, false, 1320, true); });
  EXPECT_THAT(message, HasSubstr("1262"));
  EXPECT_EQ(
      error_code_of([] { plan(DatapathChoice::Kernel, kAuto, Family::V6, false, 1320, true); }),
      ErrorCode::InvalidArgument);
}

TEST(Plan, ForcedKernelWithoutKernelGreIsUnsupported) {
  for (Family family : {Family::V4, Family::V6}) {
    for (MtuPolicy mtu : {kAuto, MtuPolicy{1300}}) {
      EXPECT_EQ(
          error_code_of([&] { plan(DatapathChoice::Kernel, mtu, family, false, 1420, false); }),
          ErrorCode::Unsupported);
    }
  }
}

TEST(Plan, FixedMtuThatFitsDoesNotFragment) {
  EXPECT_EQ(plan(DatapathChoice::Auto, MtuPolicy{1382}, Family::V4, false, 1420, true),
            (Plan{.datapath = DatapathKind::Kernel,
                  .tap_mtu = 1382,
                  .fragment = false,
                  .mss_clamp_mtu = std::nullopt,
                  .note = ""}));
  EXPECT_EQ(plan(DatapathChoice::Auto, MtuPolicy{1362}, Family::V6, false, 1420, true),
            (Plan{.datapath = DatapathKind::Kernel,
                  .tap_mtu = 1362,
                  .fragment = false,
                  .mss_clamp_mtu = std::nullopt,
                  .note = ""}));
  EXPECT_EQ(plan(DatapathChoice::Userspace, MtuPolicy{1280}, Family::V6, true, 1420, true),
            (Plan{.datapath = DatapathKind::Userspace,
                  .tap_mtu = 1280,
                  .fragment = false,
                  .mss_clamp_mtu = std::nullopt,
                  .note = ""}));
  const Plan p = plan(DatapathChoice::Auto, MtuPolicy{1300}, Family::V4, true, 1420, false);
  EXPECT_EQ(p.datapath, DatapathKind::Userspace);
  EXPECT_EQ(p.tap_mtu, 1300u);
  EXPECT_FALSE(p.fragment);
  EXPECT_THAT(p.note, HasSubstr("userspace"));
}

TEST(Plan, FixedMtuTooLargeNamesTheNumbers) {
  const auto message = error_message_of(
      [] { plan(DatapathChoice::Auto, MtuPolicy{1450}, Family::V4, false, 1420, true); });
  EXPECT_THAT(message, HasSubstr("MTU=1450 does not fit"));
  EXPECT_THAT(message, HasSubstr("MTU 1420"));
  EXPECT_THAT(message, HasSubstr("at most 1382"));
  EXPECT_THAT(message, HasSubstr("38 bytes"));
  EXPECT_THAT(message, HasSubstr("MTU=auto"));
  EXPECT_EQ(error_code_of(
                [] { plan(DatapathChoice::Auto, MtuPolicy{1383}, Family::V4, false, 1420, true); }),
            ErrorCode::InvalidArgument);
  EXPECT_THAT(error_message_of([] {
                plan(DatapathChoice::Userspace, MtuPolicy{1400}, Family::V6, true, 1420, true);
              }),
              HasSubstr("at most 1358"));
}

TEST(Plan, FixedMtuBelowIpv6MinimumFails) {
  const auto message = error_message_of(
      [] { plan(DatapathChoice::Auto, MtuPolicy{1279}, Family::V4, false, 1420, true); });
  EXPECT_THAT(message, HasSubstr("1280"));
  EXPECT_EQ(error_code_of(
                [] { plan(DatapathChoice::Auto, MtuPolicy{1279}, Family::V4, false, 1420, true); }),
            ErrorCode::InvalidArgument);
}

TEST(Plan, TinyWireGuardMtuDoesNotUnderflow) {
  const auto message = error_message_of(
      [] { plan(DatapathChoice::Auto, MtuPolicy{1280}, Family::V6, false, 40, true); });
  EXPECT_THAT(message, HasSubstr("at most 0"));
}

}  // namespace
}  // namespace l2wg::gre
