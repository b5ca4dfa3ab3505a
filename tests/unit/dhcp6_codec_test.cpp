#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "l2wg/bytes.h"
#include "l2wg/dhcp6/message.h"
#include "l2wg/error.h"

namespace l2wg::dhcp6 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Bytes = std::vector<uint8_t>;

// Captured by tests/unit/data/dhcp6_kea_capture.sh from Kea 2.2.0.
Bytes load_capture(const std::string& name) {
  std::ifstream in(std::string(L2WG_TEST_DATA_DIR) + "/" + name);
  EXPECT_TRUE(in) << name;
  return *from_hex(std::string(std::istreambuf_iterator<char>(in), {}));
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

Bytes opt(uint16_t code, const Bytes& body) {
  return cat({{static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code),
               static_cast<uint8_t>(body.size() >> 8), static_cast<uint8_t>(body.size())},
              body});
}

IpAddress v6(const char* text) {
  return *IpAddress::parse(text);
}

Parsed parsed_keeping(const Bytes& packet) {
  auto result = parse(packet);
  if (auto* error = std::get_if<ParseError>(&result)) {
    ADD_FAILURE() << "parse failed: " << error->reason;
    return {};
  }
  return std::get<Parsed>(result);
}

// A packet that parses whole: nothing dropped.
Message parsed(const Bytes& packet) {
  Parsed result = parsed_keeping(packet);
  EXPECT_THAT(result.dropped, IsEmpty());
  return result.message;
}

std::string rejection(const Bytes& packet) {
  auto result = parse(packet);
  if (auto* error = std::get_if<ParseError>(&result)) return error->reason;
  ADD_FAILURE() << "parsed a packet that should be rejected";
  return {};
}

const Duid kClientDuid{*from_hex("0003000102005e100001")};  // DUID-LL 02:00:5e:10:00:01
const Duid kServerDuid{*from_hex("0003000102005e100002")};

// The Solicit sent to Kea for the captures: client id, ORO (DNS, domain list, PD exclude,
// SOL_MAX_RT), elapsed time 0, IA_PD 1 with a /56 hint.
const Bytes kSolicit = *from_hex(
    "01 123456"                             // SOLICIT, transaction id
    "0001 000a 0003000102005e100001"        // client id
    "0006 0008 0017 0018 0043 0052"         // option request
    "0008 0002 0000"                        // elapsed time
    "0019 0029 00000001 00000000 00000000"  // IA_PD 1, T1 0, T2 0
    "  001a 0019 00000000 00000000 38 00000000000000000000000000000000");  // IAPREFIX ::/56

Message solicit() {
  Message m;
  m.type = MessageType::Solicit;
  m.transaction_id = 0x123456;
  m.client_id = kClientDuid;
  m.option_request = {option::kDnsServers, option::kDomainList, option::kPdExclude,
                      option::kSolMaxRt};
  m.elapsed_time = 0;
  IaPrefix hint;
  hint.length = 56;
  IaPd ia;
  ia.iaid = 1;
  ia.prefixes = {hint};
  m.ia_pds = {ia};
  return m;
}

TEST(Dhcp6Codec, EncodesSolicitByteForByte) {
  EXPECT_EQ(encode(solicit()), kSolicit);
  EXPECT_EQ(parsed(kSolicit), solicit());
}

TEST(Dhcp6Codec, EncodesRapidCommitBetweenElapsedTimeAndIaPd) {
  Message m = solicit();
  m.rapid_commit = true;
  const Bytes with_rapid_commit =
      cat({Bytes(kSolicit.begin(), kSolicit.begin() + 36), *from_hex("000e0000"),
           Bytes(kSolicit.begin() + 36, kSolicit.end())});
  EXPECT_EQ(encode(m), with_rapid_commit);
  EXPECT_EQ(parsed(with_rapid_commit), m);
}

// What Kea offered and then committed for the Solicit above (same options in both).
void expect_kea_lease(const Message& m) {
  EXPECT_EQ(m.client_id, kClientDuid);
  EXPECT_EQ(m.server_id, kServerDuid);
  EXPECT_EQ(m.preference, 10);
  EXPECT_EQ(m.dns_servers, (std::vector{v6("2001:db8::53"), v6("2001:db8::54")}));
  EXPECT_EQ(m.domain_search, (std::vector<std::string>{"example.com", "lab.example.org"}));
  EXPECT_EQ(m.sol_max_rt, 3600u);
  EXPECT_FALSE(m.status);
  EXPECT_TRUE(m.unknown.empty());
  ASSERT_EQ(m.ia_pds.size(), 1u);
  const IaPd& ia = m.ia_pds[0];
  EXPECT_EQ(ia.iaid, 1u);
  EXPECT_EQ(ia.t1, 1000u);
  EXPECT_EQ(ia.t2, 2000u);
  EXPECT_FALSE(ia.status);
  ASSERT_EQ(ia.prefixes.size(), 1u);
  const IaPrefix& prefix = ia.prefixes[0];
  EXPECT_EQ(prefix.preferred_lifetime, 3000u);
  EXPECT_EQ(prefix.valid_lifetime, 4000u);
  EXPECT_EQ(prefix.length, 56);
  EXPECT_EQ(prefix.prefix, v6("2001:db8:100::"));
  EXPECT_EQ(prefix.exclude, (IpPrefix{v6("2001:db8:100::"), 64}));
}

// Kea writes options in ascending code order, which is the codec's canonical order, so its
// packets re-encode byte for byte.
TEST(Dhcp6Codec, ParsesKeaAdvertiseAndReencodesItExactly) {
  const Bytes packet = load_capture("dhcp6_kea_advertise.hex");
  const Message m = parsed(packet);
  EXPECT_EQ(m.type, MessageType::Advertise);
  EXPECT_EQ(m.transaction_id, 0x123456u);
  expect_kea_lease(m);
  EXPECT_EQ(encode(m), packet);
}

TEST(Dhcp6Codec, ParsesKeaReplyAndReencodesItExactly) {
  const Bytes packet = load_capture("dhcp6_kea_reply.hex");
  const Message m = parsed(packet);
  EXPECT_EQ(m.type, MessageType::Reply);
  EXPECT_EQ(m.transaction_id, 0xabcdefu);
  expect_kea_lease(m);
  EXPECT_EQ(encode(m), packet);
}

Message everything() {
  Message m;
  m.type = MessageType::Reply;
  m.transaction_id = 0xffffff;
  m.client_id = kClientDuid;
  m.server_id = Duid{Bytes(130, 0xab)};
  IaPrefix first;
  first.preferred_lifetime = 0xffffffff;
  first.valid_lifetime = 7;  // shorter than preferred: parsed as is, not judged
  first.length = 56;
  first.prefix = v6("2001:db8:100:ff00::");
  first.status = Status{status_code::kSuccess, "ok"};
  first.exclude = IpPrefix{v6("2001:db8:100:ff0c::"), 62};
  first.unknown = {{0x1234, {1, 2}}};
  IaPrefix second;
  second.length = 48;
  second.prefix = v6("2001:db8:200::");
  IaPd with_prefixes;
  with_prefixes.iaid = 7;
  with_prefixes.t1 = 9;  // over T2: parsed as is, not judged
  with_prefixes.t2 = 3;
  with_prefixes.prefixes = {first, second};
  IaPd without_prefixes;
  without_prefixes.iaid = 8;
  without_prefixes.status = Status{status_code::kNoPrefixAvail, "none left"};
  without_prefixes.unknown = {{99, {}}};
  m.ia_pds = {with_prefixes, without_prefixes};
  m.preference = 255;
  m.rapid_commit = true;
  m.option_request = {23, 24};
  m.elapsed_time = 0xffff;
  m.sol_max_rt = 120;
  m.inf_max_rt = 86400;
  m.dns_servers = {v6("2001:db8::1")};
  m.domain_search = {"a", std::string(63, 'x') + ".example"};
  m.status = Status{status_code::kUseMulticast, ""};
  m.unknown = {{0, {}}, {20, {}}, {0xffff, Bytes(300, 5)}};
  return m;
}

TEST(Dhcp6Codec, EveryFieldRoundTrips) {
  const Message m = everything();
  const Bytes packet = encode(m);
  EXPECT_EQ(parsed(packet), m);
  EXPECT_EQ(encode(parsed(packet)), packet);
}

TEST(Dhcp6Codec, OtherOptionOrderParsesToTheSameValuesButReencodesCanonically) {
  const Bytes reordered = *from_hex(
      "07000001"
      "000e0000"                      // rapid commit
      "0001000a0003000102005e100001"  // client id
      "0008000200ff");                // elapsed time
  const Message m = parsed(reordered);
  EXPECT_TRUE(m.rapid_commit);
  EXPECT_EQ(m.client_id, kClientDuid);
  EXPECT_EQ(m.elapsed_time, 0xff);
  EXPECT_EQ(encode(m), *from_hex("07000001"
                                "0001000a0003000102005e100001"
                                "0008000200ff"
                                "000e0000"));
}

Bytes reply(std::initializer_list<Bytes> options) {
  Bytes packet = *from_hex("07000001");
  for (const auto& o : options) packet.insert(packet.end(), o.begin(), o.end());
  return packet;
}

Bytes ia_pd(const Bytes& fixed_and_options) {
  return opt(option::kIaPd, fixed_and_options);
}
const Bytes kIaPdFixed = *from_hex("00000001 00000000 00000000");
const Bytes kIaPrefixFixed =
    *from_hex("00000000 00000000 38 20010db8010000000000000000000000");  // 2001:db8:100::/56

struct Rejection {
  const char* name;
  Bytes packet;
  const char* reason;
};

TEST(Dhcp6Codec, RejectsMalformedPacketsWithAReason) {
  const std::vector<Rejection> cases = {
      {"empty", {}, "shorter than the header"},
      {"short header", *from_hex("070000"), "shorter than the header"},
      {"relay-forward", *from_hex("0c000000"), "relay message"},
      {"relay-reply", *from_hex("0d000000"), "relay message"},
      {"type 0", *from_hex("00000000"), "unsupported message type 0"},
      {"leasequery", *from_hex("0e000000"), "unsupported message type 14"},
      {"option header past end", reply({*from_hex("000100")}), "option header truncated"},
      {"option length past end", reply({*from_hex("00010005 0003")}), "runs past the end"},
      {"empty client id", reply({opt(1, {})}), "client DUID is 0 octets"},
      {"server id over 130", reply({opt(2, Bytes(131, 1))}), "server DUID is 131 octets"},
      {"two client ids", reply({opt(1, {1}), opt(1, {2})}), "option 1 appears twice"},
      {"two status codes", reply({opt(13, {0, 0}), opt(13, {0, 0})}), "option 13 appears twice"},
      {"two rapid commits", reply({opt(14, {}), opt(14, {})}), "option 14 appears twice"},
      {"rapid commit with data", reply({opt(14, {1})}), "rapid commit option length 1"},
      {"status code 1 byte", reply({opt(13, {0})}), "status code option shorter than 2"},
      {"IA_PD of 11", reply({ia_pd(Bytes(11))}), "IA_PD shorter than 12 bytes (11)"},
      {"IA_PD sub-option past IA_PD", reply({ia_pd(cat({kIaPdFixed, *from_hex("000d0004 0000")}))}),
       "IA_PD 0x00000001: option 13 length 4 runs past the end"},
      {"IA_PD sub-option header cut", reply({ia_pd(cat({kIaPdFixed, *from_hex("000d00")}))}),
       "IA_PD 0x00000001: option header truncated"},
      {"IA_PD two status codes",
       reply({ia_pd(cat({kIaPdFixed, opt(13, {0, 6}), opt(13, {0, 6})}))}),
       "IA_PD 0x00000001: option 13 appears twice"},
  };
  for (const auto& c : cases) EXPECT_THAT(rejection(c.packet), HasSubstr(c.reason)) << c.name;
}

// An option that only adds to a message (DNS, domain list, preference, SOL_MAX_RT...) or an
// IAPREFIX that cannot be read is dropped alone: the rest of the message is used, and re-encodes
// byte for byte without it.
struct Drop {
  const char* name;
  Bytes broken;  // a message option, or (in_ia_pd) an IA_PD sub-option
  bool in_ia_pd;
  const char* reason;
  Bytes kept = {};  // what re-encodes of `broken`, if anything
};

TEST(Dhcp6Codec, DropsOnlyTheBrokenPart) {
  const Bytes good_prefix = opt(26, kIaPrefixFixed);
  const auto with_prefix = [](const Bytes& exclude) {
    return opt(26, cat({kIaPrefixFixed, exclude}));
  };
  const std::vector<Drop> cases = {
      {"preference length 2", opt(7, {1, 2}), false, "preference option length 2, must be 1"},
      {"preference empty", opt(7, {}), false, "preference option length 0"},
      {"two preferences", cat({opt(7, {1}), opt(7, {2})}), false, "message: option 7 appears twice",
       opt(7, {1})},
      {"elapsed time length 3", opt(8, {1, 2, 3}), false, "elapsed time option length 3"},
      {"SOL_MAX_RT length 2", opt(82, {0, 1}), false, "SOL_MAX_RT option length 2, must be 4"},
      {"INF_MAX_RT length 5", opt(83, Bytes(5)), false, "INF_MAX_RT option length 5"},
      {"odd option request", opt(6, {0, 23, 0}), false, "option request length 3 is odd"},
      {"DNS list of 17", opt(23, Bytes(17)), false, "not a multiple of 16"},
      {"two DNS lists", cat({opt(23, Bytes(16, 1)), opt(23, Bytes(16, 2))}), false,
       "message: option 23 appears twice", opt(23, Bytes(16, 1))},
      {"label of 64", opt(24, cat({{64}, Bytes(64, 'a'), {0}})), false, "label of 64 octets"},
      {"compression pointer", opt(24, *from_hex("01610000 c000")), false, "compression pointer"},
      {"unterminated name", opt(24, *from_hex("0161")), false, "not terminated"},
      {"label past end", opt(24, *from_hex("0561")), false, "label runs past the end"},
      {"label with a dot", opt(24, *from_hex("03612e6200")), false, "contains a '.'"},
      {"name over 255",
       opt(24, cat({{63},
                    Bytes(63, 'a'),
                    {63},
                    Bytes(63, 'b'),
                    {63},
                    Bytes(63, 'c'),
                    {63},
                    Bytes(63, 'd'),
                    {0}})),
       false, "longer than 255"},
      {"two domain lists", cat({opt(24, *from_hex("016100")), opt(24, *from_hex("016200"))}), false,
       "message: option 24 appears twice", opt(24, *from_hex("016100"))},
      {"IAPREFIX of 24", opt(26, Bytes(24)), true,
       "IA_PD 0x00000001: IAPREFIX shorter than 25 bytes (24), IAPREFIX dropped"},
      {"prefix length 129", opt(26, cat({Bytes(8), {129}, Bytes(16)})), true,
       "IA_PD 0x00000001: IAPREFIX ::/129: prefix length over 128, IAPREFIX dropped"},
      {"IAPREFIX sub-option past IAPREFIX", with_prefix(*from_hex("000d0003 0000")), true,
       "IAPREFIX 2001:db8:100::/56: option 13 length 3 runs past the end"},
      {"IAPREFIX bad status", with_prefix(opt(13, {6})), true,
       "IAPREFIX 2001:db8:100::/56: status code option shorter than 2"},
      {"IAPREFIX two status codes", with_prefix(cat({opt(13, {0, 0}), opt(13, {0, 0})})), true,
       "IAPREFIX 2001:db8:100::/56: option 13 appears twice"},
      {"exclude not longer than prefix", with_prefix(opt(67, {56})), true,
       "IAPREFIX 2001:db8:100::/56: prefix exclude length 56 must be over 56"},
      {"exclude over 128", with_prefix(opt(67, cat({{129}, Bytes(10)}))), true,
       "prefix exclude length 129"},
      {"exclude subnet id too long", with_prefix(opt(67, {64, 0, 0})), true,
       "IAPREFIX 2001:db8:100::/56: prefix exclude option length 3, must be 2, IAPREFIX dropped"},
      {"exclude padding bits set", with_prefix(opt(67, {60, 0x01})), true,
       "IAPREFIX 2001:db8:100::/56: prefix exclude subnet ID has non-zero padding bits"},
      {"empty exclude", with_prefix(opt(67, {})), true, "prefix exclude option is empty"},
      {"two excludes", with_prefix(cat({opt(67, {64, 1}), opt(67, {64, 2})})), true,
       "IAPREFIX 2001:db8:100::/56: option 67 appears twice, IAPREFIX dropped"},
  };
  for (const auto& c : cases) {
    const Bytes packet =
        c.in_ia_pd ? reply({ia_pd(cat({kIaPdFixed, good_prefix, c.broken}))}) : reply({c.broken});
    const Bytes kept =
        c.in_ia_pd ? reply({ia_pd(cat({kIaPdFixed, good_prefix}))}) : reply({c.kept});
    const Parsed result = parsed_keeping(packet);
    ASSERT_EQ(result.dropped.size(), 1u) << c.name;
    EXPECT_THAT(result.dropped[0], HasSubstr(c.reason)) << c.name;
    EXPECT_EQ(encode(result.message), kept) << c.name;
    EXPECT_EQ(result.message, parsed(kept)) << c.name;
  }
}

// The example of the audit: a Reply with the DNS option twice and an IA_PD that holds a good
// prefix, one longer than /128 and two whose Prefix Exclude is broken. The good prefix stays, and
// the re-encoding is the packet without the broken parts.
TEST(Dhcp6Codec, KeepsTheGoodPrefixNextToBrokenOnes) {
  const Bytes ids = cat({opt(1, kClientDuid.bytes), opt(2, kServerDuid.bytes)});
  const Bytes good = opt(26, kIaPrefixFixed);
  const Bytes too_long =
      opt(26, *from_hex("00000000 00000000 81 20010db8020000000000000000000000"));
  const Bytes padded_exclude =
      opt(26, cat({*from_hex("00000000 00000000 38 20010db8030000000000000000000000"),
                   opt(67, {60, 0x01})}));
  const Bytes long_exclude =
      opt(26, cat({*from_hex("00000000 00000000 38 20010db8040000000000000000000000"),
                   opt(67, {64, 0, 0})}));
  const IpAddress dns = v6("2001:db8::53");
  const Bytes first_dns = opt(23, Bytes(dns.data(), dns.data() + 16));
  const Bytes packet =
      reply({ids, first_dns, opt(23, Bytes(16, 0x54)),
             ia_pd(cat({kIaPdFixed, good, too_long, padded_exclude, long_exclude}))});

  const Parsed result = parsed_keeping(packet);
  EXPECT_THAT(
      result.dropped,
      ElementsAre(
          "message: option 23 appears twice, option dropped",
          "IA_PD 0x00000001: IAPREFIX 2001:db8:200::/129: prefix length over 128, IAPREFIX dropped",
          "IA_PD 0x00000001: IAPREFIX 2001:db8:300::/56: prefix exclude subnet ID has non-zero "
          "padding bits, IAPREFIX dropped",
          "IA_PD 0x00000001: IAPREFIX 2001:db8:400::/56: prefix exclude option length 3, must be "
          "2, IAPREFIX dropped"));
  EXPECT_EQ(encode(result.message), reply({ids, first_dns, ia_pd(cat({kIaPdFixed, good}))}));
  ASSERT_EQ(result.message.ia_pds.size(), 1u);
  ASSERT_EQ(result.message.ia_pds[0].prefixes.size(), 1u);
  EXPECT_EQ(result.message.ia_pds[0].prefixes[0].prefix, v6("2001:db8:100::"));
  EXPECT_EQ(result.message.dns_servers, std::vector{v6("2001:db8::53")});
}

TEST(Dhcp6Codec, KeepsSemanticOddities) {
  // Preferred > valid, T1 > T2, an unknown status, several IA_PDs with the same IAID: the state
  // machine judges those, the codec reports them faithfully.
  const Bytes packet =
      reply({ia_pd(cat({*from_hex("00000001 00000009 00000003"),
                        opt(26, cat({*from_hex("00000009 00000001 40"), Bytes(16)}))})),
             ia_pd(kIaPdFixed), opt(13, *from_hex("0063 6869"))});
  const Message m = parsed(packet);
  ASSERT_EQ(m.ia_pds.size(), 2u);
  EXPECT_EQ(m.ia_pds[0].t1, 9u);
  EXPECT_EQ(m.ia_pds[0].prefixes.at(0).preferred_lifetime, 9u);
  EXPECT_EQ(m.ia_pds[0].prefixes.at(0).valid_lifetime, 1u);
  EXPECT_EQ(m.ia_pds[1].iaid, 1u);
  EXPECT_EQ(m.status, (Status{99, "hi"}));
}

TEST(Dhcp6Codec, DecodesNonByteAlignedPrefixExclude) {
  // 2001:db8:100::/56 excluding /62 with subnet ID bits 101101 -> 2001:db8:100:b4::/62.
  const Bytes packet =
      reply({ia_pd(cat({kIaPdFixed, opt(26, cat({kIaPrefixFixed, opt(67, {62, 0xb4})}))}))});
  const Message m = parsed(packet);
  EXPECT_EQ(m.ia_pds.at(0).prefixes.at(0).exclude, (IpPrefix{v6("2001:db8:100:b4::"), 62}));
  EXPECT_EQ(encode(m), packet);
}

TEST(Dhcp6Codec, RefusesToEncodeValuesWithoutAWireForm) {
  const auto refuses = [](auto mutate, const char* reason) {
    Message m = solicit();
    mutate(m);
    try {
      encode(m);
      ADD_FAILURE() << "encoded: " << reason;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_THAT(e.what(), HasSubstr(reason));
    }
  };
  refuses([](Message& m) { m.transaction_id = 0x1000000; }, "does not fit in 24 bits");
  refuses([](Message& m) { m.client_id = Duid{}; }, "client DUID is 0 octets");
  refuses([](Message& m) { m.server_id = Duid{Bytes(131)}; }, "server DUID is 131 octets");
  refuses(
      [](Message& m) {
        m.dns_servers = {v6("::1"), *IpAddress::parse("192.0.2.1")};
      },
      "DNS server 192.0.2.1 is not IPv6");
  refuses([](Message& m) { m.ia_pds[0].prefixes[0].prefix = *IpAddress::parse("192.0.2.0"); },
          "IAPREFIX 192.0.2.0 is not IPv6");
  refuses([](Message& m) { m.ia_pds[0].prefixes[0].length = 129; }, "IAPREFIX length 129");
  refuses([](Message& m) { m.domain_search = {"example.com."}; }, "has a label of 0 octets");
  refuses([](Message& m) { m.domain_search = {std::string(64, 'a')}; }, "label of 64 octets");
  refuses(
      [](Message& m) { m.domain_search = {std::string(127, 'a') + "." + std::string(127, 'b')}; },
      "label of 127 octets");
  refuses(
      [](Message& m) {
        std::string name = std::string(63, 'a');
        for (int i = 0; i < 3; ++i) name += "." + std::string(63, 'a');
        m.domain_search = {name};
      },
      "longer than 255 octets");
  refuses([](Message& m) { m.unknown = {{1000, Bytes(65536)}}; }, "more than 65535");
  refuses(
      [](Message& m) {
        m.ia_pds[0].prefixes[0].prefix = v6("2001:db8:100::");
        m.ia_pds[0].prefixes[0].exclude = IpPrefix{v6("2001:db8:200::"), 64};
      },
      "is not a longer prefix inside");
  refuses(
      [](Message& m) {
        m.ia_pds[0].prefixes[0].exclude = IpPrefix{v6("::"), 56};
      },
      "is not a longer prefix inside");
}

// Every truncation and many single-byte corruptions of real packets either parse or are
// rejected cleanly, and whatever parses survives a value round trip.
TEST(Dhcp6Codec, SurvivesTruncationAndCorruption) {
  size_t parsed_count = 0, rejected_count = 0;
  const auto check = [&](const Bytes& packet) {
    auto result = parse(packet);
    if (auto* kept = std::get_if<Parsed>(&result)) {
      ++parsed_count;
      EXPECT_TRUE(parsed(encode(kept->message)) == kept->message)
          << "value round trip differs for " << to_hex(packet);
    } else {
      ++rejected_count;
      EXPECT_FALSE(std::get<ParseError>(result).reason.empty());
    }
  };
  for (const Bytes& original :
       {load_capture("dhcp6_kea_reply.hex"), kSolicit, encode(everything())}) {
    for (size_t length = 0; length <= original.size(); ++length)
      check(Bytes(original.begin(), original.begin() + length));
    for (size_t i = 0; i < original.size(); ++i) {
      for (uint8_t mask : {0x01, 0x10, 0x80, 0xff}) {
        Bytes corrupted = original;
        corrupted[i] ^= mask;
        check(corrupted);
      }
    }
  }
  EXPECT_GT(parsed_count, 0u);
  EXPECT_GT(rejected_count, 0u);
}

}  // namespace
}  // namespace l2wg::dhcp6
