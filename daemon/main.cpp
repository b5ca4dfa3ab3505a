// l2wgd: the l2wg daemon. One thread polls the bus and the EventLoop, on which rtnetlink, the peer
// poll, signals and routed mode's sockets and timers (DHCPv6 clients, Router Advertisements) are
// registered; the userspace datapath runs its own workers. SIGTERM/SIGINT leave the data plane in
// place (a restart adopts it); SIGHUP re-reads the config directory.
#include <poll.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

#include "l2wg/bridge/link_watcher.h"
#include "l2wg/daemon/discovery.h"
#include "l2wg/daemon/journal.h"
#include "l2wg/daemon/manager.h"
#include "l2wg/daemon/routed.h"
#include "l2wg/daemon/systemd.h"
#include "l2wg/dbus/service.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"

namespace {

constexpr uint64_t kPeerPoll_us = 5'000'000;
constexpr uint64_t kDiscoveryPoll_us = 1'000'000;

// The journal, with each message's priority and, for a message about a tunnel, its name as the
// field L2WG_TUNNEL= (`journalctl -u l2wgd L2WG_TUNNEL=dorm`).
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    static constexpr int kPriorities[] = {LOG_DEBUG, LOG_DEBUG, LOG_INFO, LOG_WARNING,
                                          LOG_ERR,   LOG_CRIT,  LOG_INFO};
    const std::string_view text(msg.payload.data(), msg.payload.size());
    const int priority = kPriorities[static_cast<int>(msg.level)];
    const auto length = static_cast<int>(text.size());
    if (const auto tunnel = l2wg::journal::tunnel_of(text))
      sd_journal_send("MESSAGE=%.*s", length, text.data(), "PRIORITY=%d", priority,
                      "SYSLOG_IDENTIFIER=l2wgd", "L2WG_TUNNEL=%s", tunnel->c_str(), nullptr);
    else
      sd_journal_send("MESSAGE=%.*s", length, text.data(), "PRIORITY=%d", priority,
                      "SYSLOG_IDENTIFIER=l2wgd", nullptr);
  }
  void flush_() override {}
};

void setup_logging(const std::string& level) {
  // Under systemd, stderr is already the journal (JOURNAL_STREAM): write to it with fields.
  if (std::getenv("JOURNAL_STREAM"))
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("l2wgd", std::make_shared<JournalSink>()));
  else
    spdlog::set_default_logger(spdlog::stderr_color_mt("l2wgd"));
  spdlog::set_level(spdlog::level::from_str(level));
}

l2wg::UniqueFd make_signal_fd() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  // Blocked before any thread starts, so only the signalfd sees them.
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  l2wg::UniqueFd fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) l2wg::throw_errno("signalfd", errno, l2wg::ErrorCode::Io);
  return fd;
}

// Every userspace-datapath tunnel holds a TAP and a socket: a thousand tunnels exceed the soft
// limit of 1024 that services get by default. l2wgd uses poll/epoll only, never select().
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
      spdlog::warn("cannot raise the open-file limit: {}", std::strerror(errno));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"l2wgd: Layer 2 over WireGuard (gretap tunnels on WireGuard peers), on D-Bus"};
  l2wg::ManagerOptions options;
  std::string config_dir = options.config_dir, state_dir = options.state_dir, level = "info";
  app.add_option("--config-dir", config_dir, "tunnel configuration files (*.conf)");
  app.add_option("--state-dir", state_dir, "DUID, leases and other state");
  app.add_option("--log-level", level)
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.set_version_flag("--version", L2WG_VERSION);
  CLI11_PARSE(app, argc, argv);
  options.config_dir = config_dir;
  options.state_dir = state_dir;
  options.probe_paths = true;
  std::unique_ptr<l2wg::nft::Nftables> nftables;
  try {
    nftables = l2wg::nft::make_nftables();
    options.nftables = nftables.get();
  } catch (const l2wg::Error& e) {
    spdlog::warn("kernel gretap tunnels will not have TCP's MSS clamped: {}", e.what());
  }
  setup_logging(level);
  raise_open_file_limit();

  try {
    auto signals = make_signal_fd();
    auto netlink = l2wg::nl::make_kernel_netlink();
    auto wireguard = l2wg::wg::make_wireguard_reader();
    auto wireguard_writer = l2wg::wg::make_wireguard_writer();
    auto clock = l2wg::make_system_clock();
    auto random = l2wg::make_system_random();
    auto prefix_delegation = l2wg::routed::make_session_factory();
    auto router_advertisements = l2wg::routed::make_lan_ra_factory(*clock, *random);
    options.routed = {prefix_delegation.get(), router_advertisements.get()};
    // Before the datapath: its tunnels take back the TAPs and sockets a previous run kept.
    l2wg::systemd::FdStore fd_store;
    l2wg::dp::Datapath datapath(2, &fd_store);
    l2wg::EpollLoop loop;
    l2wg::TunnelManager manager(*netlink, *wireguard, datapath, *clock, loop, options);
    // The bus name first: a second l2wgd stops here, before it touches a tunnel.
    l2wg::BusService bus(manager, L2WG_VERSION);
    bus.request_name();
    l2wg::nl::LinkWatcher watcher(*netlink);
    manager.restore();
    manager.reload();
    for (const auto& name : fd_store.release_unclaimed())
      spdlog::info("{}: kept by systemd for a tunnel that is gone; closed", name);
    // Endpoint discovery (WGIF.discovery files): registries and their clients.
    l2wg::DiscoveryService discovery(*wireguard, *wireguard_writer, *clock, *random, loop,
                                     options.config_dir, options.state_dir);
    discovery.reload();
    bus.set_discovery(&discovery);
    std::unique_ptr<l2wg::EventLoop::Timer> discovery_poll;
    discovery_poll = loop.add_timer([&] {
      discovery.poll();
      discovery_poll->arm(clock->monotonic_us() + kDiscoveryPoll_us);
    });
    discovery_poll->arm(clock->monotonic_us() + kDiscoveryPoll_us);

    auto link_events = loop.add(watcher.fd(), [&] { manager.handle(watcher.read_events()); });
    std::unique_ptr<l2wg::EventLoop::Timer> peer_poll;
    peer_poll = loop.add_timer([&] {
      manager.poll_peers();
      peer_poll->arm(clock->monotonic_us() + kPeerPoll_us);
    });
    peer_poll->arm(clock->monotonic_us() + kPeerPoll_us);
    std::optional<int> exit_signal;
    auto signal_events = loop.add(signals.get(), [&] {
      signalfd_siginfo info;
      while (!exit_signal && read(signals.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGHUP) {
          spdlog::info("SIGHUP: re-reading {}", config_dir);
          l2wg::systemd::notify("RELOADING=1");
          manager.reload();
          discovery.reload();
          l2wg::systemd::notify("READY=1");
        } else {
          exit_signal = static_cast<int>(info.ssi_signo);
        }
      }
    });
    size_t from_files = 0, restored = 0, stopped = 0;
    for (const auto& tunnel : manager.list()) {
      ++(tunnel.persistent ? from_files : restored);
      if (tunnel.state == l2wg::TunnelState::Stopped) ++stopped;
    }
    spdlog::info(
        "l2wgd {} ready: {} tunnel(s) from files in {} ({} stopped), {} restored from "
        "the previous run (made over D-Bus)",
        L2WG_VERSION, from_files, config_dir, stopped, restored);

    // systemd: ready once the name is ours and the tunnels are back; a one-line status kept
    // current (checked at most once a second); the watchdog fed from this loop, so a loop that
    // hangs is restarted.
    std::string status;
    uint64_t status_checked_us = 0;
    auto update_status = [&] {
      std::vector<std::string> states;
      for (const auto& tunnel : manager.list()) states.push_back(l2wg::to_string(tunnel.state));
      auto line = l2wg::systemd::status_line(states);
      if (line != status) l2wg::systemd::notify("STATUS=" + line);
      status = std::move(line);
      status_checked_us = clock->monotonic_us();
    };
    update_status();
    l2wg::systemd::notify("READY=1");
    std::unique_ptr<l2wg::EventLoop::Timer> watchdog;
    if (const auto interval = l2wg::systemd::watchdog_interval_us()) {
      watchdog = loop.add_timer([&, half = *interval / 2] {
        l2wg::systemd::notify("WATCHDOG=1");
        watchdog->arm(clock->monotonic_us() + half);
      });
      watchdog->arm(clock->monotonic_us());
    }

    while (!exit_signal) {
      // The bus asks for different events and timeouts as its queues change: it is polled beside
      // the loop rather than registered on it.
      const auto bus_poll = bus.poll_data();
      pollfd fds[] = {{bus_poll.fd, bus_poll.events, 0}, {loop.fd(), POLLIN, 0}};
      if (poll(fds, 2, bus_poll.timeout_ms) < 0 && errno != EINTR)
        l2wg::throw_errno("poll", errno, l2wg::ErrorCode::Io);
      if (fds[1].revents) loop.dispatch();
      bus.process();
      if (clock->monotonic_us() - status_checked_us >= 1'000'000) update_status();
    }
    l2wg::systemd::notify("STOPPING=1");
    spdlog::info("{}: exiting; the tunnels stay up for the next start to adopt",
                 strsignal(*exit_signal));
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
