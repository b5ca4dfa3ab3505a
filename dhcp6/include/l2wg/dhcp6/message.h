// DHCPv6 wire codec (RFC 8415) for the IA_PD client: the messages and options it sends or reads,
// as plain values. parse() checks every length and never trusts the packet: a packet it cannot
// read comes back as a ParseError with a reason, for the caller to drop and count; a broken part
// the rest does not depend on is left out, with the reason (see parse()). Whether the values make
// sense (preferred > valid, T1 > T2, which options a message type may carry) is for the client
// state machine to decide, not the codec.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "l2wg/ip.h"

namespace l2wg::dhcp6 {

// Client and server message types; relay messages (12, 13) and anything else are refused.
enum class MessageType : uint8_t {
  Solicit = 1,
  Advertise = 2,
  Request = 3,
  Confirm = 4,
  Renew = 5,
  Rebind = 6,
  Reply = 7,
  Release = 8,
  Decline = 9,
  Reconfigure = 10,
  InformationRequest = 11,
};

const char* to_string(MessageType type);

namespace option {
inline constexpr uint16_t kClientId = 1;
inline constexpr uint16_t kServerId = 2;
inline constexpr uint16_t kOptionRequest = 6;
inline constexpr uint16_t kPreference = 7;
inline constexpr uint16_t kElapsedTime = 8;
inline constexpr uint16_t kStatusCode = 13;
inline constexpr uint16_t kRapidCommit = 14;
inline constexpr uint16_t kDnsServers = 23;  // RFC 3646
inline constexpr uint16_t kDomainList = 24;  // RFC 3646
inline constexpr uint16_t kIaPd = 25;
inline constexpr uint16_t kIaPrefix = 26;
inline constexpr uint16_t kPdExclude = 67;  // RFC 6603
inline constexpr uint16_t kSolMaxRt = 82;
inline constexpr uint16_t kInfMaxRt = 83;
}  // namespace option

// Status codes (RFC 8415 §21.13); Status keeps the raw number so unknown codes survive.
namespace status_code {
inline constexpr uint16_t kSuccess = 0;
inline constexpr uint16_t kUnspecFail = 1;
inline constexpr uint16_t kNoAddrsAvail = 2;
inline constexpr uint16_t kNoBinding = 3;
inline constexpr uint16_t kNotOnLink = 4;
inline constexpr uint16_t kUseMulticast = 5;
inline constexpr uint16_t kNoPrefixAvail = 6;
}  // namespace status_code

// Opaque DUID, 1..130 octets (RFC 8415 §11.1).
struct Duid {
  std::vector<uint8_t> bytes;
  bool operator==(const Duid&) const = default;
};

struct Status {
  uint16_t code = status_code::kSuccess;
  std::string message;  // UTF-8 per the RFC; kept as received
  bool operator==(const Status&) const = default;
};

// An option the codec does not interpret, kept so that a round trip loses nothing. parse() lists
// them in ascending code order (the order encode() writes them in), stable for repeated codes.
struct UnknownOption {
  uint16_t code = 0;
  std::vector<uint8_t> data;
  bool operator==(const UnknownOption&) const = default;
};

struct IaPrefix {
  uint32_t preferred_lifetime = 0;
  uint32_t valid_lifetime = 0;
  uint8_t length = 0;
  IpAddress prefix = IpAddress::v6({});
  std::optional<Status> status;
  // RFC 6603 Prefix Exclude, as the full excluded prefix (the wire form only carries the bits
  // past `length`). Read by the client, sent only by servers.
  std::optional<IpPrefix> exclude;
  std::vector<UnknownOption> unknown;
  bool operator==(const IaPrefix&) const = default;
};

struct IaPd {
  uint32_t iaid = 0;
  uint32_t t1 = 0;
  uint32_t t2 = 0;
  std::vector<IaPrefix> prefixes;
  std::optional<Status> status;
  std::vector<UnknownOption> unknown;
  bool operator==(const IaPd&) const = default;
};

// One message. Options appear at most once except IA_PD (and unknown ones); an empty list
// (option_request, dns_servers, domain_search) is the same as the option being absent.
struct Message {
  MessageType type = MessageType::Solicit;
  uint32_t transaction_id = 0;  // 24 bits
  std::optional<Duid> client_id;
  std::optional<Duid> server_id;
  std::vector<IaPd> ia_pds;
  std::optional<uint8_t> preference;
  bool rapid_commit = false;
  std::vector<uint16_t> option_request;
  std::optional<uint16_t> elapsed_time;  // hundredths of a second
  std::optional<uint32_t> sol_max_rt;
  std::optional<uint32_t> inf_max_rt;
  std::vector<IpAddress> dns_servers;      // IPv6 only
  std::vector<std::string> domain_search;  // "example.com", no trailing dot
  std::optional<Status> status;
  std::vector<UnknownOption> unknown;
  bool operator==(const Message&) const = default;
};

// A packet parse() could read: the message, and the parts of the packet left out of it.
struct Parsed {
  Message message;
  // e.g. "IA_PD 0x00000001: IAPREFIX shorter than 25 bytes (24), IAPREFIX dropped"
  std::vector<std::string> dropped;
};

struct ParseError {
  std::string reason;  // e.g. "IA_PD 0x00000001: option 13 appears twice"
};

using ParseResult = std::variant<Parsed, ParseError>;

// Options are written in ascending option-code order (stable for repeated codes such as IA_PD
// and unknown options), at every nesting level. That is the order Kea sends them in (it keeps
// options in a map keyed by code), so encode(parse(p)) == p for Kea's packets and for our own;
// a server using another order still parses to the same values, only the re-encoding differs.
// Throws l2wg::Error(InvalidArgument) for values that have no wire form (a transaction id over
// 24 bits, a DUID of 0 or > 130 octets, a non-IPv6 address, a prefix length over 128, a bad
// domain name, an option over 65535 bytes).
std::vector<uint8_t> encode(const Message& message);

// One broken part does not cost the whole message; it is dropped alone, with the reason:
// - an IAPREFIX that cannot be read (shorter than 25 bytes, a prefix length over 128, options
//   running past its end, a broken or repeated Status Code or Prefix Exclude): the IA_PD and its
//   other prefixes do not depend on it. A broken Prefix Exclude takes its prefix with it: the LANs
//   numbered from it could otherwise use the subnet the server excluded.
// - a broken or repeated option that only adds to the message (Preference, Option Request,
//   Elapsed Time, SOL_MAX_RT, INF_MAX_RT, DNS servers, domain list): the first copy counts, and a
//   broken first copy leaves none.
// The packet is refused for a broken header or option framing (of the message or an IA_PD), and
// for a broken or repeated option the message is identified or judged by: Client or Server
// Identifier, Status Code (of the message or an IA_PD), Rapid Commit, an IA_PD's fixed fields.
ParseResult parse(std::span<const uint8_t> packet);

}  // namespace l2wg::dhcp6
