// The DNS codec and the registry's answers byte for byte against dnspython's encoding of wgsd's
// README example (tests/unit/data/dns_capture.py wrote dns_wgsd.txt), then name compression,
// truncation and malformed messages.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "l2wg/bytes.h"
#include "l2wg/discovery/dns.h"
#include "l2wg/discovery/registry.h"
#include "l2wg/error.h"

namespace l2wg::discovery {
namespace {

std::map<std::string, std::vector<uint8_t>> captures() {
  std::map<std::string, std::vector<uint8_t>> out;
  std::ifstream in(std::string(L2WG_TEST_DATA_DIR) + "/dns_wgsd.txt");
  std::string name, hex;
  while (in >> name >> hex) out[name] = *from_hex(hex);
  return out;
}

Key key(std::string_view b64) {
  // The README's keys, decoded through base32 of our own to keep the test independent of bridge/.
  static const std::map<std::string_view, std::string_view> kBase32 = {
      {"xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=",
       "yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4ha===="},
      {"syKB97XhGnvC+kynh2KqQJPXoOoOpx/HmpMRTc+r4js=",
       "wmrid55v4enhxqx2jstyoyvkicj5pihkb2tr7r42smiu3t5l4i5q===="},
      {"JeZlz14G8tg1Bqh6apteFCwVhNhpexJ19FDPfuxQtUY=",
       "extglt26a3znqnigvb5gvg26cqwblbgynf5re5pukdhx53cqwvda===="},
  };
  auto k = key_from_label(kBase32.at(b64));
  EXPECT_TRUE(k);
  EXPECT_EQ(dns::base64(*k), b64);
  return *k;
}

std::vector<PeerRecord> readme_peers() {
  return {
      {key("xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4="),
       Endpoint::parse("203.0.113.1:7777"),
       {*IpPrefix::parse("10.0.0.1/32")}},
      {key("syKB97XhGnvC+kynh2KqQJPXoOoOpx/HmpMRTc+r4js="),
       Endpoint::parse("198.51.100.1:8888"),
       {*IpPrefix::parse("10.0.0.2/32")}},
      {key("JeZlz14G8tg1Bqh6apteFCwVhNhpexJ19FDPfuxQtUY="),
       Endpoint::parse("[2001:db8::1]:51820"),
       {*IpPrefix::parse("10.0.0.3/32"), *IpPrefix::parse("fd00::3/128")}},
      // No endpoint: not listed, and its name does not exist.
      {Key{1, 2, 3}, std::nullopt, {*IpPrefix::parse("10.0.0.4/32")}},
  };
}

TEST(DiscoveryDns, Base32AsWgsdWritesKeys) {
  const auto k = key("xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=");
  EXPECT_EQ(instance_label(k), "yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4ha====");
  EXPECT_EQ(key_from_label("YUTRLED535IGKL7BDLERL6M4VJXSXM3UQQPL4NMSN27MT56AD4HA===="), k);
  EXPECT_FALSE(key_from_label("yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4ha==="));
  EXPECT_FALSE(key_from_label("yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4h1===="));
  EXPECT_FALSE(key_from_label("yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4hb===="))
      << "non-zero padding bits";
  EXPECT_EQ(dns::base32(std::vector<uint8_t>{'f', 'o', 'o', 'b', 'a'}), "MZXW6YTB");
  EXPECT_EQ(dns::base32(std::vector<uint8_t>{'f'}), "MY======");
  EXPECT_EQ(dns::base64(std::vector<uint8_t>{'f', 'o'}), "Zm8=");
}

// Every capture parses, and encodes back to the same bytes: names compressed as dnspython does
// (SRV's target whole), sections in order.
TEST(DiscoveryDns, CapturesRoundTripByteForByte) {
  const auto all = captures();
  ASSERT_EQ(all.size(), 17u);
  for (const auto& [name, bytes] : all) {
    SCOPED_TRACE(name);
    const auto message = dns::parse(bytes);
    EXPECT_EQ(to_hex(dns::encode(message)), to_hex(bytes));
  }
}

TEST(DiscoveryDns, ParsesTheSrvAnswer) {
  const auto m = dns::parse(captures().at("srv_response_edns"));
  EXPECT_EQ(m.id, 0x1002);
  EXPECT_TRUE(m.is_response());
  EXPECT_EQ(m.flags & dns::flag::AA, dns::flag::AA);
  ASSERT_EQ(m.answers.size(), 1u);
  const auto name =
      "yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4ha====._wireguard._udp."
      "example.com";
  EXPECT_EQ(m.answers[0],
            (dns::Record{name, dns::type::SRV, dns::kClassIn, 0, dns::Srv{0, 0, 7777, name}}));
  ASSERT_EQ(m.additional.size(), 2u);
  EXPECT_EQ(m.additional[0].data, dns::Rdata(*IpAddress::parse("203.0.113.1")));
  EXPECT_EQ(m.additional[1].type, dns::type::OPT);
  EXPECT_EQ(m.additional[1].klass, 1232);
  EXPECT_EQ(
      endpoint_from_answer(m, key("xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4="), "example.com"),
      Endpoint::parse("203.0.113.1:7777"));
  EXPECT_FALSE(
      endpoint_from_answer(m, key("syKB97XhGnvC+kynh2KqQJPXoOoOpx/HmpMRTc+r4js="), "example.com"));
}

TEST(DiscoveryDns, ClientQueryIsWhatDnspythonWrites) {
  const auto k = key("xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=");
  auto q = srv_query(0x1002, k, "example.com");
  // dnspython asked with EDNS (payload 1232), as dig does; the same OPT makes the same bytes.
  q.additional.push_back({"", dns::type::OPT, 1232, 0, dns::Opaque{}});
  EXPECT_EQ(to_hex(dns::encode(q)), to_hex(captures().at("srv_query_edns")));
}

// The registry answers each of dnspython's queries with exactly dnspython's answer.
TEST(DiscoveryRegistry, AnswersAsWgsdByteForByte) {
  const auto all = captures();
  const auto peers = readme_peers();
  const std::pair<const char*, const char*> pairs[] = {
      {"ptr_query", "ptr_response"},       {"srv_query_edns", "srv_response_edns"},
      {"a_query", "a_response"},           {"txt_query", "txt_response"},
      {"srv6_query", "srv6_response"},     {"nx_query", "nx_response"},
      {"nodata_query", "nodata_response"}, {"refused_query", "refused_response"},
  };
  for (const auto& [query, response] : pairs) {
    SCOPED_TRACE(query);
    const auto reply = answer(all.at(query), "example.com", peers, false);
    EXPECT_EQ(to_hex(reply.bytes), to_hex(all.at(response)));
    EXPECT_FALSE(reply.truncated);
  }
  EXPECT_EQ(answer(all.at("nx_query"), "example.com", peers, false).outcome, Outcome::NxDomain);
  EXPECT_EQ(answer(all.at("nodata_query"), "example.com", peers, false).outcome, Outcome::NoData);
  EXPECT_EQ(answer(all.at("refused_query"), "example.com", peers, false).outcome, Outcome::Refused);
  EXPECT_EQ(answer(all.at("ptr_query"), "example.com", peers, false).outcome, Outcome::Answered);
}

// wgsd-client asks in upper case: the question is echoed as asked, the records in lower case.
TEST(DiscoveryRegistry, AnswersAnyCase) {
  const auto reply = answer(captures().at("srv_query_upper"), "Example.COM", readme_peers(), false);
  const auto m = dns::parse(reply.bytes);
  EXPECT_EQ(m.questions[0].name.substr(0, 4), "YUTR");
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].name.substr(0, 4), "yutr");
  EXPECT_EQ(
      endpoint_from_answer(m, key("xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4="), "example.com"),
      Endpoint::parse("203.0.113.1:7777"));
}

TEST(DiscoveryRegistry, PeerWithoutEndpointDoesNotExist) {
  const auto peers = readme_peers();
  auto q = srv_query(7, peers[3].key, "example.com");
  Outcome outcome;
  const auto r = respond(q, "example.com", peers, &outcome);
  EXPECT_EQ(outcome, Outcome::NxDomain);
  EXPECT_EQ(r.rcode(), dns::rcode::NxDomain);
  ASSERT_EQ(r.authority.size(), 1u);
  EXPECT_EQ(r.authority[0].type, dns::type::SOA);
}

TEST(DiscoveryRegistry, ApexAndAny) {
  const auto peers = readme_peers();
  dns::Message q;
  q.questions.push_back({"example.com", dns::type::SOA, dns::kClassIn});
  auto r = respond(q, "example.com", peers);
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].type, dns::type::SOA);
  q.questions[0] = {instance_name(peers[0].key, "example.com"), dns::type::ANY, dns::kClassIn};
  r = respond(q, "example.com", peers);
  ASSERT_EQ(r.answers.size(), 3u);  // SRV, A, TXT
  EXPECT_TRUE(r.additional.empty());
}

TEST(DiscoveryRegistry, NotImplementedOpcodeAndTwoQuestions) {
  const auto peers = readme_peers();
  dns::Message q;
  q.flags = 2 << 11;  // STATUS
  q.questions.push_back({"example.com", dns::type::SOA, dns::kClassIn});
  Outcome outcome;
  auto r = respond(q, "example.com", peers, &outcome);
  EXPECT_EQ(r.rcode(), dns::rcode::NotImp);
  EXPECT_EQ(outcome, Outcome::NotImplemented);
  q.flags = 0;
  q.questions.push_back(q.questions[0]);
  r = respond(q, "example.com", peers, &outcome);
  EXPECT_EQ(r.rcode(), dns::rcode::FormErr);
  EXPECT_EQ(outcome, Outcome::Malformed);
}

TEST(DiscoveryRegistry, EdnsVersionOneIsBadvers) {
  dns::Message q;
  q.questions.push_back({"example.com", dns::type::SOA, dns::kClassIn});
  q.additional.push_back({"", dns::type::OPT, 1232, 1u << 16, dns::Opaque{}});
  const auto r = respond(q, "example.com", readme_peers());
  EXPECT_EQ(r.rcode(), 0);  // BADVERS is 16: 0 here, 1 in the OPT's extended rcode
  ASSERT_EQ(r.additional.size(), 1u);
  EXPECT_EQ(r.additional[0].ttl >> 24, 1u);
  EXPECT_TRUE(r.answers.empty());
}

TEST(DiscoveryDns, CompressionPointsBackToEarlierSuffixes) {
  dns::Message m;
  m.questions.push_back({"a.example.com", dns::type::PTR, dns::kClassIn});
  m.answers.push_back(
      {"a.example.com", dns::type::PTR, dns::kClassIn, 0, dns::Ptr{"b.example.com"}});
  const auto bytes = dns::encode(m);
  // Header 12 + question (15 + 4) = 31; answer name: pointer to 12; rdata "b" + pointer to 14.
  EXPECT_EQ(to_hex(std::span(bytes).subspan(31)), "c00c000c00010000000000040162c00e");
  EXPECT_EQ(dns::parse(bytes), m);
  // Names that differ only in case are not merged: a round trip keeps them as written.
  m.answers[0].name = "A.example.com";
  EXPECT_EQ(dns::parse(dns::encode(m)), m);
}

TEST(DiscoveryDns, TruncationSetsTcAndKeepsWholeRecords) {
  std::vector<PeerRecord> peers;
  for (uint8_t i = 0; i < 40; ++i)
    peers.push_back({Key{i, 1}, Endpoint{IpAddress::v4({192, 0, 2, i}), 1000}, {}});
  dns::Message q;
  q.id = 9;
  q.questions.push_back({"_wireguard._udp.example.com", dns::type::PTR, dns::kClassIn});
  const auto query = dns::encode(q);
  auto udp = answer(query, "example.com", peers, false);
  EXPECT_TRUE(udp.truncated);
  EXPECT_LE(udp.bytes.size(), 512u);
  const auto m = dns::parse(udp.bytes);
  EXPECT_TRUE(m.flags & dns::flag::TC);
  EXPECT_LT(m.answers.size(), 40u);
  EXPECT_GT(m.answers.size(), 0u);
  auto tcp = answer(query, "example.com", peers, true);
  EXPECT_FALSE(tcp.truncated);
  EXPECT_EQ(dns::parse(tcp.bytes).answers.size(), 40u);
  // EDNS offers more room, up to 1232.
  q.additional.push_back({"", dns::type::OPT, 4096, 0, dns::Opaque{}});
  auto edns = answer(dns::encode(q), "example.com", peers, false);
  EXPECT_TRUE(edns.truncated);
  EXPECT_GT(edns.bytes.size(), 512u);
  EXPECT_LE(edns.bytes.size(), kMaxUdpPayload);
  const auto e = dns::parse(edns.bytes);
  ASSERT_FALSE(e.additional.empty());
  EXPECT_EQ(e.additional.back().type, dns::type::OPT) << "the OPT survives truncation";
}

TEST(DiscoveryDns, AdditionalLeftOutWithoutTc) {
  dns::Message m;
  m.questions.push_back({"example.com", dns::type::A, dns::kClassIn});
  m.answers.push_back(
      {"example.com", dns::type::A, dns::kClassIn, 0, *IpAddress::parse("192.0.2.1")});
  m.additional.push_back(
      {"example.com", dns::type::TXT, dns::kClassIn, 0, dns::Txt{{std::string(200, 'x')}}});
  const auto full = dns::encode(m);
  const auto cut = dns::encode(m, full.size() - 1);
  const auto parsed = dns::parse(cut);
  EXPECT_FALSE(parsed.flags & dns::flag::TC);
  EXPECT_EQ(parsed.answers.size(), 1u);
  EXPECT_TRUE(parsed.additional.empty());
}

TEST(DiscoveryDns, MalformedMessagesAreRefusedWithAReason) {
  const auto good = captures().at("srv_response_edns");
  auto expect_error = [](std::vector<uint8_t> bytes, const std::string& needle) {
    try {
      dns::parse(bytes);
      ADD_FAILURE() << "accepted " << to_hex(bytes);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({1, 2, 3}, "shorter than the 12-octet header");
  for (size_t cut = 12; cut < good.size(); cut += 7)
    expect_error({good.begin(), good.begin() + cut}, "");
  auto extra = good;
  extra.push_back(0);
  expect_error(extra, "after the last record");
  // A pointer to itself, and one forward.
  expect_error(*from_hex("0000 0000 0001 0000 0000 0000 c00c 0001 0001"), "does not point back");
  expect_error(*from_hex("0000 0000 0001 0000 0000 0000 c010 0001 0001 00"), "does not point back");
  // Label type 0x40 (extended labels, never deployed).
  expect_error(*from_hex("0000 0000 0001 0000 0000 0000 4100 0001 0001"), "unknown label type");
  // A label with a dot in it.
  expect_error(*from_hex("0000 0000 0001 0000 0000 0000 0261 2e00 0001 0001"), "'.'");
  // Counts the message cannot hold.
  expect_error(*from_hex("0000 0000 ffff ffff ffff ffff"), "counts more entries");
  // An A record with 5 octets.
  expect_error(*from_hex("0000 8000 0000 0001 0000 0000 00 0001 0001 00000000 0005 0102030405"),
               "not 4");
  // A name over 255 octets through pointers that each add 63 octets.
  std::vector<uint8_t> long_name = *from_hex("0000 0000 0001 0000 0000 0000");
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'a');
  }
  long_name.push_back(0);
  expect_error(long_name, "longer than 255");
}

TEST(DiscoveryRegistry, MalformedQueriesGetFormErrOrNothing) {
  const auto peers = readme_peers();
  auto r = answer(std::vector<uint8_t>{1, 2, 3}, "example.com", peers, false);
  EXPECT_TRUE(r.bytes.empty());
  EXPECT_EQ(r.outcome, Outcome::Malformed);
  // A header and garbage: FORMERR with the id, no question.
  r = answer(*from_hex("abcd 0100 0001 0000 0000 0000 ff"), "example.com", peers, false);
  EXPECT_EQ(r.outcome, Outcome::Malformed);
  EXPECT_EQ(to_hex(r.bytes), "abcd81010000000000000000");
  // A response is never answered.
  r = answer(captures().at("ptr_response"), "example.com", peers, false);
  EXPECT_EQ(r.outcome, Outcome::Ignored);
  EXPECT_TRUE(r.bytes.empty());
}

}  // namespace
}  // namespace l2wg::discovery
