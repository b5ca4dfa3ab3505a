// The rtnetlink seam: every kernel object l2wg touches (links, addresses, bridge ports) goes
// through Netlink, so tunnel logic can be tested against a fake and the real thing is one class.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/ip.h"
#include "l2wg/mac.h"

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

struct Address {
  int ifindex = 0;
  IpPrefix prefix;  // the address with its prefix length

  bool operator==(const Address&) const = default;
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
// it gives one), Unsupported when the kernel lacks the link kind, NotFound for a vanished index.
class Netlink {
 public:
  virtual ~Netlink() = default;

  virtual std::optional<Link> link(const std::string& name) = 0;
  virtual std::optional<Link> link(int ifindex) = 0;
  virtual std::vector<Link> links() = 0;
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
};

std::unique_ptr<Netlink> make_kernel_netlink();

// Linux interface names: 1..15 bytes, no '/', ':', whitespace, not "." or "..".
bool valid_ifname(const std::string& name);

}  // namespace l2wg::nl
