// What the host's nftables ruleset does to the packets this setup lives on. doctor builds the
// packets (GRE from the peer, DHCPv6 on the tap, a LAN host's flow toward the tap, …) and asks the
// ruleset, read through libnftables' JSON API, what becomes of each: accepted, or dropped by which
// rule. Pure: Ruleset::parse takes `nft -j list ruleset`'s JSON text.
//
// It follows nftables' own evaluation: every base chain on the packet's hook, of the families that
// see it, in priority order; jump, goto, return, verdict maps; named and anonymous sets. What it
// cannot judge (marks, fib, sockets, dynamic sets) makes a rule undecided: an undecided drop is
// not claimed, and an undecided accept before a drop makes that drop uncertain. A doctor that
// cries wolf is worse than none.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "l2wg/ip.h"

namespace l2wg::firewall {

enum class Hook { Prerouting, Input, Forward, Output, Postrouting };

// IANA protocol numbers and ICMPv6 types doctor's packets use.
inline constexpr uint8_t kTcp = 6, kUdp = 17, kGre = 47, kIcmpv6 = 58;
inline constexpr uint8_t kPacketTooBig = 2, kRouterSolicit = 133, kRouterAdvert = 134,
                         kNeighborSolicit = 135, kNeighborAdvert = 136;

struct Packet {
  IpAddress::Family ip = IpAddress::Family::V6;
  bool bridged = false;  // a frame a bridge forwards: the bridge family's hooks see it
  // The hooks it passes, in order: {Prerouting, Input} for the host's own, {Prerouting,
  // Forward, Postrouting} for forwarded, {Output, Postrouting} for sent.
  std::vector<Hook> hooks;
  std::string iif, oif;  // "" where the hook has none
  uint8_t l4proto = 0;
  std::optional<uint16_t> sport, dport;
  std::optional<uint8_t> icmp_type, icmp_code;
  std::vector<std::string> tcp_flags;  // "syn", "ack", …
  std::string ct_state;                // new, established, related, invalid, untracked
  std::optional<IpAddress> saddr, daddr;
};

struct Verdict {
  bool dropped = false;
  // false: a rule before the drop might have accepted the packet, if only we could tell
  bool certain = true;
  // Where it was dropped: "inet fw4", the chain, the rule's handle (nullopt: the base chain's
  // policy) and its comment.
  std::string family, table, chain;
  std::optional<uint64_t> handle;
  std::string comment;
  // The interface names the dropping rule matched on (its iifname/oifname), so a rule that names
  // this tunnel's interfaces can be told from a host-wide one.
  std::vector<std::string> named_interfaces;

  bool operator==(const Verdict&) const = default;
  std::string where() const;  // "rule 42 (\"!fw4: Prevent NAT leakage\") in inet fw4 accept_to_wan"
};

class Ruleset {
 public:
  // Throws l2wg::Error(InvalidArgument) naming what is wrong for text that is not nftables JSON.
  static Ruleset parse(std::string_view json);
  Ruleset();
  Ruleset(Ruleset&&) noexcept;
  Ruleset& operator=(Ruleset&&) noexcept;
  ~Ruleset();

  Verdict evaluate(const Packet& packet) const;
  bool empty() const;  // no base chain at all: nothing is filtered

 private:
  struct Model;
  std::unique_ptr<Model> model_;
};

}  // namespace l2wg::firewall
