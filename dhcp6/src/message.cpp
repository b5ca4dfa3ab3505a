#include "l2wg/dhcp6/message.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "l2wg/bytes.h"
#include "l2wg/dns_name.h"
#include "l2wg/error.h"

namespace l2wg::dhcp6 {
namespace {

constexpr size_t kHeaderSize = 4;          // msg-type, transaction-id
constexpr size_t kOptionHeaderSize = 4;    // option-code, option-len
constexpr size_t kIaPdFixedSize = 12;      // IAID, T1, T2
constexpr size_t kIaPrefixFixedSize = 25;  // preferred, valid, prefix-length, IPv6 prefix
constexpr size_t kMaxDuidSize = 130;
constexpr uint32_t kMaxTransactionId = 0xffffff;

// The message-level options the codec interprets that may appear only once (all but IA_PD).
constexpr std::array<uint16_t, 11> kSingletonOptions = {
    option::kClientId,      option::kServerId,    option::kPreference, option::kRapidCommit,
    option::kOptionRequest, option::kElapsedTime, option::kSolMaxRt,   option::kInfMaxRt,
    option::kDnsServers,    option::kDomainList,  option::kStatusCode};
// Those that only add to the message: broken or repeated, they are dropped alone (see parse()).
constexpr std::array<uint16_t, 7> kDroppableOptions = {
    option::kPreference, option::kOptionRequest, option::kElapsedTime, option::kSolMaxRt,
    option::kInfMaxRt,   option::kDnsServers,    option::kDomainList};

std::string hex32(uint32_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) out += kDigits[(value >> shift) & 0xf];
  return out;
}

// ---- encoding ----

// Ascending option code, stable for repeated codes: the order encode() writes options in. parse()
// sorts unknown options the same way so that parse(encode(m)) == m for every m it returns.
void sort_by_code(std::vector<UnknownOption>& options) {
  std::stable_sort(options.begin(), options.end(),
                   [](const auto& a, const auto& b) { return a.code < b.code; });
}

[[noreturn]] void unencodable(const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, "cannot encode DHCPv6 message: " + what);
}

void put_bytes(std::vector<uint8_t>& out, const uint8_t* data, size_t size) {
  out.insert(out.end(), data, data + size);
}

void put_v6(std::vector<uint8_t>& out, const IpAddress& address, std::string_view what) {
  if (!address.is_v6()) unencodable(std::string(what) + " " + address.str() + " is not IPv6");
  put_bytes(out, address.data(), 16);
}

// Collects the options of one level and writes them in ascending code order (see encode()).
class OptionWriter {
 public:
  void add(uint16_t code, std::vector<uint8_t> body) {
    options_.push_back({code, std::move(body)});
  }
  void add_unknown(const std::vector<UnknownOption>& unknown) {
    options_.insert(options_.end(), unknown.begin(), unknown.end());
  }
  void write_to(std::vector<uint8_t>& out) {
    sort_by_code(options_);
    for (const auto& option : options_) {
      if (option.data.size() > UINT16_MAX)
        unencodable("option " + std::to_string(option.code) + " is " +
                    std::to_string(option.data.size()) + " bytes, more than 65535");
      put_be16(out, option.code);
      put_be16(out, static_cast<uint16_t>(option.data.size()));
      put_bytes(out, option.data.data(), option.data.size());
    }
  }

 private:
  std::vector<UnknownOption> options_;
};

std::vector<uint8_t> duid_body(const Duid& duid, std::string_view what) {
  if (duid.bytes.empty() || duid.bytes.size() > kMaxDuidSize)
    unencodable(std::string(what) + " DUID is " + std::to_string(duid.bytes.size()) +
                " octets, must be 1..130");
  return duid.bytes;
}

std::vector<uint8_t> status_body(const Status& status) {
  std::vector<uint8_t> body;
  put_be16(body, status.code);
  put_bytes(body, reinterpret_cast<const uint8_t*>(status.message.data()), status.message.size());
  return body;
}

// The bits of `exclude` past the delegated prefix length, left-aligned (RFC 6603 §4.2).
std::vector<uint8_t> pd_exclude_body(const IaPrefix& prefix) {
  const IpPrefix& exclude = *prefix.exclude;
  if (!exclude.address.is_v6() || exclude.length <= prefix.length || exclude.length > 128 ||
      exclude.address.masked(exclude.length) != exclude.address ||
      exclude.address.masked(prefix.length) != prefix.prefix.masked(prefix.length))
    unencodable("prefix exclude " + exclude.str() + " is not a longer prefix inside " +
                prefix.prefix.str() + "/" + std::to_string(prefix.length));
  const unsigned bits = exclude.length - prefix.length;
  std::vector<uint8_t> body{exclude.length};
  body.resize(1 + (bits + 7) / 8, 0);
  for (unsigned i = 0; i < bits; ++i) {
    const unsigned from = prefix.length + i;
    if (exclude.address.data()[from / 8] & (0x80 >> (from % 8))) body[1 + i / 8] |= 0x80 >> (i % 8);
  }
  return body;
}

std::vector<uint8_t> ia_prefix_body(const IaPrefix& prefix) {
  if (prefix.length > 128)
    unencodable("IAPREFIX length " + std::to_string(prefix.length) + " is over 128");
  std::vector<uint8_t> body;
  put_be32(body, prefix.preferred_lifetime);
  put_be32(body, prefix.valid_lifetime);
  body.push_back(prefix.length);
  put_v6(body, prefix.prefix, "IAPREFIX");
  OptionWriter options;
  if (prefix.status) options.add(option::kStatusCode, status_body(*prefix.status));
  if (prefix.exclude) options.add(option::kPdExclude, pd_exclude_body(prefix));
  options.add_unknown(prefix.unknown);
  options.write_to(body);
  return body;
}

std::vector<uint8_t> ia_pd_body(const IaPd& ia) {
  std::vector<uint8_t> body;
  put_be32(body, ia.iaid);
  put_be32(body, ia.t1);
  put_be32(body, ia.t2);
  OptionWriter options;
  if (ia.status) options.add(option::kStatusCode, status_body(*ia.status));
  for (const auto& prefix : ia.prefixes) options.add(option::kIaPrefix, ia_prefix_body(prefix));
  options.add_unknown(ia.unknown);
  options.write_to(body);
  return body;
}

std::vector<uint8_t> u32_body(uint32_t value) {
  std::vector<uint8_t> body;
  put_be32(body, value);
  return body;
}

// ---- parsing ----

// Thrown inside the parser only; parse() turns it into a ParseError.
struct Malformed {
  std::string reason;
};

[[noreturn]] void malformed(std::string reason) {
  throw Malformed{std::move(reason)};
}

// The parts parse() leaves out, each with the reason.
using Dropped = std::vector<std::string>;

// Runs read(); what it finds malformed costs only the part it reads (`what`), not the packet.
template <typename F>
void drop_if_malformed(Dropped& dropped, const char* what, F&& read) {
  try {
    read();
  } catch (const Malformed& error) {
    dropped.push_back(error.reason + ", " + what + " dropped");
  }
}

IpAddress get_v6(const uint8_t* p) {
  std::array<uint8_t, 16> bytes;
  std::memcpy(bytes.data(), p, bytes.size());
  return IpAddress::v6(bytes);
}

// Calls f(code, body) for each option in `area`; `where` names the level for error messages.
template <typename F>
void for_each_option(std::span<const uint8_t> area, const std::string& where, F&& f) {
  while (!area.empty()) {
    if (area.size() < kOptionHeaderSize)
      malformed(where + ": option header truncated (" + std::to_string(area.size()) +
                " bytes left)");
    const uint16_t code = get_be16(area.data());
    const uint16_t length = get_be16(area.data() + 2);
    if (length > area.size() - kOptionHeaderSize)
      malformed(where + ": option " + std::to_string(code) + " length " + std::to_string(length) +
                " runs past the end (" + std::to_string(area.size() - kOptionHeaderSize) +
                " bytes left)");
    f(code, area.subspan(kOptionHeaderSize, length));
    area = area.subspan(kOptionHeaderSize + length);
  }
}

// Refuses a second copy of an option that may appear once at this level.
class SingletonGuard {
 public:
  explicit SingletonGuard(std::string where) : where_(std::move(where)) {}
  void see(uint16_t code) {
    if (std::find(seen_.begin(), seen_.end(), code) != seen_.end())
      malformed(where_ + ": option " + std::to_string(code) + " appears twice");
    seen_.push_back(code);
  }

 private:
  std::string where_;
  std::vector<uint16_t> seen_;
};

void expect_length(std::span<const uint8_t> body, size_t length, std::string_view name) {
  if (body.size() != length)
    malformed(std::string(name) + " length " + std::to_string(body.size()) + ", must be " +
              std::to_string(length));
}

Duid parse_duid(std::span<const uint8_t> body, const char* name) {
  if (body.empty() || body.size() > kMaxDuidSize)
    malformed(std::string(name) + " DUID is " + std::to_string(body.size()) +
              " octets, must be 1..130");
  return Duid{{body.begin(), body.end()}};
}

Status parse_status(std::span<const uint8_t> body, const std::string& where) {
  if (body.size() < 2)
    malformed(where + ": status code option shorter than 2 bytes (" + std::to_string(body.size()) +
              ")");
  return Status{get_be16(body.data()), std::string(body.begin() + 2, body.end())};
}

std::vector<std::string> parse_domain_list(std::span<const uint8_t> body) {
  std::vector<std::string> names;
  try {
    for (size_t pos = 0; pos < body.size();) names.push_back(read_dns_name(body, pos));
  } catch (const Error& error) {
    malformed(std::string("domain list: ") + error.what());
  }
  return names;
}

std::optional<IpPrefix> parse_pd_exclude(std::span<const uint8_t> body, const IaPrefix& parent,
                                         const std::string& where) {
  if (body.empty()) malformed(where + ": prefix exclude option is empty");
  const uint8_t length = body[0];
  if (length <= parent.length || length > 128)
    malformed(where + ": prefix exclude length " + std::to_string(length) + " must be over " +
              std::to_string(parent.length) + " and at most 128");
  const unsigned bits = length - parent.length;
  expect_length(body, 1 + (bits + 7) / 8, where + ": prefix exclude option");
  // Padding bits after the subnet ID must be zero, or a round trip would not be exact.
  if (bits % 8 != 0 && (body.back() & (0xff >> (bits % 8))) != 0)
    malformed(where + ": prefix exclude subnet ID has non-zero padding bits");
  std::array<uint8_t, 16> bytes;
  std::memcpy(bytes.data(), parent.prefix.masked(parent.length).data(), bytes.size());
  for (unsigned i = 0; i < bits; ++i) {
    const unsigned to = parent.length + i;
    if (body[1 + i / 8] & (0x80 >> (i % 8)))
      bytes[to / 8] |= static_cast<uint8_t>(0x80 >> (to % 8));
  }
  return IpPrefix{IpAddress::v6(bytes), length};
}

IaPrefix parse_ia_prefix(std::span<const uint8_t> body, const std::string& parent) {
  if (body.size() < kIaPrefixFixedSize)
    malformed(parent + ": IAPREFIX shorter than 25 bytes (" + std::to_string(body.size()) + ")");
  IaPrefix prefix;
  prefix.preferred_lifetime = get_be32(body.data());
  prefix.valid_lifetime = get_be32(body.data() + 4);
  prefix.length = body[8];
  prefix.prefix = get_v6(body.data() + 9);
  const std::string where =
      parent + ": IAPREFIX " + prefix.prefix.str() + "/" + std::to_string(prefix.length);
  if (prefix.length > 128) malformed(where + ": prefix length over 128");
  SingletonGuard once(where);
  for_each_option(body.subspan(kIaPrefixFixedSize), where, [&](uint16_t code, auto data) {
    switch (code) {
      case option::kStatusCode:
        once.see(code);
        prefix.status = parse_status(data, where);
        break;
      case option::kPdExclude:
        once.see(code);
        prefix.exclude = parse_pd_exclude(data, prefix, where);
        break;
      default:
        prefix.unknown.push_back({code, {data.begin(), data.end()}});
    }
  });
  sort_by_code(prefix.unknown);
  return prefix;
}

IaPd parse_ia_pd(std::span<const uint8_t> body, Dropped& dropped) {
  if (body.size() < kIaPdFixedSize)
    malformed("IA_PD shorter than 12 bytes (" + std::to_string(body.size()) + ")");
  IaPd ia;
  ia.iaid = get_be32(body.data());
  ia.t1 = get_be32(body.data() + 4);
  ia.t2 = get_be32(body.data() + 8);
  const std::string where = "IA_PD " + hex32(ia.iaid);
  SingletonGuard once(where);
  for_each_option(body.subspan(kIaPdFixedSize), where, [&](uint16_t code, auto data) {
    switch (code) {
      case option::kStatusCode:
        once.see(code);
        ia.status = parse_status(data, where);
        break;
      case option::kIaPrefix:
        drop_if_malformed(dropped, "IAPREFIX",
                          [&] { ia.prefixes.push_back(parse_ia_prefix(data, where)); });
        break;
      default:
        ia.unknown.push_back({code, {data.begin(), data.end()}});
    }
  });
  sort_by_code(ia.unknown);
  return ia;
}

void parse_option(Message& m, uint16_t code, std::span<const uint8_t> data, Dropped& dropped) {
  switch (code) {
    case option::kClientId:
      m.client_id = parse_duid(data, "client");
      break;
    case option::kServerId:
      m.server_id = parse_duid(data, "server");
      break;
    case option::kIaPd:
      m.ia_pds.push_back(parse_ia_pd(data, dropped));
      break;
    case option::kPreference:
      expect_length(data, 1, "preference option");
      m.preference = data[0];
      break;
    case option::kRapidCommit:
      expect_length(data, 0, "rapid commit option");
      m.rapid_commit = true;
      break;
    case option::kOptionRequest:
      if (data.size() % 2 != 0)
        malformed("option request length " + std::to_string(data.size()) + " is odd");
      for (size_t i = 0; i < data.size(); i += 2) m.option_request.push_back(get_be16(&data[i]));
      break;
    case option::kElapsedTime:
      expect_length(data, 2, "elapsed time option");
      m.elapsed_time = get_be16(data.data());
      break;
    case option::kSolMaxRt:
      expect_length(data, 4, "SOL_MAX_RT option");
      m.sol_max_rt = get_be32(data.data());
      break;
    case option::kInfMaxRt:
      expect_length(data, 4, "INF_MAX_RT option");
      m.inf_max_rt = get_be32(data.data());
      break;
    case option::kDnsServers:
      if (data.size() % 16 != 0)
        malformed("DNS servers length " + std::to_string(data.size()) + " is not a multiple of 16");
      for (size_t i = 0; i < data.size(); i += 16) m.dns_servers.push_back(get_v6(&data[i]));
      break;
    case option::kDomainList:
      m.domain_search = parse_domain_list(data);
      break;
    case option::kStatusCode:
      m.status = parse_status(data, "message");
      break;
    default:
      m.unknown.push_back({code, {data.begin(), data.end()}});
  }
}

}  // namespace

const char* to_string(MessageType type) {
  switch (type) {
    case MessageType::Solicit:
      return "SOLICIT";
    case MessageType::Advertise:
      return "ADVERTISE";
    case MessageType::Request:
      return "REQUEST";
    case MessageType::Confirm:
      return "CONFIRM";
    case MessageType::Renew:
      return "RENEW";
    case MessageType::Rebind:
      return "REBIND";
    case MessageType::Reply:
      return "REPLY";
    case MessageType::Release:
      return "RELEASE";
    case MessageType::Decline:
      return "DECLINE";
    case MessageType::Reconfigure:
      return "RECONFIGURE";
    case MessageType::InformationRequest:
      return "INFORMATION-REQUEST";
  }
  return "unknown";
}

std::vector<uint8_t> encode(const Message& m) {
  if (m.transaction_id > kMaxTransactionId)
    unencodable("transaction id " + hex32(m.transaction_id) + " does not fit in 24 bits");
  std::vector<uint8_t> out;
  out.push_back(static_cast<uint8_t>(m.type));
  out.push_back(static_cast<uint8_t>(m.transaction_id >> 16));
  put_be16(out, static_cast<uint16_t>(m.transaction_id));

  OptionWriter options;
  if (m.client_id) options.add(option::kClientId, duid_body(*m.client_id, "client"));
  if (m.server_id) options.add(option::kServerId, duid_body(*m.server_id, "server"));
  for (const auto& ia : m.ia_pds) options.add(option::kIaPd, ia_pd_body(ia));
  if (m.preference) options.add(option::kPreference, {*m.preference});
  if (m.rapid_commit) options.add(option::kRapidCommit, {});
  if (!m.option_request.empty()) {
    std::vector<uint8_t> body;
    for (uint16_t code : m.option_request) put_be16(body, code);
    options.add(option::kOptionRequest, std::move(body));
  }
  if (m.elapsed_time) {
    std::vector<uint8_t> body;
    put_be16(body, *m.elapsed_time);
    options.add(option::kElapsedTime, std::move(body));
  }
  if (m.sol_max_rt) options.add(option::kSolMaxRt, u32_body(*m.sol_max_rt));
  if (m.inf_max_rt) options.add(option::kInfMaxRt, u32_body(*m.inf_max_rt));
  if (!m.dns_servers.empty()) {
    std::vector<uint8_t> body;
    for (const auto& server : m.dns_servers) put_v6(body, server, "DNS server");
    options.add(option::kDnsServers, std::move(body));
  }
  if (!m.domain_search.empty()) {
    std::vector<uint8_t> body;
    for (const auto& name : m.domain_search) {
      try {
        append_dns_name(body, name);
      } catch (const Error& error) {
        unencodable(error.what());
      }
    }
    options.add(option::kDomainList, std::move(body));
  }
  if (m.status) options.add(option::kStatusCode, status_body(*m.status));
  options.add_unknown(m.unknown);
  options.write_to(out);
  return out;
}

ParseResult parse(std::span<const uint8_t> packet) {
  try {
    if (packet.size() < kHeaderSize)
      malformed("packet of " + std::to_string(packet.size()) + " bytes, shorter than the header");
    const uint8_t type = packet[0];
    if (type == 12 || type == 13) malformed("relay message (type " + std::to_string(type) + ")");
    if (type < static_cast<uint8_t>(MessageType::Solicit) ||
        type > static_cast<uint8_t>(MessageType::InformationRequest))
      malformed("unsupported message type " + std::to_string(type));
    Parsed parsed;
    Message& m = parsed.message;
    m.type = static_cast<MessageType>(type);
    m.transaction_id = uint32_t{packet[1]} << 16 | get_be16(&packet[2]);
    SingletonGuard once("message");
    for_each_option(packet.subspan(kHeaderSize), "message", [&](uint16_t code, auto data) {
      const auto read = [&] {
        if (std::ranges::find(kSingletonOptions, code) != kSingletonOptions.end()) once.see(code);
        parse_option(m, code, data, parsed.dropped);
      };
      if (std::ranges::find(kDroppableOptions, code) != kDroppableOptions.end()) {
        drop_if_malformed(parsed.dropped, "option", read);
      } else {
        read();
      }
    });
    sort_by_code(m.unknown);
    return parsed;
  } catch (const Malformed& error) {
    return ParseError{error.reason};
  }
}

}  // namespace l2wg::dhcp6
