// The rtnetlink seam: every kernel object l2wg touches (links, addresses, bridge ports, routes,
// rules, per-interface IPv6 settings) goes through Netlink, so tunnel logic can be tested against a
// fake and the real thing is one class.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/ip.h"
#include "l2wg/mac.h"
#include "l2wg/route.h"

namespace l2wg::nl {

// GRE parameters of a gretap/ip6gretap link, as created or as read back.
struct GreLink {
  IpAddress local;
  IpAddress remote;
  int link_ifindex = 0;  // the underlying device: GRE can never leave through another one
  std::optional<uint32_t> key;
  bool fragment = true;  // IPv4: pmtudisc off + ignore-df; IPv6: no DF semantics (see netlink.cpp)

  bool operator==(const GreLink&) const = default;
};

struct Link {
  int ifindex = 0;
  std::string name;
  std::string kind;  // IFLA_INFO_KIND: "wireguard", "bridge", "tun", "gretap", "ip6gretap", ...
  uint32_t mtu = 0;
  int master_ifindex = 0;  // 0: not enslaved
  bool up = false;         // IFF_UP
  MacAddress mac;
  std::optional<GreLink> gre;  // set for gretap and ip6gretap

  bool operator==(const Link&) const = default;
};

using Address = InterfaceAddress;

// A link's own counters (IFLA_STATS64), from the link's point of view: rx is what the link
// received, tx what it sent.
struct LinkStats {
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_errors = 0;
  uint64_t tx_errors = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_dropped = 0;

  bool operator==(const LinkStats&) const = default;
};

struct BridgePortOptions {
  bool multicast_router_permanent = true;  // IFLA_BRPORT_MULTICAST_ROUTER = 2
  bool isolated = false;                   // IFLA_BRPORT_ISOLATED
};

struct NewGretap {
  std::string name;
  GreLink gre;  // family of gre.local selects gretap or ip6gretap
  MacAddress mac;
  uint32_t mtu = 1500;
};

// Failures throw l2wg::Error: Kernel with the kernel's own text (and its extended ack message when
// it gives one), Unsupported when the kernel lacks the link kind, NotFound for a vanished index or
// when the address, route or rule to delete is not there, Exists when the one to add already is.
class Netlink {
 public:
  virtual ~Netlink() = default;

  virtual std::optional<Link> link(const std::string& name) = 0;
  virtual std::optional<Link> link(int ifindex) = 0;
  virtual std::vector<Link> links() = 0;
  virtual LinkStats link_stats(int ifindex) = 0;  // Error(NotFound) for a vanished index
  virtual std::vector<Address> addresses(int ifindex) = 0;  // 0: every interface

  // Returns the new link's ifindex. The link is left down.
  virtual int create_gretap(const NewGretap& spec) = 0;
  virtual int create_bridge(const std::string& name) = 0;
  virtual void delete_link(int ifindex) = 0;

  virtual void set_mtu(int ifindex, uint32_t mtu) = 0;
  virtual void set_mac(int ifindex, const MacAddress& mac) = 0;
  virtual void set_up(int ifindex, bool up) = 0;
  virtual void set_master(int ifindex, int master_ifindex) = 0;  // 0 releases it
  virtual void set_bridge_port(int ifindex, const BridgePortOptions& options) = 0;
  // No IPv6 address of its own (addr_gen_mode none), set before the link goes up: a bridge port
  // needs none, and its link-local address would send router solicitations and MLD reports.
  virtual void disable_ipv6_addresses(int ifindex) = 0;

  // Routed mode (lan/routing.h plans these). An address is added as `ip addr add` does: DAD as
  // the interface's settings say, permanent, with its prefix route in main.
  virtual void add_address(const Address& address) = 0;
  virtual void delete_address(const Address& address) = 0;
  // The unicast and unreachable routes of one table, as the kernel reports them (other types,
  // multipath and cached routes are left out); empty when the table does not exist.
  virtual std::vector<Route> routes(IpAddress::Family family, uint32_t table) = 0;
  // Added with `proto static`. Deleting matches the destination, table, and the gateway,
  // interface and metric where given.
  virtual void add_route(const Route& route) = 0;
  virtual void delete_route(const Route& route) = 0;
  // The rules that are plainly "from PREFIX lookup TABLE" (rules with other selectors or actions
  // are left out), in priority order.
  virtual std::vector<Rule> rules(IpAddress::Family family) = 0;
  virtual void add_rule(const Rule& rule) = 0;
  virtual void delete_rule(const Rule& rule) = 0;
  // Writes /proc/sys/net/ipv6/conf/IF/KEY, e.g. accept_ra 0 or accept_dad 0 on the tap
  // (rtnetlink reads these settings but cannot write them). NotFound when the interface or the
  // setting does not exist (an interface without IPv6 has none); InvalidArgument for a key that
  // is not a plain setting name.
  virtual void set_ipv6_conf(int ifindex, const std::string& key, int value) = 0;
};

std::unique_ptr<Netlink> make_kernel_netlink();

// Linux interface names: 1..15 bytes, no '/', ':', whitespace, not "." or "..".
bool valid_ifname(const std::string& name);

}  // namespace l2wg::nl
