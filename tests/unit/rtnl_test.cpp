// rtnetlink requests and notifications: what we send decodes to what we meant, and what the
// kernel sends decodes into the right value types.
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/ip6_tunnel.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <arpa/inet.h>

#include <gtest/gtest.h>

#include "l2wg/bridge/link_watcher.h"
#include "l2wg/error.h"
#include "rtnl_messages.h"

namespace l2wg::nl {
namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

std::vector<uint8_t> bytes_of(nl_msg* msg) {
  const auto* hdr = nlmsg_hdr(msg);
  const auto* p = reinterpret_cast<const uint8_t*>(hdr);
  return {p, p + hdr->nlmsg_len};
}

// A request turned into what the kernel would announce for the new link: same attributes,
// an ifindex assigned.
std::vector<uint8_t> as_announcement(nl_msg* msg, int ifindex) {
  auto out = bytes_of(msg);
  auto* hdr = reinterpret_cast<nlmsghdr*>(out.data());
  static_cast<ifinfomsg*>(NLMSG_DATA(hdr))->ifi_index = ifindex;
  return out;
}

NewGretap gretap_v4(std::optional<uint32_t> key) {
  return {"l2-lab", {ip("10.0.31.10"), ip("10.0.31.2"), 4, key, true},
          *MacAddress::parse("02:11:22:33:44:55"), 1500};
}

TEST(RtnlMessages, GretapRequestCarriesEveryParameter) {
  auto msg = build_new_gretap(gretap_v4(42));
  auto* hdr = nlmsg_hdr(msg.get());
  EXPECT_EQ(hdr->nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(hdr->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
  nlattr* tb[IFLA_MAX + 1] = {};
  ASSERT_EQ(nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr), 0);
  EXPECT_STREQ(nla_get_string(tb[IFLA_IFNAME]), "l2-lab");
  EXPECT_EQ(nla_get_u32(tb[IFLA_MTU]), 1500u);
  nlattr* info[IFLA_INFO_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr), 0);
  EXPECT_STREQ(nla_get_string(info[IFLA_INFO_KIND]), "gretap");
  nlattr* gre[IFLA_GRE_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(gre, IFLA_GRE_MAX, info[IFLA_INFO_DATA], nullptr), 0);
  EXPECT_EQ(nla_get_u32(gre[IFLA_GRE_LINK]), 4u);
  EXPECT_EQ(nla_get_u16(gre[IFLA_GRE_OFLAGS]), GRE_KEY);
  EXPECT_EQ(nla_get_u32(gre[IFLA_GRE_OKEY]), htonl(42));
  EXPECT_EQ(nla_get_u32(gre[IFLA_GRE_IKEY]), htonl(42));
  EXPECT_EQ(nla_get_u8(gre[IFLA_GRE_PMTUDISC]), 0);   // nopmtudisc
  EXPECT_EQ(nla_get_u8(gre[IFLA_GRE_IGNORE_DF]), 1);  // ignore-df
}

TEST(RtnlMessages, GretapRoundTripsThroughTheParser) {
  for (auto key : {std::optional<uint32_t>{}, std::optional<uint32_t>{0xdeadbeef}}) {
    const auto spec = gretap_v4(key);
    auto msg = build_new_gretap(spec);
    const auto announced = as_announcement(msg.get(), 9);
    const auto messages = parse_messages(announced);
    ASSERT_EQ(messages.size(), 1u);
    const auto& m = std::get<LinkMessage>(messages[0]);
    EXPECT_FALSE(m.removed);
    EXPECT_EQ(m.link.ifindex, 9);
    EXPECT_EQ(m.link.name, "l2-lab");
    EXPECT_EQ(m.link.kind, "gretap");
    EXPECT_EQ(m.link.mtu, 1500u);
    EXPECT_EQ(m.link.mac, spec.mac);
    ASSERT_TRUE(m.link.gre);
    EXPECT_EQ(*m.link.gre, spec.gre);
  }
}

TEST(RtnlMessages, Ip6gretapHasNoEncapLimitAndRefusesFragmentation) {
  NewGretap spec{"l2-v6", {ip("fd00:31::1"), ip("fd00:31::2"), 5, 7, false}, {}, 1362};
  auto msg = build_new_gretap(spec);
  const auto messages = parse_messages(as_announcement(msg.get(), 3));
  ASSERT_EQ(messages.size(), 1u);
  const auto& link = std::get<LinkMessage>(messages[0]).link;
  EXPECT_EQ(link.kind, "ip6gretap");
  ASSERT_TRUE(link.gre);
  EXPECT_EQ(*link.gre, spec.gre);

  nlattr* tb[IFLA_MAX + 1] = {};
  ASSERT_EQ(nlmsg_parse(nlmsg_hdr(msg.get()), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr), 0);
  nlattr* info[IFLA_INFO_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr), 0);
  nlattr* gre[IFLA_GRE_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(gre, IFLA_GRE_MAX, info[IFLA_INFO_DATA], nullptr), 0);
  EXPECT_EQ(nla_get_u32(gre[IFLA_GRE_FLAGS]), static_cast<uint32_t>(IP6_TNL_F_IGN_ENCAP_LIMIT));

  spec.gre.fragment = true;
  EXPECT_THROW(build_new_gretap(spec), Error);
}

TEST(RtnlMessages, MixedFamiliesAreRefused) {
  NewGretap spec{"l2-x", {ip("10.0.0.1"), ip("fd00::1"), 5, {}, true}, {}, 1500};
  EXPECT_THROW(build_new_gretap(spec), Error);
}

TEST(RtnlMessages, BridgePortIsPermanentMulticastRouterAndOptionallyIsolated) {
  auto msg = build_bridge_port(12, {.multicast_router_permanent = true, .isolated = true});
  auto* hdr = nlmsg_hdr(msg.get());
  EXPECT_EQ(hdr->nlmsg_type, RTM_SETLINK);
  const auto* ifi = static_cast<const ifinfomsg*>(nlmsg_data(hdr));
  EXPECT_EQ(ifi->ifi_family, AF_BRIDGE);
  EXPECT_EQ(ifi->ifi_index, 12);
  nlattr* tb[IFLA_MAX + 1] = {};
  ASSERT_EQ(nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr), 0);
  ASSERT_TRUE(tb[IFLA_PROTINFO]);
  EXPECT_TRUE(nla_is_nested(tb[IFLA_PROTINFO]));
  nlattr* port[IFLA_BRPORT_MAX + 1] = {};
  ASSERT_EQ(nla_parse_nested(port, IFLA_BRPORT_MAX, tb[IFLA_PROTINFO], nullptr), 0);
  EXPECT_EQ(nla_get_u8(port[IFLA_BRPORT_MULTICAST_ROUTER]), 2);
  EXPECT_EQ(nla_get_u8(port[IFLA_BRPORT_ISOLATED]), 1);
}

// An RTM_NEWADDR/DELADDR notification, built the way the kernel lays it out.
std::vector<uint8_t> address_message(int type, int ifindex, const IpAddress& a, uint8_t plen,
                                     bool with_local) {
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(a.af());
  ifa.ifa_prefixlen = plen;
  ifa.ifa_index = static_cast<uint32_t>(ifindex);
  auto msg = make_message(type, 0, ifa);
  if (with_local) nla_put(msg.get(), IFA_LOCAL, static_cast<int>(a.size()), a.data());
  // On point-to-point links IFA_ADDRESS is the peer: make it differ to prove IFA_LOCAL wins.
  const auto peer = with_local ? ip(a.is_v4() ? "192.0.2.99" : "2001:db8::99") : a;
  nla_put(msg.get(), IFA_ADDRESS, static_cast<int>(peer.size()), peer.data());
  return bytes_of(msg.get());
}

TEST(RtnlParse, AddressesPreferIfaLocal) {
  auto datagram = address_message(RTM_NEWADDR, 3, ip("10.0.31.10"), 24, true);
  const auto more = address_message(RTM_DELADDR, 4, ip("2001:db8::1"), 64, false);
  datagram.insert(datagram.end(), more.begin(), more.end());
  const auto messages = parse_messages(datagram);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(std::get<AddressMessage>(messages[0]),
            (AddressMessage{false, {3, *IpPrefix::parse("10.0.31.10/24")}}));
  EXPECT_EQ(std::get<AddressMessage>(messages[1]),
            (AddressMessage{true, {4, *IpPrefix::parse("2001:db8::1/64")}}));
}

TEST(RtnlParse, MalformedInputYieldsNothing) {
  auto msg = build_new_gretap(gretap_v4(1));
  const auto good = as_announcement(msg.get(), 9);
  // Cut short: the header claims more than there is.
  EXPECT_TRUE(parse_messages({good.data(), good.size() - 8}).empty());
  EXPECT_TRUE(parse_messages({good.data(), 10}).empty());
  // A prefix length beyond the address size.
  auto bad = address_message(RTM_NEWADDR, 3, ip("10.0.0.1"), 33, true);
  EXPECT_TRUE(parse_messages(bad).empty());
  // An attribute whose length runs past the message.
  auto overrun = good;
  auto* hdr = reinterpret_cast<nlmsghdr*>(overrun.data());
  auto* first_attr = reinterpret_cast<nlattr*>(overrun.data() + NLMSG_HDRLEN +
                                               NLMSG_ALIGN(sizeof(ifinfomsg)));
  first_attr->nla_len = static_cast<uint16_t>(hdr->nlmsg_len);
  EXPECT_TRUE(parse_messages(overrun).empty());
}

Link link(int ifindex, const std::string& name, uint32_t mtu = 1500) {
  Link l;
  l.ifindex = ifindex;
  l.name = name;
  l.mtu = mtu;
  return l;
}

TEST(LinkTable, TellsAdditionChangeAndRemovalApart) {
  LinkTable table;
  std::vector<Event> events;
  table.apply(LinkMessage{false, link(3, "wg0", 1420)}, &events);
  table.apply(LinkMessage{false, link(3, "wg0", 1420)}, &events);  // duplicate: nothing
  table.apply(AddressMessage{false, {3, *IpPrefix::parse("10.0.31.10/24")}}, &events);
  table.apply(LinkMessage{false, link(3, "wg0", 1380)}, &events);
  table.apply(LinkMessage{true, link(3, "wg0", 1380)}, &events);
  table.apply(LinkMessage{true, link(3, "wg0", 1380)}, &events);  // already gone: nothing
  const std::vector<Event> expected{
      LinkAdded{link(3, "wg0", 1420)},
      AddressAdded{{3, *IpPrefix::parse("10.0.31.10/24")}},
      LinkChanged{link(3, "wg0", 1420), link(3, "wg0", 1380)},
      LinkRemoved{link(3, "wg0", 1380)},
  };
  EXPECT_EQ(events, expected);
  EXPECT_TRUE(table.links().empty());
}

TEST(LinkTable, ResetEmitsTheDifferenceWithWhatWasKnown) {
  LinkTable table;
  std::vector<Event> events;
  table.reset({link(1, "lo"), link(3, "wg0", 1420)}, {{3, *IpPrefix::parse("10.0.31.10/24")}},
              &events);
  EXPECT_EQ(events.size(), 3u);
  events.clear();
  // After lost notifications: wg0 was deleted and recreated with another index and address.
  table.reset({link(1, "lo"), link(7, "wg0", 1420)}, {{7, *IpPrefix::parse("10.0.31.11/24")}},
              &events);
  const std::vector<Event> expected{
      LinkRemoved{link(3, "wg0", 1420)},
      LinkAdded{link(7, "wg0", 1420)},
      AddressRemoved{{3, *IpPrefix::parse("10.0.31.10/24")}},
      AddressAdded{{7, *IpPrefix::parse("10.0.31.11/24")}},
  };
  EXPECT_EQ(events, expected);
}

TEST(ValidIfname, FollowsTheKernelsRules) {
  EXPECT_TRUE(valid_ifname("l2-lab"));
  EXPECT_TRUE(valid_ifname("0123456789abcde"));
  EXPECT_FALSE(valid_ifname("0123456789abcdef"));
  EXPECT_FALSE(valid_ifname(""));
  EXPECT_FALSE(valid_ifname("a/b"));
  EXPECT_FALSE(valid_ifname("a:b"));
  EXPECT_FALSE(valid_ifname("a b"));
  EXPECT_FALSE(valid_ifname(".."));
}

}  // namespace
}  // namespace l2wg::nl
