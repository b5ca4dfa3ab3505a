#include "l2wg/daemon/host_checks.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace l2wg {
namespace {

using firewall::Hook;
using firewall::Packet;

std::optional<int> read_sysctl(const std::string& path) {
  std::ifstream in(path);
  int value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

bool overlaps(const IpPrefix& a, const IpPrefix& b) {
  if (a.address.family() != b.address.family()) return false;
  return a.length <= b.length ? a.contains(b.address) : b.contains(a.address);
}

// The packets of one scope, each with the code of the finding its drop makes.
class PacketPlan {
 public:
  explicit PacketPlan(const FirewallScope& scope) : s_(scope) {}

  std::vector<FirewallDrop> judge(const firewall::Ruleset& rules) {
    gre();
    if (s_.routed) routed();
    if (!s_.bridge.empty()) bridged();
    std::vector<FirewallDrop> drops;
    std::set<std::string> seen;
    for (auto& [code, packet, description, accept, named_only] : planned_) {
      if (seen.count(code)) continue;
      auto verdict = rules.evaluate(packet);
      if (!verdict.dropped) continue;
      if (named_only && !names_ours(verdict)) continue;
      seen.insert(code);
      drops.push_back({code, description, accept, std::move(verdict)});
    }
    return drops;
  }

 private:
  struct Planned {
    std::string code;
    Packet packet;
    std::string description, accept;
    bool named_only = false;  // a finding only if the dropping rule names our interfaces
  };

  static Packet local_in(const std::string& iif) {
    Packet p;
    p.hooks = {Hook::Prerouting, Hook::Input};
    p.iif = iif;
    return p;
  }
  static Packet local_out(const std::string& oif) {
    Packet p;
    p.hooks = {Hook::Output, Hook::Postrouting};
    p.oif = oif;
    return p;
  }
  static Packet forwarded(const std::string& iif, const std::string& oif) {
    Packet p;
    p.hooks = {Hook::Prerouting, Hook::Forward, Hook::Postrouting};
    p.iif = iif;
    p.oif = oif;
    return p;
  }
  static Packet icmpv6(Packet p, uint8_t type) {
    p.l4proto = firewall::kIcmpv6;
    p.icmp_type = type;
    p.icmp_code = 0;
    p.saddr = *IpAddress::parse("fe80::1");
    p.ct_state = type == firewall::kPacketTooBig ? "related" : "untracked";  // ND is never tracked
    return p;
  }
  static Packet udp(Packet p, uint16_t sport, uint16_t dport) {
    p.l4proto = firewall::kUdp;
    p.sport = sport;
    p.dport = dport;
    p.saddr = *IpAddress::parse("fe80::1");
    p.daddr = *IpAddress::parse(dport == 547 ? "ff02::1:2" : "fe80::2");
    p.ct_state = "new";
    return p;
  }
  static Packet tcp(Packet p, bool first) {
    p.l4proto = firewall::kTcp;
    p.dport = 443;
    p.sport = 40000;
    if (!first) std::swap(p.sport, p.dport);
    p.tcp_flags = {first ? "syn" : "ack"};
    p.ct_state = first ? "new" : "established";
    return p;
  }
  static std::string nd_name(uint8_t type) {
    switch (type) {
      case firewall::kRouterSolicit:
        return "nd-router-solicit";
      case firewall::kRouterAdvert:
        return "nd-router-advert";
      case firewall::kNeighborSolicit:
        return "nd-neighbor-solicit";
      case firewall::kNeighborAdvert:
        return "nd-neighbor-advert";
      default:
        return "packet-too-big";
    }
  }
  static std::string nd_words(uint8_t type) {
    switch (type) {
      case firewall::kRouterSolicit:
        return "Router Solicitations";
      case firewall::kRouterAdvert:
        return "Router Advertisements";
      case firewall::kNeighborSolicit:
        return "Neighbour Solicitations";
      case firewall::kNeighborAdvert:
        return "Neighbour Advertisements";
      default:
        return "ICMPv6 Packet Too Big";
    }
  }

  void plan(std::string code, Packet p, std::string description, std::string accept,
            bool named_only = false) {
    planned_.push_back(
        {std::move(code), std::move(p), std::move(description), std::move(accept), named_only});
  }

  void gre() {
    if (!s_.remote || !s_.local) return;
    const bool v6 = s_.remote->family() == IpAddress::Family::V6;
    const std::string ip = v6 ? "ip6" : "ip";
    Packet in = local_in(s_.wireguard);
    in.ip = s_.remote->family();
    in.l4proto = firewall::kGre;
    in.saddr = s_.remote;
    in.daddr = s_.local;
    in.ct_state = "established";  // both ends send: conntrack has seen either direction
    plan("firewall-gre-in", in, "GRE from " + s_.remote->str() + " on " + s_.wireguard,
         "iifname " + quoted(s_.wireguard) + " " + ip + " saddr " + s_.remote->str() +
             " meta l4proto gre");
    Packet out = local_out(s_.wireguard);
    out.ip = in.ip;
    out.l4proto = firewall::kGre;
    out.saddr = s_.local;
    out.daddr = s_.remote;
    out.ct_state = "established";
    plan("firewall-gre-out", out, "GRE to " + s_.remote->str() + " on " + s_.wireguard,
         "oifname " + quoted(s_.wireguard) + " " + ip + " daddr " + s_.remote->str() +
             " meta l4proto gre");
  }

  void routed() {
    const std::string tap = quoted(s_.tap);
    plan("firewall-dhcpv6", udp(local_in(s_.tap), 547, 546), "DHCPv6 replies on " + s_.tap,
         "iifname " + tap + " udp dport 546");
    plan("firewall-dhcpv6", udp(local_out(s_.tap), 546, 547),
         "DHCPv6 solicitations out of " + s_.tap, "oifname " + tap + " udp dport 547");
    for (const uint8_t type :
         {firewall::kRouterAdvert, firewall::kNeighborSolicit, firewall::kNeighborAdvert})
      plan("firewall-nd-tap", icmpv6(local_in(s_.tap), type),
           nd_words(type) + " arriving on " + s_.tap,
           "iifname " + tap + " icmpv6 type " + nd_name(type));
    for (const uint8_t type :
         {firewall::kRouterSolicit, firewall::kNeighborSolicit, firewall::kNeighborAdvert})
      plan("firewall-nd-tap", icmpv6(local_out(s_.tap), type),
           nd_words(type) + " sent out of " + s_.tap,
           "oifname " + tap + " icmpv6 type " + nd_name(type));
    for (const auto& lan : s_.lans) {
      const std::string q = quoted(lan);
      for (const uint8_t type : {firewall::kRouterSolicit, firewall::kNeighborSolicit})
        plan("firewall-lan-nd", icmpv6(local_in(lan), type),
             nd_words(type) + " from the LAN " + lan,
             "iifname " + q + " icmpv6 type " + nd_name(type));
      plan("firewall-lan-nd", icmpv6(local_out(lan), firewall::kRouterAdvert),
           "Router Advertisements sent to the LAN " + lan,
           "oifname " + q + " icmpv6 type nd-router-advert");
      plan("firewall-forward", tcp(forwarded(lan, s_.tap), true),
           "new connections from the LAN " + lan + " into " + s_.tap,
           "iifname " + q + " oifname " + tap);
      plan("firewall-forward", tcp(forwarded(s_.tap, lan), false),
           "replies from " + s_.tap + " to the LAN " + lan,
           "iifname " + tap + " oifname " + q + " ct state established,related");
      plan("firewall-packet-too-big", icmpv6(forwarded(s_.tap, lan), firewall::kPacketTooBig),
           "ICMPv6 Packet Too Big from " + s_.tap + " to the LAN " + lan,
           "iifname " + tap + " icmpv6 type packet-too-big");
      for (const auto& [from, to] : {std::pair{lan, s_.tap}, std::pair{s_.tap, lan}}) {
        Packet invalid = tcp(forwarded(from, to), false);
        invalid.ct_state = "invalid";
        plan("firewall-ct-invalid", invalid, "packets of state invalid from " + from + " to " + to,
             "", true);
      }
    }
  }

  void bridged() {
    const std::string tap = quoted(s_.tap);
    for (const auto& port : s_.bridge_ports) {
      auto frame = [&](Packet p) {
        p.bridged = true;
        return p;
      };
      const std::string q = quoted(port);
      plan("firewall-bridge", frame(udp(forwarded(s_.tap, port), 546, 547)),
           "DHCPv6 solicitations bridged from " + s_.tap + " to " + port,
           "iifname " + tap + " udp dport 547");
      plan("firewall-bridge", frame(udp(forwarded(port, s_.tap), 547, 546)),
           "DHCPv6 replies bridged from " + port + " to " + s_.tap,
           "oifname " + tap + " udp dport 546");
      for (const uint8_t type :
           {firewall::kRouterSolicit, firewall::kNeighborSolicit, firewall::kNeighborAdvert})
        plan("firewall-bridge", frame(icmpv6(forwarded(s_.tap, port), type)),
             nd_words(type) + " bridged from " + s_.tap + " to " + port,
             "iifname " + tap + " icmpv6 type " + nd_name(type));
      for (const uint8_t type :
           {firewall::kRouterAdvert, firewall::kNeighborSolicit, firewall::kNeighborAdvert})
        plan("firewall-bridge", frame(icmpv6(forwarded(port, s_.tap), type)),
             nd_words(type) + " bridged from " + port + " to " + s_.tap,
             "oifname " + tap + " icmpv6 type " + nd_name(type));
      plan("firewall-bridge", frame(tcp(forwarded(s_.tap, port), true)),
           "frames bridged from " + s_.tap + " to " + port, "iifname " + tap + " oifname " + q);
      plan("firewall-bridge", frame(tcp(forwarded(port, s_.tap), false)),
           "frames bridged from " + port + " to " + s_.tap, "iifname " + q + " oifname " + tap);
    }
    // With bridge netfilter on, what the bridge forwards also passes the IP forward hook, in
    // and out of the bridge itself.
    if (s_.bridge_netfilter) {
      const std::string b = quoted(s_.bridge);
      for (const uint8_t type : {firewall::kRouterSolicit, firewall::kRouterAdvert,
                                 firewall::kNeighborSolicit, firewall::kNeighborAdvert})
        plan("bridge-netfilter", icmpv6(forwarded(s_.bridge, s_.bridge), type),
             nd_words(type) + " bridged by " + s_.bridge,
             "iifname " + b + " oifname " + b + " icmpv6 type " + nd_name(type));
      plan("bridge-netfilter", udp(forwarded(s_.bridge, s_.bridge), 546, 547),
           "DHCPv6 solicitations bridged by " + s_.bridge,
           "iifname " + b + " oifname " + b + " udp dport 547");
      plan("bridge-netfilter", udp(forwarded(s_.bridge, s_.bridge), 547, 546),
           "DHCPv6 replies bridged by " + s_.bridge,
           "iifname " + b + " oifname " + b + " udp dport 546");
    }
    // Seed 002: replies routed from WireGuard into the bridge whose request left another way.
    for (const auto family : {IpAddress::Family::V4, IpAddress::Family::V6}) {
      Packet invalid = tcp(forwarded(s_.wireguard, s_.bridge), false);
      invalid.ip = family;
      invalid.saddr.reset();
      invalid.daddr.reset();
      invalid.ct_state = "invalid";
      plan("firewall-ct-invalid", invalid,
           std::string(family == IpAddress::Family::V4 ? "IPv4" : "IPv6") +
               " packets of state invalid from " + s_.wireguard + " to " + s_.bridge,
           "", true);
    }
  }

  bool names_ours(const firewall::Verdict& v) const {
    for (const auto& name : v.named_interfaces)
      if (name == s_.tap || name == s_.bridge || std::count(s_.lans.begin(), s_.lans.end(), name))
        return true;
    return false;
  }

  const FirewallScope& s_;
  std::vector<Planned> planned_;
};

bool is_fw4(const firewall::Verdict& v) {
  return v.family == "inet" && v.table == "fw4";
}

// The command that lets the packet through right where it was dropped.
std::string accept_command(const FirewallDrop& d) {
  const auto& v = d.verdict;
  const std::string chain = v.family + " " + v.table + " " + v.chain;
  return v.handle ? "`nft insert rule " + chain + " position " + std::to_string(*v.handle) + " " +
                        d.accept + " accept`"
                  : "`nft add rule " + chain + " " + d.accept + " accept`";
}

struct DropMeaning {
  const char* code;
  const char* severity;
  const char* consequence;
  const char* fw4_advice;  // how to make it last under fw4, which rewrites its table on reload
};

constexpr DropMeaning kDropMeanings[] = {
    {"firewall-gre-in", "error",
     "the far end's frames never arrive (is IP protocol 47 allowed on the WireGuard interface?)",
     "add a rule to /etc/config/firewall from the WireGuard interface's zone with option proto "
     "'47' and option target 'ACCEPT'"},
    {"firewall-gre-out", "error", "nothing of the tunnel leaves this host",
     "add a rule to /etc/config/firewall toward the WireGuard interface's zone with option proto "
     "'47' and option target 'ACCEPT'"},
    {"firewall-dhcpv6", "error", "the prefix delegation client never gets a lease",
     "put the tap in a zone whose input accepts DHCPv6 (zone wan does: Allow-DHCPv6)"},
    {"firewall-nd-tap", "error", "neighbour discovery with the upstream router fails on the tap",
     "put the tap in a zone whose input accepts ICMPv6 (zone wan does: Allow-ICMPv6-Input)"},
    {"firewall-lan-nd", "error", "the LAN's hosts never find this router",
     "let the LAN's zone accept input (zone lan does by default)"},
    {"firewall-forward", "error", "the LAN's traffic cannot cross the tunnel",
     "put the tap in a zone (e.g. wan) and allow forwarding from the LAN's zone to it"},
    {"firewall-packet-too-big", "warning",
     "path MTU discovery across the tunnel breaks for all but TCP",
     "keep Allow-ICMPv6-Forward for the tap's zone"},
    {"firewall-bridge", "error",
     "the bridge does not carry the far end's DHCPv6 and neighbour discovery",
     "nothing: fw4 does not write bridge tables, remove the rule from where it comes from"},
    {"bridge-netfilter", "error",
     "bridge netfilter is on (net.bridge.bridge-nf-call-ip6tables = 1), so what the bridge "
     "forwards "
     "passes the IPv6 forward hook too, and the far end's router and neighbour discovery is eaten",
     "nothing: load no br_netfilter, or set the sysctl to 0"},
};

HostFinding drop_finding(const FirewallDrop& d) {
  const auto& v = d.verdict;
  if (d.code == "firewall-ct-invalid") {
    HostFinding f{"warning", d.code,
                  d.packet + " are dropped by " + v.where() +
                      ": flows whose other direction takes another path (asymmetric routes, "
                      "replies across a tunnel) are lost",
                  "`nft delete rule " + v.family + " " + v.table + " " + v.chain + " handle " +
                      std::to_string(v.handle.value_or(0)) + "`"};
    if (v.comment == "!fw4: Prevent NAT leakage")
      f.fix =
          "this is fw4's NAT leakage rule: set option masq_allow_invalid '1' on that zone in "
          "/etc/config/firewall and run `fw4 reload` (or for now " +
          f.fix + ")";
    return f;
  }
  const DropMeaning* meaning = nullptr;
  for (const auto& m : kDropMeanings)
    if (d.code == m.code) meaning = &m;
  std::string diagnosis =
      d.packet + (v.certain ? " are dropped by " : " may be dropped by ") + v.where();
  if (!v.certain) diagnosis += " (a rule before it that doctor cannot judge may accept them)";
  diagnosis += std::string(": ") + meaning->consequence;
  std::string fix =
      d.code == "bridge-netfilter"
          ? "`sysctl -w net.bridge.bridge-nf-call-ip6tables=0`, or " + accept_command(d)
          : accept_command(d);
  if (is_fw4(v))
    fix += "; fw4 rewrites its table on reload, so to keep it " + std::string(meaning->fw4_advice);
  return {v.certain ? meaning->severity : "warning", d.code, diagnosis, fix};
}

}  // namespace

std::vector<FirewallDrop> judge_firewall(const firewall::Ruleset& rules,
                                         const FirewallScope& scope) {
  return PacketPlan(scope).judge(rules);
}

std::vector<std::string> ra_default_route_interfaces(std::string_view ipv6_route) {
  constexpr unsigned long kAddrconf = 0x00040000;  // RTF_ADDRCONF: learnt from an RA
  std::vector<std::string> out;
  std::istringstream in{std::string(ipv6_route)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string dest, dest_len, src, src_len, next_hop, metric, refcnt, use, flags, name;
    if (!(fields >> dest >> dest_len >> src >> src_len >> next_hop >> metric >> refcnt >> use >>
          flags >> name))
      continue;
    if (dest != std::string(32, '0') || dest_len != "00") continue;
    if (!(std::strtoul(flags.c_str(), nullptr, 16) & kAddrconf)) continue;
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

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
  if (f.rp_filter && *f.rp_filter == 1 && !f.remote.empty() &&
      f.remote.find(':') == std::string::npos && f.reply_interface &&
      *f.reply_interface != f.wireguard) {
    out.push_back({"error", "rp-filter-asymmetric",
                   "strict reverse-path filtering (rp_filter = 1) on " + f.wireguard +
                       " drops GRE from " + f.remote + ": the route back to it leaves by " +
                       *f.reply_interface + ", not " + f.wireguard,
                   "route " + f.remote + " through " + f.wireguard + " (`ip route replace " +
                       f.remote + " dev " + f.wireguard +
                       "`), or loosen the filter: `sysctl -w net.ipv4.conf." + f.wireguard +
                       ".rp_filter=2 net.ipv4.conf.all.rp_filter=2`"});
  }
  if (!f.remote.empty() && f.reply_interface && *f.reply_interface != f.wireguard &&
      !(f.rp_filter && *f.rp_filter == 1)) {
    out.push_back(
        {"warning", "asymmetric-route",
         "replies to the peer's inner address " + f.remote + " leave by " + *f.reply_interface +
             ", not " + f.wireguard + ": GRE itself is bound to " + f.wireguard +
             ", but the host's own "
             "traffic to the peer takes another way",
         "`ip route replace " + f.remote + " dev " + f.wireguard +
             "` (or fix the route that is more specific than " + f.wireguard + "'s allowed IPs)"});
  }
  if (!f.bridge.empty() && f.bridge_mtu && *f.bridge_mtu < f.tap_mtu) {
    out.push_back({"error", "bridge-mtu",
                   "the bridge " + f.bridge + " has MTU " + std::to_string(*f.bridge_mtu) +
                       ", below its tap's " + std::to_string(f.tap_mtu) +
                       ": frames larger than that are dropped at the bridge without a word",
                   "`ip link set " + f.bridge + " mtu " + std::to_string(f.tap_mtu) +
                       "` (and the same on its other ports)"});
  }
  for (const auto& drop : f.firewall_drops) out.push_back(drop_finding(drop));
  if (!f.bridge.empty() && f.multicast_snooping == 1 && f.tap_multicast_router &&
      *f.tap_multicast_router != 2) {
    out.push_back({"warning", "multicast-snooping",
                   f.bridge + " snoops multicast (MLD) and its port " + f.tap +
                       " is not a permanent multicast router port: multicast the far end's hosts "
                       "listen to (solicited-node Neighbour Solicitations, DHCPv6) is forwarded "
                       "into the tunnel only while their MLD reports are fresh",
                   "`ip link set dev " + f.tap +
                       " type bridge_slave mcast_router 2` (l2wgd sets "
                       "it on its taps: something changed it), or `ip link set " +
                       f.bridge + " type bridge mcast_snooping 0`"});
  }
  if (f.routed)
    for (const auto& uplink : f.ra_uplinks)
      if (uplink.accept_ra == 1 && uplink.forwarding == 1)
        out.push_back(
            {"warning", "accept-ra-forwarding",
             uplink.name +
                 " has its IPv6 default route from Router Advertisements, "
                 "but with forwarding on, accept_ra = 1 makes the kernel ignore them: the "
                 "route expires and this router loses its own IPv6 uplink",
             "`sysctl -w net.ipv6.conf." + uplink.name +
                 ".accept_ra=2`, and the line "
                 "`net.ipv6.conf." +
                 uplink.name +
                 ".accept_ra = 2` in "
                 "/etc/sysctl.d/90-l2wg.conf to keep it"});
  if (!f.endpoint.empty() && f.endpoint_interface && *f.endpoint_interface == f.wireguard)
    out.push_back({"error", "endpoint-via-wireguard",
                   "the peer's endpoint " + f.endpoint + " is routed through " + f.wireguard +
                       " itself: WireGuard's own packets would enter the tunnel they carry, so "
                       "no handshake completes",
                   (f.endpoint_otherwise
                        ? "`ip route add " + f.endpoint + " " + *f.endpoint_otherwise + "`, or r"
                        : std::string("R")) +
                       "oute " + f.wireguard +
                       "'s allowed IPs in a table of their own with a "
                       "fwmark, as wg-quick does (Table = auto)"});
  for (const auto& c : f.prefix_conflicts) {
    if (c.route)
      out.push_back({"error", "prefix-route-conflict",
                     c.ours + " is also routed elsewhere (" + c.other +
                         "): traffic for it takes that route, not this tunnel's",
                     "`ip -6 route del " + c.other + "`, or ask for another prefix"});
    else
      out.push_back({"warning", "prefix-in-allowed-ips",
                     c.ours + " overlaps the " + c.other +
                         ": a route for those allowed IPs (wg-quick adds one) would send the LAN's "
                         "traffic into WireGuard",
                     "narrow the peer's AllowedIPs so they leave out " + c.ours});
  }
  return out;
}

HostFacts read_host_facts(nl::Netlink& netlink, const config::Tunnel& tunnel,
                          const TunnelView& view, const HostPaths& paths) {
  HostFacts f;
  f.tunnel = tunnel.name;
  f.wireguard = tunnel.spec.wireguard;
  f.remote = view.remote;
  f.routed = tunnel.prefix_delegation.has_value();
  f.tap_mtu = view.tap_mtu;
  f.tap = view.tap;
  const std::string& sys = paths.proc_sys;
  f.ipv6_forwarding = read_sysctl(sys + "/net/ipv6/conf/all/forwarding");
  const auto all = read_sysctl(sys + "/net/ipv4/conf/all/rp_filter");
  const auto wg = read_sysctl(sys + "/net/ipv4/conf/" + f.wireguard + "/rp_filter");
  if (all || wg) f.rp_filter = std::max(all.value_or(0), wg.value_or(0));

  // The main table of each family, dumped once however many lookups follow.
  std::map<IpAddress::Family, std::vector<Route>> main_tables;
  auto main_table = [&](IpAddress::Family family) -> const std::vector<Route>& {
    auto it = main_tables.find(family);
    if (it == main_tables.end())
      it = main_tables.emplace(family, netlink.routes(family, kMainTable)).first;
    return it->second;
  };
  // The route the main table picks for `address`, skipping those into `avoid` if it is not 0.
  auto best_route = [&](const IpAddress& address, int avoid) -> std::optional<Route> {
    std::optional<Route> best;
    for (const auto& route : main_table(address.family()))
      if (route.type == RouteType::Unicast && route.destination.contains(address) &&
          (avoid == 0 || route.ifindex != avoid) &&
          (!best || route.destination.length > best->destination.length))
        best = route;
    return best;
  };
  auto name_of = [&](int ifindex) -> std::optional<std::string> {
    if (const auto link = netlink.link(ifindex)) return link->name;
    return std::nullopt;
  };
  if (const auto address = IpAddress::parse(view.remote))
    if (const auto best = best_route(*address, 0); best && best->ifindex != 0)
      f.reply_interface = name_of(best->ifindex);
  const auto wg_link = netlink.link(f.wireguard);
  if (const auto endpoint = Endpoint::parse(view.endpoint)) {
    f.endpoint = endpoint->address.str();
    if (const auto best = best_route(endpoint->address, 0); best && best->ifindex != 0)
      f.endpoint_interface = name_of(best->ifindex);
    if (wg_link && f.endpoint_interface == f.wireguard)
      if (const auto other = best_route(endpoint->address, wg_link->ifindex);
          other && other->ifindex)
        f.endpoint_otherwise =
            (other->gateway ? "via " + other->gateway->str() + " " : std::string()) + "dev " +
            name_of(other->ifindex).value_or("?");
  }

  FirewallScope scope;
  scope.wireguard = f.wireguard;
  scope.remote = IpAddress::parse(view.remote);
  scope.local = IpAddress::parse(view.local);
  scope.tap = view.tap;
  scope.routed = f.routed;
  if (tunnel.prefix_delegation) scope.lans = tunnel.prefix_delegation->lans;
  if (tunnel.spec.bridge) {
    f.bridge = tunnel.spec.bridge->name;
    scope.bridge = f.bridge;
    if (const auto bridge = netlink.link(f.bridge)) {
      f.bridge_mtu = bridge->mtu;
      for (const auto& link : netlink.links())
        if (link.master_ifindex == bridge->ifindex && link.name != view.tap)
          scope.bridge_ports.push_back(link.name);
    }
    f.multicast_snooping =
        read_sysctl(paths.sys_class_net + "/" + f.bridge + "/bridge/multicast_snooping");
    if (!view.tap.empty())
      f.tap_multicast_router =
          read_sysctl(paths.sys_class_net + "/" + view.tap + "/brport/multicast_router");
    scope.bridge_netfilter = read_sysctl(sys + "/net/bridge/bridge-nf-call-ip6tables") == 1;
  }
  f.bridge_netfilter = scope.bridge_netfilter;
  if (view.ruleset) f.firewall_drops = judge_firewall(*view.ruleset, scope);

  if (f.routed) {
    std::ifstream in(paths.proc_net + "/ipv6_route");
    std::stringstream text;
    text << in.rdbuf();
    for (const auto& name : ra_default_route_interfaces(text.str()))
      if (name != view.tap)
        f.ra_uplinks.push_back({name, read_sysctl(sys + "/net/ipv6/conf/" + name + "/accept_ra"),
                                read_sysctl(sys + "/net/ipv6/conf/" + name + "/forwarding")});
  }

  for (const auto& [prefix, lan] : view.prefixes) {
    const std::string ours = prefix.str() + (lan.empty() ? " (delegated)" : " on " + lan);
    std::set<int> our_interfaces;
    for (const auto& name : scope.lans)
      if (const auto link = netlink.link(name); link && (lan.empty() || name == lan))
        our_interfaces.insert(link->ifindex);
    for (const auto& route : main_table(prefix.address.family()))
      if (route.type == RouteType::Unicast && route.ifindex != 0 &&
          !our_interfaces.count(route.ifindex) && route.destination.length >= prefix.length &&
          overlaps(route.destination, prefix))
        f.prefix_conflicts.push_back({ours,
                                      route.destination.str() +
                                          (route.gateway ? " via " + route.gateway->str() : "") +
                                          " dev " + name_of(route.ifindex).value_or("?"),
                                      true});
    for (const auto& peer : view.wireguard_peers)
      for (const auto& allowed : peer.allowed_ips)
        if (allowed.length > 0 && overlaps(allowed, prefix))
          f.prefix_conflicts.push_back({ours,
                                        "allowed IPs " + allowed.str() + " of peer " +
                                            wg::to_base64(peer.public_key) + " on " + f.wireguard,
                                        false});
  }
  return f;
}

}  // namespace l2wg
