// Routing objects as plain value types: an address on an interface, a route in a table, a policy
// rule choosing a table by source. lan/ plans them, bridge/'s Netlink installs and reads them back.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>

#include "l2wg/ip.h"

namespace l2wg {

inline constexpr uint32_t kMainTable = 254;  // RT_TABLE_MAIN

struct InterfaceAddress {
  int ifindex = 0;
  IpPrefix prefix;  // the address with its prefix length

  auto operator<=>(const InterfaceAddress&) const = default;
};

enum class RouteType : uint8_t {
  Unicast,      // to `ifindex`, through `gateway` if set
  Unreachable,  // dropped with ICMP "no route" (RTN_UNREACHABLE)
};

struct Route {
  uint32_t table = kMainTable;
  IpPrefix destination;  // its family is the route's family
  RouteType type = RouteType::Unicast;
  std::optional<IpAddress> gateway;
  int ifindex = 0;  // 0 for unreachable routes (the kernel reports them on lo; read back as 0)
  // nullopt lets the kernel choose (1024 for IPv6); routes read back always carry the kernel's
  // value, so a route meant to compare equal with what is read back names its metric.
  std::optional<uint32_t> metric;

  auto operator<=>(const Route&) const = default;

  // As `ip route` writes it, with interface indexes: "default via fe80::1 dev #3 table 100".
  std::string str() const {
    std::string s = type == RouteType::Unreachable ? "unreachable " : "";
    s += destination.length == 0 ? std::string("default") : destination.str();
    if (gateway) s += " via " + gateway->str();
    if (ifindex) s += " dev #" + std::to_string(ifindex);
    s += table == kMainTable ? std::string(" table main") : " table " + std::to_string(table);
    if (metric) s += " metric " + std::to_string(*metric);
    return s;
  }
};

// "from `source` lookup `table`" at `priority`; the family is the source prefix's.
struct Rule {
  uint32_t priority = 0;
  IpPrefix source;
  uint32_t table = 0;

  auto operator<=>(const Rule&) const = default;

  std::string str() const {
    return std::to_string(priority) + ": from " + source.str() + " lookup " + std::to_string(table);
  }
};

}  // namespace l2wg
