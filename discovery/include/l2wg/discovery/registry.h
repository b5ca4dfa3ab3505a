// The registry role: what l2wgd answers, as wgsd (the CoreDNS plugin) does, about the peers of a
// WireGuard interface, in DNS-SD (RFC 6763) records under ZONE:
//   _wireguard._udp.ZONE                PTR  KEY32._wireguard._udp.ZONE  (each peer with an
//   endpoint) KEY32._wireguard._udp.ZONE          SRV  0 0 PORT KEY32._wireguard._udp.ZONE  (+
//   A/AAAA in additional) KEY32._wireguard._udp.ZONE          A or AAAA  the endpoint's address
//   KEY32._wireguard._udp.ZONE          TXT  "txtvers=1" "pub=BASE64" "allowed=IP/LEN,..."
// KEY32 is the public key in base32, lower case, '=' padded (56 characters); queries may use any
// case (wgsd-client asks in upper case). Every TTL is 0 (endpoints change). A name that does not
// exist is NXDOMAIN, a name that exists without the type asked NODATA, both with the zone's SOA in
// authority; a name outside ZONE is REFUSED. Pure: the answer is a function of the query bytes
// and the peers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "l2wg/discovery/dns.h"
#include "l2wg/ip.h"

namespace l2wg::discovery {

using Key = std::array<uint8_t, 32>;

inline constexpr std::string_view kServiceLabels = "_wireguard._udp";
// RFC 6891 §6.2.5: the payload size to offer and accept over UDP, as DNS flag day 2020 advises.
inline constexpr size_t kMaxUdpPayload = 1232;

struct PeerRecord {
  Key key{};
  std::optional<Endpoint> endpoint;
  std::vector<IpPrefix> allowed_ips;

  bool operator==(const PeerRecord&) const = default;
};

// "yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4ha===="
std::string instance_label(const Key& key);
// The key of a 56-character base32 label in either case; nullopt otherwise.
std::optional<Key> key_from_label(std::string_view label);
// "_wireguard._udp.ZONE" and "KEY32._wireguard._udp.ZONE".
std::string service_name(std::string_view zone);
std::string instance_name(const Key& key, std::string_view zone);

// What happened to each datagram or TCP message, for the counters users see.
enum class Outcome {
  Answered,        // NOERROR with records
  NoData,          // NOERROR without (the name exists, not with that type)
  NxDomain,        // the name does not exist in the zone
  Refused,         // outside the zone, or a class other than IN
  Malformed,       // FORMERR answered, or dropped when even the header was unreadable
  NotImplemented,  // an opcode other than QUERY
  Ignored,         // a response (QR set): never answered, so two servers cannot loop
};
const char* to_string(Outcome outcome);

struct Reply {
  Outcome outcome = Outcome::Ignored;
  std::vector<uint8_t> bytes;  // empty: nothing to send
  bool truncated = false;      // TC set: the client should ask again over TCP
};

// The answer to `query` (a DNS message as received, UDP payload or TCP message without its
// length prefix). `tcp`: the answer may be up to 65535 octets; over UDP it is cut to 512 octets
// or the EDNS payload size the query offers (at most kMaxUdpPayload), TC set when answers had to
// go. The zone is given without a trailing dot ("example.com"); "" serves the root.
Reply answer(std::span<const uint8_t> query, std::string_view zone,
             const std::vector<PeerRecord>& peers, bool tcp);

// The same on values, for tests: the response message before encoding.
dns::Message respond(const dns::Message& query, std::string_view zone,
                     const std::vector<PeerRecord>& peers, Outcome* outcome = nullptr);

// The query the discovery client sends for one peer's SRV record (RD clear: the registry is
// authoritative), and what it takes from the answer: the endpoint from the SRV's port and the
// A/AAAA record for the SRV's target in the additional section. nullopt for an answer to another
// question, an error rcode, or records missing. Names compare ignoring case.
dns::Message srv_query(uint16_t id, const Key& key, std::string_view zone);
std::optional<Endpoint> endpoint_from_answer(const dns::Message& answer, const Key& key,
                                             std::string_view zone);

}  // namespace l2wg::discovery
