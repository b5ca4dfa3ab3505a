// Routed mode ([PrefixDelegation]) on one tunnel: the DHCPv6-PD client on its tap, the upstream
// router heard and probed there, the prefix's /64s routed (source routing) and announced on its
// LANs. It is the client's observer itself and owns its fds and deadlines (on the EventLoop); it
// tells the TunnelManager what changed through RoutedTunnel::Owner.
//
// Everything that happens to it is one event (a packet, a deadline, a call): whatever the event
// changed is routed, announced and recorded once, at its end, so a Reply that changes the lease and
// a prefix gives one Router Advertisement and one write of its record.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "l2wg/bridge/netlink.h"
#include "l2wg/clock.h"
#include "l2wg/daemon/config.h"
#include "l2wg/daemon/event_loop.h"
#include "l2wg/daemon/routed.h"
#include "l2wg/daemon/status.h"
#include "l2wg/lan/routing.h"
#include "state_store.h"

namespace l2wg {

// Source routing's table and rule: one table per tunnel, numbered from its name (as the IAID is)
// above the 0..255 range that iproute2 names and admins number by hand, the next free one when
// another tunnel has it, and kept in the state dir; one priority for all tunnels, since their
// rules select disjoint sources.
inline constexpr uint32_t kFirstRoutedTable = 0x10000;
inline constexpr uint32_t kRoutedTables = 0x10000;
inline constexpr uint32_t kRoutedRulePriority = 32000;
uint32_t routed_table_for(const std::string& tunnel);  // where a tunnel's table number starts
uint32_t next_routed_table(uint32_t table);            // the one after, wrapping in the range
bool is_routed_table(uint64_t table);

// LAN endpoints sending their final Router Advertisements after their tunnel or LAN went: kept
// (and their fds watched) until the finals are out.
class FinalAdvertisements {
 public:
  explicit FinalAdvertisements(EventLoop& loop) : loop_(loop) {}
  void add(std::unique_ptr<routed::RaEndpoint> endpoint);  // stop() already called

 private:
  struct Retiring {
    std::unique_ptr<routed::RaEndpoint> endpoint;
    std::vector<EventLoop::Registration> watches;  // after endpoint: dropped before its fds close
  };
  void handle(routed::RaEndpoint* endpoint, int fd);
  EventLoop& loop_;
  std::vector<Retiring> retiring_;
};

class RoutedTunnel final : private dhcp6::Observer {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // Its prefixes, LAN prefixes or upstream router changed; with `health`, also whether the
    // upstream router answers, which is part of the tunnel's state.
    virtual void routed_changed(bool health) = 0;
    virtual void prefix_delegated(const IpPrefix& prefix) = 0;
    virtual void prefix_lost(const IpPrefix& prefix, const std::string& reason) = 0;
  };

  struct Context {
    nl::Netlink& netlink;
    Clock& clock;
    EventLoop& loop;
    StateStore& store;
    routed::PrefixDelegationFactory& prefix_delegation;
    routed::RaEndpointFactory& router_advertisements;
    FinalAdvertisements& finals;
  };

  struct Tap {
    int ifindex = 0;
    uint32_t mtu = 0;
  };

  // The LAN endpoints and the client, not started; `record` is what a previous run kept and
  // `table` the table to use. Throws Error naming the problem, leaving nothing behind.
  RoutedTunnel(Context context, const config::Tunnel& config, Tap tap, RoutedRecord record,
               uint32_t table, bool initial_delay, Owner& owner);
  // The client stops without Release (its lease file stays for a restart); routing stays.
  ~RoutedTunnel() override;
  RoutedTunnel(const RoutedTunnel&) = delete;
  RoutedTunnel& operator=(const RoutedTunnel&) = delete;

  // Once the owner can take its reports: removes what a previous run applied if its lease is gone,
  // re-announces what it deprecated, starts the client.
  void start();
  enum class Ending {
    Quietly,      // a rebuild: the LANs are not told, the record stays
    Deprecating,  // stopped: final RAs deprecate everything on the LANs, the record stays
    Forgetting,   // deleted: final RAs, and the record goes
  };
  // Removes every address, route and rule routed mode added and stops the client.
  void stop(Ending ending);
  void renew();
  void release();
  // Router lifetime 0 on the LANs whenever the tunnel is not usable (RFC 7084 G-5).
  void set_usable(bool usable);
  // A LAN no longer configured: its final Router Advertisements.
  void retire_lans_not_in(const std::vector<std::string>& lans);
  // The tap or a LAN went down or came back up (a link event).
  void link_down(int ifindex);
  void link_up(int ifindex);
  // An address went from a link (an address event): one of its LAN addresses taken by someone
  // else (NetworkManager reapplying the LAN's connection) is put back with the rest of its
  // routing, and the LANs told at once.
  void address_removed(const nl::Address& address);
  // An address appeared on a link: a LAN whose addresses could not be put back (IPv6 was off on
  // it for a moment, as NetworkManager does on a reapply) gets them now.
  void address_added(int ifindex);

  uint32_t table() const { return table_; }
  // The LAN's interface index, or 0 if it is not one of this tunnel's.
  int lan_ifindex(const std::string& lan) const;
  // DelegatedPrefixes, LANPrefixes and UpstreamRouter.
  void fill_status(TunnelStatus& status) const;
  // Why the tunnel is degraded, when the upstream router stopped answering.
  std::optional<std::string> upstream_problem() const;

 private:
  struct Bound {
    dhcp6::DelegatedPrefix prefix;
    std::map<std::string, IpPrefix> subnets;  // LAN → its /64
  };
  struct HeardRouter {
    lan::UpstreamRouter router;
    uint64_t default_until_us = 0;  // monotonic: when its router lifetime runs out
  };
  struct Lan {
    int ifindex = 0;
    std::unique_ptr<routed::RaEndpoint> endpoint;
    std::vector<EventLoop::Registration> watches;  // after endpoint: dropped before its fds close
  };
  // One event: what it changed is acted on when the outermost one ends.
  class Event;
  struct Pending {
    bool routing = false;
    bool announcement = false;
    bool record = false;
    std::optional<bool> status;  // with health?
    std::vector<IpPrefix> delegated;
    std::vector<std::pair<IpPrefix, std::string>> lost;
  };

  // dhcp6::Observer
  void prefix_added(const dhcp6::DelegatedPrefix& prefix, const dhcp6::Lease& lease) override;
  void prefix_changed(const dhcp6::DelegatedPrefix& prefix, const dhcp6::Lease& lease) override;
  void prefix_lost(const IpPrefix& prefix, std::string_view reason) override;
  void lease_changed(const std::optional<dhcp6::Lease>& lease) override;
  void state_changed(dhcp6::State state) override;
  void message_sent(dhcp6::MessageType type, uint32_t xid) override;
  void message_received(dhcp6::MessageType type, uint32_t xid) override;
  void message_dropped(std::string_view reason) override;

  void restore(const RoutedRecord& record);
  void watch(const std::vector<int>& fds, std::vector<EventLoop::Registration>& into,
             std::function<void(int)> handler);
  void bind(const dhcp6::DelegatedPrefix& prefix, const dhcp6::Lease& lease, bool added);
  void take_lease_options(const dhcp6::Lease& lease);
  void upstream_heard(const routed::UpstreamNews& news);
  void upstream_reachability(bool reachable);
  void rebind_settled();
  void on_deadline();
  std::optional<uint64_t> next_deadline() const;
  void finish_event();
  void apply_routing();
  void announce();
  lan::Announcement announcement(const std::string& lan) const;
  RoutedRecord record() const;
  void save_record();

  Context context_;
  std::string name_;
  config::Tunnel config_;
  Tap tap_;
  Owner& owner_;
  uint32_t table_;
  std::map<std::string, Lan> lans_;
  std::map<std::string, uint64_t> remembered_ids_;  // subnet ids, kept in the state dir
  std::map<IpPrefix, Bound> bound_;
  std::vector<DeprecatedSubnet> deprecated_;
  std::vector<IpAddress> lease_dns_;
  std::vector<std::string> lease_domains_;
  lan::RoutingPlan applied_;
  bool announcing_ = false;  // from the first prefix bound on: no RA before there is one
  bool usable_ = false;      // the tunnel is up (or degraded for bridged frames only)
  std::map<IpAddress, HeardRouter> routers_;  // every router heard on the tap
  std::optional<lan::UpstreamRouter> router_;  // the one the table's default route goes through
  bool router_lost_ = false;  // it stopped answering probes through the tunnel
  // Since the router answered again: until the client has rebound (or given up trying), the LANs
  // still do not use us, so that no host sends through a tunnel whose lease is unconfirmed.
  std::optional<uint64_t> rebinding_since_us_;  // monotonic
  // The tap and LANs seen going down: only those come back up. The tap's own first "up" (its
  // event arrives after the client started) is no reason to Solicit again.
  std::set<int> links_down_;
  std::set<int> unrestored_;  // LANs whose removed addresses could not be put back yet
  // After putting addresses back: when to check that the LANs' connected routes are there too.
  std::optional<uint64_t> lan_check_at_us_;  // monotonic
  void check_lan_routes();
  int event_depth_ = 0;
  Pending pending_;
  std::unique_ptr<routed::UpstreamListener> upstream_;
  std::vector<EventLoop::Registration> upstream_watches_;
  std::unique_ptr<routed::PdClient> client_;
  std::vector<EventLoop::Registration> client_watches_;
  std::unique_ptr<EventLoop::Timer> deadline_;
};

}  // namespace l2wg
