// DNS messages (RFC 1035) as plain values: what the registry answers and what the discovery
// client asks. The codec reads compressed names (pointers only backwards, bounded), writes names
// compressed against every name already in the message, and cuts an answer that does not fit
// (truncation sets TC, RFC 2181 §9). Names are kept as the wire spelled them (case included, so a
// query's question is echoed as it came: DNS 0x20) and compared ignoring ASCII case.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "l2wg/ip.h"

namespace l2wg::dns {

namespace type {
inline constexpr uint16_t A = 1;
inline constexpr uint16_t NS = 2;
inline constexpr uint16_t SOA = 6;
inline constexpr uint16_t PTR = 12;
inline constexpr uint16_t TXT = 16;
inline constexpr uint16_t AAAA = 28;
inline constexpr uint16_t SRV = 33;
inline constexpr uint16_t OPT = 41;
inline constexpr uint16_t ANY = 255;
}  // namespace type
inline constexpr uint16_t kClassIn = 1;

namespace rcode {
inline constexpr uint8_t NoError = 0;
inline constexpr uint8_t FormErr = 1;
inline constexpr uint8_t ServFail = 2;
inline constexpr uint8_t NxDomain = 3;
inline constexpr uint8_t NotImp = 4;
inline constexpr uint8_t Refused = 5;
}  // namespace rcode

// Header flag bits (the 16 bits after the id).
namespace flag {
inline constexpr uint16_t QR = 0x8000;
inline constexpr uint16_t AA = 0x0400;
inline constexpr uint16_t TC = 0x0200;
inline constexpr uint16_t RD = 0x0100;
inline constexpr uint16_t RA = 0x0080;
inline constexpr uint16_t AD = 0x0020;
inline constexpr uint16_t CD = 0x0010;
}  // namespace flag

struct Question {
  std::string name;  // dotted, no trailing dot; "" is the root
  uint16_t type = 0;
  uint16_t klass = kClassIn;

  bool operator==(const Question&) const = default;
};

struct Srv {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;

  bool operator==(const Srv&) const = default;
};

struct Soa {
  std::string mname;
  std::string rname;
  uint32_t serial = 0;
  uint32_t refresh = 0;
  uint32_t retry = 0;
  uint32_t expire = 0;
  uint32_t minimum = 0;

  bool operator==(const Soa&) const = default;
};

struct Ptr {
  std::string target;
  bool operator==(const Ptr&) const = default;
};

struct Txt {
  std::vector<std::string> strings;  // each at most 255 octets
  bool operator==(const Txt&) const = default;
};

// Any other type (and OPT), kept as its bytes.
struct Opaque {
  std::vector<uint8_t> bytes;
  bool operator==(const Opaque&) const = default;
};

// A and AAAA carry an IpAddress of the matching family.
using Rdata = std::variant<IpAddress, Ptr, Srv, Txt, Soa, Opaque>;

struct Record {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = kClassIn;  // OPT: the requester's UDP payload size
  uint32_t ttl = 0;           // OPT: extended rcode, version and flags
  Rdata data;

  bool operator==(const Record&) const = default;
};

struct Message {
  uint16_t id = 0;
  uint16_t flags = 0;  // flag:: bits, opcode (bits 11-14) and rcode (bits 0-3)
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;

  bool is_response() const { return flags & flag::QR; }
  uint8_t opcode() const { return static_cast<uint8_t>((flags >> 11) & 0xf); }
  uint8_t rcode() const { return static_cast<uint8_t>(flags & 0xf); }
  void set_rcode(uint8_t code) { flags = static_cast<uint16_t>((flags & ~0xfu) | (code & 0xfu)); }

  bool operator==(const Message&) const = default;
};

// Reads a whole message. Throws l2wg::Error(InvalidArgument) naming what is wrong: shorter than
// its header, a section or record running past the end, a name pointer that does not point back,
// a name over 255 octets, a label containing '.', rdata of the wrong size for A/AAAA, rdata
// whose names or strings do not fill it exactly, bytes after the last record.
Message parse(std::span<const uint8_t> bytes);

// Writes `message`, names compressed (rdata names too, for the types RFC 3597 allows: PTR, SOA;
// SRV's target is written whole as RFC 2782 asks). When the result would exceed `max_size`, the
// additional records and then the authority and answer records that do not fit are left out, and
// TC is set unless only additional records went (RFC 2181 §9). Throws Error(InvalidArgument)
// for what has no wire form (an empty label, a label over 63 octets, a TXT string over 255, an
// address of the wrong family for its type, a question that does not fit in `max_size`).
std::vector<uint8_t> encode(const Message& message, size_t max_size = 65535);

// ASCII case-insensitive equality of names, as DNS compares them.
bool same_name(std::string_view a, std::string_view b);
// Whether `name` is `zone` or below it (label-wise).
bool in_zone(std::string_view name, std::string_view zone);

// RFC 4648 base32 (upper-case alphabet, '=' padded) and base64, for keys in names and TXT.
std::string base32(std::span<const uint8_t> bytes);
std::string base64(std::span<const uint8_t> bytes);
// Either case; padding required. nullopt for anything else.
std::optional<std::vector<uint8_t>> from_base32(std::string_view text);

}  // namespace l2wg::dns
