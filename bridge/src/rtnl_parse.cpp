// Pure decoding of rtnetlink link, address, route and rule messages into value types.
#include "rtnl_parse.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <cstring>

#include "l2wg/bridge/link_watcher.h"

namespace l2wg::nl {
namespace {

std::optional<std::string> string_attr(const nlattr* attr) {
  if (!attr || nla_len(attr) < 1) return std::nullopt;
  const char* text = static_cast<const char*>(nla_data(attr));
  return std::string(text, strnlen(text, static_cast<size_t>(nla_len(attr))));
}

template <typename T>
std::optional<T> fixed_attr(const nlattr* attr) {
  if (!attr || nla_len(attr) < static_cast<int>(sizeof(T))) return std::nullopt;
  T value;
  std::memcpy(&value, nla_data(attr), sizeof value);
  return value;
}

std::optional<IpAddress> address_attr(const nlattr* attr) {
  if (!attr) return std::nullopt;
  if (nla_len(attr) == 4) {
    std::array<uint8_t, 4> b;
    std::memcpy(b.data(), nla_data(attr), 4);
    return IpAddress::v4(b);
  }
  if (nla_len(attr) == 16) {
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), nla_data(attr), 16);
    return IpAddress::v6(b);
  }
  return std::nullopt;
}

std::optional<GreLink> parse_gre(const nlattr* data, bool ipv6) {
  nlattr* tb[IFLA_GRE_MAX + 1] = {};
  if (nla_parse_nested(tb, IFLA_GRE_MAX, const_cast<nlattr*>(data), nullptr) < 0)
    return std::nullopt;
  GreLink gre;
  auto local = address_attr(tb[IFLA_GRE_LOCAL]);
  auto remote = address_attr(tb[IFLA_GRE_REMOTE]);
  if (!local || !remote) return std::nullopt;
  gre.local = *local;
  gre.remote = *remote;
  gre.link_ifindex = static_cast<int>(fixed_attr<uint32_t>(tb[IFLA_GRE_LINK]).value_or(0));
  const auto oflags = ntohs(fixed_attr<uint16_t>(tb[IFLA_GRE_OFLAGS]).value_or(0));
  if (oflags & ntohs(GRE_KEY)) gre.key = ntohl(fixed_attr<uint32_t>(tb[IFLA_GRE_OKEY]).value_or(0));
  if (ipv6) {
    gre.fragment = false;  // ip6gretap has no way to fragment the outer packet over WireGuard
  } else {
    const bool pmtudisc = fixed_attr<uint8_t>(tb[IFLA_GRE_PMTUDISC]).value_or(1) != 0;
    const bool ignore_df = fixed_attr<uint8_t>(tb[IFLA_GRE_IGNORE_DF]).value_or(0) != 0;
    gre.fragment = !pmtudisc && ignore_df;
  }
  return gre;
}

bool is_bridge_family(const nlmsghdr* hdr) {
  return nlmsg_valid_hdr(hdr, sizeof(ifinfomsg)) &&
         static_cast<const ifinfomsg*>(nlmsg_data(hdr))->ifi_family == AF_BRIDGE;
}

std::optional<Link> parse_link(nlmsghdr* hdr) {
  if (!nlmsg_valid_hdr(hdr, sizeof(ifinfomsg))) return std::nullopt;
  nlattr* tb[IFLA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(nlmsg_data(hdr));
  Link link;
  link.ifindex = ifi->ifi_index;
  link.up = ifi->ifi_flags & IFF_UP;
  auto name = string_attr(tb[IFLA_IFNAME]);
  if (!name || link.ifindex <= 0) return std::nullopt;
  link.name = *name;
  link.mtu = fixed_attr<uint32_t>(tb[IFLA_MTU]).value_or(0);
  link.master_ifindex = static_cast<int>(fixed_attr<uint32_t>(tb[IFLA_MASTER]).value_or(0));
  if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6)
    std::memcpy(link.mac.bytes.data(), nla_data(tb[IFLA_ADDRESS]), 6);
  if (tb[IFLA_LINKINFO]) {
    nlattr* info[IFLA_INFO_MAX + 1] = {};
    if (nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) < 0) return std::nullopt;
    link.kind = string_attr(info[IFLA_INFO_KIND]).value_or("");
    if ((link.kind == "gretap" || link.kind == "ip6gretap") && info[IFLA_INFO_DATA])
      link.gre = parse_gre(info[IFLA_INFO_DATA], link.kind == "ip6gretap");
  }
  return link;
}

std::optional<Address> parse_address(nlmsghdr* hdr) {
  if (!nlmsg_valid_hdr(hdr, sizeof(ifaddrmsg))) return std::nullopt;
  nlattr* tb[IFA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(ifaddrmsg), tb, IFA_MAX, nullptr) < 0) return std::nullopt;
  const auto* ifa = static_cast<const ifaddrmsg*>(nlmsg_data(hdr));
  // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is always our own address.
  auto address = address_attr(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS]);
  if (!address || ifa->ifa_index == 0) return std::nullopt;
  if (ifa->ifa_prefixlen > address->size() * 8) return std::nullopt;
  return Address{static_cast<int>(ifa->ifa_index), IpPrefix{*address, ifa->ifa_prefixlen}};
}

// The prefix of `length` bits at `attr`, or the family's "any" prefix when the attribute is absent
// (the kernel omits it for a zero length); nullopt when malformed.
std::optional<IpPrefix> prefix_attr(const nlattr* attr, uint8_t family, uint8_t length) {
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  IpAddress address = family == AF_INET ? IpAddress::v4({}) : IpAddress::v6({});
  if (attr) {
    auto given = address_attr(attr);
    if (!given || given->af() != family) return std::nullopt;
    address = *given;
  }
  if (length > address.size() * 8) return std::nullopt;
  return IpPrefix{address, length};
}

std::optional<Route> parse_route(nlmsghdr* hdr) {
  if (!nlmsg_valid_hdr(hdr, sizeof(rtmsg))) return std::nullopt;
  nlattr* tb[RTA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(rtmsg), tb, RTA_MAX, nullptr) < 0) return std::nullopt;
  const auto* rtm = static_cast<const rtmsg*>(nlmsg_data(hdr));
  if (rtm->rtm_flags & RTM_F_CLONED || rtm->rtm_src_len != 0 || tb[RTA_MULTIPATH])
    return std::nullopt;
  Route route;
  if (rtm->rtm_type == RTN_UNICAST)
    route.type = RouteType::Unicast;
  else if (rtm->rtm_type == RTN_UNREACHABLE)
    route.type = RouteType::Unreachable;
  else
    return std::nullopt;
  auto destination = prefix_attr(tb[RTA_DST], rtm->rtm_family, rtm->rtm_dst_len);
  if (!destination) return std::nullopt;
  route.destination = *destination;
  route.table = fixed_attr<uint32_t>(tb[RTA_TABLE]).value_or(rtm->rtm_table);
  if (tb[RTA_GATEWAY]) {
    route.gateway = address_attr(tb[RTA_GATEWAY]);
    if (!route.gateway || route.gateway->af() != rtm->rtm_family) return std::nullopt;
  }
  if (route.type == RouteType::Unicast)
    route.ifindex = static_cast<int>(fixed_attr<uint32_t>(tb[RTA_OIF]).value_or(0));
  route.metric = fixed_attr<uint32_t>(tb[RTA_PRIORITY]).value_or(0);
  return route;
}

std::optional<Rule> parse_rule(nlmsghdr* hdr) {
  if (!nlmsg_valid_hdr(hdr, sizeof(fib_rule_hdr))) return std::nullopt;
  const auto* frh = static_cast<const fib_rule_hdr*>(nlmsg_data(hdr));
  if (frh->action != FR_ACT_TO_TBL || frh->dst_len != 0 || frh->tos != 0 ||
      frh->flags & FIB_RULE_INVERT)
    return std::nullopt;
  // Any attribute beyond these is another selector (iif, fwmark, uid range, ports, ...).
  const nlattr* src = nullptr;
  std::optional<uint32_t> table, priority;
  const nlattr* attr;
  int remaining;
  nlmsg_for_each_attr(attr, hdr, sizeof(fib_rule_hdr), remaining) {
    switch (nla_type(attr)) {
      case FRA_SRC:
        src = attr;
        break;
      case FRA_TABLE:
        table = fixed_attr<uint32_t>(attr);
        break;
      case FRA_PRIORITY:
        priority = fixed_attr<uint32_t>(attr);
        break;
      case FRA_PROTOCOL:
      case FRA_PAD:
        break;
      case FRA_SUPPRESS_PREFIXLEN:  // dumped as -1 when not set
      case FRA_SUPPRESS_IFGROUP:
        if (fixed_attr<uint32_t>(attr) != UINT32_MAX) return std::nullopt;
        break;
      default:
        return std::nullopt;
    }
  }
  if (remaining > 0) return std::nullopt;  // trailing bytes: a malformed attribute
  auto source = prefix_attr(src, frh->family, frh->src_len);
  if (!source) return std::nullopt;
  return Rule{priority.value_or(0), *source, table.value_or(frh->table)};
}

template <typename T>
std::vector<T> parse_all(std::span<const uint8_t> datagram, int type,
                         std::optional<T> (*parse)(nlmsghdr*)) {
  std::vector<T> out;
  auto* hdr = reinterpret_cast<nlmsghdr*>(const_cast<uint8_t*>(datagram.data()));
  int remaining = static_cast<int>(datagram.size());
  for (; nlmsg_ok(hdr, remaining); hdr = nlmsg_next(hdr, &remaining)) {
    if (hdr->nlmsg_type != type) continue;
    if (auto value = parse(hdr)) out.push_back(*value);
  }
  return out;
}

}  // namespace

std::vector<Route> parse_routes(std::span<const uint8_t> datagram) {
  return parse_all<Route>(datagram, RTM_NEWROUTE, parse_route);
}

std::vector<Rule> parse_rules(std::span<const uint8_t> datagram) {
  return parse_all<Rule>(datagram, RTM_NEWRULE, parse_rule);
}

std::optional<LinkStats> parse_link_stats(std::span<const uint8_t> datagram) {
  auto* hdr = reinterpret_cast<nlmsghdr*>(const_cast<uint8_t*>(datagram.data()));
  int remaining = static_cast<int>(datagram.size());
  for (; nlmsg_ok(hdr, remaining); hdr = nlmsg_next(hdr, &remaining)) {
    if (hdr->nlmsg_type != RTM_NEWLINK || !nlmsg_valid_hdr(hdr, sizeof(ifinfomsg))) continue;
    nlattr* tb[IFLA_MAX + 1] = {};
    if (nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) return std::nullopt;
    const auto stats = fixed_attr<rtnl_link_stats64>(tb[IFLA_STATS64]);
    if (!stats) return std::nullopt;
    return LinkStats{.rx_packets = stats->rx_packets,
                     .tx_packets = stats->tx_packets,
                     .rx_bytes = stats->rx_bytes,
                     .tx_bytes = stats->tx_bytes,
                     .rx_errors = stats->rx_errors,
                     .tx_errors = stats->tx_errors,
                     .rx_dropped = stats->rx_dropped,
                     .tx_dropped = stats->tx_dropped};
  }
  return std::nullopt;
}

std::vector<Message> parse_messages(std::span<const uint8_t> datagram) {
  std::vector<Message> out;
  auto* hdr = reinterpret_cast<nlmsghdr*>(const_cast<uint8_t*>(datagram.data()));
  int remaining = static_cast<int>(datagram.size());
  for (; nlmsg_ok(hdr, remaining); hdr = nlmsg_next(hdr, &remaining)) {
    switch (hdr->nlmsg_type) {
      case RTM_NEWLINK:
      case RTM_DELLINK:
        // The bridge family speaks of a port, not of the link: its RTM_DELLINK means the link
        // left its bridge (nomaster, or the bridge went), while the link itself stays.
        if (is_bridge_family(hdr)) break;
        if (auto link = parse_link(hdr))
          out.push_back(LinkMessage{hdr->nlmsg_type == RTM_DELLINK, std::move(*link)});
        break;
      case RTM_NEWADDR:
      case RTM_DELADDR:
        if (auto address = parse_address(hdr))
          out.push_back(AddressMessage{hdr->nlmsg_type == RTM_DELADDR, *address});
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace l2wg::nl
