// What on the host, outside the tunnel itself, breaks this setup: doctor's host checks, run by
// l2wgd (which may read what an unprivileged `l2wg doctor` may not) and told by
// Tunnel.Diagnose(). Pure: read_host_facts() gathers what check_host() judges.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "l2wg/bridge/netlink.h"
#include "l2wg/bridge/wireguard.h"
#include "l2wg/daemon/config.h"
#include "l2wg/daemon/firewall.h"

namespace l2wg {

struct HostFinding {
  std::string severity;  // "error" (this breaks the tunnel), "warning"
  std::string code;      // stable, for scripts
  std::string diagnosis;
  std::string fix;  // the exact command or config line
  bool operator==(const HostFinding&) const = default;
};

// A packet this tunnel lives on that the nftables ruleset drops.
struct FirewallDrop {
  std::string code;    // the finding's: "firewall-gre-in", "firewall-forward", …
  std::string packet;  // "GRE from 10.0.31.1 on wg0"
  std::string accept;  // the nft match that would let it through: iifname "wg0" meta l4proto gre
  firewall::Verdict verdict;
  bool operator==(const FirewallDrop&) const = default;
};

// Where this tunnel's packets go in the host, for judge_firewall().
struct FirewallScope {
  std::string wireguard;
  std::optional<IpAddress> remote, local;  // the GRE endpoints (the peers' inner addresses)
  std::string tap;
  bool routed = false;
  std::vector<std::string> lans;          // routed mode's LAN interfaces
  std::string bridge;                     // bridge mode's bridge
  std::vector<std::string> bridge_ports;  // its other ports
  bool bridge_netfilter = false;          // net.bridge.bridge-nf-call-ip6tables = 1
};

// The packets of `scope` that `rules` drops, each under the code of the finding it makes.
std::vector<FirewallDrop> judge_firewall(const firewall::Ruleset& rules,
                                         const FirewallScope& scope);

// An interface whose IPv6 default route came from Router Advertisements.
struct RaUplink {
  std::string name;
  std::optional<int> accept_ra, forwarding;  // net.ipv6.conf.NAME.*
  bool operator==(const RaUplink&) const = default;
};

// One of this tunnel's prefixes (delegated or on a LAN) that something else claims too.
struct PrefixConflict {
  std::string ours;   // "2001:db8:100::/64 on br-lan"
  std::string other;  // "2001:db8:100::/64 dev eth0" or "allowed IPs of peer KEY on wg0"
  bool route = true;  // false: a WireGuard peer's allowed IPs
  bool operator==(const PrefixConflict&) const = default;
};

struct HostFacts {
  std::string tunnel;
  std::string wireguard;
  std::string remote;  // the peer's inner address; "" while unknown
  bool routed = false;
  std::string bridge;
  std::optional<int> ipv6_forwarding;  // net.ipv6.conf.all.forwarding
  // IPv4: net.ipv4.conf.{all,WG}.rp_filter, the larger (the kernel applies the larger).
  std::optional<int> rp_filter;
  // Where the main table sends packets to `remote` (longest prefix); nullopt: no route.
  std::optional<std::string> reply_interface;
  std::optional<uint32_t> bridge_mtu;
  uint32_t tap_mtu = 0;
  std::string tap;
  std::vector<FirewallDrop> firewall_drops;
  bool bridge_netfilter = false;
  std::optional<int> multicast_snooping;    // the bridge's
  std::optional<int> tap_multicast_router;  // the tap's as the bridge's port
  std::vector<RaUplink> ra_uplinks;
  std::string endpoint;  // the peer's WireGuard endpoint address; "" while unknown
  std::optional<std::string> endpoint_interface;  // where the main table sends it
  std::optional<std::string> endpoint_otherwise;  // "via GW dev IF": the best route not into WG
  std::vector<PrefixConflict> prefix_conflicts;
  bool operator==(const HostFacts&) const = default;
};

std::vector<HostFinding> check_host(const HostFacts& facts);

// The default routes /proc/net/ipv6_route says came from RAs (RTF_ADDRCONF): their interfaces.
std::vector<std::string> ra_default_route_interfaces(std::string_view ipv6_route);

// What read_host_facts needs of the tunnel beyond its config.
struct TunnelView {
  std::string remote, local;  // inner addresses; "" while unknown
  std::string tap;
  uint32_t tap_mtu = 0;
  std::string endpoint;  // the peer's, "ADDRESS:PORT"; "" while unknown
  std::vector<std::pair<IpPrefix, std::string>> prefixes;  // delegated ("") or LAN's (its name)
  std::vector<wg::Peer> wireguard_peers;                   // of the WireGuard interface
  const firewall::Ruleset* ruleset = nullptr;              // nullptr: nftables unreadable
};

// Where read_host_facts reads: stand-ins for /proc/sys, /sys/class/net and /proc/net in tests.
struct HostPaths {
  std::string proc_sys = "/proc/sys";
  std::string sys_class_net = "/sys/class/net";
  std::string proc_net = "/proc/net";
};

// The facts for one tunnel, from those files and rtnetlink.
HostFacts read_host_facts(nl::Netlink& netlink, const config::Tunnel& tunnel,
                          const TunnelView& view, const HostPaths& paths = {});

}  // namespace l2wg
