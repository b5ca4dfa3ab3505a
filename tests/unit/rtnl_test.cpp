// rtnetlink requests and notifications: what we send decodes to what we meant, and what the
// kernel sends decodes into the right value types.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/ip6_tunnel.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <fstream>
#include <sstream>

#include "fake_netlink.h"  // PrintTo for routes and rules
#include "l2wg/bridge/link_watcher.h"
#include "l2wg/bytes.h"
#include "l2wg/error.h"
#include "rtnl_messages.h"
#include "rtnl_parse.h"

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

// `ip link set l2-lab nomaster` (or deleting its bridge) makes the kernel announce an AF_BRIDGE
// RTM_DELLINK for the port: the link is still there, only its port is gone.
TEST(RtnlMessages, ABridgePortLeavingIsNoLinkDeletion) {
  auto msg = build_new_gretap(gretap_v4(std::nullopt));
  auto announced = as_announcement(msg.get(), 9);
  auto* hdr = reinterpret_cast<nlmsghdr*>(announced.data());
  hdr->nlmsg_type = RTM_DELLINK;
  ASSERT_EQ(parse_messages(announced).size(), 1u) << "the link's own deletion";
  static_cast<ifinfomsg*>(NLMSG_DATA(hdr))->ifi_family = AF_BRIDGE;
  EXPECT_TRUE(parse_messages(announced).empty());
  hdr->nlmsg_type = RTM_NEWLINK;
  EXPECT_TRUE(parse_messages(announced).empty()) << "port state, not the link's";
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

// A link's counters as the kernel sends them in IFLA_STATS64 (each field a distinct value, so a
// field read from the wrong place shows); without the attribute, or cut short, there are none.
TEST(RtnlParse, LinkCountersFromStats64) {
  auto msg = make_message(RTM_NEWLINK, 0, link_header(7));
  put_string(msg.get(), IFLA_IFNAME, "l2-lab");
  auto without = bytes_of(msg.get());
  rtnl_link_stats64 stats{};
  stats.rx_packets = 1;
  stats.tx_packets = 2;
  stats.rx_bytes = 3;
  stats.tx_bytes = 4;
  stats.rx_errors = 5;
  stats.tx_errors = 6;
  stats.rx_dropped = 7;
  stats.tx_dropped = 8;
  stats.multicast = 9;
  put(msg.get(), IFLA_STATS64, &stats, sizeof stats);
  const auto with = bytes_of(msg.get());
  EXPECT_EQ(parse_link_stats(with), (LinkStats{.rx_packets = 1, .tx_packets = 2, .rx_bytes = 3,
                                               .tx_bytes = 4, .rx_errors = 5, .tx_errors = 6,
                                               .rx_dropped = 7, .tx_dropped = 8}));
  EXPECT_EQ(parse_link_stats(without), std::nullopt);
  auto short_stats = make_message(RTM_NEWLINK, 0, link_header(7));
  put(short_stats.get(), IFLA_STATS64, &stats, 16);
  EXPECT_EQ(parse_link_stats(bytes_of(short_stats.get())), std::nullopt);
  EXPECT_EQ(parse_link_stats({with.data(), 10}), std::nullopt);
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

// Routing requests. The expected bytes are what iproute2 6.1 sends for the same command (seen with
// `strace -e trace=sendmsg`), with sequence number and port id 0 and without NLM_F_REQUEST and
// NLM_F_ACK, which the socket adds when sending.
IpPrefix prefix(const char* text) {
  return *IpPrefix::parse(text);
}
const Route kDefaultViaUpstream{1000, prefix("::/0"), RouteType::Unicast, ip("fe80::1"), 3, 1024};
const Route kUnreachablePrefix{
    1000, prefix("2001:db8:100::/56"), RouteType::Unreachable, std::nullopt, 0, 1024};
const Rule kFromPrefix{1000, prefix("2001:db8:100::/56"), 1000};

std::vector<uint8_t> hex(const char* text) {
  return *from_hex(text);
}

TEST(RtnlRouting, RouteRequestsAreWhatIpRouteSends) {
  // ip -6 route add default via fe80::1 dev #3 table 1000 metric 1024 proto static
  EXPECT_EQ(bytes_of(build_route(RTM_NEWROUTE, kDefaultViaUpstream).get()),
            hex("5c000000 1800 0006 00000000 00000000"
                "0a 00 00 00 00 04 00 01 00000000"
                "1400 0100 00000000000000000000000000000000"
                "1400 0500 fe800000000000000000000000000001"
                "0800 0f00 e8030000"
                "0800 0600 00040000"
                "0800 0400 03000000"));
  // ip -6 route add unreachable 2001:db8:100::/56 table 1000 metric 1024 proto static
  EXPECT_EQ(bytes_of(build_route(RTM_NEWROUTE, kUnreachablePrefix).get()),
            hex("40000000 1800 0006 00000000 00000000"
                "0a 38 00 00 00 04 00 07 00000000"
                "1400 0100 20010db8010000000000000000000000"
                "0800 0f00 e8030000"
                "0800 0600 00040000"));
}

TEST(RtnlRouting, DeletingARouteMatchesAnyProtocol) {
  auto msg = build_route(RTM_DELROUTE, kDefaultViaUpstream);
  auto* hdr = nlmsg_hdr(msg.get());
  EXPECT_EQ(hdr->nlmsg_type, RTM_DELROUTE);
  EXPECT_EQ(hdr->nlmsg_flags, 0);
  const auto* rtm = static_cast<const rtmsg*>(nlmsg_data(hdr));
  EXPECT_EQ(rtm->rtm_protocol, RTPROT_UNSPEC);
  EXPECT_EQ(rtm->rtm_type, RTN_UNICAST);
  // The same attributes as the request that added it, so it removes that route and no other.
  auto added = bytes_of(build_route(RTM_NEWROUTE, kDefaultViaUpstream).get());
  auto deleted = bytes_of(msg.get());
  const size_t attributes = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(rtmsg));
  EXPECT_EQ(std::vector<uint8_t>(deleted.begin() + attributes, deleted.end()),
            std::vector<uint8_t>(added.begin() + attributes, added.end()));
}

TEST(RtnlRouting, SmallTablesAreInTheHeaderToo) {
  Route route = kUnreachablePrefix;
  route.table = 200;
  auto msg = build_route(RTM_NEWROUTE, route);
  EXPECT_EQ(static_cast<const rtmsg*>(nlmsg_data(nlmsg_hdr(msg.get())))->rtm_table, 200);
  route.table = 0x10000;
  msg = build_route(RTM_NEWROUTE, route);
  EXPECT_EQ(static_cast<const rtmsg*>(nlmsg_data(nlmsg_hdr(msg.get())))->rtm_table,
            RT_TABLE_UNSPEC);
  nlattr* tb[RTA_MAX + 1] = {};
  ASSERT_EQ(nlmsg_parse(nlmsg_hdr(msg.get()), sizeof(rtmsg), tb, RTA_MAX, nullptr), 0);
  EXPECT_EQ(nla_get_u32(tb[RTA_TABLE]), 0x10000u);
}

TEST(RtnlRouting, Ipv4ScopesFollowIpRoute) {
  const Route on_link{kMainTable, prefix("192.0.2.0/24"), RouteType::Unicast, std::nullopt, 4, {}};
  auto scope = [](const MessagePtr& msg) {
    return static_cast<const rtmsg*>(nlmsg_data(nlmsg_hdr(msg.get())))->rtm_scope;
  };
  EXPECT_EQ(scope(build_route(RTM_NEWROUTE, on_link)), RT_SCOPE_LINK);
  EXPECT_EQ(scope(build_route(RTM_DELROUTE, on_link)), RT_SCOPE_NOWHERE);
  Route via = on_link;
  via.gateway = ip("192.0.2.1");
  EXPECT_EQ(scope(build_route(RTM_NEWROUTE, via)), RT_SCOPE_UNIVERSE);
  via.gateway = ip("fe80::1");
  EXPECT_THROW(build_route(RTM_NEWROUTE, via), Error);
}

TEST(RtnlRouting, RuleRequestsAreWhatIpRuleSends) {
  // ip -6 rule add from 2001:db8:100::/56 lookup 1000 pref 1000 proto static
  EXPECT_EQ(bytes_of(build_rule(RTM_NEWRULE, kFromPrefix).get()),
            hex("48000000 2000 0006 00000000 00000000"
                "0a 00 38 00 00 00 00 01 00000000"
                "1400 0200 20010db8010000000000000000000000"
                "0800 0f00 e8030000"
                "0800 0600 e8030000"
                "0500 1500 04000000"));
  // ip -6 rule del ... sends the same selectors without a protocol (which would have to match).
  EXPECT_EQ(bytes_of(build_rule(RTM_DELRULE, kFromPrefix).get()),
            hex("40000000 2100 0000 00000000 00000000"
                "0a 00 38 00 00 00 00 01 00000000"
                "1400 0200 20010db8010000000000000000000000"
                "0800 0f00 e8030000"
                "0800 0600 e8030000"));
}

TEST(RtnlRouting, AddressRequestsAreWhatIpAddrSends) {
  // ip -6 addr add 2001:db8:100:1::1/64 dev #2
  const Address address{2, prefix("2001:db8:100:1::1/64")};
  const char* body =
      "0a 40 00 00 02000000"
      "1400 0200 20010db8010000010000000000000001"
      "1400 0100 20010db8010000010000000000000001";
  EXPECT_EQ(bytes_of(build_address(RTM_NEWADDR, address).get()),
            hex((std::string("40000000 1400 0006 00000000 00000000") + body).c_str()));
  EXPECT_EQ(bytes_of(build_address(RTM_DELADDR, address).get()),
            hex((std::string("40000000 1500 0000 00000000 00000000") + body).c_str()));
}

TEST(RtnlRouting, RouteDumpAsksForOneTable) {
  auto msg = build_route_dump(IpAddress::Family::V6, 1000);
  auto* hdr = nlmsg_hdr(msg.get());
  EXPECT_EQ(hdr->nlmsg_type, RTM_GETROUTE);
  EXPECT_EQ(hdr->nlmsg_flags, NLM_F_DUMP);
  const auto* rtm = static_cast<const rtmsg*>(nlmsg_data(hdr));
  EXPECT_EQ(rtm->rtm_family, AF_INET6);
  // Strict checking refuses a dump request with anything else set in the header.
  EXPECT_EQ(rtm->rtm_dst_len | rtm->rtm_src_len | rtm->rtm_tos | rtm->rtm_scope, 0);
  nlattr* tb[RTA_MAX + 1] = {};
  ASSERT_EQ(nlmsg_parse(hdr, sizeof(rtmsg), tb, RTA_MAX, nullptr), 0);
  EXPECT_EQ(nla_get_u32(tb[RTA_TABLE]), 1000u);
}

// The datagrams of tests/unit/data/NAME (one per line, # comments), recorded from a kernel by
// rtnl_capture.sh next to it.
std::vector<std::vector<uint8_t>> captured(const std::string& name) {
  std::ifstream in(std::string(L2WG_TEST_DATA_DIR) + "/" + name);
  std::vector<std::vector<uint8_t>> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') out.push_back(*from_hex(line));
  return out;
}

TEST(RtnlRouting, ACapturedRouteDumpYieldsTheRoutesARouteCanExpress) {
  const auto datagrams = captured("rtnl_route_dump.hex");
  ASSERT_GE(datagrams.size(), 2u);
  std::vector<Route> routes;
  for (const auto& datagram : datagrams)
    for (const auto& route : parse_routes(datagram)) routes.push_back(route);
  // rc-lan is #2, rc-tap #3. Left out: the source-specific, multipath and blackhole routes.
  const Route unreachable_default{1000, prefix("::/0"), RouteType::Unreachable, std::nullopt,
                                  0,    UINT32_MAX};
  EXPECT_THAT(routes,
              ::testing::ElementsAre(Route{1000, prefix("2001:db8:100:1::/64"), RouteType::Unicast,
                                           std::nullopt, 2, 1024},
                                     kUnreachablePrefix, kDefaultViaUpstream, unreachable_default));
}

TEST(RtnlRouting, ACapturedRuleDumpYieldsThePlainSourceRules) {
  std::vector<Rule> rules;
  for (const auto& datagram : captured("rtnl_rule_dump.hex"))
    for (const auto& rule : parse_rules(datagram)) rules.push_back(rule);
  // Left out: iif, fwmark, "not from" and suppress_prefixlength rules.
  EXPECT_THAT(rules, ::testing::ElementsAre(Rule{0, prefix("::/0"), 255},
                                            Rule{900, prefix("2001:db8:300::/48"), 70000},
                                            kFromPrefix, Rule{32766, prefix("::/0"), 254}));
}

TEST(RtnlRouting, OurRequestsReadBackAsTheSameValues) {
  for (const auto& route : {kDefaultViaUpstream, kUnreachablePrefix}) {
    const auto parsed = parse_routes(bytes_of(build_route(RTM_NEWROUTE, route).get()));
    ASSERT_EQ(parsed.size(), 1u);
    EXPECT_EQ(parsed[0], route);
  }
  const auto parsed = parse_rules(bytes_of(build_rule(RTM_NEWRULE, kFromPrefix).get()));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0], kFromPrefix);
}

TEST(RtnlRouting, MalformedRoutesAndRulesYieldNothing) {
  auto route = bytes_of(build_route(RTM_NEWROUTE, kUnreachablePrefix).get());
  // A destination prefix longer than the address.
  auto too_long = route;
  too_long[NLMSG_HDRLEN + 1] = 129;
  EXPECT_TRUE(parse_routes(too_long).empty());
  // A family the destination does not have.
  auto wrong_family = route;
  wrong_family[NLMSG_HDRLEN] = AF_INET;
  EXPECT_TRUE(parse_routes(wrong_family).empty());
  // Cut short.
  EXPECT_TRUE(parse_routes({route.data(), route.size() - 4}).empty());
  // A rule whose last attribute runs past the message.
  auto rule = bytes_of(build_rule(RTM_NEWRULE, kFromPrefix).get());
  rule[rule.size() - 8] = 0x0c;
  EXPECT_TRUE(parse_rules(rule).empty());
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
