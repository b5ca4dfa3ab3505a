// l2wg-dhcp6: the dhcp6/ library's prefix-delegation client on one interface, on its own. Prints
// what the client does as JSON lines on stdout (for tests and the bench), logs for people on
// stderr. SIGUSR1 renews, SIGUSR2 releases, SIGHUP reports a link change, SIGTERM/SIGINT stop
// (keeping the lease, so the next run Rebinds).
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "l2wg/dhcp6/session.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"

namespace {

using namespace l2wg;
using nlohmann::json;

uint64_t now_us(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

// "INFORMATION-REQUEST" -> "information-request".
std::string type_name(dhcp6::MessageType type) {
  std::string name = dhcp6::to_string(type);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string hex(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (const uint8_t b : bytes) {
    text += kDigits[b >> 4];
    text += kDigits[b & 0xf];
  }
  return text;
}

void emit(json line) {
  line["mono_us"] = now_us(CLOCK_BOOTTIME);
  line["wall_us"] = now_us(CLOCK_REALTIME);
  std::cout << line.dump() << std::endl;  // flushed at once: tests read it as it comes
}

class Printer : public dhcp6::Observer {
 public:
  bool bound = false;

  void prefix_added(const dhcp6::DelegatedPrefix& prefix, const dhcp6::Lease& lease) override {
    spdlog::info("prefix {} added", prefix.prefix.str());
    emit(prefix_line("prefix-added", prefix, lease));
    bound = true;
  }
  void prefix_changed(const dhcp6::DelegatedPrefix& prefix, const dhcp6::Lease& lease) override {
    spdlog::info("prefix {} changed", prefix.prefix.str());
    emit(prefix_line("prefix-changed", prefix, lease));
  }
  void prefix_lost(const IpPrefix& prefix, std::string_view reason) override {
    spdlog::info("prefix {} lost: {}", prefix.str(), reason);
    emit({{"event", "prefix-lost"}, {"prefix", prefix.str()}, {"reason", reason}});
  }
  void lease_changed(const std::optional<dhcp6::Lease>& lease) override {
    emit({{"event", "lease"},
          {"lease", lease ? json::parse(dhcp6::lease_to_json(*lease)) : json()}});
  }
  void state_changed(dhcp6::State state) override {
    spdlog::debug("state {}", dhcp6::to_string(state));
    emit({{"event", "state"}, {"state", dhcp6::to_string(state)}});
  }
  void message_sent(dhcp6::MessageType type, uint32_t transaction_id) override {
    spdlog::debug("sent {} {:#08x}", type_name(type), transaction_id);
    emit({{"event", "sent"}, {"type", type_name(type)}, {"xid", transaction_id}});
  }
  void message_received(dhcp6::MessageType type, uint32_t transaction_id) override {
    spdlog::debug("received {} {:#08x}", type_name(type), transaction_id);
    emit({{"event", "received"}, {"type", type_name(type)}, {"xid", transaction_id}});
  }
  void message_dropped(std::string_view reason) override {
    spdlog::debug("dropped: {}", reason);
    emit({{"event", "dropped"}, {"reason", reason}});
  }

 private:
  static json prefix_line(const char* event, const dhcp6::DelegatedPrefix& prefix,
                          const dhcp6::Lease& lease) {
    json dns = json::array();
    for (const IpAddress& server : lease.dns_servers) dns.push_back(server.str());
    json line = {{"event", event},
                 {"prefix", prefix.prefix.str()},
                 {"preferred_until_us", prefix.preferred_until_us},
                 {"valid_until_us", prefix.valid_until_us},
                 {"dns", dns},
                 {"domains", lease.domain_search}};
    if (prefix.exclude) line["exclude"] = prefix.exclude->str();
    return line;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A DHCPv6 prefix-delegation client on one interface; events as JSON lines"};
  dhcp6::SessionOptions options;
  unsigned prefix_length = 0;
  bool no_initial_delay = false;
  bool exit_when_bound = false;
  std::string level = "info";
  app.add_option("--interface", options.interface, "where DHCPv6 runs")->required();
  app.add_option("--state-dir", options.state_dir, "holds dhcp6/duid and dhcp6/NAME.lease")
      ->required();
  app.add_option("--name", options.name, "gives the IAID and the lease file (default: interface)");
  app.add_option("--prefix-length", prefix_length, "prefix length hint (0: none)")
      ->check(CLI::Range(0, 128));
  app.add_flag("--rapid-commit", options.rapid_commit, "ask for a two-message exchange");
  app.add_flag("--no-initial-delay", no_initial_delay,
               "skip the random delay of up to 1 s before the first Solicit");
  app.add_flag("--exit-when-bound", exit_when_bound, "exit 0 once a prefix is bound");
  app.add_option("--log-level", level, "stderr log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  if (options.name.empty()) options.name = options.interface;
  options.prefix_length_hint = static_cast<uint8_t>(prefix_length);
  options.initial_delay = !no_initial_delay;

  spdlog::set_default_logger(spdlog::stderr_color_mt("l2wg-dhcp6"));
  spdlog::set_level(spdlog::level::from_str(level));

  try {
    // Blocked before anything else: only the signalfd sees them.
    sigset_t signals;
    sigemptyset(&signals);
    for (const int s : {SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT}) sigaddset(&signals, s);
    if (sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) throw_errno("sigprocmask", errno);
    const UniqueFd signal_fd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd) throw_errno("signalfd", errno, ErrorCode::Io);

    Printer printer;
    dhcp6::Session session(options, printer);
    const uint32_t iaid = dhcp6::iaid_for(options.name);
    const std::string duid = hex(dhcp6::load_or_create_duid(options.state_dir).bytes);
    spdlog::info("DHCPv6 on {}: IAID {:#010x}, DUID {}", options.interface, iaid, duid);
    emit({{"event", "started"}, {"interface", options.interface}, {"iaid", iaid}, {"duid", duid}});

    // A failure to write the lease file is logged; the client goes on with its lease in memory.
    const auto logging_errors = [](auto&& call) {
      try {
        call();
      } catch (const Error& e) {
        spdlog::error("{}", e.what());
        emit({{"event", "error"}, {"message", e.what()}});
      }
    };
    logging_errors([&] { session.start(); });
    if (session.waiting_for_link_local()) {
      spdlog::info("{} has no usable link-local address yet (DAD): waiting for it",
                   options.interface);
      emit({{"event", "waiting"}, {"reason", "link-local address tentative or missing"}});
    }

    for (;;) {
      if (exit_when_bound && printer.bound) return 0;
      std::vector<pollfd> fds = {{signal_fd.get(), POLLIN, 0}};
      for (const int fd : session.fds()) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        throw_errno("poll", errno);
      }
      for (size_t i = 1; i < fds.size(); ++i)
        if (fds[i].revents) logging_errors([&] { session.handle(fds[i].fd); });
      if (!fds[0].revents) continue;
      signalfd_siginfo info;
      while (read(signal_fd.get(), &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
          case SIGUSR1:
            spdlog::info("SIGUSR1: renewing");
            logging_errors([&] { session.renew(); });
            break;
          case SIGUSR2:
            spdlog::info("SIGUSR2: releasing");
            logging_errors([&] { session.release(); });
            break;
          case SIGHUP:
            spdlog::info("SIGHUP: the link changed");
            logging_errors([&] { session.link_changed(); });
            break;
          default:
            spdlog::info("stopping; the lease stays for the next start");
            session.stop();
            return 0;
        }
      }
    }
  } catch (const Error& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
