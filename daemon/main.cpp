// l2wgd: the l2wg daemon. One thread polls the bus and the EventLoop, on which rtnetlink, the peer
// poll, signals and routed mode's sockets and timers (DHCPv6 clients, Router Advertisements) are
// registered; the userspace datapath runs its own workers. SIGTERM/SIGINT leave the data plane in
// place (a restart adopts it); SIGHUP re-reads the config directory.
#include <poll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <optional>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include "l2wg/bridge/link_watcher.h"
#include "l2wg/daemon/discovery.h"
#include "l2wg/daemon/manager.h"
#include "l2wg/daemon/routed.h"
#include "l2wg/dbus/service.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"

namespace {

constexpr uint64_t kPeerPoll_us = 5'000'000;
constexpr uint64_t kDiscoveryPoll_us = 1'000'000;

void setup_logging(const std::string& level) {
  // Under systemd, stderr is already the journal (JOURNAL_STREAM); the systemd sink keeps levels.
  if (std::getenv("JOURNAL_STREAM"))
    spdlog::set_default_logger(spdlog::systemd_logger_mt("l2wgd"));
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
    l2wg::dp::Datapath datapath;
    l2wg::EpollLoop loop;
    l2wg::TunnelManager manager(*netlink, *wireguard, datapath, *clock, loop, options);
    // The bus name first: a second l2wgd stops here, before it touches a tunnel.
    l2wg::BusService bus(manager, L2WG_VERSION);
    bus.request_name();
    l2wg::nl::LinkWatcher watcher(*netlink);
    manager.restore();
    manager.reload();
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
          manager.reload();
          discovery.reload();
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
    spdlog::info("l2wgd {} ready: {} tunnel(s) from files in {} ({} stopped), {} restored from "
                 "the previous run (made over D-Bus)",
                 L2WG_VERSION, from_files, config_dir, stopped, restored);

    while (!exit_signal) {
      // The bus asks for different events and timeouts as its queues change: it is polled beside
      // the loop rather than registered on it.
      const auto bus_poll = bus.poll_data();
      pollfd fds[] = {{bus_poll.fd, bus_poll.events, 0}, {loop.fd(), POLLIN, 0}};
      if (poll(fds, 2, bus_poll.timeout_ms) < 0 && errno != EINTR)
        l2wg::throw_errno("poll", errno, l2wg::ErrorCode::Io);
      if (fds[1].revents) loop.dispatch();
      bus.process();
    }
    spdlog::info("{}: exiting; the tunnels stay up for the next start to adopt",
                 strsignal(*exit_signal));
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
