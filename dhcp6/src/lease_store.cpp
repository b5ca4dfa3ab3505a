// What the client keeps in the state dir: the host's DUID (STATE_DIR/dhcp6/duid) and one lease
// per tunnel (STATE_DIR/dhcp6/NAME.lease), both written atomically.

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>

#include "l2wg/dhcp6/session.h"
#include "l2wg/bytes.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"
#include "l2wg/file.h"

namespace l2wg::dhcp6 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint16_t kDuidUuid = 4;  // RFC 6355
constexpr size_t kMaxDuidBytes = 130;
constexpr mode_t kFileMode = 0600;

// A DUID as hex text, 1..130 octets; nullopt for anything else.
std::optional<Duid> duid_from_hex(std::string_view hex) {
  auto bytes = from_hex(hex);
  if (!bytes || bytes->empty() || bytes->size() > kMaxDuidBytes) return std::nullopt;
  return Duid{std::move(*bytes)};
}

// The whole file; nullopt when it does not exist.
std::optional<std::string> read_file(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd && errno == ENOENT) return std::nullopt;
  if (!fd) throw_errno("reading " + path.string(), errno, ErrorCode::Io);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("reading " + path.string(), errno, ErrorCode::Io);
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

// STATE_DIR/dhcp6, readable by its owner only: leases say which prefixes this host holds.
void make_private_directory(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir.parent_path(), error);
  if (error)
    throw Error(ErrorCode::Io, "creating " + dir.parent_path().string() + ": " + error.message());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw_errno("creating " + dir.string(), errno, ErrorCode::Io);
}

// A fresh DUID-UUID: type 4, then a random (version 4, RFC 9562) UUID.
Duid random_duid_uuid() {
  Duid duid{std::vector<uint8_t>(18)};
  duid.bytes[1] = kDuidUuid;
  uint8_t* uuid = duid.bytes.data() + 2;
  size_t filled = 0;
  while (filled < 16) {
    const ssize_t n = ::getrandom(uuid + filled, 16 - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("getrandom", errno, ErrorCode::Io);
    filled += static_cast<size_t>(n);
  }
  uuid[6] = static_cast<uint8_t>((uuid[6] & 0x0f) | 0x40);  // version 4
  uuid[8] = static_cast<uint8_t>((uuid[8] & 0x3f) | 0x80);  // the RFC 4122 variant
  return duid;
}

std::optional<Duid> read_duid(const fs::path& path) {
  std::optional<std::string> text = read_file(path);
  if (!text) return std::nullopt;
  std::string_view hex = *text;
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
  std::optional<Duid> duid = duid_from_hex(hex);
  // A DUID is a 2-octet type and at least one octet of identifier (RFC 8415 §11.1).
  if (!duid || duid->bytes.size() < 3)
    throw Error(ErrorCode::InvalidArgument,
                path.string() +
                    ": not a DUID (expected 3 to 130 octets as hex digits, e.g. a DUID-UUID "
                    "00048f...); remove it to make a new one");
  return duid;
}

// --- lease JSON ---

// Where in the lease a value is, for error messages: "prefixes[0].prefix".
std::string key_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, "key \"" + key + "\": " + what);
}

const json& member(const json& object, const std::string& parent, const std::string& key) {
  const auto it = object.find(key);
  if (it == object.end()) bad(key_path(parent, key), "missing");
  return *it;
}

template <typename Unsigned>
Unsigned unsigned_member(const json& object, const std::string& parent, const std::string& key) {
  const json& value = member(object, parent, key);
  if (!value.is_number_unsigned() || value.get<uint64_t>() > std::numeric_limits<Unsigned>::max())
    bad(key_path(parent, key), "not an integer in 0.." +
                                   std::to_string(std::numeric_limits<Unsigned>::max()) + ": " +
                                   value.dump());
  return static_cast<Unsigned>(value.get<uint64_t>());
}

const std::string& string_value(const json& value, const std::string& key) {
  if (!value.is_string()) bad(key, "not a string: " + value.dump());
  return value.get_ref<const std::string&>();
}

const json& array_member(const json& object, const std::string& parent, const std::string& key) {
  const json& value = member(object, parent, key);
  if (!value.is_array()) bad(key_path(parent, key), "not an array: " + value.dump());
  return value;
}

IpPrefix v6_prefix(const json& value, const std::string& key) {
  const std::string& text = string_value(value, key);
  std::optional<IpPrefix> prefix = IpPrefix::parse(text, /*strict=*/true);
  if (!prefix || !prefix->address.is_v6() || text.find('/') == std::string::npos)
    bad(key, "not an IPv6 prefix such as 2001:db8::/56: \"" + text + "\"");
  return *prefix;
}

json prefix_to_json(const DelegatedPrefix& prefix) {
  return {{"prefix", prefix.prefix.str()},
          {"preferred_until_us", prefix.preferred_until_us},
          {"valid_until_us", prefix.valid_until_us},
          {"exclude", prefix.exclude ? json(prefix.exclude->str()) : json(nullptr)}};
}

DelegatedPrefix prefix_from_json(const json& object, const std::string& where) {
  if (!object.is_object()) bad(where, "not an object: " + object.dump());
  DelegatedPrefix prefix;
  prefix.prefix = v6_prefix(member(object, where, "prefix"), key_path(where, "prefix"));
  prefix.preferred_until_us = unsigned_member<uint64_t>(object, where, "preferred_until_us");
  prefix.valid_until_us = unsigned_member<uint64_t>(object, where, "valid_until_us");
  const json& exclude = member(object, where, "exclude");
  if (!exclude.is_null()) prefix.exclude = v6_prefix(exclude, key_path(where, "exclude"));
  return prefix;
}

}  // namespace

Duid load_or_create_duid(const fs::path& state_dir) {
  const fs::path dir = state_dir / "dhcp6";
  const fs::path path = dir / "duid";
  if (std::optional<Duid> duid = read_duid(path)) return *duid;

  make_private_directory(dir);
  const Duid duid = random_duid_uuid();
  // Written under a private name, then linked into place: unlike a rename, link() never replaces
  // a DUID that another process (a second tunnel's client starting at the same moment) created
  // meanwhile; that one wins, and everybody uses it.
  static std::atomic<unsigned> counter{0};
  const fs::path temp =
      dir / (".duid.new." + std::to_string(::getpid()) + "." + std::to_string(counter++));
  write_file_atomically(temp, to_hex(duid.bytes) + "\n", kFileMode);
  const int linked = ::link(temp.c_str(), path.c_str());
  const int link_error = errno;
  ::unlink(temp.c_str());
  if (linked != 0 && link_error != EEXIST)
    throw_errno("creating " + path.string(), link_error, ErrorCode::Io);
  if (linked != 0) return read_duid(path).value();
  const UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd || ::fsync(dir_fd.get()) != 0)
    throw_errno("syncing " + dir.string(), errno, ErrorCode::Io);
  return duid;
}

uint32_t iaid_for(std::string_view name) {
  uint32_t hash = 2166136261u;  // FNV-1a, 32 bits
  for (char c : name) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  return hash;
}

fs::path lease_path(const fs::path& state_dir, std::string_view name) {
  return state_dir / "dhcp6" / (std::string(name) + ".lease");
}

std::string lease_to_json(const Lease& lease) {
  json prefixes = json::array();
  for (const DelegatedPrefix& prefix : lease.prefixes) prefixes.push_back(prefix_to_json(prefix));
  json dns = json::array();
  for (const IpAddress& server : lease.dns_servers) dns.push_back(server.str());
  const json object = {{"iaid", lease.iaid},
                       {"server_id", to_hex(lease.server_id.bytes)},
                       {"renew_at_us", lease.renew_at_us},
                       {"rebind_at_us", lease.rebind_at_us},
                       {"prefixes", prefixes},
                       {"dns_servers", dns},
                       {"domain_search", lease.domain_search}};
  return object.dump(2) + "\n";
}

// Unknown keys are ignored, so that a lease written by a newer l2wg still loads after a
// downgrade; everything this version reads must be there with the right type.
Lease lease_from_json(std::string_view text) {
  json object;
  try {
    object = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    throw Error(ErrorCode::InvalidArgument, std::string("not JSON: ") + e.what());
  }
  if (!object.is_object()) throw Error(ErrorCode::InvalidArgument, "not a JSON object");

  Lease lease;
  lease.iaid = unsigned_member<uint32_t>(object, "", "iaid");
  const std::string& server_id = string_value(member(object, "", "server_id"), "server_id");
  std::optional<Duid> duid = duid_from_hex(server_id);
  if (!duid) bad("server_id", "not a DUID (1 to 130 octets as hex digits): \"" + server_id + "\"");
  lease.server_id = std::move(*duid);
  lease.renew_at_us = unsigned_member<uint64_t>(object, "", "renew_at_us");
  lease.rebind_at_us = unsigned_member<uint64_t>(object, "", "rebind_at_us");

  const json& prefixes = array_member(object, "", "prefixes");
  for (size_t i = 0; i < prefixes.size(); ++i)
    lease.prefixes.push_back(prefix_from_json(prefixes[i], "prefixes[" + std::to_string(i) + "]"));

  const json& dns = array_member(object, "", "dns_servers");
  for (size_t i = 0; i < dns.size(); ++i) {
    const std::string key = "dns_servers[" + std::to_string(i) + "]";
    const std::string& address_text = string_value(dns[i], key);
    std::optional<IpAddress> address = IpAddress::parse(address_text);
    if (!address || !address->is_v6()) bad(key, "not an IPv6 address: \"" + address_text + "\"");
    lease.dns_servers.push_back(*address);
  }

  const json& domains = array_member(object, "", "domain_search");
  for (size_t i = 0; i < domains.size(); ++i)
    lease.domain_search.push_back(
        string_value(domains[i], "domain_search[" + std::to_string(i) + "]"));
  return lease;
}

std::optional<Lease> load_lease(const fs::path& path) {
  std::optional<std::string> text = read_file(path);
  if (!text) return std::nullopt;
  try {
    return lease_from_json(*text);
  } catch (const Error& e) {
    throw Error(ErrorCode::InvalidArgument, path.string() + ": " + e.what());
  }
}

void save_lease(const fs::path& path, const std::optional<Lease>& lease) {
  if (!lease) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      throw_errno("removing " + path.string(), errno, ErrorCode::Io);
    return;
  }
  make_private_directory(path.parent_path());
  write_file_atomically(path, lease_to_json(*lease), kFileMode);
}

}  // namespace l2wg::dhcp6
