#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <variant>
#include <vector>

#include "l2wg/bytes.h"
#include "l2wg/error.h"
#include "l2wg/lan/ra.h"

namespace l2wg::lan {
namespace {

using ::testing::HasSubstr;
using Bytes = std::vector<uint8_t>;

IpPrefix prefix(const char* text) {
  return *IpPrefix::parse(text, true);
}
IpAddress address(const char* text) {
  return *IpAddress::parse(text);
}

RouterAdvertisement full_ra() {
  RouterAdvertisement ra;
  ra.hop_limit = 64;
  ra.other = true;
  ra.preference = RouterPreference::High;
  ra.router_lifetime = 1800;
  ra.source_link_layer = MacAddress::parse("02:00:5e:10:00:01");
  ra.mtu = 1500;
  ra.prefixes.push_back({prefix("2001:db8:100:1::/64"), true, true, 5400, 2700});
  ra.routes.push_back({prefix("2001:db8:100::/56"), RouterPreference::Medium, 1800});
  ra.dns_servers = RecursiveDnsServers{1800, {address("2001:db8::53"), address("2001:db8::54")}};
  ra.search_list = DnsSearchList{1800, {"example.com", "lab.example.org"}};
  return ra;
}

// Written out field by field from RFC 4861 §4.2/§4.6, RFC 4191 §2.3 and RFC 8106 §5.
const char* kFullRa =
    "86 00 0000 40 48 0708 00000000 00000000"  // type, code, checksum, hop limit, O + prf high
    "01 01 02005e100001"                        // source link-layer address
    "05 01 0000 000005dc"                       // MTU 1500
    "03 04 40 c0 00001518 00000a8c 00000000 20010db8010000010000000000000000"  // PIO L+A
    "18 02 38 00 00000708 20010db801000000"     // RIO /56, medium, 8 prefix octets
    "19 05 0000 00000708 20010db8000000000000000000000053 20010db8000000000000000000000054"
    "1f 05 0000 00000708 076578616d706c6503636f6d00 036c6162076578616d706c65036f726700 0000";

TEST(LanRa, EncodesEveryOptionByteForByte) {
  EXPECT_EQ(encode(full_ra()), *from_hex(kFullRa));
}

TEST(LanRa, ParsesWhatItEncodes) {
  const auto parsed = parse_router_advertisement(*from_hex(kFullRa));
  ASSERT_TRUE(std::holds_alternative<RouterAdvertisement>(parsed));
  EXPECT_EQ(std::get<RouterAdvertisement>(parsed), full_ra());
}

TEST(LanRa, DeprecatingRaHasZeroLifetimes) {
  RouterAdvertisement ra;
  ra.prefixes.push_back({prefix("2001:db8:100:1::/64"), true, true, 0, 0});
  EXPECT_EQ(encode(ra), *from_hex("86 00 0000 00 00 0000 00000000 00000000"
                                 "03 04 40 c0 00000000 00000000 00000000 20010db8010000010000000000000000"));
}

TEST(LanRa, RouteInformationUsesTheShortestForm) {
  RouterAdvertisement ra;
  ra.routes.push_back({prefix("::/0"), RouterPreference::Low, 60});
  ra.routes.push_back({prefix("2001:db8:1:2:3::/80"), RouterPreference::Medium, 60});
  const Bytes expected = *from_hex("86 00 0000 00 00 0000 00000000 00000000"
                                  "18 01 00 18 0000003c"
                                  "18 03 50 00 0000003c 20010db8000100020003000000000000");
  EXPECT_EQ(encode(ra), expected);
  EXPECT_EQ(std::get<RouterAdvertisement>(parse_router_advertisement(expected)), ra);
}

TEST(LanRa, RefusesValuesWithoutAWireForm) {
  auto refuses = [](auto change, const char* why) {
    RouterAdvertisement ra = full_ra();
    change(ra);
    try {
      encode(ra);
      ADD_FAILURE() << "encoded: " << why;
    } catch (const Error& error) {
      EXPECT_THAT(error.what(), HasSubstr(why));
    }
  };
  refuses([](auto& ra) { ra.prefixes[0].prefix = prefix("192.0.2.0/24"); }, "not an IPv6 prefix");
  refuses([](auto& ra) { ra.dns_servers->servers = {address("192.0.2.53")}; }, "is not IPv6");
  refuses([](auto& ra) { ra.dns_servers->servers.clear(); }, "RDNSS without a server");
  refuses([](auto& ra) { ra.search_list->domains = {"bad..name"}; }, "label of 0 octets");
  refuses([](auto& ra) { ra.search_list->domains = {""}; }, "empty domain");
}

TEST(LanRa, RefusesMalformedAdvertisements) {
  const std::string header = "86 00 0000 40 00 0708 00000000 00000000";
  struct Case {
    const char* name;
    std::string hex;
    const char* reason;
  };
  const Case cases[] = {
      {"short", "86 00 0000 40 00 0708 0000", "shorter than 16 octets"},
      {"wrong type", "85 00 0000 40 00 0708 00000000 00000000", "is not router advertisement"},
      {"nonzero code", "86 01 0000 40 00 0708 00000000 00000000", "with code 1"},
      {"zero-length option", header + "05 00 0000 000005dc", "length 0"},
      {"option past the end", header + "03 04 40 c0 00001518", "runs past the end"},
      {"truncated option header", header + "05", "option header truncated"},
      {"short PIO", header + "03 01 40c0 00000000", "not 32 octets"},
      {"PIO length 129", header + "03 04 81 c0 00001518 00000a8c 00000000 20010db8010000010000000000000000",
       "over 128"},
      {"RIO too short for its prefix", header + "18 01 40 00 00000708", "does not fit"},
      {"RDNSS without a server", header + "19 01 0000 00000708", "RDNSS option of 8 octets"},
      {"DNSSL label past end", header + "1f 02 0000 00000708 3f61616100000000", "DNSSL: label runs past"},
      {"DNSSL garbage padding", header + "1f 02 0000 00000708 0161000000000001", "padding is not zero"},
      {"two MTU options", header + "05 01 0000 000005dc 05 01 0000 000005dc", "MTU option appears twice"},
      {"odd link-layer option", header + "01 02 02005e100001 0000000000000000", "not 8 octets"},
  };
  for (const auto& c : cases) {
    const auto parsed = parse_router_advertisement(*from_hex(c.hex));
    ASSERT_TRUE(std::holds_alternative<ParseError>(parsed)) << c.name;
    EXPECT_THAT(std::get<ParseError>(parsed).reason, HasSubstr(c.reason)) << c.name;
  }
}

TEST(LanRa, SkipsUnknownOptionsAndReadsReservedPreferenceAsMedium) {
  // Flags 0x10: preference bits 10, reserved (RFC 4191 §2.2). Option 14 (nonce) is not ours.
  const auto parsed = parse_router_advertisement(
      *from_hex("86 00 0000 40 10 0708 00000000 00000000 0e 01 010203040506"));
  ASSERT_TRUE(std::holds_alternative<RouterAdvertisement>(parsed));
  const auto& ra = std::get<RouterAdvertisement>(parsed);
  EXPECT_EQ(ra.preference, RouterPreference::Medium);
  EXPECT_EQ(ra.router_lifetime, 1800);
}

TEST(LanRa, RouterSolicitationRoundTrip) {
  RouterSolicitation rs{MacAddress::parse("02:00:5e:10:00:02")};
  const Bytes wire = *from_hex("85 00 0000 00000000 01 01 02005e100002");
  EXPECT_EQ(encode(rs), wire);
  EXPECT_EQ(std::get<RouterSolicitation>(parse_router_solicitation(wire)), rs);
  EXPECT_EQ(std::get<RouterSolicitation>(parse_router_solicitation(*from_hex("85 00 0000 00000000"))),
            RouterSolicitation{});
  const auto short_rs = parse_router_solicitation(*from_hex("85 00 0000"));
  ASSERT_TRUE(std::holds_alternative<ParseError>(short_rs));
  EXPECT_THAT(std::get<ParseError>(short_rs).reason, HasSubstr("shorter than 8 octets"));
}

TEST(LanRa, NeighborSolicitationRoundTrip) {
  const NeighborSolicitation ns{*IpAddress::parse("fe80::1"),
                                MacAddress::parse("02:00:5e:10:00:02")};
  const Bytes wire =
      *from_hex("87 00 0000 00000000 fe800000000000000000000000000001 01 01 02005e100002");
  EXPECT_EQ(encode(ns), wire);
  EXPECT_EQ(std::get<NeighborSolicitation>(parse_neighbor_solicitation(wire)), ns);
  EXPECT_THROW(encode(NeighborSolicitation{*IpAddress::parse("192.0.2.1"), std::nullopt}), Error);
}

TEST(LanRa, NeighborAdvertisementRoundTrip) {
  // As Linux answers a unicast probe from a router: R and S, not O, with its link-layer address.
  const NeighborAdvertisement na{true, true, false, *IpAddress::parse("fe80::1"),
                                 MacAddress::parse("02:00:5e:10:00:01")};
  const Bytes wire =
      *from_hex("88 00 0000 c0000000 fe800000000000000000000000000001 02 01 02005e100001");
  EXPECT_EQ(encode(na), wire);
  EXPECT_EQ(std::get<NeighborAdvertisement>(parse_neighbor_advertisement(wire)), na);
  const NeighborAdvertisement unsolicited{false, false, true, *IpAddress::parse("fe80::2"),
                                          std::nullopt};
  EXPECT_EQ(std::get<NeighborAdvertisement>(parse_neighbor_advertisement(encode(unsolicited))),
            unsolicited);
}

TEST(LanRa, NeighborMessagesThatMustBeDiscarded) {
  auto reason = [](const char* hex) {
    const auto parsed = parse_neighbor_advertisement(*from_hex(hex));
    return std::holds_alternative<ParseError>(parsed) ? std::get<ParseError>(parsed).reason
                                                      : std::string("accepted");
  };
  EXPECT_THAT(reason("88 00 0000 c0000000 fe80000000000000"), HasSubstr("shorter than 24"));
  EXPECT_THAT(reason("88 01 0000 c0000000 fe800000000000000000000000000001"), HasSubstr("code 1"));
  EXPECT_THAT(reason("87 00 0000 00000000 fe800000000000000000000000000001"),
              HasSubstr("not neighbor advertisement"));
  EXPECT_THAT(reason("88 00 0000 c0000000 ff020000000000000000000000000001"),
              HasSubstr("multicast"));
  EXPECT_THAT(reason("88 00 0000 c0000000 fe800000000000000000000000000001 02 00"),
              HasSubstr("length 0"));
  EXPECT_THAT(reason("88 00 0000 c0000000 fe800000000000000000000000000001 02 02 02005e100001"),
              HasSubstr("runs past the end"));
  EXPECT_THAT(reason("88 00 0000 c0000000 fe800000000000000000000000000001 "
                     "02 01 02005e100001 02 01 02005e100001"),
              HasSubstr("twice"));
}

}  // namespace
}  // namespace l2wg::lan
