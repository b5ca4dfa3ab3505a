#include "l2wg/discovery/registry.h"

#include <algorithm>

#include "l2wg/bytes.h"
#include "l2wg/error.h"

namespace l2wg::discovery {
namespace {

constexpr size_t kKeyLabelSize = 56;
constexpr size_t kClassicUdpSize = 512;
constexpr uint8_t kBadVers = 16;  // extended rcode (RFC 6891 §6.1.3)

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string join(std::string_view a, std::string_view b) {
  if (b.empty()) return std::string(a);
  return std::string(a) + "." + std::string(b);
}

// wgsd's SOA for the zone (ns1.ZONE, postmaster.ZONE, serial 1), with TTL and minimum 0 so a
// negative answer is not cached either: an endpoint may appear any second.
dns::Record soa_record(std::string_view zone) {
  const std::string z = lower(zone);
  return {z, dns::type::SOA, dns::kClassIn, 0,
          dns::Soa{join("ns1", z), join("postmaster", z), 1, 86400, 7200, 3600000, 0}};
}

dns::Record address_record(const std::string& name, const Endpoint& endpoint) {
  return {name, endpoint.address.is_v4() ? dns::type::A : dns::type::AAAA, dns::kClassIn, 0,
          endpoint.address};
}

dns::Record txt_record(const std::string& name, const PeerRecord& peer) {
  std::string allowed;
  for (const auto& prefix : peer.allowed_ips) {
    if (!allowed.empty()) allowed += ',';
    allowed += prefix.str();
  }
  std::vector<std::string> strings = {"txtvers=1", "pub=" + dns::base64(peer.key),
                                      "allowed=" + allowed};
  // A TXT string holds 255 octets: a long list of allowed IPs is cut at a comma.
  if (strings[2].size() > 255) {
    strings[2].resize(255);
    strings[2].resize(strings[2].rfind(','));
  }
  return {name, dns::type::TXT, dns::kClassIn, 0, dns::Txt{std::move(strings)}};
}

const dns::Record* find_opt(const dns::Message& query, bool& several) {
  const dns::Record* opt = nullptr;
  several = false;
  for (const auto& r : query.additional)
    if (r.type == dns::type::OPT) {
      if (opt) several = true;
      opt = &r;
    }
  return opt;
}

}  // namespace

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::Answered:
      return "answered";
    case Outcome::NoData:
      return "nodata";
    case Outcome::NxDomain:
      return "nxdomain";
    case Outcome::Refused:
      return "refused";
    case Outcome::Malformed:
      return "malformed";
    case Outcome::NotImplemented:
      return "notimp";
    case Outcome::Ignored:
      return "ignored";
  }
  return "?";
}

std::string instance_label(const Key& key) {
  return lower(dns::base32(key));
}

std::optional<Key> key_from_label(std::string_view label) {
  if (label.size() != kKeyLabelSize) return std::nullopt;
  const auto bytes = dns::from_base32(label);
  if (!bytes || bytes->size() != 32) return std::nullopt;
  Key key;
  std::ranges::copy(*bytes, key.begin());
  return key;
}

std::string service_name(std::string_view zone) {
  return join(kServiceLabels, lower(zone));
}

std::string instance_name(const Key& key, std::string_view zone) {
  return instance_label(key) + "." + service_name(zone);
}

dns::Message respond(const dns::Message& query, std::string_view zone,
                     const std::vector<PeerRecord>& peers, Outcome* outcome_out) {
  dns::Message reply;
  reply.id = query.id;
  // QR, the opcode and RD echoed; AA set below for what the zone answers.
  reply.flags = static_cast<uint16_t>(dns::flag::QR | (query.flags & (0x7800 | dns::flag::RD)));
  reply.questions = query.questions;
  Outcome outcome = Outcome::Answered;
  auto finish = [&](Outcome o, uint8_t rcode) {
    outcome = o;
    reply.set_rcode(rcode);
  };

  bool several_opts = false;
  const dns::Record* opt = find_opt(query, several_opts);

  bool badvers = false;
  if (query.opcode() != 0) {
    finish(Outcome::NotImplemented, dns::rcode::NotImp);
  } else if (query.questions.size() != 1 || several_opts || (opt && !opt->name.empty())) {
    finish(Outcome::Malformed, dns::rcode::FormErr);
  } else if (opt && ((opt->ttl >> 16) & 0xff) != 0) {
    // EDNS version > 0: BADVERS, the upper 8 bits of the rcode in the OPT's TTL.
    badvers = true;
    finish(Outcome::Malformed, kBadVers & 0xf);
  } else {
    const auto& q = query.questions.front();
    const std::string qname = lower(q.name);
    const std::string zone_name = lower(zone);
    if ((q.klass != dns::kClassIn && q.klass != dns::type::ANY) ||
        !dns::in_zone(qname, zone_name)) {
      finish(Outcome::Refused, dns::rcode::Refused);
    } else {
      reply.flags |= dns::flag::AA;
      const bool any = q.type == dns::type::ANY;
      const std::string service = service_name(zone_name);
      bool exists = false;
      if (qname == zone_name) {
        exists = true;
        if (q.type == dns::type::SOA || any) reply.answers.push_back(soa_record(zone_name));
      } else if (qname == service) {
        exists = true;
        if (q.type == dns::type::PTR || any)
          for (const auto& peer : peers)
            if (peer.endpoint)
              reply.answers.push_back({qname, dns::type::PTR, dns::kClassIn, 0,
                                       dns::Ptr{instance_name(peer.key, zone_name)}});
      } else if (qname.size() > service.size() &&
                 qname.compare(qname.size() - service.size(), service.size(), service) == 0 &&
                 qname[qname.size() - service.size() - 1] == '.') {
        const auto label = std::string_view(qname).substr(0, qname.size() - service.size() - 1);
        const auto key = key_from_label(label);
        const auto peer = !key ? peers.end() : std::ranges::find_if(peers, [&](const auto& p) {
          return p.key == *key && p.endpoint;
        });
        if (peer != peers.end()) {
          exists = true;
          const auto& ep = *peer->endpoint;
          const uint16_t addr_type = ep.address.is_v4() ? dns::type::A : dns::type::AAAA;
          if (q.type == dns::type::SRV || any) {
            reply.answers.push_back(
                {qname, dns::type::SRV, dns::kClassIn, 0, dns::Srv{0, 0, ep.port, qname}});
            reply.additional.push_back(address_record(qname, ep));
          }
          if (q.type == addr_type || any) reply.answers.push_back(address_record(qname, ep));
          if (q.type == dns::type::TXT || any) reply.answers.push_back(txt_record(qname, *peer));
          if (any) reply.additional.pop_back();  // the address is already an answer
        }
      }
      if (!exists) {
        finish(Outcome::NxDomain, dns::rcode::NxDomain);
        reply.authority.push_back(soa_record(zone_name));
      } else if (reply.answers.empty()) {
        finish(Outcome::NoData, dns::rcode::NoError);
        reply.authority.push_back(soa_record(zone_name));
      }
    }
  }
  // A query with EDNS gets an OPT back, last in additional as resolvers write it.
  if (opt && !several_opts && opt->name.empty())
    reply.additional.push_back({"", dns::type::OPT, static_cast<uint16_t>(kMaxUdpPayload),
                                badvers ? uint32_t{kBadVers >> 4} << 24 : 0, dns::Opaque{}});
  if (outcome_out) *outcome_out = outcome;
  return reply;
}

Reply answer(std::span<const uint8_t> query, std::string_view zone,
             const std::vector<PeerRecord>& peers, bool tcp) {
  Reply reply;
  if (query.size() < 12) {
    reply.outcome = Outcome::Malformed;  // not even an id to answer to
    return reply;
  }
  if (get_be16(query.data() + 2) & dns::flag::QR) return reply;  // Ignored
  dns::Message response;
  size_t limit = tcp ? 65535 : kClassicUdpSize;
  try {
    const auto parsed = dns::parse(query);
    response = respond(parsed, zone, peers, &reply.outcome);
    bool several = false;
    if (const auto* opt = find_opt(parsed, several); opt && !tcp)
      limit = std::clamp<size_t>(opt->klass, kClassicUdpSize, kMaxUdpPayload);
  } catch (const Error&) {
    // FORMERR with the header alone: the question could not be read.
    response.id = get_be16(query.data());
    response.flags = static_cast<uint16_t>(dns::flag::QR | (get_be16(query.data() + 2) & 0x7900));
    response.set_rcode(dns::rcode::FormErr);
    reply.outcome = Outcome::Malformed;
  }
  try {
    reply.bytes = dns::encode(response, limit);
  } catch (const Error&) {
    // A question over the limit, or a name that has no wire form: answer with the header alone.
    response.questions.clear();
    response.answers.clear();
    response.authority.clear();
    response.additional.clear();
    response.set_rcode(dns::rcode::FormErr);
    reply.outcome = Outcome::Malformed;
    reply.bytes = dns::encode(response, limit);
  }
  reply.truncated = get_be16(reply.bytes.data() + 2) & dns::flag::TC;
  return reply;
}

dns::Message srv_query(uint16_t id, const Key& key, std::string_view zone) {
  dns::Message m;
  m.id = id;
  m.questions.push_back({instance_name(key, zone), dns::type::SRV, dns::kClassIn});
  return m;
}

std::optional<Endpoint> endpoint_from_answer(const dns::Message& answer, const Key& key,
                                             std::string_view zone) {
  const std::string name = instance_name(key, zone);
  if (!answer.is_response() || answer.rcode() != dns::rcode::NoError ||
      answer.questions.size() != 1 || !dns::same_name(answer.questions[0].name, name) ||
      answer.questions[0].type != dns::type::SRV)
    return std::nullopt;
  for (const auto& rec : answer.answers) {
    if (rec.type != dns::type::SRV || !dns::same_name(rec.name, name)) continue;
    const auto* srv = std::get_if<dns::Srv>(&rec.data);
    if (!srv || srv->port == 0) continue;
    for (const auto& extra : answer.additional) {
      if ((extra.type != dns::type::A && extra.type != dns::type::AAAA) ||
          !dns::same_name(extra.name, srv->target))
        continue;
      if (const auto* address = std::get_if<IpAddress>(&extra.data))
        return Endpoint{*address, srv->port};
    }
  }
  return std::nullopt;
}

}  // namespace l2wg::discovery
