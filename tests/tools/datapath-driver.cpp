// Runs one userspace-datapath tunnel for the netns tests and benchmarks: adds it, prints "ready",
// then serves signals until SIGTERM/SIGINT. SIGUSR1 prints the counters, SIGHUP removes the
// tunnel and adds it again (re-attaching to the persistent TAP). The counters are printed at exit.
// --clamp-mss clamps TCP's MSS as the daemon does for MTU=auto, from the WireGuard MTU.
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "l2wg/bridge/datapath.h"
#include "l2wg/bridge/gre.h"
#include "l2wg/bridge/mss_clamp.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"

namespace {

void print(const l2wg::dp::Counters& c) {
  std::cout << "frames_out=" << c.frames_out << " frames_in=" << c.frames_in
            << " bytes_out=" << c.bytes_out << " bytes_in=" << c.bytes_in
            << " malformed_in=" << c.malformed_in << " wrong_key_in=" << c.wrong_key_in
            << " send_errors=" << c.send_errors << " mss_clamped=" << c.mss_clamped
            << " segmented_out=" << c.segmented_out << " coalesced_in=" << c.coalesced_in
            << std::endl;
}

uint32_t interface_mtu(const std::string& name) {
  l2wg::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (!fd || ::ioctl(fd.get(), SIOCGIFMTU, &request) != 0)
    l2wg::throw_errno("cannot read the MTU of " + name, errno);
  return static_cast<uint32_t>(request.ifr_mtu);
}

l2wg::IpAddress parse_address(const std::string& text, const char* what) {
  const auto address = l2wg::IpAddress::parse(text);
  if (!address) throw CLI::ValidationError(what, "not an IP address: " + text);
  return *address;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Runs one userspace gretap tunnel until SIGTERM"};
  std::string tap, wireguard, local, remote;
  std::optional<uint32_t> key;
  bool no_fragment = false;
  bool clamp_mss = false;
  unsigned workers = 2;
  uint32_t tap_mtu = 1500;
  app.add_option("--tap", tap, "TAP name")->required();
  app.add_option("--wg", wireguard, "WireGuard interface")->required();
  app.add_option("--local", local, "local inner address")->required();
  app.add_option("--remote", remote, "remote inner address")->required();
  app.add_option("--key", key, "GRE key");
  app.add_flag("--no-fragment", no_fragment, "forbid fragmenting the outer packets");
  app.add_flag("--clamp-mss", clamp_mss,
               "clamp TCP's MSS to fit the WireGuard MTU, as MTU=auto does in the daemon");
  app.add_option("--workers", workers, "worker threads");
  app.add_option("--tap-mtu", tap_mtu,
                 "the MTU the tap is given (segments merged by the kernel "
                 "are cut to fit it)");
  CLI11_PARSE(app, argc, argv);

  // Blocked before the workers start, so that only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    l2wg::dp::TunnelSpec spec{.tap_name = tap,
                              .wireguard = wireguard,
                              .local = parse_address(local, "--local"),
                              .remote = parse_address(remote, "--remote"),
                              .key = key,
                              .fragment = !no_fragment,
                              .mss_clamp_mtu = std::nullopt,
                              .tap_mtu = tap_mtu};
    if (clamp_mss) {
      const uint32_t wg_mtu = interface_mtu(wireguard);
      spec.mss_clamp_mtu = l2wg::gre::plan(l2wg::gre::DatapathChoice::Userspace, {},
                                           spec.remote.family(), key.has_value(), wg_mtu, false)
                               .mss_clamp_mtu;
      if (spec.mss_clamp_mtu) {
        std::cout << "mss_clamp_mtu=" << *spec.mss_clamp_mtu << " ipv4_mss="
                  << l2wg::mss::mss_for(l2wg::IpAddress::Family::V4, *spec.mss_clamp_mtu)
                  << " ipv6_mss="
                  << l2wg::mss::mss_for(l2wg::IpAddress::Family::V6, *spec.mss_clamp_mtu)
                  << " wg_mtu=" << wg_mtu << std::endl;
      }
    }
    l2wg::dp::Datapath datapath(workers);
    auto id = datapath.add(spec);
    std::cout << "ready" << std::endl;
    for (;;) {
      int signal = 0;
      sigwait(&signals, &signal);
      if (signal == SIGUSR1) {
        print(datapath.counters(id));
      } else if (signal == SIGHUP) {
        datapath.remove(id);
        id = datapath.add(spec);
        std::cout << "re-added" << std::endl;
      } else {
        break;
      }
    }
    print(datapath.counters(id));
  } catch (const l2wg::Error& e) {
    std::cerr << "datapath-driver: " << e.what() << " [" << l2wg::to_string(e.code()) << "]"
              << std::endl;
    return 1;
  } catch (const CLI::Error& e) {
    return app.exit(e);
  }
  return 0;
}
