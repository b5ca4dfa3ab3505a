// Building rtnetlink requests: attribute helpers and the requests complex enough to test on
// their own (decoded again in tests/unit/rtnl_test.cpp).
#pragma once

#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <sys/socket.h>

#include <new>
#include <string>

#include "l2wg/bridge/netlink.h"
#include "rtnl_socket.h"

namespace l2wg::nl {

inline void put(nl_msg* msg, int type, const void* data, size_t size) {
  if (nla_put(msg, type, static_cast<int>(size), data) < 0) throw std::bad_alloc();
}
template <typename T>
inline void put_value(nl_msg* msg, int type, T value) {
  put(msg, type, &value, sizeof value);
}
inline void put_string(nl_msg* msg, int type, const std::string& s) {
  if (nla_put_string(msg, type, s.c_str()) < 0) throw std::bad_alloc();
}

// Closes a nested attribute when it goes out of scope.
class Nest {
 public:
  Nest(nl_msg* msg, int type) : msg_(msg), attr_(nla_nest_start(msg, type)) {
    if (!attr_) throw std::bad_alloc();
  }
  ~Nest() { nla_nest_end(msg_, attr_); }
  Nest(const Nest&) = delete;
  Nest& operator=(const Nest&) = delete;

 private:
  nl_msg* msg_;
  nlattr* attr_;
};

inline ifinfomsg link_header(int ifindex, unsigned char family = AF_UNSPEC) {
  ifinfomsg ifi{};
  ifi.ifi_family = family;
  ifi.ifi_index = ifindex;
  return ifi;
}

// RTM_NEWLINK creating a gretap (IPv4 endpoints) or ip6gretap (IPv6 endpoints).
MessagePtr build_new_gretap(const NewGretap& spec);
// RTM_SETLINK (AF_BRIDGE) with the bridge port's own settings, as `bridge link set` sends them.
MessagePtr build_bridge_port(int ifindex, const BridgePortOptions& options);

// RTM_NEWADDR (create, exclusive: an address already there is EEXIST) or RTM_DELADDR.
MessagePtr build_address(int type, const Address& address);
// RTM_NEWROUTE (create, exclusive, proto static) or RTM_DELROUTE, as `ip route` sends them.
MessagePtr build_route(int type, const Route& route);
// RTM_NEWRULE (create, exclusive, proto static) or RTM_DELRULE, as `ip rule` sends them.
MessagePtr build_rule(int type, const Rule& rule);
// RTM_GETROUTE dump of one table (the kernel filters by it when strict checking is on).
MessagePtr build_route_dump(IpAddress::Family family, uint32_t table);

}  // namespace l2wg::nl
