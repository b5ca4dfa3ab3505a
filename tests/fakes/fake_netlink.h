// An in-memory Netlink for unit tests: links and addresses as plain data, every mutating call
// recorded, and any call made to fail on demand to exercise rollback.
#pragma once

#include <algorithm>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "l2wg/bridge/netlink.h"
#include "l2wg/bridge/wireguard.h"
#include "l2wg/error.h"

namespace l2wg::nl {
// Readable failure messages for the value types compared in tests.
inline void PrintTo(const Link& l, std::ostream* os) {
  *os << "{#" << l.ifindex << " " << l.name << " kind=" << l.kind << " mtu=" << l.mtu
      << " master=" << l.master_ifindex << (l.up ? " up" : " down") << "}";
}
inline void PrintTo(const Address& a, std::ostream* os) {
  *os << "{#" << a.ifindex << " " << a.prefix.str() << "}";
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

  bool gretap_supported = true;
  std::vector<int> without_ipv6;
  nl::BridgePortOptions last_port_options;

 private:
  void record(const std::string& call) {
    before_call(call);
    calls.push_back(call);
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
