#include "l2wg/daemon/host_checks.h"

#include <fstream>

namespace l2wg {
namespace {

std::optional<int> read_sysctl(const std::string& path) {
  std::ifstream in(path);
  int value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

}  // namespace

std::vector<HostFinding> check_host(const HostFacts& f) {
  std::vector<HostFinding> out;
  if (f.routed && f.ipv6_forwarding && *f.ipv6_forwarding == 0) {
    out.push_back({"error", "ipv6-forwarding-off",
                   "IPv6 forwarding is off (net.ipv6.conf.all.forwarding = 0): the LAN hosts' "
                   "traffic from the delegated prefix never reaches the tunnel",
                   "`sysctl -w net.ipv6.conf.all.forwarding=1`, and the line "
                   "`net.ipv6.conf.all.forwarding = 1` in /etc/sysctl.d/90-l2wg.conf to keep it "
                   "(an uplink that learns its default route from RAs then needs accept_ra = 2)"});
  }
  // Strict reverse-path filtering drops what arrives on WG from a source the host would not
  // answer through WG: GRE from the peer, when the route back to it leaves elsewhere.
  if (f.rp_filter && *f.rp_filter == 1 && !f.remote.empty() && f.remote.find(':') == std::string::npos &&
      f.reply_interface && *f.reply_interface != f.wireguard) {
    out.push_back(
        {"error", "rp-filter-asymmetric",
         "strict reverse-path filtering (rp_filter = 1) on " + f.wireguard + " drops GRE from " +
             f.remote + ": the route back to it leaves by " + *f.reply_interface + ", not " +
             f.wireguard,
         "route " + f.remote + " through " + f.wireguard + " (`ip route replace " + f.remote +
             " dev " + f.wireguard + "`), or loosen the filter: `sysctl -w net.ipv4.conf." +
             f.wireguard + ".rp_filter=2 net.ipv4.conf.all.rp_filter=2`"});
  }
  if (!f.remote.empty() && f.reply_interface && *f.reply_interface != f.wireguard &&
      !(f.rp_filter && *f.rp_filter == 1)) {
    out.push_back({"warning", "asymmetric-route",
                   "replies to the peer's inner address " + f.remote + " leave by " +
                       *f.reply_interface + ", not " + f.wireguard +
                       ": GRE itself is bound to " + f.wireguard + ", but the host's own "
                       "traffic to the peer takes another way",
                   "`ip route replace " + f.remote + " dev " + f.wireguard +
                       "` (or fix the route that is more specific than " + f.wireguard +
                       "'s allowed IPs)"});
  }
  if (!f.bridge.empty() && f.bridge_mtu && *f.bridge_mtu < f.tap_mtu) {
    out.push_back({"error", "bridge-mtu",
                   "the bridge " + f.bridge + " has MTU " + std::to_string(*f.bridge_mtu) +
                       ", below its tap's " + std::to_string(f.tap_mtu) +
                       ": frames larger than that are dropped at the bridge without a word",
                   "`ip link set " + f.bridge + " mtu " + std::to_string(f.tap_mtu) +
                       "` (and the same on its other ports)"});
  }
  return out;
}

HostFacts read_host_facts(nl::Netlink& netlink, const config::Tunnel& tunnel,
                          const std::string& remote, uint32_t tap_mtu,
                          const std::string& sysctl_root) {
  HostFacts f;
  f.tunnel = tunnel.name;
  f.wireguard = tunnel.spec.wireguard;
  f.remote = remote;
  f.routed = tunnel.prefix_delegation.has_value();
  f.tap_mtu = tap_mtu;
  f.ipv6_forwarding = read_sysctl(sysctl_root + "/net/ipv6/conf/all/forwarding");
  const auto all = read_sysctl(sysctl_root + "/net/ipv4/conf/all/rp_filter");
  const auto wg = read_sysctl(sysctl_root + "/net/ipv4/conf/" + f.wireguard + "/rp_filter");
  if (all || wg) f.rp_filter = std::max(all.value_or(0), wg.value_or(0));
  if (const auto address = IpAddress::parse(remote)) {
    const Route* best = nullptr;
    const auto routes = netlink.routes(address->family(), kMainTable);
    for (const auto& route : routes)
      if (route.destination.contains(*address) &&
          (!best || route.destination.length > best->destination.length))
        best = &route;
    if (best && best->ifindex != 0)
      if (const auto link = netlink.link(best->ifindex)) f.reply_interface = link->name;
  }
  if (tunnel.spec.bridge) {
    f.bridge = tunnel.spec.bridge->name;
    if (const auto bridge = netlink.link(f.bridge)) f.bridge_mtu = bridge->mtu;
  }
  return f;
}

}  // namespace l2wg
