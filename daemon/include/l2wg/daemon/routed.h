// The seams of routed mode: RoutedTunnel drives a prefix-delegation client on each routed tunnel's
// tap and a Router Advertisement endpoint on each of its LANs through these interfaces, so its
// logic is tested with fakes. The real ones wrap dhcp6::Session and lan::LanRaSocket +
// lan::Advertiser; each owns its fds, which RoutedTunnel registers on the daemon's EventLoop.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/clock.h"
#include "l2wg/dhcp6/session.h"
#include "l2wg/lan/announcement.h"
#include "l2wg/lan/ra_socket.h"

namespace l2wg::routed {

// One tunnel's DHCPv6 prefix-delegation client (see dhcp6::Session for what each call does).
class PdClient {
 public:
  virtual ~PdClient() = default;  // stops without Release; the lease file stays
  virtual std::vector<int> fds() const = 0;
  virtual void handle(int fd) = 0;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual void renew() = 0;
  virtual void release() = 0;
  virtual void link_changed() = 0;
};

class PrefixDelegationFactory {
 public:
  virtual ~PrefixDelegationFactory() = default;
  // Throws l2wg::Error naming the problem (no such interface, port 546 in use...).
  virtual std::unique_ptr<PdClient> create(const dhcp6::SessionOptions& options,
                                           dhcp6::Observer& observer) = 0;
};

// Router Advertisements on one LAN: periodic ones, answers to solicitations, final ones.
class RaEndpoint {
 public:
  virtual ~RaEndpoint() = default;  // no final RAs: a daemon restart adopts the LAN as it is
  virtual std::vector<int> fds() const = 0;
  virtual void handle(int fd) = 0;
  // Starts advertising `announcement`, or changes it (a material change goes out at once).
  virtual void announce(const lan::Announcement& announcement) = 0;
  // Final RAs: router lifetime 0, the prefixes deprecated. finished() once they are out.
  virtual void stop() = 0;
  virtual bool finished() const = 0;
};

// What the tap's listener learnt from one readable fd.
struct UpstreamNews {
  std::vector<lan::UpstreamRouter> heard;  // each router heard, as it last advertised
  std::optional<bool> reachable;           // the watched router's reachability, when it changed
};

// The upstream router on a routed tunnel's tap: solicits, hears its Router Advertisements, and
// probes the router the tunnel's traffic goes through (lan::ReachabilityProbe).
class UpstreamListener {
 public:
  virtual ~UpstreamListener() = default;
  virtual std::vector<int> fds() const = 0;
  virtual UpstreamNews handle(int fd) = 0;
  // The tap went down and up: solicit again.
  virtual void link_changed() = 0;
  // Probes `router` from now on, reachable until shown otherwise; nullopt: none.
  virtual void watch(std::optional<IpAddress> router) = 0;
};

// Router Discovery (RFC 4861 §6) on both sides of a routed tunnel.
class RaEndpointFactory {
 public:
  virtual ~RaEndpointFactory() = default;
  // Throws l2wg::Error naming the problem (no such interface, not Ethernet, no CAP_NET_RAW...).
  virtual std::unique_ptr<RaEndpoint> create(const std::string& lan) = 0;
  // On the tap. Throws as create() does.
  virtual std::unique_ptr<UpstreamListener> listen_upstream(const std::string& tap) = 0;
};

// The real ones. The RA endpoints' timers run on `clock` (a timerfd on CLOCK_BOOTTIME, as
// Clock::monotonic_us), their jitter comes from `random`.
std::unique_ptr<PrefixDelegationFactory> make_session_factory();
std::unique_ptr<RaEndpointFactory> make_lan_ra_factory(Clock& clock, Random& random);

}  // namespace l2wg::routed
