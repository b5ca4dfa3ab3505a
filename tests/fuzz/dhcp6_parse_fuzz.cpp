// libFuzzer target for the DHCPv6 codec: parse() must survive any bytes, and whatever it accepts
// must survive a round trip: parse(encode(m)) == m with nothing dropped (the parts parse() left out
// have no wire form in m), and encoding that again gives the same bytes. A violation aborts with
// both forms printed: it is a codec bug, not noise.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <variant>
#include <vector>

#include "l2wg/dhcp6/message.h"

namespace {

using l2wg::dhcp6::Message;
using l2wg::dhcp6::Parsed;
using l2wg::dhcp6::ParseError;

void print_hex(const char* what, std::span<const uint8_t> bytes) {
  std::fprintf(stderr, "%s (%zu bytes): ", what, bytes.size());
  for (uint8_t b : bytes) std::fprintf(stderr, "%02x", b);
  std::fprintf(stderr, "\n");
}

[[noreturn]] void finding(const char* what, std::span<const uint8_t> input,
                          std::span<const uint8_t> encoded) {
  std::fprintf(stderr, "dhcp6_parse_fuzz: %s\n", what);
  print_hex("input", input);
  print_hex("encode(parse(input))", encoded);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  const auto parsed = l2wg::dhcp6::parse(input);
  const auto* kept = std::get_if<Parsed>(&parsed);
  if (!kept) {
    if (std::get<ParseError>(parsed).reason.empty())
      finding("a ParseError without a reason", input, {});
    return 0;
  }
  for (const auto& part : kept->dropped)
    if (part.empty()) finding("a part dropped without a reason", input, {});
  const Message& message = kept->message;

  std::vector<uint8_t> encoded;
  try {
    encoded = l2wg::dhcp6::encode(message);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "encode() refused what parse() accepted: %s\n", error.what());
    finding("a parsed message has no wire form", input, {});
  }
  // Every option is re-encoded at its original size, possibly in another order; only empty
  // lists (an empty Option Request, say) and dropped parts disappear, so the packet can only
  // shrink.
  if (encoded.size() > size) finding("the re-encoding is longer than the packet", input, encoded);

  const auto reparsed = l2wg::dhcp6::parse(encoded);
  const auto* reparsed_kept = std::get_if<Parsed>(&reparsed);
  if (!reparsed_kept) {
    std::fprintf(stderr, "reparse: %s\n", std::get<ParseError>(reparsed).reason.c_str());
    finding("parse() refused its own encoding", input, encoded);
  }
  if (!reparsed_kept->dropped.empty()) {
    std::fprintf(stderr, "reparse dropped: %s\n", reparsed_kept->dropped[0].c_str());
    finding("parse() dropped part of its own encoding", input, encoded);
  }
  const Message& again = reparsed_kept->message;
  if (!(again == message)) finding("parse(encode(m)) != m", input, encoded);
  if (l2wg::dhcp6::encode(again) != encoded)
    finding("encoding is not stable: encode(parse(encode(m))) != encode(m)", input, encoded);
  return 0;
}
