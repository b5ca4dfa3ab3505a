// An in-memory Netlink for unit tests: links, addresses, routes, rules and IPv6 settings as plain
// data, every mutating call recorded, and any call made to fail on demand to exercise rollback.
// Where it matters for "nothing left behind" it behaves as the kernel does: adding what is there
// is Exists, deleting what is not is NotFound, an address brings its prefix route into main, and
// routes through a link go when the link goes down or away. Not modelled: the local table, the
// kernel's default rules, IPv6 addresses flushed on link down.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "l2wg/bridge/netlink.h"
#include "l2wg/bridge/wireguard.h"
#include "l2wg/error.h"

// Readable failure messages for the value types compared in tests.
namespace l2wg {
inline void PrintTo(const InterfaceAddress& a, std::ostream* os) {
  *os << "{#" << a.ifindex << " " << a.prefix.str() << "}";
}
inline void PrintTo(const Route& r, std::ostream* os) {
  *os << "{" << r.str() << "}";
}
inline void PrintTo(const Rule& r, std::ostream* os) {
  *os << "{" << r.str() << "}";
}
}  // namespace l2wg
namespace l2wg::nl {
inline void PrintTo(const Link& l, std::ostream* os) {
  *os << "{#" << l.ifindex << " " << l.name << " kind=" << l.kind << " mtu=" << l.mtu
      << " master=" << l.master_ifindex << (l.up ? " up" : " down") << "}";
}
}  // namespace l2wg::nl

namespace l2wg::testing {

class FakeNetlink : public nl::Netlink {
 public:
  struct State {
    std::vector<nl::Link> links;
    std::vector<nl::Address> addresses;
    std::vector<int> pinned_mtu;  // bridges whose MTU was set explicitly
    std::vector<int> pinned_mac;  // bridges whose MAC was set explicitly
    std::vector<Route> routes;
    std::vector<Rule> rules;  // in priority order, as the kernel keeps them
    std::map<std::pair<int, std::string>, int> ipv6_conf;  // (ifindex, key) → value written
    std::map<int, nl::LinkStats> stats;                    // by ifindex; zeros when absent
    bool operator==(const State&) const = default;
  };
  State state;
  std::vector<std::string> calls;
  // Called with the name of each mutating call ("create_gretap", "set_master", ...) before it
  // takes effect; throw from it to simulate a kernel refusal.
  std::function<void(const std::string&)> before_call = [](const std::string&) {};

  int add_link(nl::Link link) {
    link.ifindex = next_ifindex_++;
    state.links.push_back(link);
    return link.ifindex;
  }

  std::optional<nl::Link> link(const std::string& name) override {
    for (auto& l : state.links)
      if (l.name == name) return l;
    return std::nullopt;
  }
  std::optional<nl::Link> link(int ifindex) override {
    for (auto& l : state.links)
      if (l.ifindex == ifindex) return l;
    return std::nullopt;
  }
  std::vector<nl::Link> links() override { return state.links; }
  nl::LinkStats link_stats(int ifindex) override {
    find(ifindex);
    const auto it = state.stats.find(ifindex);
    return it == state.stats.end() ? nl::LinkStats{} : it->second;
  }
  std::vector<nl::Address> addresses(int ifindex) override {
    std::vector<nl::Address> out;
    for (auto& a : state.addresses)
      if (ifindex == 0 || a.ifindex == ifindex) out.push_back(a);
    return out;
  }

  int create_gretap(const nl::NewGretap& spec) override {
    record("create_gretap");
    if (link(spec.name)) throw Error(ErrorCode::Exists, "exists");
    if (!gretap_supported) throw Error(ErrorCode::Unsupported, "Unknown device type");
    return add_link({0, spec.name, spec.gre.local.is_v6() ? "ip6gretap" : "gretap", spec.mtu, 0,
                     false, spec.mac, spec.gre});
  }
  int create_bridge(const std::string& name) override {
    record("create_bridge");
    return add_link({0, name, "bridge", 1500, 0, false, {}, std::nullopt});
  }
  void delete_link(int ifindex) override {
    record("delete_link");
    find(ifindex);
    std::erase_if(state.links, [&](const nl::Link& l) { return l.ifindex == ifindex; });
    std::erase_if(state.addresses, [&](const nl::Address& a) { return a.ifindex == ifindex; });
    flush_routes(ifindex);
    std::erase_if(state.ipv6_conf, [&](const auto& entry) { return entry.first.first == ifindex; });
    for (auto& l : state.links)
      if (l.master_ifindex == ifindex) l.master_ifindex = 0;
    std::erase(state.pinned_mtu, ifindex);
    std::erase(state.pinned_mac, ifindex);
  }
  void set_mtu(int ifindex, uint32_t mtu) override {
    record("set_mtu");
    auto& l = find(ifindex);
    if (l.mtu == mtu) return;  // as the kernel does: no change, no effect (and no pinning)
    l.mtu = mtu;
    if (l.kind == "bridge" && std::find(state.pinned_mtu.begin(), state.pinned_mtu.end(),
                                        ifindex) == state.pinned_mtu.end())
      state.pinned_mtu.push_back(ifindex);
  }
  void set_mac(int ifindex, const MacAddress& mac) override {
    record("set_mac");
    auto& l = find(ifindex);
    l.mac = mac;
    // As the kernel does, even for the MAC it already has: the address now counts as set.
    if (l.kind == "bridge" && std::find(state.pinned_mac.begin(), state.pinned_mac.end(),
                                        ifindex) == state.pinned_mac.end())
      state.pinned_mac.push_back(ifindex);
  }
  void set_up(int ifindex, bool up) override {
    record("set_up");
    find(ifindex).up = up;
    if (!up) flush_routes(ifindex);
  }
  void set_master(int ifindex, int master) override {
    record("set_master");
    find(ifindex).master_ifindex = master;
    if (master == 0) return;
    auto& bridge = find(master);
    // The kernel's rule: a bridge whose MAC was never set takes the lowest MAC of its ports.
    if (std::find(state.pinned_mac.begin(), state.pinned_mac.end(), master) ==
            state.pinned_mac.end() &&
        find(ifindex).mac < bridge.mac)
      bridge.mac = find(ifindex).mac;
    // The kernel's rule: an unpinned bridge takes the smallest MTU of its ports.
    if (std::find(state.pinned_mtu.begin(), state.pinned_mtu.end(), master) ==
        state.pinned_mtu.end())
      bridge.mtu = std::min(bridge.mtu, find(ifindex).mtu);
  }
  void set_bridge_port(int ifindex, const nl::BridgePortOptions& options) override {
    record("set_bridge_port");
    find(ifindex);
    last_port_options = options;
  }

  void disable_ipv6_addresses(int ifindex) override {
    record("disable_ipv6_addresses");
    find(ifindex);
    without_ipv6.push_back(ifindex);
  }

  void add_address(const nl::Address& address) override {
    record("add_address");
    find(address.ifindex);
    for (const auto& a : state.addresses)
      if (a.ifindex == address.ifindex && a.prefix.address == address.prefix.address)
        throw Error(ErrorCode::Exists, "address " + address.prefix.str() + " exists");
    state.addresses.push_back(address);
    if (auto route = prefix_route(address)) state.routes.push_back(*route);
  }
  void delete_address(const nl::Address& address) override {
    record("delete_address");
    find(address.ifindex);
    const auto it = std::find(state.addresses.begin(), state.addresses.end(), address);
    if (it == state.addresses.end())
      throw Error(ErrorCode::NotFound, "no address " + address.prefix.str());
    state.addresses.erase(it);
    if (auto route = prefix_route(address)) std::erase(state.routes, *route);
  }

  std::vector<Route> routes(IpAddress::Family family, uint32_t table) override {
    std::vector<Route> out;
    for (const auto& r : state.routes)
      if (r.table == table && r.destination.address.family() == family) out.push_back(r);
    return out;
  }
  void add_route(const Route& route) override {
    record("add_route");
    Route added = route;
    if (!added.metric) added.metric = added.destination.address.is_v6() ? 1024 : 0;
    if (added.type == RouteType::Unicast && !find(added.ifindex).up)
      throw Error(ErrorCode::Kernel,
                  "cannot add route " + added.str() + ": Nexthop device is not up");
    for (const auto& r : state.routes)
      if (r.table == added.table && r.destination == added.destination && r.metric == added.metric)
        throw Error(ErrorCode::Exists, "route " + r.str() + " exists");
    state.routes.push_back(added);
  }
  void delete_route(const Route& route) override {
    record("delete_route");
    const auto it = std::find_if(state.routes.begin(), state.routes.end(), [&](const Route& r) {
      return r.table == route.table && r.destination == route.destination &&
             (!route.gateway || r.gateway == route.gateway) &&
             (!route.ifindex || r.ifindex == route.ifindex) &&
             (!route.metric || r.metric == route.metric);
    });
    if (it == state.routes.end()) throw Error(ErrorCode::NotFound, "no route " + route.str());
    state.routes.erase(it);
  }

  std::vector<Rule> rules(IpAddress::Family family) override {
    std::vector<Rule> out;
    for (const auto& r : state.rules)
      if (r.source.address.family() == family) out.push_back(r);
    return out;
  }
  void add_rule(const Rule& rule) override {
    record("add_rule");
    if (std::find(state.rules.begin(), state.rules.end(), rule) != state.rules.end())
      throw Error(ErrorCode::Exists, "rule " + rule.str() + " exists");
    const auto after = std::find_if(state.rules.begin(), state.rules.end(),
                                    [&](const Rule& r) { return r.priority > rule.priority; });
    state.rules.insert(after, rule);
  }
  void delete_rule(const Rule& rule) override {
    record("delete_rule");
    const auto it = std::find(state.rules.begin(), state.rules.end(), rule);
    if (it == state.rules.end()) throw Error(ErrorCode::NotFound, "no rule " + rule.str());
    state.rules.erase(it);
  }

  void set_ipv6_conf(int ifindex, const std::string& key, int value) override {
    record("set_ipv6_conf");
    find(ifindex);
    state.ipv6_conf[{ifindex, key}] = value;
  }

  bool gretap_supported = true;
  std::vector<int> without_ipv6;
  nl::BridgePortOptions last_port_options;

 private:
  void record(const std::string& call) {
    before_call(call);
    calls.push_back(call);
  }
  // The route the kernel adds to main for an address (proto kernel, metric 256 for IPv6).
  static std::optional<Route> prefix_route(const nl::Address& a) {
    const bool v6 = a.prefix.address.is_v6();
    if (a.prefix.length == a.prefix.address.size() * 8) return std::nullopt;
    return Route{kMainTable,         {a.prefix.address.masked(a.prefix.length), a.prefix.length},
                 RouteType::Unicast, std::nullopt,
                 a.ifindex,          v6 ? 256u : 0u};
  }
  // Routes through `ifindex`, except the prefix routes of the addresses it still has.
  void flush_routes(int ifindex) {
    std::erase_if(state.routes, [&](const Route& r) {
      if (r.ifindex != ifindex) return false;
      for (const auto& a : state.addresses)
        if (a.ifindex == ifindex && prefix_route(a) == r) return false;
      return true;
    });
  }
  nl::Link& find(int ifindex) {
    for (auto& l : state.links)
      if (l.ifindex == ifindex) return l;
    throw Error(ErrorCode::NotFound, "no interface #" + std::to_string(ifindex));
  }
  int next_ifindex_ = 1;
};

class FakeWireGuard : public wg::WireGuardReader {
 public:
  std::vector<wg::Device> devices;
  int reads = 0;
  wg::Device read_device(const std::string& ifname) override {
    ++reads;
    for (auto& d : devices)
      if (d.name == ifname) return d;
    throw Error(ErrorCode::NotFound, "no WireGuard interface named " + ifname);
  }
};

}  // namespace l2wg::testing
