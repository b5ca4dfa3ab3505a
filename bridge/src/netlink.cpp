// Netlink over rtnetlink. Requests are built with libnl's message helpers; replies are decoded by
// the same pure parser the link watcher uses (rtnl_parse.cpp).
#include "l2wg/bridge/netlink.h"

// <net/if.h> must come before the linux/ headers, which include <linux/if.h>.
#include <net/if.h>
// clang-format off
#include <arpa/inet.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/ip6_tunnel.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
// clang-format on

#include <cerrno>
#include <cstring>
#include <functional>

#include "l2wg/bridge/link_watcher.h"
#include "l2wg/error.h"
#include "rtnl_messages.h"

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
    dump(
        RTM_GETLINK, link_header(0), "cannot list interfaces",
        [&](const Message& m) {
          if (auto* l = std::get_if<LinkMessage>(&m)) out.push_back(l->link);
        },
        [&] { out.clear(); });
    return out;
  }

  std::vector<Address> addresses(int ifindex) override {
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_UNSPEC;
    ifa.ifa_index = static_cast<uint32_t>(ifindex);  // 0: all; honoured with strict checking
    std::vector<Address> out;
    dump(
        RTM_GETADDR, ifa, "cannot list addresses",
        [&](const Message& m) {
          auto* a = std::get_if<AddressMessage>(&m);
          if (a && (ifindex == 0 || a->address.ifindex == ifindex)) out.push_back(a->address);
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
  template <typename Header>
  void dump(int type, const Header& header, const std::string& what,
            const std::function<void(const Message&)>& on_message,
            const std::function<void()>& restart) {
    constexpr int kAttempts = 5;
    for (int attempt = 1;; ++attempt) {
      auto msg = make_message(type, NLM_F_DUMP, header);
      const int err = sock_.query(
          msg.get(),
          [&](std::span<const uint8_t> datagram) {
            for (const auto& m : parse_messages(datagram)) on_message(m);
          },
          what);
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

  RtnlSocket sock_;
};

}  // namespace

std::unique_ptr<Netlink> make_kernel_netlink() {
  return std::make_unique<KernelNetlink>();
}

}  // namespace l2wg::nl
