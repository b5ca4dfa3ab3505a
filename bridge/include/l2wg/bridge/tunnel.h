// The plumbing of one l2wg tunnel: a gretap whose endpoints are two WireGuard peers' inner
// addresses, optionally plugged into a bridge. setup() builds it all or nothing; teardown()
// removes exactly what setup() created.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "l2wg/bridge/datapath.h"
#include "l2wg/bridge/gre.h"
#include "l2wg/bridge/mss_rules.h"
#include "l2wg/bridge/netlink.h"
#include "l2wg/bridge/wireguard.h"

namespace l2wg {

struct BridgeSpec {
  std::string name;
  bool create = false;    // create it when missing (and remove it on teardown only then)
  bool isolated = false;  // port isolation for the tap

  bool operator==(const BridgeSpec&) const = default;
};

struct TunnelSpec {
  std::string wireguard;  // existing WireGuard interface
  std::string peer;       // inner address or base64 public key
  std::optional<IpAddress> local;
  std::string tap_name;
  std::optional<uint32_t> key;
  gre::MtuPolicy mtu;
  gre::DatapathChoice datapath = gre::DatapathChoice::Auto;
  std::optional<MacAddress> mac;
  std::optional<BridgeSpec> bridge;
  // /proc/sys/net/ipv6/conf/TAP/KEY settings written before the tap first goes up (routed mode:
  // accept_ra 0, accept_dad 0), and again when adopting it.
  std::vector<std::pair<std::string, int>> ipv6_conf;

  bool operator==(const TunnelSpec&) const = default;
};

// What setup() made and decided: enough to report the tunnel and to undo it.
struct TunnelPlumbing {
  std::string wireguard;
  int wireguard_ifindex = 0;
  wg::PublicKey peer_key{};
  IpAddress local;
  IpAddress remote;
  std::string tap_name;
  int tap_ifindex = 0;
  MacAddress mac;
  gre::Plan plan;
  std::optional<dp::Datapath::TunnelId> userspace_id;
  std::string bridge;
  int bridge_ifindex = 0;
  bool created_bridge = false;
};

// A tunnel's counters by name, as GetStatistics() gives them (the names are in net.l2wg1.xml).
using Statistics = std::vector<std::pair<std::string, uint64_t>>;

class TunnelBuilder {
 public:
  // With `nftables`, kernel gretap taps with MTU=auto get their TCP MSS clamped (mss_rules.h);
  // without, they are left unclamped (and their plan says so).
  TunnelBuilder(nl::Netlink& netlink, wg::WireGuardReader& wireguard, dp::Datapath& datapath,
                nft::Nftables* nftables = nullptr);

  // Validates `spec` against the system, then creates the tap, sets MAC, MTU and up, and enslaves
  // it. Throws l2wg::Error naming the problem; on any failure what was done is undone first.
  TunnelPlumbing setup(const TunnelSpec& spec);
  // After a restart: takes over the tap `spec` describes instead of recreating it: a kernel
  // gretap with the same endpoints, key and underlying device, or the persistent TAP of the
  // userspace datapath, re-attached. Missing pieces (bridge membership, MTU, MAC) are put back.
  // nullopt when no link of that name exists; Error(Exists) naming the difference when the link
  // is something else. `created_bridge` is what the previous run recorded.
  std::optional<TunnelPlumbing> adopt(const TunnelSpec& spec, bool created_bridge);
  // Puts the tap back into spec's bridge (after it left it, or the bridge was recreated), as
  // setup() enslaves it. Throws Error(NotFound/InvalidArgument) when there is no such bridge.
  void rejoin_bridge(TunnelPlumbing& plumbing, const TunnelSpec& spec);
  // Removes what setup() created, in reverse order; a link already gone is not an error.
  void teardown(const TunnelPlumbing& plumbing);
  // The tap's counters, with the userspace datapath's own; in the direction of the tunnel: out is
  // tap to GRE. Throws Error(NotFound) when the tap is gone.
  Statistics statistics(const TunnelPlumbing& plumbing);

 private:
  struct Checked;
  // Everything setup() and adopt() validate before touching the kernel.
  Checked check(const TunnelSpec& spec);
  void clamp_kernel_mss(TunnelPlumbing& plumbing);

  nl::Netlink& netlink_;
  wg::WireGuardReader& wireguard_;
  dp::Datapath& datapath_;
  nft::Nftables* nftables_;
};

}  // namespace l2wg
