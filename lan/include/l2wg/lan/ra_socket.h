// The sockets of Router Discovery (RFC 4861 §6): LanRaSocket sends our Router Advertisements on a
// LAN and hears its Router Solicitations; UpstreamRouterListener, on the tap, solicits and hears
// the upstream router's advertisements. Both are raw ICMPv6 sockets, so the kernel checks and
// fills in checksums and picks the link-local source. What RFC 4861 §6.1 leaves to the receiver
// (hop limit 255, the source address) is checked by pure functions; when to solicit and whether
// the upstream router answers are pure state machines of their own (Solicitor, ReachabilityProbe).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "l2wg/clock.h"
#include "l2wg/fd.h"
#include "l2wg/ip.h"
#include "l2wg/lan/advertiser.h"
#include "l2wg/lan/ra.h"
#include "l2wg/lan/reachability_probe.h"
#include "l2wg/lan/solicitor.h"
#include "l2wg/mac.h"

namespace l2wg::lan {

// RFC 4861 §6.1.1: a Router Solicitation to answer. Besides what the parser refuses: an IP hop
// limit other than 255 (it came from off-link), and a source link-layer address option on one
// sent from the unspecified address.
std::variant<RouterSolicitation, ParseError> validate_solicitation(std::span<const uint8_t> icmp,
                                                                   const IpAddress& source,
                                                                   uint8_t hop_limit);
// RFC 4861 §6.1.2: a Router Advertisement to believe: hop limit 255 and a link-local source.
std::variant<RouterAdvertisement, ParseError> validate_advertisement(std::span<const uint8_t> icmp,
                                                                     const IpAddress& source,
                                                                     uint8_t hop_limit);

// What the sockets tell their owner, for its log: neither stops them.
class SocketObserver {
 public:
  virtual ~SocketObserver() = default;
  virtual void dropped(std::string_view reason) = 0;     // a packet received and ignored
  virtual void send_failed(std::string_view error) = 0;  // a packet that could not be sent
};

// The LAN side: sends to all-nodes, receives Router Solicitations (to all-routers or to us).
class LanRaSocket final : public RaSender {
 public:
  // Throws Error(NotFound) when there is no such interface, Error(InvalidArgument) when it is not
  // Ethernet, Error(Io) when the socket cannot be set up (without CAP_NET_RAW, say).
  LanRaSocket(std::string interface, SocketObserver& observer);

  int fd() const { return socket_.get(); }
  // What goes into RouterSettings::mac.
  const MacAddress& mac() const { return mac_; }
  // The fd is readable: reads what is pending (at most a bounded batch, so that a flood cannot
  // starve the owner's loop) and returns how many valid Router Solicitations were among it.
  uint32_t read();
  uint64_t dropped() const { return dropped_; }

  void send(std::span<const uint8_t> icmp) override;

 private:
  std::string interface_;
  int ifindex_;
  SocketObserver& observer_;
  UniqueFd socket_;
  MacAddress mac_;
  uint64_t dropped_ = 0;
};

struct UpstreamRouter {
  IpAddress link_local;
  uint16_t router_lifetime = 0;  // seconds; 0: it withdrew as a default router
  std::optional<uint32_t> mtu;
  bool operator==(const UpstreamRouter&) const = default;
};

// The tap side: hears Router Advertisements, keeps the latest of each router, and solicits until
// one is heard. While the tap has no usable link-local address yet (duplicate address detection),
// it solicits from :: and so without a link-layer address option (RFC 4861 §4.1). It also probes
// the router its owner watches (ReachabilityProbe).
class UpstreamRouterListener {
 public:
  // Throws like LanRaSocket. The first solicitation is due at once (next_deadline_us()).
  UpstreamRouterListener(std::string interface, Clock& clock, SocketObserver& observer);

  int fd() const { return socket_.get(); }
  // The fd is readable: the routers heard from in what was pending, each as it last advertised.
  // The watched router's answers are taken in too (reachable()).
  std::vector<UpstreamRouter> read();
  // Every router heard from so far, by link-local address, including those that withdrew.
  const std::map<IpAddress, UpstreamRouter>& routers() const { return routers_; }

  // Soliciting again, as after the link went down and up.
  void solicit() { solicitor_.start(); }
  // Probes `router` (see ReachabilityProbe); nullopt: none.
  void watch(std::optional<IpAddress> router) { probe_.watch(std::move(router)); }
  bool reachable() const { return probe_.reachable(); }
  std::optional<uint64_t> next_deadline_us() const;
  void on_timer();
  uint32_t solicitations_sent() const { return solicitor_.sent(); }
  uint64_t dropped() const { return dropped_; }

 private:
  void send_solicitation();
  void send_probe();
  void heard_neighbor(std::span<const uint8_t> icmp, const IpAddress& source, uint8_t hop_limit);

  std::string interface_;
  int ifindex_;
  SocketObserver& observer_;
  UniqueFd socket_;
  std::optional<MacAddress> mac_;  // none on a link without Ethernet addresses
  Solicitor solicitor_;
  ReachabilityProbe probe_;
  std::map<IpAddress, UpstreamRouter> routers_;
  uint64_t dropped_ = 0;
};

}  // namespace l2wg::lan
