// l2wg-ra: the lan/ library's Router Advertisements on one interface, on their own, for tests and
// the bench. Announces the first --prefix; SIGUSR1 moves to the next one (the previous one is
// then announced deprecated until its valid lifetime would have ended), SIGUSR2 takes the tunnel
// down or up (router lifetime 0 while down), SIGTERM/SIGINT send the final advertisements and
// exit. With --listen IF instead, it solicits (again on SIGUSR1) and prints each router heard
// on IF.
// What happens goes to stdout as JSON lines; logs for people go to stderr.
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "l2wg/clock.h"
#include "l2wg/deadline_timer.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"
#include "l2wg/lan/advertiser.h"
#include "l2wg/lan/ra_socket.h"

namespace {

using namespace l2wg;
using nlohmann::json;

constexpr uint64_t kMicrosPerSecond = 1'000'000;

uint64_t now_us(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

void emit(json line) {
  line["mono_us"] = now_us(CLOCK_BOOTTIME);
  line["wall_us"] = now_us(CLOCK_REALTIME);
  std::cout << line.dump() << std::endl;  // flushed at once: tests read it as it comes
}

struct Options {
  std::string interface;
  std::string listen;
  std::vector<std::string> prefixes;
  uint32_t prefix_valid_s = 86400;
  uint32_t prefix_preferred_s = 14400;
  std::string route;
  std::vector<std::string> dns;
  std::vector<std::string> domains;
  uint32_t mtu = 0;
  uint32_t max_interval_s = 600;
  std::optional<uint32_t> router_lifetime_s;
  bool down = false;
};

IpPrefix v6_prefix(const std::string& text) {
  const auto prefix = IpPrefix::parse(text, true);
  if (!prefix || !prefix->address.is_v6())
    throw Error(ErrorCode::InvalidArgument, text + " is not an IPv6 prefix");
  return *prefix;
}

class Printer : public lan::SocketObserver {
 public:
  void dropped(std::string_view reason) override {
    spdlog::debug("dropped {}", reason);
    emit({{"event", "dropped"}, {"reason", reason}});
  }
  void send_failed(std::string_view error) override {
    spdlog::warn("{}", error);
    emit({{"event", "send-failed"}, {"error", error}});
  }
};

// Sends through the socket and prints what went out, read back from the wire form.
class PrintingSender : public lan::RaSender {
 public:
  explicit PrintingSender(lan::LanRaSocket& socket) : socket_(socket) {}

  void send(std::span<const uint8_t> icmp) override {
    socket_.send(icmp);
    const auto parsed = lan::parse_router_advertisement(icmp);
    const auto* ra = std::get_if<lan::RouterAdvertisement>(&parsed);
    if (!ra) throw Error(ErrorCode::InvalidArgument, "sent an advertisement that does not parse");
    json prefixes = json::array();
    for (const auto& pio : ra->prefixes)
      prefixes.push_back({{"prefix", pio.prefix.str()},
                          {"valid", pio.valid_lifetime},
                          {"preferred", pio.preferred_lifetime}});
    json routes = json::array();
    for (const auto& rio : ra->routes)
      routes.push_back({{"prefix", rio.prefix.str()}, {"lifetime", rio.lifetime}});
    json dns = json::array();
    if (ra->dns_servers)
      for (const auto& server : ra->dns_servers->servers) dns.push_back(server.str());
    spdlog::info("sent an advertisement, router lifetime {}", ra->router_lifetime);
    emit({{"event", "sent"},
          {"router_lifetime", ra->router_lifetime},
          {"prefixes", prefixes},
          {"routes", routes},
          {"dns", dns},
          {"domains", ra->search_list ? json(ra->search_list->domains) : json::array()},
          {"mtu", ra->mtu ? json(*ra->mtu) : json()}});
  }

 private:
  lan::LanRaSocket& socket_;
};

// What the tool announces: one current prefix out of --prefix, the ones it left behind, and the
// tunnel's state. Lifetimes are those of a lease renewed all the time: counted from now.
class Announcer {
 public:
  explicit Announcer(const Options& options) : options_(options), up_(!options.down) {
    for (const auto& text : options.prefixes) prefixes_.push_back(v6_prefix(text));
    if (!options.route.empty()) route_ = v6_prefix(options.route);
    for (const auto& text : options.dns) {
      const auto server = IpAddress::parse(text);
      if (!server || !server->is_v6())
        throw Error(ErrorCode::InvalidArgument, text + " is not an IPv6 address");
      dns_.push_back(*server);
    }
  }

  lan::Announcement announcement(uint64_t wall_now) {
    std::erase_if(deprecated_, [&](const lan::AnnouncedPrefix& p) {
      return p.valid_until_us <= wall_now || p.prefix == prefixes_[current_];
    });
    lan::Announcement a;
    a.default_router = up_;
    a.prefixes.push_back(current(wall_now));
    a.deprecated = deprecated_;
    if (route_) a.delegated = {lan::AnnouncedPrefix{*route_, UINT64_MAX, valid_until(wall_now)}};
    a.mtu = options_.mtu;
    a.dns_servers = dns_;
    a.domains = options_.domains;
    return a;
  }

  // Returns false when there is no other prefix to move to.
  bool next_prefix(uint64_t wall_now) {
    if (prefixes_.size() < 2) return false;
    deprecated_.push_back(current(wall_now));
    current_ = (current_ + 1) % prefixes_.size();
    return true;
  }
  const IpPrefix& current_prefix() const { return prefixes_[current_]; }

  bool toggle_tunnel() { return up_ = !up_; }

 private:
  uint64_t valid_until(uint64_t wall_now) const {
    return wall_now + uint64_t{options_.prefix_valid_s} * kMicrosPerSecond;
  }
  lan::AnnouncedPrefix current(uint64_t wall_now) const {
    return {prefixes_[current_],
            wall_now + uint64_t{options_.prefix_preferred_s} * kMicrosPerSecond,
            valid_until(wall_now)};
  }

  const Options& options_;
  bool up_;
  std::vector<IpPrefix> prefixes_;
  size_t current_ = 0;
  std::vector<lan::AnnouncedPrefix> deprecated_;
  std::optional<IpPrefix> route_;
  std::vector<IpAddress> dns_;
};

// SIGUSR1, SIGUSR2, SIGTERM and SIGINT, blocked so that only the signalfd sees them.
UniqueFd signal_fd() {
  sigset_t signals;
  sigemptyset(&signals);
  for (const int s : {SIGUSR1, SIGUSR2, SIGTERM, SIGINT}) sigaddset(&signals, s);
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) throw_errno("sigprocmask", errno);
  UniqueFd fd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) throw_errno("signalfd", errno, ErrorCode::Io);
  return fd;
}

std::vector<int> pending_signals(int fd) {
  std::vector<int> signals;
  signalfd_siginfo info;
  while (::read(fd, &info, sizeof info) == sizeof info)
    signals.push_back(static_cast<int>(info.ssi_signo));
  return signals;
}

// Waits for any of `fds`; returns which are readable.
std::vector<bool> wait_for(const std::vector<int>& fds) {
  std::vector<pollfd> polled;
  for (const int fd : fds) polled.push_back({fd, POLLIN, 0});
  while (poll(polled.data(), polled.size(), -1) < 0)
    if (errno != EINTR) throw_errno("poll", errno);
  std::vector<bool> ready;
  for (const auto& p : polled) ready.push_back(p.revents != 0);
  return ready;
}

int advertise(const Options& options) {
  const UniqueFd signals = signal_fd();
  DeadlineTimer timer("the Router Advertisements on " + options.interface);
  auto clock = make_system_clock();
  auto random = make_system_random();
  Printer printer;
  lan::LanRaSocket socket(options.interface, printer);
  PrintingSender sender(socket);
  Announcer announcer(options);
  const lan::RouterSettings settings{socket.mac(), options.max_interval_s,
                                     static_cast<uint16_t>(options.router_lifetime_s.value_or(
                                         std::min<uint32_t>(3 * options.max_interval_s, 9000)))};
  lan::Advertiser advertiser(settings, *clock, *random, sender);
  spdlog::info("advertising {} on {}", announcer.current_prefix().str(), options.interface);
  emit({{"event", "started"},
        {"interface", options.interface},
        {"mac", socket.mac().str()},
        {"prefix", announcer.current_prefix().str()}});
  advertiser.update(announcer.announcement(clock->wall_us()));

  while (!advertiser.finished()) {
    timer.arm(advertiser.next_deadline_us());
    const auto ready = wait_for({signals.get(), socket.fd(), timer.fd()});
    if (ready[1]) {
      if (const uint32_t solicitations = socket.read()) {
        emit({{"event", "solicited"}, {"count", solicitations}});
        advertiser.solicited();
      }
    }
    if (ready[2]) {
      timer.acknowledge();
      advertiser.update(announcer.announcement(clock->wall_us()));  // lifetimes from now
      advertiser.on_timer();
    }
    if (!ready[0]) continue;
    for (const int signal : pending_signals(signals.get())) {
      if (signal == SIGUSR1) {
        if (!announcer.next_prefix(clock->wall_us())) {
          spdlog::warn("SIGUSR1: only one --prefix, nothing to move to");
          continue;
        }
        spdlog::info("SIGUSR1: now advertising {}", announcer.current_prefix().str());
        emit({{"event", "prefix"}, {"prefix", announcer.current_prefix().str()}});
      } else if (signal == SIGUSR2) {
        const bool up = announcer.toggle_tunnel();
        spdlog::info("SIGUSR2: tunnel {}", up ? "up" : "down");
        emit({{"event", "tunnel"}, {"up", up}});
      } else {
        spdlog::info("stopping: final advertisements");
        emit({{"event", "stopping"}});
        advertiser.stop();
        continue;
      }
      advertiser.update(announcer.announcement(clock->wall_us()));
    }
  }
  emit({{"event", "stopped"}, {"sent", advertiser.sent()}});
  return 0;
}

int listen(const Options& options) {
  const UniqueFd signals = signal_fd();
  DeadlineTimer timer("the Router Solicitations on " + options.listen);
  auto clock = make_system_clock();
  Printer printer;
  lan::UpstreamRouterListener listener(options.listen, *clock, printer);
  spdlog::info("listening for routers on {}", options.listen);
  emit({{"event", "started"}, {"interface", options.listen}});
  for (;;) {
    timer.arm(listener.next_deadline_us());
    const auto ready = wait_for({signals.get(), listener.fd(), timer.fd()});
    if (ready[0]) {
      for (const int signal : pending_signals(signals.get())) {
        if (signal != SIGUSR1) return 0;
        spdlog::info("SIGUSR1: soliciting again");
        listener.solicit();
      }
    }
    if (ready[1]) {
      for (const auto& router : listener.read()) {
        spdlog::info("router {}: lifetime {} s", router.link_local.str(), router.router_lifetime);
        emit({{"event", "router"},
              {"link_local", router.link_local.str()},
              {"router_lifetime", router.router_lifetime},
              {"mtu", router.mtu ? json(*router.mtu) : json()}});
      }
    }
    if (ready[2]) {
      timer.acknowledge();
      const uint32_t before = listener.solicitations_sent();
      listener.on_timer();
      if (listener.solicitations_sent() != before)
        emit({{"event", "solicitation-sent"}, {"count", listener.solicitations_sent()}});
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Router Advertisements on one interface, or the routers heard on one (--listen)"};
  Options options;
  std::string level = "info";
  auto* interface = app.add_option("--interface", options.interface, "where to advertise");
  auto* listen_on = app.add_option("--listen", options.listen, "solicit and print routers heard");
  interface->excludes(listen_on);
  app.add_option("--prefix", options.prefixes, "a /64 to announce; SIGUSR1 moves to the next");
  app.add_option("--prefix-valid", options.prefix_valid_s, "valid lifetime (s)");
  app.add_option("--prefix-preferred", options.prefix_preferred_s, "preferred lifetime (s)");
  app.add_option("--route", options.route, "a Route Information Option (the delegated prefix)");
  app.add_option("--dns", options.dns, "an RDNSS server");
  app.add_option("--domain", options.domains, "a DNSSL domain");
  app.add_option("--mtu", options.mtu, "the MTU option (0: none)")
      ->check(CLI::Range(0u, 65535u) & !CLI::Range(1u, 1279u));
  app.add_option("--max-interval", options.max_interval_s, "MaxRtrAdvInterval (s)")
      ->check(CLI::Range(4, 1800));
  app.add_option("--router-lifetime", options.router_lifetime_s,
                 "router lifetime (s; default 3 × --max-interval)")
      ->check(CLI::Range(0, 9000));
  app.add_flag("--down", options.down, "start with the tunnel down (router lifetime 0)");
  app.add_option("--log-level", level, "stderr log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  if (options.interface.empty() == options.listen.empty()) {
    std::cerr << "one of --interface or --listen is required\n";
    return 2;
  }
  if (!options.interface.empty() && options.prefixes.empty()) {
    std::cerr << "--interface needs at least one --prefix\n";
    return 2;
  }

  spdlog::set_default_logger(spdlog::stderr_color_mt("l2wg-ra"));
  spdlog::set_level(spdlog::level::from_str(level));
  try {
    return options.listen.empty() ? advertise(options) : listen(options);
  } catch (const Error& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
