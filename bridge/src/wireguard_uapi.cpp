// The cross-platform UAPI reply (https://www.wireguard.com/xplatform/) as wireguard-go serves it.
#include <charconv>
#include <limits>
#include <string>

#include "l2wg/bridge/wireguard.h"
#include "l2wg/bytes.h"
#include "l2wg/error.h"

namespace l2wg::wg {
namespace {

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// wireguard-go appends "%zone" to link-local IPv6 endpoints; Endpoint has no zone, and the endpoint
// is only reported, never used to send, so the zone is dropped.
std::optional<Endpoint> parse_endpoint(std::string_view text) {
  const auto percent = text.find('%');
  const auto close = text.find(']');
  if (percent != std::string_view::npos && close != std::string_view::npos && percent < close)
    return Endpoint::parse(std::string(text.substr(0, percent)) + std::string(text.substr(close)));
  return Endpoint::parse(text);
}

class UapiParser {
 public:
  explicit UapiParser(std::string name) {
    device_.name = std::move(name);
    device_.implementation = Implementation::Userspace;
  }

  Device parse(std::string_view reply) {
    bool ended = false;
    while (!reply.empty()) {
      const auto newline = reply.find('\n');
      if (newline == std::string_view::npos)
        fail_reply("it ends in the middle of line " + std::to_string(line_number_ + 1));
      line_ = reply.substr(0, newline);
      reply.remove_prefix(newline + 1);
      ++line_number_;
      if (ended) fail_line("data after the terminating blank line");
      if (line_.empty()) {
        if (!errno_) fail_line("blank line before the errno line");
        ended = true;
        continue;
      }
      if (errno_) fail_line("data after the errno line");
      const auto equals = line_.find('=');
      if (equals == std::string_view::npos) fail_line("no '=' in the line");
      apply(line_.substr(0, equals), line_.substr(equals + 1));
    }
    if (!ended) fail_reply(errno_ ? "no blank line after errno" : "no errno line, it is truncated");
    // wireguard-go sends negated errno values ("errno=-22"); the xplatform page shows positive
    // ones.
    if (*errno_ != 0)
      throw_errno("the WireGuard implementation serving " + device_.name + " reported an error",
                  *errno_ < 0 ? -*errno_ : *errno_);
    finish_peer();
    return std::move(device_);
  }

 private:
  void apply(std::string_view key, std::string_view value) {
    if (key == "errno") {
      errno_ = number<int>(value);
      if (*errno_ <= -4096 || *errno_ >= 4096) fail_line("not an errno value");
    } else if (key == "private_key") {
      // Validated so a corrupt reply is noticed, never kept: a Device carries no secrets.
      device_key(key);
      if (!key_from_hex(value)) fail_line("not a 64-digit hex key");
    } else if (key == "listen_port") {
      device_key(key);
      device_.listen_port = number<uint16_t>(value);
    } else if (key == "fwmark") {
      device_key(key);
      number<uint32_t>(value);
    } else if (key == "public_key") {
      finish_peer();
      const auto public_key = key_from_hex(value);
      if (!public_key) fail_line("not a 64-digit hex key");
      peer_ = Peer{};
      peer_->public_key = *public_key;
    } else if (key == "preshared_key") {
      peer_key(key);
      if (!key_from_hex(value)) fail_line("not a 64-digit hex key");
    } else if (key == "endpoint") {
      peer_key(key);
      peer_->endpoint = parse_endpoint(value);
      if (!peer_->endpoint) fail_line("not an ip:port or [ip6]:port endpoint");
    } else if (key == "allowed_ip") {
      peer_key(key);
      const auto prefix = IpPrefix::parse(value);
      if (!prefix) fail_line("not an address/length prefix");
      peer_->allowed_ips.push_back(*prefix);
    } else if (key == "last_handshake_time_sec") {
      peer_key(key);
      handshake_sec_ = number<uint64_t>(value);
      if (handshake_sec_ > std::numeric_limits<uint64_t>::max() / 1'000'000)
        fail_line("handshake time out of range");
    } else if (key == "last_handshake_time_nsec") {
      peer_key(key);
      handshake_nsec_ = number<uint64_t>(value);
      if (handshake_nsec_ >= 1'000'000'000) fail_line("nanoseconds out of range");
    } else if (key == "rx_bytes") {
      peer_key(key);
      peer_->rx_bytes = number<uint64_t>(value);
    } else if (key == "tx_bytes") {
      peer_key(key);
      peer_->tx_bytes = number<uint64_t>(value);
    } else if (key == "persistent_keepalive_interval") {
      peer_key(key);
      peer_->persistent_keepalive_s = number<uint16_t>(value);
    } else if (key == "protocol_version") {
      peer_key(key);
      number<uint32_t>(value);
    }
    // Any other key comes from a newer implementation; ignoring it keeps us compatible.
  }

  void device_key(std::string_view key) {
    if (peer_ || !device_.peers.empty())
      fail_line("device key " + std::string(key) + " inside a peer section");
  }

  void peer_key(std::string_view key) {
    if (!peer_) fail_line("peer key " + std::string(key) + " before any public_key");
  }

  template <typename T>
  T number(std::string_view value) {
    const auto parsed = parse_number<T>(value);
    if (!parsed) fail_line("not a number in range");
    return *parsed;
  }

  void finish_peer() {
    if (!peer_) return;
    peer_->last_handshake_us = handshake_sec_ * 1'000'000 + handshake_nsec_ / 1'000;
    device_.peers.push_back(std::move(*peer_));
    peer_.reset();
    handshake_sec_ = handshake_nsec_ = 0;
  }

  [[noreturn]] void fail_reply(const std::string& why) const {
    throw Error(ErrorCode::InvalidArgument,
                "malformed UAPI reply for WireGuard interface " + device_.name + ": " + why);
  }

  [[noreturn]] void fail_line(const std::string& why) const {
    // Secrets never reach an error message (or a log).
    const auto key = line_.substr(0, line_.find('='));
    const bool secret = key == "private_key" || key == "preshared_key";
    const std::string shown = secret ? std::string(key) + "=(redacted)" : std::string(line_);
    fail_reply("line " + std::to_string(line_number_) + " \"" + shown + "\": " + why);
  }

  Device device_;
  std::optional<Peer> peer_;
  uint64_t handshake_sec_ = 0;
  uint64_t handshake_nsec_ = 0;
  std::optional<int> errno_;
  std::string_view line_;
  size_t line_number_ = 0;
};

}  // namespace

Device parse_uapi_get(std::string_view reply, std::string name) {
  return UapiParser(std::move(name)).parse(reply);
}

std::string encode_uapi_set(const std::vector<PeerUpdate>& updates) {
  std::string out = "set=1\n";
  for (const auto& update : updates) {
    out += "public_key=" + to_hex(update.public_key) + "\nupdate_only=true\n";
    if (update.endpoint) out += "endpoint=" + update.endpoint->str() + "\n";
    if (update.persistent_keepalive_s)
      out +=
          "persistent_keepalive_interval=" + std::to_string(*update.persistent_keepalive_s) + "\n";
  }
  return out + "\n";
}

}  // namespace l2wg::wg
