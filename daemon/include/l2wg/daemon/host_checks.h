// What on the host, outside the tunnel itself, breaks this setup: doctor's host checks, run by
// l2wgd (which may read what an unprivileged `l2wg doctor` may not) and told by
// Tunnel.Diagnose(). Pure: read_host_facts() gathers what check_host() judges.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "l2wg/bridge/netlink.h"
#include "l2wg/daemon/config.h"

namespace l2wg {

struct HostFinding {
  std::string severity;  // "error" (this breaks the tunnel), "warning"
  std::string code;      // stable, for scripts
  std::string diagnosis;
  std::string fix;  // the exact command or config line
  bool operator==(const HostFinding&) const = default;
};

struct HostFacts {
  std::string tunnel;
  std::string wireguard;
  std::string remote;  // the peer's inner address; "" while unknown
  bool routed = false;
  std::string bridge;
  std::optional<int> ipv6_forwarding;  // net.ipv6.conf.all.forwarding
  // IPv4: net.ipv4.conf.{all,WG}.rp_filter, the larger (the kernel applies the larger).
  std::optional<int> rp_filter;
  // Where the main table sends packets to `remote` (longest prefix); nullopt: no route.
  std::optional<std::string> reply_interface;
  std::optional<uint32_t> bridge_mtu;
  uint32_t tap_mtu = 0;
  bool operator==(const HostFacts&) const = default;
};

std::vector<HostFinding> check_host(const HostFacts& facts);

// The facts for one tunnel, from /proc/sys and rtnetlink (`sysctl_root` stands for /proc/sys).
HostFacts read_host_facts(nl::Netlink& netlink, const config::Tunnel& tunnel,
                          const std::string& remote, uint32_t tap_mtu,
                          const std::string& sysctl_root = "/proc/sys");

}  // namespace l2wg
