// TCP MSS clamping for kernel gretap, which the userspace datapath does itself (mss_clamp.h): with
// MTU=auto a full 1500-byte frame becomes two WireGuard packets, so TCP SYNs crossing the tap get
// their MSS lowered, by nftables rules in a table of the tap's own ("l2wg-mss-TAP"):
//   - a tap in a bridge: table bridge, its forward chain, SYNs leaving or entering by the tap;
//   - a tap of its own (routed mode, a plain tap): table inet, the forward, input and output
//     chains (priority mangle), SYNs crossing the tap.
// IPv4 and IPv6 each get the MSS that fills an IP packet of `ip_mtu` bytes. The table is replaced
// whole in one transaction and removed whole; nothing else in the ruleset is touched.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace l2wg::nft {

struct MssClamp {
  std::string tap;
  bool bridged = false;
  uint32_t ip_mtu = 0;

  bool operator==(const MssClamp&) const = default;
};

std::string table_name(const std::string& tap);  // "l2wg-mss-TAP"

// libnftables JSON commands (a document {"nftables":[...]}), applied as one transaction.
std::string install_commands(const MssClamp& clamp);
// Removes the tap's table if it exists; works on both families.
std::string remove_commands(const std::string& tap);

// What applies them: libnftables, or a fake in the tests.
class Nftables {
 public:
  virtual ~Nftables() = default;
  // Throws l2wg::Error(Kernel) with nftables' own message.
  virtual void apply(const std::string& json_commands) = 0;
  // The whole ruleset as libnftables' JSON (`nft -j list ruleset`), for doctor to read.
  virtual std::string list_ruleset() = 0;
};
std::unique_ptr<Nftables> make_nftables();

}  // namespace l2wg::nft
