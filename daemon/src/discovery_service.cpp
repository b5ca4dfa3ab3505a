// DiscoveryService: the *.discovery files on the daemon's loop. A registry's UDP and TCP sockets
// are bound to each inner address of its WireGuard interface and to the interface itself
// (SO_BINDTODEVICE), so nothing arriving by another interface, or for a public address, reaches
// them. A client's socket is bound to the interface too and connected to the registry.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "l2wg/daemon/discovery.h"
#include "l2wg/discovery/registry.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"
#include "l2wg/file.h"
#include "l2wg/socket.h"

namespace l2wg {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kDeviceCacheUs = 1'000'000;
constexpr uint64_t kTcpIdleUs = 10'000'000;
constexpr size_t kMaxTcpConnections = 32;
constexpr size_t kDatagramsPerWakeup = 64;
// Answers a second per registry, burst included: a flood costs bounded CPU and sends little.
constexpr double kAnswersPerSecond = 500;
constexpr double kAnswerBurst = 1000;

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t size = 0;
};

SockAddr to_sockaddr(const Endpoint& endpoint) {
  SockAddr out;
  if (endpoint.address.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(endpoint.port);
    std::memcpy(&sin->sin_addr, endpoint.address.data(), 4);
    out.size = sizeof *sin;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(endpoint.port);
    std::memcpy(&sin6->sin6_addr, endpoint.address.data(), 16);
    out.size = sizeof *sin6;
  }
  return out;
}

// A socket bound to `ifname` (and to `local`, when given).
UniqueFd bound_socket(int type, const std::string& ifname, const Endpoint& local, bool bind_it) {
  UniqueFd fd(::socket(local.address.af(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket for " + ifname, errno, ErrorCode::Io);
  set_socket_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                   static_cast<socklen_t>(ifname.size())) != 0)
    throw_errno("binding a socket to " + ifname, errno, ErrorCode::Io);
  if (local.address.is_v6())
    set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
  if (bind_it) {
    const auto addr = to_sockaddr(local);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr.storage), addr.size) != 0)
      throw_errno("binding " + local.str() + " on " + ifname, errno, ErrorCode::Io);
  }
  return fd;
}

std::vector<IpAddress> interface_addresses(const std::string& ifname) {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (auto* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || ifname != a->ifa_name) continue;
    if (a->ifa_addr->sa_family == AF_INET)
      out.push_back(IpAddress::from(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr));
    else if (a->ifa_addr->sa_family == AF_INET6) {
      const auto address = IpAddress::from(reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr);
      if (!address.is_link_local()) out.push_back(address);
    }
  }
  ::freeifaddrs(list);
  return out;
}

std::vector<discovery::DevicePeer> device_peers(const wg::Device& device) {
  std::vector<discovery::DevicePeer> out;
  for (const auto& p : device.peers)
    out.push_back({p.public_key, p.endpoint, p.allowed_ips, p.last_handshake_us, p.rx_bytes,
                   p.persistent_keepalive_s});
  return out;
}

// The registry's counters in the status JSON (PascalCase, as every l2wg JSON key).
const char* counter_name(discovery::Outcome outcome) {
  switch (outcome) {
    case discovery::Outcome::Answered:
      return "Answered";
    case discovery::Outcome::NoData:
      return "NoData";
    case discovery::Outcome::NxDomain:
      return "NXDomain";
    case discovery::Outcome::Refused:
      return "Refused";
    case discovery::Outcome::Malformed:
      return "Malformed";
    case discovery::Outcome::NotImplemented:
      return "NotImplemented";
    case discovery::Outcome::Ignored:
      return "Ignored";
  }
  return "Other";
}

// One registry: its sockets, the device cache, the counters.
class Registry {
 public:
  Registry(std::string ifname, config::RegistryRole role, wg::WireGuardReader& reader, Clock& clock,
           EventLoop& loop)
      : ifname_(std::move(ifname)),
        role_(std::move(role)),
        reader_(reader),
        clock_(clock),
        loop_(loop) {}

  void poll() {
    const auto addresses = interface_addresses(ifname_);
    std::erase_if(bound_, [&](const auto& entry) {
      const bool gone = std::ranges::find(addresses, entry.first) == addresses.end();
      if (gone) spdlog::info("{}: registry no longer answers on {}", ifname_, entry.first.str());
      return gone;
    });
    for (const auto& address : addresses) {
      if (bound_.contains(address)) continue;
      try {
        auto b = std::make_unique<Bound>();
        const Endpoint local{address, role_.port};
        b->udp = bound_socket(SOCK_DGRAM, ifname_, local, true);
        b->tcp = bound_socket(SOCK_STREAM, ifname_, local, true);
        if (::listen(b->tcp.get(), 16) != 0)
          throw_errno("listening on " + local.str(), errno, ErrorCode::Io);
        b->udp_events = loop_.add(b->udp.get(), [this, fd = b->udp.get()] { read_udp(fd); });
        b->tcp_events = loop_.add(b->tcp.get(), [this, fd = b->tcp.get()] { accept_tcp(fd); });
        spdlog::info("{}: registry answers DNS for {} on {} (UDP and TCP)", ifname_, role_.zone,
                     local.str());
        bound_.emplace(address, std::move(b));
        error_.clear();
      } catch (const Error& e) {
        if (error_ != e.what()) spdlog::warn("{}: registry: {}", ifname_, e.what());
        error_ = e.what();
      }
    }
    const uint64_t now = clock_.monotonic_us();
    std::erase_if(connections_,
                  [&](const auto& c) { return now - c->last_activity_us > kTcpIdleUs; });
  }

  nlohmann::json status() const {
    nlohmann::json counters = nlohmann::json::object();
    for (const auto& [outcome, count] : counters_) counters[outcome] = count;
    counters["RateLimited"] = rate_limited_;
    counters["TCPConnections"] = tcp_connections_;
    std::vector<std::string> addresses;
    for (const auto& [address, b] : bound_) addresses.push_back(address.str());
    return {{"Zone", role_.zone},
            {"Port", role_.port},
            {"Addresses", addresses},
            {"Error", error_},
            {"Counters", counters}};
  }

 private:
  struct Bound {
    UniqueFd udp, tcp;
    EventLoop::Registration udp_events, tcp_events;
  };
  struct Connection {
    UniqueFd fd;
    EventLoop::Registration events;
    std::vector<uint8_t> buffer;
    uint64_t last_activity_us = 0;
  };

  const std::vector<discovery::PeerRecord>& peers() {
    const uint64_t now = clock_.monotonic_us();
    if (!peers_read_us_ || now - *peers_read_us_ >= kDeviceCacheUs) {
      peers_read_us_ = now;
      try {
        const auto device = reader_.read_device(ifname_);
        peers_.clear();
        for (const auto& p : device.peers)
          peers_.push_back({p.public_key, p.endpoint, p.allowed_ips});
      } catch (const Error& e) {
        spdlog::warn("{}: registry cannot read the device: {}", ifname_, e.what());
        peers_.clear();
      }
    }
    return peers_;
  }

  bool take_token() {
    const uint64_t now = clock_.monotonic_us();
    tokens_ = std::min(
        kAnswerBurst, tokens_ + static_cast<double>(now - tokens_at_us_) * kAnswersPerSecond / 1e6);
    tokens_at_us_ = now;
    if (tokens_ < 1) {
      ++rate_limited_;
      return false;
    }
    tokens_ -= 1;
    return true;
  }

  discovery::Reply handle(std::span<const uint8_t> query, bool tcp) {
    auto reply = discovery::answer(query, role_.zone, peers(), tcp);
    ++counters_[counter_name(reply.outcome)];
    if (reply.truncated) ++counters_["Truncated"];
    return reply;
  }

  void read_udp(int fd) {
    uint8_t buffer[4096];
    for (size_t i = 0; i < kDatagramsPerWakeup; ++i) {
      sockaddr_storage from{};
      socklen_t from_size = sizeof from;
      const ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, MSG_TRUNC,
                                   reinterpret_cast<sockaddr*>(&from), &from_size);
      if (n < 0) return;  // EAGAIN: all read
      if (!take_token()) continue;
      if (static_cast<size_t>(n) > sizeof buffer) {  // no DNS query is this large
        ++counters_["Malformed"];
        continue;
      }
      const auto reply = handle(std::span<const uint8_t>(buffer, static_cast<size_t>(n)), false);
      if (!reply.bytes.empty())
        ::sendto(fd, reply.bytes.data(), reply.bytes.size(), MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&from), from_size);
    }
  }

  void accept_tcp(int listener) {
    for (;;) {
      UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) return;
      ++tcp_connections_;
      if (connections_.size() >= kMaxTcpConnections) connections_.erase(connections_.begin());
      auto c = std::make_unique<Connection>();
      c->fd = std::move(fd);
      c->last_activity_us = clock_.monotonic_us();
      Connection* raw = c.get();
      c->events = loop_.add(c->fd.get(), [this, raw] { read_tcp(raw); });
      connections_.push_back(std::move(c));
    }
  }

  void close(Connection* c) {
    std::erase_if(connections_, [&](const auto& owned) { return owned.get() == c; });
  }

  void read_tcp(Connection* c) {
    uint8_t chunk[4096];
    const ssize_t n = ::recv(c->fd.get(), chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return close(c);
    c->last_activity_us = clock_.monotonic_us();
    c->buffer.insert(c->buffer.end(), chunk, chunk + n);
    while (c->buffer.size() >= 2) {
      const size_t length = size_t{c->buffer[0]} << 8 | c->buffer[1];
      if (c->buffer.size() < 2 + length) break;
      if (!take_token()) return close(c);
      const auto reply =
          handle(std::span<const uint8_t>(c->buffer.data() + 2, length), /*tcp=*/true);
      c->buffer.erase(c->buffer.begin(), c->buffer.begin() + static_cast<ptrdiff_t>(2 + length));
      if (reply.bytes.empty()) return close(c);  // nothing sensible to say: hang up
      std::vector<uint8_t> framed = {static_cast<uint8_t>(reply.bytes.size() >> 8),
                                     static_cast<uint8_t>(reply.bytes.size())};
      framed.insert(framed.end(), reply.bytes.begin(), reply.bytes.end());
      // A client that does not read its answers is dropped rather than waited for.
      if (::send(c->fd.get(), framed.data(), framed.size(), MSG_DONTWAIT | MSG_NOSIGNAL) !=
          static_cast<ssize_t>(framed.size()))
        return close(c);
    }
  }

  std::string ifname_;
  config::RegistryRole role_;
  wg::WireGuardReader& reader_;
  Clock& clock_;
  EventLoop& loop_;
  std::map<IpAddress, std::unique_ptr<Bound>> bound_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::optional<uint64_t> peers_read_us_;
  std::vector<discovery::PeerRecord> peers_;
  std::map<std::string, uint64_t> counters_;
  uint64_t rate_limited_ = 0, tcp_connections_ = 0;
  double tokens_ = kAnswerBurst;
  uint64_t tokens_at_us_ = 0;
  std::string error_;
};

// One client: the resolver, its socket and timer, and the device's seams.
class Client final : public discovery::Resolver::Transport, public discovery::Resolver::Device {
 public:
  Client(std::string ifname, discovery::ClientConfig cfg, wg::WireGuardReader& reader,
         wg::WireGuardWriter& writer, Clock& clock, Random& random, EventLoop& loop)
      : ifname_(std::move(ifname)),
        reader_(reader),
        writer_(writer),
        clock_(clock),
        loop_(loop),
        resolver_(clock, random, *this, *this, std::move(cfg)),
        timer_(loop.add_timer([this] {
          resolver_.on_timer();
          rearm();
        })) {}

  void poll() {
    if (!socket_) open_socket();
    try {
      const auto device = reader_.read_device(ifname_);
      resolver_.on_device(device_peers(device));
      read_error_.clear();
    } catch (const Error& e) {
      if (read_error_ != e.what()) spdlog::warn("{}: discovery client: {}", ifname_, e.what());
      read_error_ = e.what();
    }
    rearm();
  }

  void send(std::span<const uint8_t> datagram) override {
    if (socket_) ::send(socket_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT);
  }

  void set_peer(const discovery::Key& key, std::optional<Endpoint> endpoint,
                uint16_t keepalive_s) override {
    writer_.update_peers(ifname_, {{key, endpoint, keepalive_s}});
    const auto& r = resolver_.config().registry;
    if (endpoint)
      spdlog::info("{}: peer {}: endpoint {} from registry {} (persistent keepalive {} s)", ifname_,
                   wg::to_base64(key), endpoint->str(), r.str(), keepalive_s);
    else
      spdlog::info("{}: peer {}: persistent keepalive {} s", ifname_, wg::to_base64(key),
                   keepalive_s);
  }

  nlohmann::json status() const {
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& p : resolver_.peers()) {
      const auto learnt = p.learnt ? p.learnt->str() : "";
      peers.push_back({{"PublicKey", wg::to_base64(p.key)},
                       {"State", discovery::to_string(p.state)},
                       {"Endpoint", learnt},
                       {"LearntAt", p.learnt_wall_us},
                       {"SetAt", p.set_wall_us},
                       {"Owned", p.owned},
                       // Without "N s ago": the file would change every second. The CLI
                       // adds it from LearntAt.
                       {"Summary", "peer " + wg::to_base64(p.key) + ": " +
                                       (p.learnt ? "endpoint " + learnt + " from registry " +
                                                       resolver_.config().registry.str()
                                                 : std::string(discovery::to_string(p.state)))}});
    }
    const auto& c = resolver_.counters();
    return {{"Registry", resolver_.config().registry.str()},
            {"Zone", resolver_.config().zone},
            {"RegistryPeer",
             resolver_.registry_peer() ? wg::to_base64(*resolver_.registry_peer()) : ""},
            {"Error", !read_error_.empty() ? read_error_ : resolver_.last_error()},
            {"Peers", peers},
            {"Counters",
             {{"Queries", c.queries},
              {"Answers", c.answers},
              {"Timeouts", c.timeouts},
              {"BadAnswers", c.bad_answers},
              {"EndpointsSet", c.endpoints_set}}}};
  }

 private:
  void open_socket() {
    try {
      const auto& r = resolver_.config().registry;
      auto fd = bound_socket(SOCK_DGRAM, ifname_, Endpoint{r.address, 0}, false);
      const auto addr = to_sockaddr(r);
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr.storage), addr.size) != 0)
        throw_errno("connecting to the registry " + r.str(), errno, ErrorCode::Io);
      events_ = loop_.add(fd.get(), [this] { read(); });
      socket_ = std::move(fd);
    } catch (const Error& e) {
      if (read_error_ != e.what()) spdlog::warn("{}: discovery client: {}", ifname_, e.what());
      read_error_ = e.what();
    }
  }

  void read() {
    uint8_t buffer[4096];
    for (size_t i = 0; i < kDatagramsPerWakeup; ++i) {
      const ssize_t n = ::recv(socket_.get(), buffer, sizeof buffer, 0);
      if (n < 0) break;
      resolver_.on_datagram(std::span<const uint8_t>(buffer, static_cast<size_t>(n)));
    }
    rearm();
  }

  void rearm() { timer_->arm(resolver_.next_deadline_us()); }

  std::string ifname_;
  wg::WireGuardReader& reader_;
  wg::WireGuardWriter& writer_;
  Clock& clock_;
  EventLoop& loop_;
  discovery::Resolver resolver_;
  UniqueFd socket_;
  EventLoop::Registration events_;
  std::unique_ptr<EventLoop::Timer> timer_;
  std::string read_error_;
};

}  // namespace

class DiscoveryService::Impl {
 public:
  Impl(wg::WireGuardReader& reader, wg::WireGuardWriter& writer, Clock& clock, Random& random,
       EventLoop& loop, fs::path config_dir, fs::path state_dir)
      : reader_(reader),
        writer_(writer),
        clock_(clock),
        random_(random),
        loop_(loop),
        config_dir_(std::move(config_dir)),
        state_dir_(std::move(state_dir) / "discovery") {}

  struct Running {
    config::Discovery config;
    std::unique_ptr<Registry> registry;
    std::unique_ptr<Client> client;
    std::string last_status;
  };

  std::vector<std::string> reload() {
    std::vector<std::string> errors;
    std::map<std::string, config::Discovery> wanted;
    std::error_code ec;
    for (fs::directory_iterator it(config_dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (name.starts_with(".") || it->path().extension() != ".discovery") continue;
      std::ifstream in(it->path());
      const std::string text((std::istreambuf_iterator<char>(in)), {});
      auto parsed = config::parse_discovery(text, name);
      for (const auto& e : parsed.errors) {
        spdlog::error("{}", e.what());
        errors.push_back(e.what());
      }
      if (parsed.discovery) wanted.emplace(parsed.discovery->interface, *parsed.discovery);
    }
    std::erase_if(running_, [&](const auto& entry) {
      const auto it = wanted.find(entry.first);
      const bool stop = it == wanted.end() || !(it->second == entry.second.config);
      if (stop) {
        spdlog::info("{}: endpoint discovery stopped", entry.first);
        std::error_code remove_ec;
        fs::remove(state_dir_ / (entry.first + ".json"), remove_ec);
      }
      return stop;
    });
    for (auto& [ifname, config] : wanted) {
      if (running_.contains(ifname)) continue;
      Running r{config, nullptr, nullptr, {}};
      if (config.registry)
        r.registry = std::make_unique<Registry>(ifname, *config.registry, reader_, clock_, loop_);
      if (config.client)
        r.client = std::make_unique<Client>(ifname, *config.client, reader_, writer_, clock_,
                                            random_, loop_);
      spdlog::info("{}: endpoint discovery:{}{}", ifname,
                   config.registry ? " registry for " + config.registry->zone : "",
                   config.client ? " client of " + config.client->registry.str() : "");
      running_.emplace(ifname, std::move(r));
    }
    poll();
    return errors;
  }

  void set(const std::string& ifname, const std::map<std::string, config::SettingValue>& settings) {
    const std::string file = ifname + ".discovery";
    const std::string text = config::render_discovery_settings(settings);
    const auto parsed = config::parse_discovery(text, file);
    if (!parsed.errors.empty()) {
      std::string what;
      for (const auto& e : parsed.errors) {
        // "wg0.discovery:3: Port=0: out of range": the settings have no lines; name the key.
        std::string message = e.what();
        if (const auto at = message.find(": "); at != std::string::npos)
          message = message.substr(at + 2);
        what += (what.empty() ? "" : "; ") + message;
      }
      throw Error(ErrorCode::InvalidArgument, what);
    }
    write_file_atomically(config_dir_ / file, text);
    reload();
  }

  void remove(const std::string& ifname) {
    if (ifname.find('/') != std::string::npos || ifname.starts_with("."))
      throw Error(ErrorCode::InvalidArgument, "\"" + ifname + "\" is not an interface name");
    std::error_code ec;
    if (!fs::remove(config_dir_ / (ifname + ".discovery"), ec))
      throw Error(ErrorCode::NotFound, "no endpoint discovery on " + ifname + " (no " +
                                           (config_dir_ / (ifname + ".discovery")).string() + ")");
    reload();
  }

  std::string describe() const {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& [ifname, r] : running_) all.push_back(status(ifname, r));
    return all.dump();
  }

  static nlohmann::json status(const std::string& ifname, const Running& r) {
    nlohmann::json status = {{"Interface", ifname}};
    if (r.registry) status["Registry"] = r.registry->status();
    if (r.client) status["Client"] = r.client->status();
    return status;
  }

  void poll() {
    for (auto& [ifname, r] : running_) {
      if (r.registry) r.registry->poll();
      if (r.client) r.client->poll();
      auto text = status(ifname, r).dump(2) + "\n";
      if (text == r.last_status) continue;
      r.last_status = text;
      try {
        std::error_code ec;
        fs::create_directories(state_dir_, ec);
        write_file_atomically(state_dir_ / (ifname + ".json"), text);
      } catch (const Error& e) {
        spdlog::warn("{}: cannot write the discovery status: {}", ifname, e.what());
      }
    }
  }

 private:
  wg::WireGuardReader& reader_;
  wg::WireGuardWriter& writer_;
  Clock& clock_;
  Random& random_;
  EventLoop& loop_;
  fs::path config_dir_;
  fs::path state_dir_;
  std::map<std::string, Running> running_;
};

DiscoveryService::DiscoveryService(wg::WireGuardReader& reader, wg::WireGuardWriter& writer,
                                   Clock& clock, Random& random, EventLoop& loop,
                                   std::filesystem::path config_dir,
                                   std::filesystem::path state_dir)
    : impl_(std::make_unique<Impl>(reader, writer, clock, random, loop, std::move(config_dir),
                                   std::move(state_dir))) {}
DiscoveryService::~DiscoveryService() = default;
std::vector<std::string> DiscoveryService::reload() {
  return impl_->reload();
}
void DiscoveryService::set(const std::string& ifname,
                           const std::map<std::string, config::SettingValue>& settings) {
  impl_->set(ifname, settings);
}
void DiscoveryService::remove(const std::string& ifname) {
  impl_->remove(ifname);
}
std::string DiscoveryService::describe() const {
  return impl_->describe();
}
void DiscoveryService::poll() {
  impl_->poll();
}

}  // namespace l2wg
