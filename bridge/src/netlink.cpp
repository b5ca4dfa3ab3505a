// Netlink over rtnetlink. Requests are built with libnl's message helpers; replies are decoded by
// the same pure parser the link watcher uses (rtnl_parse.cpp). IPv6 interface settings, which
// rtnetlink can read but not write, go through /proc/sys.
#include "l2wg/bridge/netlink.h"

// <net/if.h> must come before the linux/ headers, which include <linux/if.h>.
#include <net/if.h>
// clang-format off
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/ip6_tunnel.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
// clang-format on
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "l2wg/bridge/link_watcher.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"
#include "rtnl_messages.h"
#include "rtnl_parse.h"

namespace l2wg::nl {

bool valid_ifname(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

namespace {

class KernelNetlink final : public Netlink {
 public:
  std::optional<Link> link(const std::string& name) override {
    if (!valid_ifname(name)) return std::nullopt;
    auto msg = make_message(RTM_GETLINK, 0, link_header(0));
    put_string(msg.get(), IFLA_IFNAME, name);
    return single_link(msg.get(), "cannot look up interface " + name);
  }

  std::optional<Link> link(int ifindex) override {
    if (ifindex <= 0) return std::nullopt;
    auto msg = make_message(RTM_GETLINK, 0, link_header(ifindex));
    return single_link(msg.get(), "cannot look up interface #" + std::to_string(ifindex));
  }

  std::vector<Link> links() override {
    std::vector<Link> out;
    dump([] { return make_message(RTM_GETLINK, NLM_F_DUMP, link_header(0)); },
         "cannot list interfaces",
         [&](std::span<const uint8_t> datagram) {
           for (const auto& m : parse_messages(datagram))
             if (auto* l = std::get_if<LinkMessage>(&m)) out.push_back(l->link);
         },
         [&] { out.clear(); });
    return out;
  }

  LinkStats link_stats(int ifindex) override {
    const std::string what = "cannot read the counters of " + describe(ifindex);
    auto msg = make_message(RTM_GETLINK, 0, link_header(ifindex));
    std::optional<LinkStats> out;
    const int err = sock_.query(
        msg.get(), [&](std::span<const uint8_t> datagram) { out = parse_link_stats(datagram); },
        what);
    if (err == ENODEV) throw Error(ErrorCode::NotFound, what + ": no such interface");
    if (err != 0 || !out) throw Error(ErrorCode::Kernel, what + ": the kernel sent none");
    return *out;
  }

  std::vector<Address> addresses(int ifindex) override {
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_UNSPEC;
    ifa.ifa_index = static_cast<uint32_t>(ifindex);  // 0: all; honoured with strict checking
    std::vector<Address> out;
    dump([&] { return make_message(RTM_GETADDR, NLM_F_DUMP, ifa); }, "cannot list addresses",
         [&](std::span<const uint8_t> datagram) {
           for (const auto& m : parse_messages(datagram)) {
             auto* a = std::get_if<AddressMessage>(&m);
             if (a && (ifindex == 0 || a->address.ifindex == ifindex)) out.push_back(a->address);
           }
         },
         [&] { out.clear(); });
    return out;
  }

  int create_gretap(const NewGretap& spec) override {
    auto msg = build_new_gretap(spec);
    sock_.request(msg.get(), "cannot create " +
                                 std::string(spec.gre.local.is_v6() ? "ip6gretap " : "gretap ") +
                                 spec.name);
    return created_ifindex(spec.name);
  }

  int create_bridge(const std::string& name) override {
    auto msg = make_message(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, link_header(0));
    put_string(msg.get(), IFLA_IFNAME, name);
    {
      Nest info(msg.get(), IFLA_LINKINFO);
      put_string(msg.get(), IFLA_INFO_KIND, "bridge");
    }
    sock_.request(msg.get(), "cannot create bridge " + name);
    return created_ifindex(name);
  }

  void delete_link(int ifindex) override {
    auto msg = make_message(RTM_DELLINK, 0, link_header(ifindex));
    sock_.request(msg.get(), "cannot delete interface #" + std::to_string(ifindex));
  }

  void set_mtu(int ifindex, uint32_t mtu) override {
    auto msg = make_message(RTM_NEWLINK, 0, link_header(ifindex));
    put_value<uint32_t>(msg.get(), IFLA_MTU, mtu);
    sock_.request(msg.get(), "cannot set MTU " + std::to_string(mtu) + " on " + describe(ifindex));
  }

  void set_mac(int ifindex, const MacAddress& mac) override {
    auto msg = make_message(RTM_NEWLINK, 0, link_header(ifindex));
    put(msg.get(), IFLA_ADDRESS, mac.bytes.data(), mac.bytes.size());
    sock_.request(msg.get(), "cannot set MAC " + mac.str() + " on " + describe(ifindex));
  }

  void set_up(int ifindex, bool up) override {
    auto header = link_header(ifindex);
    header.ifi_change = IFF_UP;
    header.ifi_flags = up ? IFF_UP : 0;
    auto msg = make_message(RTM_NEWLINK, 0, header);
    sock_.request(msg.get(),
                  std::string("cannot set ") + (up ? "up " : "down ") + describe(ifindex));
  }

  void set_master(int ifindex, int master_ifindex) override {
    auto msg = make_message(RTM_NEWLINK, 0, link_header(ifindex));
    put_value<uint32_t>(msg.get(), IFLA_MASTER, static_cast<uint32_t>(master_ifindex));
    sock_.request(msg.get(), master_ifindex ? "cannot add " + describe(ifindex) + " to bridge " +
                                                  describe(master_ifindex)
                                            : "cannot release " + describe(ifindex));
  }

  void disable_ipv6_addresses(int ifindex) override {
    auto msg = make_message(RTM_NEWLINK, 0, link_header(ifindex));
    {
      Nest af_spec(msg.get(), IFLA_AF_SPEC);
      Nest inet6(msg.get(), AF_INET6);
      put_value<uint8_t>(msg.get(), IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
    }
    sock_.request(msg.get(), "cannot turn off IPv6 addresses on " + describe(ifindex));
  }

  void set_bridge_port(int ifindex, const BridgePortOptions& options) override {
    auto msg = build_bridge_port(ifindex, options);
    sock_.request(msg.get(), "cannot configure bridge port " + describe(ifindex));
  }

  void add_address(const Address& address) override {
    auto msg = build_address(RTM_NEWADDR, address);
    sock_.request(msg.get(), "cannot add address " + address.prefix.str() + " to " +
                                 describe(address.ifindex));
  }

  void delete_address(const Address& address) override {
    auto msg = build_address(RTM_DELADDR, address);
    sock_.request(
        msg.get(),
        "cannot remove address " + address.prefix.str() + " from " + describe(address.ifindex),
        EADDRNOTAVAIL);
  }

  std::vector<Route> routes(IpAddress::Family family, uint32_t table) override {
    std::vector<Route> out;
    dump([&] { return build_route_dump(family, table); },
         "cannot list the routes of table " + std::to_string(table),
         [&](std::span<const uint8_t> datagram) {
           for (auto& route : parse_routes(datagram))  // kernels without strict checking dump all
             if (route.table == table && route.destination.address.family() == family)
               out.push_back(route);
         },
         [&] { out.clear(); });
    return out;
  }

  void add_route(const Route& route) override {
    auto msg = build_route(RTM_NEWROUTE, route);
    sock_.request(msg.get(), "cannot add route " + describe(route));
  }

  void delete_route(const Route& route) override {
    auto msg = build_route(RTM_DELROUTE, route);
    sock_.request(msg.get(), "cannot remove route " + describe(route), ESRCH);
  }

  std::vector<Rule> rules(IpAddress::Family family) override {
    fib_rule_hdr frh{};
    frh.family = family == IpAddress::Family::V4 ? AF_INET : AF_INET6;
    std::vector<Rule> out;
    dump([&] { return make_message(RTM_GETRULE, NLM_F_DUMP, frh); }, "cannot list rules",
         [&](std::span<const uint8_t> datagram) {
           for (auto& rule : parse_rules(datagram))
             if (rule.source.address.family() == family) out.push_back(rule);
         },
         [&] { out.clear(); });
    return out;
  }

  void add_rule(const Rule& rule) override {
    auto msg = build_rule(RTM_NEWRULE, rule);
    sock_.request(msg.get(), "cannot add rule " + rule.str());
  }

  void delete_rule(const Rule& rule) override {
    auto msg = build_rule(RTM_DELRULE, rule);
    sock_.request(msg.get(), "cannot remove rule " + rule.str(), ENOENT);
  }

  void set_ipv6_conf(int ifindex, const std::string& key, int value) override {
    char name[IF_NAMESIZE];
    if (!if_indextoname(static_cast<unsigned>(ifindex), name))
      throw Error(ErrorCode::NotFound, "no interface #" + std::to_string(ifindex));
    const bool plain_key = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (!plain_key) throw Error(ErrorCode::InvalidArgument, "not an IPv6 setting: " + key);
    const std::string path = std::string("/proc/sys/net/ipv6/conf/") + name + "/" + key;
    const std::string what = "cannot set " + path + " to " + std::to_string(value);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    // No such file: no such setting, or no IPv6 on that interface (disable_ipv6, a bridge port).
    if (!fd) throw_errno(what, errno, errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Kernel);
    const std::string text = std::to_string(value) + "\n";
    const ssize_t written = ::write(fd.get(), text.data(), text.size());
    if (written < 0) throw_errno(what, errno);
    if (static_cast<size_t>(written) != text.size())
      throw Error(ErrorCode::Kernel, what + ": short write");
  }

 private:
  std::optional<Link> single_link(nl_msg* msg, const std::string& what) {
    std::optional<Link> out;
    const int err = sock_.query(
        msg,
        [&](std::span<const uint8_t> datagram) {
          for (auto& m : parse_messages(datagram))
            if (auto* l = std::get_if<LinkMessage>(&m)) out = std::move(l->link);
        },
        what);
    return err == 0 ? out : std::nullopt;
  }

  // A dump the kernel marks as interrupted (the table changed meanwhile) may have skipped
  // entries; it is redone, a few times at most, so a consumer never misses a link.
  void dump(const std::function<MessagePtr()>& make_request, const std::string& what,
            const std::function<void(std::span<const uint8_t>)>& on_datagram,
            const std::function<void()>& restart) {
    constexpr int kAttempts = 5;
    for (int attempt = 1;; ++attempt) {
      auto msg = make_request();
      const int err = sock_.query(msg.get(), on_datagram, what);
      if (err != EINTR) return;
      if (attempt == kAttempts) throw Error(ErrorCode::Kernel, what + ": the table kept changing");
      restart();
    }
  }

  int created_ifindex(const std::string& name) {
    auto created = link(name);
    if (!created) throw Error(ErrorCode::Kernel, name + " vanished right after it was created");
    return created->ifindex;
  }

  std::string describe(int ifindex) {
    char name[IF_NAMESIZE];
    if (if_indextoname(static_cast<unsigned>(ifindex), name)) return name;
    return "interface #" + std::to_string(ifindex);
  }

  // The route with its interface's name: "default via fe80::1 dev l2-lab table 100".
  std::string describe(const Route& route) {
    std::string text = route.str();
    if (route.ifindex == 0) return text;
    const std::string index = "dev #" + std::to_string(route.ifindex);
    text.replace(text.find(index), index.size(), "dev " + describe(route.ifindex));
    return text;
  }

  RtnlSocket sock_;
};

}  // namespace

std::unique_ptr<Netlink> make_kernel_netlink() {
  return std::make_unique<KernelNetlink>();
}

}  // namespace l2wg::nl
