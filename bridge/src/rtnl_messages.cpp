#include "rtnl_messages.h"

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/ip6_tunnel.h>

#include "l2wg/error.h"

namespace l2wg::nl {

MessagePtr build_new_gretap(const NewGretap& spec) {
  const bool ipv6 = spec.gre.local.is_v6();
  if (spec.gre.remote.family() != spec.gre.local.family())
    throw Error(ErrorCode::InvalidArgument, "GRE local " + spec.gre.local.str() + " and remote " +
                                                spec.gre.remote.str() + " differ in family");
  if (ipv6 && spec.gre.fragment)
    throw Error(ErrorCode::InvalidArgument,
                "kernel ip6gretap cannot fragment its outer packets; use the userspace datapath");
  auto msg = make_message(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, link_header(0));
  put_string(msg.get(), IFLA_IFNAME, spec.name);
  put_value<uint32_t>(msg.get(), IFLA_MTU, spec.mtu);
  put(msg.get(), IFLA_ADDRESS, spec.mac.bytes.data(), spec.mac.bytes.size());
  {
    Nest info(msg.get(), IFLA_LINKINFO);
    put_string(msg.get(), IFLA_INFO_KIND, ipv6 ? "ip6gretap" : "gretap");
    Nest data(msg.get(), IFLA_INFO_DATA);
    put_value<uint32_t>(msg.get(), IFLA_GRE_LINK, static_cast<uint32_t>(spec.gre.link_ifindex));
    put(msg.get(), IFLA_GRE_LOCAL, spec.gre.local.data(), spec.gre.local.size());
    put(msg.get(), IFLA_GRE_REMOTE, spec.gre.remote.data(), spec.gre.remote.size());
    if (spec.gre.key) {
      put_value<uint16_t>(msg.get(), IFLA_GRE_IFLAGS, GRE_KEY);
      put_value<uint16_t>(msg.get(), IFLA_GRE_OFLAGS, GRE_KEY);
      put_value<uint32_t>(msg.get(), IFLA_GRE_IKEY, htonl(*spec.gre.key));
      put_value<uint32_t>(msg.get(), IFLA_GRE_OKEY, htonl(*spec.gre.key));
    }
    if (ipv6) {
      // No tunnel encapsulation limit option: it would cost 8 more bytes of every packet.
      put_value<uint32_t>(msg.get(), IFLA_GRE_FLAGS, IP6_TNL_F_IGN_ENCAP_LIMIT);
    } else {
      // pmtudisc off + ignore-df: the outer packet may be fragmented inside WireGuard, so the
      // tap keeps MTU 1500 (a bridge would otherwise drop larger frames silently).
      put_value<uint8_t>(msg.get(), IFLA_GRE_PMTUDISC, spec.gre.fragment ? 0 : 1);
      put_value<uint8_t>(msg.get(), IFLA_GRE_IGNORE_DF, spec.gre.fragment ? 1 : 0);
    }
  }
  return msg;
}

MessagePtr build_bridge_port(int ifindex, const BridgePortOptions& options) {
  auto msg = make_message(RTM_SETLINK, 0, link_header(ifindex, AF_BRIDGE));
  {
    Nest protinfo(msg.get(), IFLA_PROTINFO | NLA_F_NESTED);
    // 2 = permanent multicast router port: DHCPv6 and ND multicast always cross, snooping or not.
    put_value<uint8_t>(msg.get(), IFLA_BRPORT_MULTICAST_ROUTER,
                       options.multicast_router_permanent ? 2 : 1);
    put_value<uint8_t>(msg.get(), IFLA_BRPORT_ISOLATED, options.isolated ? 1 : 0);
  }
  return msg;
}

namespace {

uint8_t af_of(IpAddress::Family family) {
  return family == IpAddress::Family::V4 ? AF_INET : AF_INET6;
}

// Tables above 255 only fit in the attribute; the header then says RT_TABLE_UNSPEC.
uint8_t header_table(uint32_t table) {
  return table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
}

void put_address(nl_msg* msg, int type, const IpAddress& address) {
  put(msg, type, address.data(), address.size());
}

}  // namespace

MessagePtr build_address(int type, const Address& address) {
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(address.prefix.address.af());
  ifa.ifa_prefixlen = address.prefix.length;
  ifa.ifa_index = static_cast<uint32_t>(address.ifindex);
  auto msg = make_message(type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0, ifa);
  put_address(msg.get(), IFA_LOCAL, address.prefix.address);
  put_address(msg.get(), IFA_ADDRESS, address.prefix.address);
  return msg;
}

MessagePtr build_route(int type, const Route& route) {
  const bool adding = type == RTM_NEWROUTE;
  const auto& destination = route.destination;
  if (route.gateway && route.gateway->family() != destination.address.family())
    throw Error(ErrorCode::InvalidArgument, "route " + route.str() + " mixes address families");
  rtmsg rtm{};
  rtm.rtm_family = af_of(destination.address.family());
  rtm.rtm_dst_len = destination.length;
  rtm.rtm_table = header_table(route.table);
  rtm.rtm_type = route.type == RouteType::Unreachable ? RTN_UNREACHABLE : RTN_UNICAST;
  if (adding) rtm.rtm_protocol = RTPROT_STATIC;  // deleting: any protocol
  // IPv6 has no route scopes. IPv4: a route without a gateway reaches its destination on the link
  // itself; deleting matches any scope.
  rtm.rtm_scope = RT_SCOPE_UNIVERSE;
  if (rtm.rtm_family == AF_INET && !adding) rtm.rtm_scope = RT_SCOPE_NOWHERE;
  if (rtm.rtm_family == AF_INET && adding && route.type == RouteType::Unicast && !route.gateway)
    rtm.rtm_scope = RT_SCOPE_LINK;
  auto msg = make_message(type, adding ? NLM_F_CREATE | NLM_F_EXCL : 0, rtm);
  // In the order `ip route` puts them, so its requests and ours compare byte for byte.
  put_address(msg.get(), RTA_DST, destination.address.masked(destination.length));
  if (route.gateway) put_address(msg.get(), RTA_GATEWAY, *route.gateway);
  put_value<uint32_t>(msg.get(), RTA_TABLE, route.table);
  if (route.metric) put_value<uint32_t>(msg.get(), RTA_PRIORITY, *route.metric);
  if (route.ifindex) put_value<uint32_t>(msg.get(), RTA_OIF, static_cast<uint32_t>(route.ifindex));
  return msg;
}

MessagePtr build_rule(int type, const Rule& rule) {
  const bool adding = type == RTM_NEWRULE;
  fib_rule_hdr frh{};
  frh.family = af_of(rule.source.address.family());
  frh.src_len = rule.source.length;
  frh.table = header_table(rule.table);
  frh.action = FR_ACT_TO_TBL;
  auto msg = make_message(type, adding ? NLM_F_CREATE | NLM_F_EXCL : 0, frh);
  // In the order `ip rule` puts them ("from all" has no FRA_SRC).
  if (rule.source.length > 0)
    put_address(msg.get(), FRA_SRC, rule.source.address.masked(rule.source.length));
  put_value<uint32_t>(msg.get(), FRA_TABLE, rule.table);
  put_value<uint32_t>(msg.get(), FRA_PRIORITY, rule.priority);
  // Only when adding: a delete naming a protocol would match rules of that protocol only.
  if (adding) put_value<uint8_t>(msg.get(), FRA_PROTOCOL, RTPROT_STATIC);
  return msg;
}

MessagePtr build_route_dump(IpAddress::Family family, uint32_t table) {
  rtmsg rtm{};
  rtm.rtm_family = af_of(family);
  rtm.rtm_table = header_table(table);
  auto msg = make_message(RTM_GETROUTE, NLM_F_DUMP, rtm);
  put_value<uint32_t>(msg.get(), RTA_TABLE, table);
  return msg;
}

}  // namespace l2wg::nl
