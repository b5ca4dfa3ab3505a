// l2wg-watch: prints the link and address events the bridge/ library's LinkWatcher delivers, one
// JSON object per line, until SIGINT/SIGTERM. Shows what l2wgd reacts to (a WireGuard interface
// appearing, disappearing, changing address or MTU; a tap vanishing) and lets tests check it.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "l2wg/bridge/link_watcher.h"
#include "l2wg/error.h"

namespace {

nlohmann::json link_json(const l2wg::nl::Link& l) {
  return {{"ifindex", l.ifindex}, {"name", l.name}, {"kind", l.kind}, {"mtu", l.mtu}, {"up", l.up}};
}

nlohmann::json event_json(const l2wg::nl::Event& event) {
  using namespace l2wg::nl;
  if (auto* e = std::get_if<LinkAdded>(&event)) return {{"event", "link-added"}, {"link", link_json(e->link)}};
  if (auto* e = std::get_if<LinkChanged>(&event))
    return {{"event", "link-changed"}, {"before", link_json(e->before)}, {"link", link_json(e->after)}};
  if (auto* e = std::get_if<LinkRemoved>(&event))
    return {{"event", "link-removed"}, {"link", link_json(e->link)}};
  if (auto* e = std::get_if<AddressAdded>(&event))
    return {{"event", "address-added"}, {"ifindex", e->address.ifindex}, {"address", e->address.prefix.str()}};
  const auto& removed = std::get<AddressRemoved>(event);
  return {{"event", "address-removed"}, {"ifindex", removed.address.ifindex},
          {"address", removed.address.prefix.str()}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Print link and address events as JSON lines until SIGINT/SIGTERM"};
  int receive_buffer = 1 << 20;
  unsigned stall_ms = 0;
  app.add_option("--receive-buffer", receive_buffer, "netlink socket receive buffer, bytes");
  app.add_option("--stall-ms", stall_ms,
                 "wait this long before the first read (lets the kernel overflow a small buffer)");
  CLI11_PARSE(app, argc, argv);

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  try {
    auto netlink = l2wg::nl::make_kernel_netlink();
    l2wg::nl::LinkWatcher watcher(*netlink, receive_buffer);
    std::cout << nlohmann::json{{"event", "ready"}, {"links", watcher.links().size()}}.dump()
              << std::endl;
    if (stall_ms) usleep(stall_ms * 1000);
    for (;;) {
      pollfd fds[1] = {{watcher.fd(), POLLIN, 0}};
      if (poll(fds, 1, 100) < 0 && errno != EINTR) l2wg::throw_errno("poll", errno);
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM)) return 0;
      for (const auto& event : watcher.read_events())
        std::cout << event_json(event).dump() << std::endl;
    }
  } catch (const l2wg::Error& e) {
    std::fprintf(stderr, "l2wg-watch: %s\n", e.what());
    return 1;
  }
}
