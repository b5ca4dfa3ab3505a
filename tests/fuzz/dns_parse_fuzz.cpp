// libFuzzer target for the DNS codec and the registry's answers (discovery/): parse() survives any
// bytes and whatever it accepts survives a round trip (parse(encode(m)) == m, and encoding that
// again gives the same bytes); answer() to any query, over UDP and TCP, never throws, stays within
// its size limit and is itself a message parse() accepts. A violation aborts with the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string_view>
#include <vector>

#include "l2wg/discovery/dns.h"
#include "l2wg/discovery/registry.h"
#include "l2wg/error.h"

namespace {

using namespace l2wg;

[[noreturn]] void finding(const char* what, std::span<const uint8_t> input) {
  std::fprintf(stderr, "dns_parse_fuzz: %s\ninput (%zu bytes): ", what, input.size());
  for (uint8_t b : input) std::fprintf(stderr, "%02x", b);
  std::fprintf(stderr, "\n");
  std::abort();
}

// Legacy types whose rdata may hold compressed names the codec keeps as opaque bytes (MB, MG,
// MR, MINFO, MX): their bytes cannot move, so the round trip is not asked of them.
bool opaque_names(const dns::Message& m) {
  for (const auto* section : {&m.answers, &m.authority, &m.additional})
    for (const auto& r : *section)
      if (r.type == 7 || r.type == 8 || r.type == 9 || r.type == 14 || r.type == 15) return true;
  return false;
}

const std::vector<discovery::PeerRecord>& peers() {
  static const std::vector<discovery::PeerRecord> p = {
      {discovery::Key{1}, Endpoint::parse("203.0.113.1:7777"), {*IpPrefix::parse("10.0.0.1/32")}},
      {discovery::Key{2},
       Endpoint::parse("[2001:db8::1]:51820"),
       {*IpPrefix::parse("10.0.0.2/32")}},
      {discovery::Key{3}, std::nullopt, {}},
  };
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  for (const bool tcp : {false, true}) {
    discovery::Reply reply;
    try {
      reply = discovery::answer(input, "example.com", peers(), tcp);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "answer() threw: %s\n", e.what());
      finding("answer() threw", input);
    }
    if (reply.bytes.size() > (tcp ? 65535u : discovery::kMaxUdpPayload))
      finding("answer over its size limit", input);
    if (!reply.bytes.empty()) try {
        dns::parse(reply.bytes);
      } catch (const l2wg::Error& e) {
        std::fprintf(stderr, "reparse of the answer: %s\n", e.what());
        finding("answer() wrote what parse() refuses", input);
      }
  }

  dns::Message message;
  try {
    message = dns::parse(input);
  } catch (const l2wg::Error&) {
    return 0;
  }
  if (opaque_names(message)) return 0;
  std::vector<uint8_t> encoded;
  try {
    encoded = dns::encode(message);
  } catch (const l2wg::Error& e) {
    // Pointers into the middle of labels make names no suffix of ours can compress: the
    // questions alone may then exceed 65535 octets. Nothing else may be refused.
    if (std::string_view(e.what()).find("the question alone exceeds") != std::string_view::npos)
      return 0;
    std::fprintf(stderr, "encode(): %s\n", e.what());
    finding("encode() refused what parse() accepted", input);
  }
  if (encoded.size() > 65535) finding("encoding over 65535 octets", input);
  dns::Message again;
  try {
    again = dns::parse(encoded);
  } catch (const l2wg::Error& e) {
    std::fprintf(stderr, "reparse: %s\n", e.what());
    finding("parse() refused its own encoding", input);
  }
  // Cut to 65535 octets (TC set by encode()): records are missing, by design.
  const bool cut = (again.flags & dns::flag::TC) && !(message.flags & dns::flag::TC);
  if (!cut && !(again == message)) finding("parse(encode(m)) != m", input);
  if (dns::encode(again) != encoded) finding("encode(parse(encode(m))) != encode(m)", input);
  return 0;
}
