#include "rtnl_messages.h"

#include <arpa/inet.h>
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

}  // namespace l2wg::nl
