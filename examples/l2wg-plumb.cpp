// l2wg-plumb: one bridge-mode tunnel in the foreground, built with the bridge/ library alone.
// It sets the tunnel up, prints what it built as one JSON line, forwards frames (userspace
// datapath) until SIGINT or SIGTERM, then removes exactly what it created. The tests and the
// benchmarks drive the plumbing with it; l2wgd composes the same library.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "l2wg/bridge/tunnel.h"
#include "l2wg/error.h"

namespace {

nlohmann::json describe(const l2wg::TunnelPlumbing& t) {
  return {
      {"interface", t.tap_name},
      {"ifindex", t.tap_ifindex},
      {"wireguard", t.wireguard},
      {"peer_public_key", l2wg::wg::to_base64(t.peer_key)},
      {"local", t.local.str()},
      {"remote", t.remote.str()},
      {"mac", t.mac.str()},
      {"mtu", t.plan.tap_mtu},
      {"fragment", t.plan.fragment},
      {"mss_clamp_mtu", t.plan.mss_clamp_mtu ? nlohmann::json(*t.plan.mss_clamp_mtu) : nullptr},
      {"datapath", t.plan.datapath == l2wg::gre::DatapathKind::Kernel ? "kernel" : "userspace"},
      {"note", t.plan.note},
      {"bridge", t.bridge},
      {"created_bridge", t.created_bridge},
  };
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Set up one gretap-over-WireGuard tunnel, run it, tear it down on SIGINT/SIGTERM"};
  l2wg::TunnelSpec spec;
  std::string local, mtu = "auto", datapath = "auto", mac;
  std::optional<uint32_t> key;
  std::string bridge;
  bool create_bridge = false, isolated = false, once = false;
  unsigned workers = 2;
  app.add_option("--wg", spec.wireguard, "WireGuard interface")->required();
  app.add_option("--peer", spec.peer, "peer inner address or base64 public key")->required();
  app.add_option("--local", local, "local inner address (default: the interface's own)");
  app.add_option("--interface", spec.tap_name, "tap name")->required();
  app.add_option("--key", key, "GRE key");
  app.add_option("--mtu", mtu, "auto or a number");
  app.add_option("--datapath", datapath, "auto, kernel or userspace")
      ->check(CLI::IsMember({"auto", "kernel", "userspace"}));
  app.add_option("--mac", mac, "tap MAC address (default: derived from the peer's key)");
  app.add_option("--bridge", bridge, "enslave the tap into this bridge");
  app.add_flag("--create-bridge", create_bridge, "create the bridge if missing");
  app.add_flag("--isolated", isolated, "make the bridge port isolated");
  app.add_option("--workers", workers, "userspace datapath threads")->check(CLI::Range(1u, 64u));
  app.add_flag("--once", once, "tear down right after setup (for tests of setup and teardown)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!local.empty()) {
      spec.local = l2wg::IpAddress::parse(local);
      if (!spec.local) throw l2wg::Error(l2wg::ErrorCode::InvalidArgument, "bad --local " + local);
    }
    if (mtu != "auto") {
      try {
        spec.mtu.fixed = static_cast<uint32_t>(std::stoul(mtu));
      } catch (const std::exception&) {
        throw l2wg::Error(l2wg::ErrorCode::InvalidArgument, "bad --mtu " + mtu);
      }
    }
    spec.key = key;
    spec.datapath = datapath == "kernel"      ? l2wg::gre::DatapathChoice::Kernel
                    : datapath == "userspace" ? l2wg::gre::DatapathChoice::Userspace
                                              : l2wg::gre::DatapathChoice::Auto;
    if (!mac.empty()) {
      spec.mac = l2wg::MacAddress::parse(mac);
      if (!spec.mac) throw l2wg::Error(l2wg::ErrorCode::InvalidArgument, "bad --mac " + mac);
    }
    if (!bridge.empty()) spec.bridge = l2wg::BridgeSpec{bridge, create_bridge, isolated};

    // Block the signals before any thread starts, so only sigwait below receives them.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    auto netlink = l2wg::nl::make_kernel_netlink();
    auto wireguard = l2wg::wg::make_wireguard_reader();
    l2wg::dp::Datapath datapath_engine(workers);
    l2wg::TunnelBuilder builder(*netlink, *wireguard, datapath_engine);
    const auto tunnel = builder.setup(spec);
    std::cout << describe(tunnel).dump() << std::endl;
    if (!once) {
      int signal = 0;
      sigwait(&stop, &signal);
    }
    if (tunnel.userspace_id) {
      const auto c = datapath_engine.counters(*tunnel.userspace_id);
      spdlog::info("frames out {} in {}, malformed {}, wrong key {}, send errors {}", c.frames_out,
                   c.frames_in, c.malformed_in, c.wrong_key_in, c.send_errors);
    }
    builder.teardown(tunnel);
    return 0;
  } catch (const l2wg::Error& e) {
    std::fprintf(stderr, "l2wg-plumb: %s\n", e.what());
    return 1;
  }
}
