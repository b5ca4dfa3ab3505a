#include "routed_tunnel.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "l2wg/error.h"
#include "l2wg/lan/subnet.h"

namespace l2wg {
namespace {

// How long the LANs wait for the client to rebind once the upstream router answers again: a
// confirming Rebind gives up after 10 s (dhcp6::Session) and the lease is kept.
constexpr uint64_t kRebindGrace_us = 12'000'000;
// After addresses were put back on a LAN: when to check that its connected routes came too.
constexpr uint64_t kLanCheckDelay_us = 1'000'000;

// One plan for all of a tunnel's prefixes: their tables' fallback route is the same route, which
// must be added once and removed only with the last prefix.
void merge(lan::RoutingPlan& into, const lan::RoutingPlan& plan) {
  auto add = [](auto& to, const auto& from) {
    for (const auto& item : from)
      if (std::find(to.begin(), to.end(), item) == to.end()) to.push_back(item);
  };
  add(into.addresses, plan.addresses);
  add(into.routes, plan.routes);
  add(into.rules, plan.rules);
}

// In reverse order (rules, routes, addresses); what is already gone counts as removed.
void remove_plan(nl::Netlink& netlink, const lan::RoutingPlan& plan, const std::string& tunnel) {
  auto attempt = [&](auto&& action, const std::string& what) {
    try {
      action();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound)
        spdlog::warn("{}: cannot remove {}: {}", tunnel, what, e.what());
    }
  };
  for (auto it = plan.rules.rbegin(); it != plan.rules.rend(); ++it)
    attempt([&] { netlink.delete_rule(*it); }, "rule " + it->str());
  for (auto it = plan.routes.rbegin(); it != plan.routes.rend(); ++it)
    attempt([&] { netlink.delete_route(*it); }, "route " + it->str());
  for (auto it = plan.addresses.rbegin(); it != plan.addresses.rend(); ++it)
    attempt([&] { netlink.delete_address(*it); }, "address " + it->prefix.str());
}

// In order (addresses, routes, rules); what is already there (a restart, a tap that came back)
// counts as added. Throws the first other failure.
void add_plan(nl::Netlink& netlink, const lan::RoutingPlan& plan) {
  auto attempt = [](auto&& action) {
    try {
      action();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Exists) throw;
    }
  };
  for (const auto& a : plan.addresses) attempt([&] { netlink.add_address(a); });
  for (const auto& r : plan.routes) attempt([&] { netlink.add_route(r); });
  for (const auto& r : plan.rules) attempt([&] { netlink.add_rule(r); });
}

}  // namespace

uint32_t routed_table_for(const std::string& tunnel) {
  return kFirstRoutedTable + (dhcp6::iaid_for(tunnel) & (kRoutedTables - 1));
}

uint32_t next_routed_table(uint32_t table) {
  return kFirstRoutedTable + ((table - kFirstRoutedTable + 1) & (kRoutedTables - 1));
}

bool is_routed_table(uint64_t table) {
  return table >= kFirstRoutedTable && table < kFirstRoutedTable + kRoutedTables;
}

// ---- FinalAdvertisements ------------------------------------------------------------------------

void FinalAdvertisements::add(std::unique_ptr<routed::RaEndpoint> endpoint) {
  if (endpoint->finished()) return;
  Retiring retiring{std::move(endpoint), {}};
  auto* raw = retiring.endpoint.get();
  for (int fd : raw->fds())
    retiring.watches.push_back(loop_.add(fd, [this, raw, fd] { handle(raw, fd); }));
  retiring_.push_back(std::move(retiring));
}

void FinalAdvertisements::handle(routed::RaEndpoint* endpoint, int fd) {
  try {
    endpoint->handle(fd);
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
  }
  std::erase_if(retiring_, [](const Retiring& r) { return r.endpoint->finished(); });
}

// ---- RoutedTunnel -------------------------------------------------------------------------------

class RoutedTunnel::Event {
 public:
  explicit Event(RoutedTunnel& tunnel) : tunnel_(tunnel) { ++tunnel_.event_depth_; }
  ~Event() {
    if (--tunnel_.event_depth_ == 0) tunnel_.finish_event();
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

 private:
  RoutedTunnel& tunnel_;
};

RoutedTunnel::RoutedTunnel(Context context, const config::Tunnel& config, Tap tap,
                           RoutedRecord record, uint32_t table, bool initial_delay, Owner& owner)
    : context_(context),
      name_(config.name),
      config_(config),
      tap_(tap),
      owner_(owner),
      table_(table) {
  for (const auto& lan : config.prefix_delegation->lans) {
    const auto link = context_.netlink.link(lan);
    if (!link) throw Error(ErrorCode::InvalidArgument, "LAN=" + lan + ": no such interface");
    auto& entry = lans_[lan];
    entry.ifindex = link->ifindex;
    entry.endpoint = context_.router_advertisements.create(lan);
    auto* endpoint = entry.endpoint.get();
    watch(endpoint->fds(), entry.watches, [this, endpoint](int fd) {
      Event event(*this);
      endpoint->handle(fd);
    });
  }
  restore(record);

  upstream_ = context_.router_advertisements.listen_upstream(config.spec.tap_name);
  if (router_) upstream_->watch(router_->link_local);
  watch(upstream_->fds(), upstream_watches_, [this](int fd) {
    Event event(*this);
    upstream_heard(upstream_->handle(fd));
  });

  dhcp6::SessionOptions options;
  options.name = config.name;
  options.interface = config.spec.tap_name;
  options.state_dir = context_.store.dir();
  options.prefix_length_hint = config.prefix_delegation->prefix_length;
  options.rapid_commit = config.prefix_delegation->rapid_commit;
  options.initial_delay = initial_delay;
  client_ = context_.prefix_delegation.create(options, *this);
  watch(client_->fds(), client_watches_, [this](int fd) {
    Event event(*this);
    client_->handle(fd);
  });
  deadline_ = context_.loop.add_timer([this] { on_deadline(); });
  deadline_->arm(next_deadline());
}

RoutedTunnel::~RoutedTunnel() {
  client_watches_.clear();
  client_.reset();  // its callbacks come here: it goes first
}

// What a previous run kept: the subnet ids, the prefixes it deprecated, the routing it applied
// and the upstream router for what is left of its lifetime.
void RoutedTunnel::restore(const RoutedRecord& record) {
  remembered_ids_ = record.subnet_ids;
  const uint64_t now = context_.clock.wall_us();
  // Only for a LAN still configured, and only while hosts may still hold the prefix.
  for (const auto& d : record.deprecated)
    if (d.valid_until_us > now && lans_.count(d.lan)) deprecated_.push_back(d);
  // A restart keeps deprecating what the previous run lost (RFC 9096 §3.5).
  announcing_ = !deprecated_.empty();
  applied_ = record.applied;
  if (record.upstream && record.upstream->until_us > now) {
    const uint64_t left_us = record.upstream->until_us - now;
    lan::UpstreamRouter router{
        record.upstream->link_local,
        static_cast<uint16_t>(std::clamp<uint64_t>(left_us / 1'000'000, 1, 0xffff)),
        record.upstream->mtu};
    routers_[router.link_local] = {router, context_.clock.monotonic_us() + left_us};
    router_ = router;
  }
}

void RoutedTunnel::watch(const std::vector<int>& fds, std::vector<EventLoop::Registration>& into,
                         std::function<void(int)> handler) {
  for (int fd : fds)
    into.push_back(context_.loop.add(fd, [this, handler, fd] {
      try {
        handler(fd);
      } catch (const Error& e) {
        spdlog::error("{}: {}", name_, e.what());
      }
    }));
}

void RoutedTunnel::start() {
  Event event(*this);
  // What a previous run applied stays while its lease may still be confirmed (a restart must not
  // cut the LAN off); with no lease file, or one whose prefixes all expired meanwhile, the client
  // will never report those prefixes again: remove their routing now.
  if (!applied_.empty()) {
    bool valid_lease = false;
    try {
      const auto lease = dhcp6::load_lease(dhcp6::lease_path(context_.store.dir(), name_));
      const uint64_t now = context_.clock.wall_us();
      if (lease)
        for (const auto& p : lease->prefixes) valid_lease = valid_lease || p.valid_until_us > now;
    } catch (const Error& e) {
      spdlog::warn("{}: {}", name_, e.what());
    }
    if (!valid_lease) pending_.routing = true;
  }
  pending_.announcement = true;  // the prefixes a previous run deprecated, if any
  client_->start();
}

void RoutedTunnel::stop(Ending ending) {
  const bool final_advertisements = ending != Ending::Quietly;
  client_watches_.clear();
  client_->stop();
  remove_plan(context_.netlink, applied_, name_);
  applied_ = {};
  for (auto& [lan, entry] : lans_) {
    if (!final_advertisements || !announcing_) continue;
    entry.watches.clear();
    entry.endpoint->stop();
    context_.finals.add(std::move(entry.endpoint));
  }
  lans_.clear();
  if (ending == Ending::Forgetting) {
    context_.store.remove_routed(name_);
  } else {
    save_record();
  }
}

void RoutedTunnel::renew() {
  Event event(*this);
  client_->renew();
}

void RoutedTunnel::release() {
  Event event(*this);
  client_->release();
}

void RoutedTunnel::set_usable(bool usable) {
  if (usable_ == usable) return;
  Event event(*this);
  usable_ = usable;
  pending_.announcement = true;
}

void RoutedTunnel::retire_lans_not_in(const std::vector<std::string>& lans) {
  if (!announcing_) return;
  for (auto it = lans_.begin(); it != lans_.end();) {
    if (std::find(lans.begin(), lans.end(), it->first) != lans.end()) {
      ++it;
      continue;
    }
    spdlog::info("{}: {} is no longer one of its LANs: final Router Advertisements", name_,
                 it->first);
    it->second.watches.clear();
    it->second.endpoint->stop();
    context_.finals.add(std::move(it->second.endpoint));
    it = lans_.erase(it);
  }
}

void RoutedTunnel::link_down(int ifindex) {
  const bool ours = ifindex == tap_.ifindex ||
                    std::any_of(lans_.begin(), lans_.end(),
                                [&](const auto& lan) { return lan.second.ifindex == ifindex; });
  if (ours) links_down_.insert(ifindex);
}

// A link going down loses every route through it (the tap's default in T, a LAN's /64 in T):
// put the plan back (what survived is Exists, i.e. done). The tap coming back also means the
// client must Rebind and the upstream router be solicited again.
void RoutedTunnel::link_up(int ifindex) {
  if (!links_down_.erase(ifindex)) return;
  Event event(*this);
  const auto link = context_.netlink.link(ifindex);
  spdlog::info("{}: {} is up again: re-applying its routing", name_,
               link ? link->name : "#" + std::to_string(ifindex));
  try {
    add_plan(context_.netlink, applied_);
  } catch (const Error& e) {
    spdlog::error("{}: cannot re-apply its routing: {}", name_, e.what());
  }
  if (ifindex != tap_.ifindex) return;
  upstream_->link_changed();
  client_->link_changed();
}

// Whoever removed it (NetworkManager's reapply removes every address it did not configure, with
// the connected route) did not mean to cut the LAN off. A link that is down gets its plan back
// when it comes up (link_up); what l2wgd removes itself is no longer in applied_ by then.
void RoutedTunnel::address_removed(const nl::Address& address) {
  if (links_down_.count(address.ifindex)) return;
  if (std::find(applied_.addresses.begin(), applied_.addresses.end(), address) ==
      applied_.addresses.end())
    return;
  Event event(*this);
  const auto link = context_.netlink.link(address.ifindex);
  const std::string lan = link ? link->name : "#" + std::to_string(address.ifindex);
  spdlog::info("{}: {} was removed from {}: re-applying its routing", name_, address.prefix.str(),
               lan);
  try {
    add_plan(context_.netlink, applied_);
  } catch (const Error& e) {
    // IPv6 turned off on it for a moment (NetworkManager's reapply, or the LAN on its way out):
    // again when an address appears there, i.e. IPv6 is back.
    spdlog::warn("{}: cannot put its routing back on {} yet: {}; again once {} has an address",
                 name_, lan, e.what(), lan);
    unrestored_.insert(address.ifindex);
  }
  lan_check_at_us_ = context_.clock.monotonic_us() + kLanCheckDelay_us;
  pending_.announcement = true;
}

void RoutedTunnel::address_added(int ifindex) {
  if (!unrestored_.erase(ifindex)) return;
  Event event(*this);
  try {
    add_plan(context_.netlink, applied_);
    spdlog::info("{}: its routing is back on #{}", name_, ifindex);
  } catch (const Error& e) {
    spdlog::warn("{}: cannot put its routing back on #{} yet: {}", name_, ifindex, e.what());
    unrestored_.insert(ifindex);
  }
  lan_check_at_us_ = context_.clock.monotonic_us() + kLanCheckDelay_us;
  pending_.announcement = true;
}

// NetworkManager's reapply also removes the routes it did not make, the kernel's route to the
// /64 of an address just put back among them: without it the LAN's hosts are unreachable from
// the tunnel. An address added anew brings its route with it.
void RoutedTunnel::check_lan_routes() {
  lan_check_at_us_.reset();
  std::vector<Route> main;
  try {
    main = context_.netlink.routes(IpAddress::Family::V6, kMainTable);
  } catch (const Error& e) {
    spdlog::warn("{}: cannot read the main table: {}", name_, e.what());
    return;
  }
  for (const auto& address : applied_.addresses) {
    if (links_down_.count(address.ifindex) || unrestored_.count(address.ifindex)) continue;
    const IpPrefix net{address.prefix.address.masked(address.prefix.length),
                       address.prefix.length};
    const bool routed = std::any_of(main.begin(), main.end(), [&](const Route& r) {
      return r.type == RouteType::Unicast && r.destination == net && r.ifindex == address.ifindex;
    });
    if (routed) continue;
    spdlog::info("{}: the route to {} went from #{}: adding {} anew", name_, net.str(),
                 address.ifindex, address.prefix.str());
    try {
      context_.netlink.delete_address(address);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound) spdlog::warn("{}: {}", name_, e.what());
    }
    try {
      context_.netlink.add_address(address);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Exists) spdlog::warn("{}: {}", name_, e.what());
    }
  }
}

int RoutedTunnel::lan_ifindex(const std::string& lan) const {
  const auto it = lans_.find(lan);
  return it == lans_.end() ? 0 : it->second.ifindex;
}

void RoutedTunnel::fill_status(TunnelStatus& status) const {
  if (router_) status.upstream_router = router_->link_local.str();
  for (const auto& [prefix, bound] : bound_) {
    status.delegated_prefixes.push_back(bound.prefix);  // its lifetimes, not its exclusion
    for (const auto& [lan, subnet] : bound.subnets) status.lan_prefixes.push_back({lan, subnet});
  }
}

std::optional<std::string> RoutedTunnel::upstream_problem() const {
  if (!router_ || !router_lost_) return std::nullopt;
  return "The upstream router " + router_->link_local.str() + " stopped answering through " +
         config_.spec.tap_name + ": the LANs were told not to route through this tunnel.";
}

// ---- The client's reports -----------------------------------------------------------------------

void RoutedTunnel::prefix_added(const dhcp6::DelegatedPrefix& prefix, const dhcp6::Lease& lease) {
  bind(prefix, lease, /*added=*/true);
}

void RoutedTunnel::prefix_changed(const dhcp6::DelegatedPrefix& prefix,
                                  const dhcp6::Lease& lease) {
  bind(prefix, lease, /*added=*/false);
}

void RoutedTunnel::bind(const dhcp6::DelegatedPrefix& prefix, const dhcp6::Lease& lease,
                        bool added) {
  Event event(*this);
  const auto& pd = *config_.prefix_delegation;
  std::map<std::string, uint64_t> configured;
  for (const auto& [lan, id] : pd.subnet_ids) configured[lan] = id;
  auto plan = lan::plan_subnets(prefix.prefix, prefix.exclude, pd.lans, configured, remembered_ids_);
  for (const auto& problem : plan.problems) spdlog::warn("{}: {}", name_, problem);
  // A prefix bound again is no longer deprecated.
  const auto erased = std::erase_if(deprecated_, [&](const DeprecatedSubnet& d) {
    for (const auto& [lan, subnet] : plan.subnets)
      if (d.lan == lan && d.subnet == subnet) return true;
    return false;
  });
  for (const auto& [lan, id] : plan.ids) {
    auto [known, inserted] = remembered_ids_.try_emplace(lan, id);
    if (!inserted && known->second == id) continue;
    known->second = id;
    pending_.record = true;
  }
  if (erased) pending_.record = true;
  bound_[prefix.prefix] = {prefix, plan.subnets};
  take_lease_options(lease);
  announcing_ = true;
  if (added) spdlog::info("{}: prefix {} delegated", name_, prefix.prefix.str());
  pending_.routing = true;
  pending_.announcement = true;
  pending_.status = pending_.status.value_or(false);
  if (added) pending_.delegated.push_back(prefix.prefix);
}

void RoutedTunnel::prefix_lost(const IpPrefix& prefix, std::string_view reason) {
  Event event(*this);
  auto gone = bound_.find(prefix);
  if (gone == bound_.end()) return;
  // Hosts were told at most kValidLimit of valid lifetime, at most what the lease had left
  // (RFC 9096 §3.5): announce the subnets deprecated for that long.
  const uint64_t until = std::min(gone->second.prefix.valid_until_us,
                                  context_.clock.wall_us() + uint64_t{lan::kValidLimit} * 1'000'000);
  for (const auto& [lan, subnet] : gone->second.subnets) deprecated_.push_back({lan, subnet, until});
  bound_.erase(gone);
  spdlog::info("{}: prefix {} lost: {}", name_, prefix.str(), reason);
  pending_.routing = true;
  pending_.announcement = true;
  pending_.record = true;
  pending_.status = pending_.status.value_or(false);
  pending_.lost.emplace_back(prefix, std::string(reason));
}

void RoutedTunnel::lease_changed(const std::optional<dhcp6::Lease>& lease) {
  if (!lease) return;
  Event event(*this);
  rebind_settled();
  take_lease_options(*lease);
}

// The one way the lease's DNS servers and search domains reach the LANs.
void RoutedTunnel::take_lease_options(const dhcp6::Lease& lease) {
  if (lease_dns_ == lease.dns_servers && lease_domains_ == lease.domain_search) return;
  lease_dns_ = lease.dns_servers;
  lease_domains_ = lease.domain_search;
  pending_.announcement = true;
}

// What l2wg-dhcp6 prints, in the debug log: without it a server that never answers, or answers
// what the client drops, leaves no trace.
void RoutedTunnel::state_changed(dhcp6::State state) {
  spdlog::debug("{}: DHCPv6 {}", name_, dhcp6::to_string(state));
}

void RoutedTunnel::message_sent(dhcp6::MessageType type, uint32_t xid) {
  spdlog::debug("{}: DHCPv6 {} sent (transaction {:06x})", name_, dhcp6::to_string(type), xid);
}

void RoutedTunnel::message_received(dhcp6::MessageType type, uint32_t xid) {
  spdlog::debug("{}: DHCPv6 {} received (transaction {:06x})", name_, dhcp6::to_string(type), xid);
}

void RoutedTunnel::message_dropped(std::string_view reason) {
  spdlog::debug("{}: DHCPv6 packet dropped: {}", name_, reason);
}

// ---- The upstream router ------------------------------------------------------------------------

// The router the table's default goes through: the current one while its router lifetime runs,
// else any other whose does. Called with nothing heard when a lifetime runs out (next_deadline).
void RoutedTunnel::upstream_heard(const routed::UpstreamNews& news) {
  const uint64_t now = context_.clock.monotonic_us();
  if (news.reachable) upstream_reachability(*news.reachable);
  for (const auto& r : news.heard)
    routers_[r.link_local] = {r, now + uint64_t{r.router_lifetime} * 1'000'000};
  auto usable = [&](const HeardRouter& h) {
    return h.router.router_lifetime > 0 && h.default_until_us > now;
  };
  std::optional<lan::UpstreamRouter> chosen;
  if (router_) {
    const auto& current = routers_.at(router_->link_local);
    if (usable(current)) chosen = current.router;
  }
  for (const auto& [address, h] : routers_)
    if (!chosen && usable(h)) chosen = h.router;
  const bool moved = (chosen ? std::optional(chosen->link_local) : std::nullopt) !=
                     (router_ ? std::optional(router_->link_local) : std::nullopt);
  router_ = chosen;
  if (!moved) {
    // Its lifetime moved on: what a restart would take over (see record()).
    const bool refreshed =
        chosen && std::any_of(news.heard.begin(), news.heard.end(),
                              [&](const auto& r) { return r.link_local == chosen->link_local; });
    if (refreshed && !applied_.empty()) pending_.record = true;
    if (refreshed) pending_.announcement = true;  // its MTU may have changed
    return;
  }
  spdlog::info("{}: upstream router {}", name_,
               chosen ? chosen->link_local.str() : std::string("none"));
  router_lost_ = false;
  upstream_->watch(chosen ? std::optional(chosen->link_local) : std::nullopt);
  pending_.routing = true;
  pending_.announcement = true;
  pending_.status = true;
}

// The tunnel's health as the LANs see it (RFC 7084 G-5): router lifetime 0 while the upstream
// router does not answer; back once it does and the client has rebound.
void RoutedTunnel::upstream_reachability(bool reachable) {
  if (!router_ || router_lost_ == !reachable) return;
  router_lost_ = !reachable;
  if (reachable) {
    spdlog::info("{}: the upstream router {} answers again: rebinding", name_,
                 router_->link_local.str());
    rebinding_since_us_ = context_.clock.monotonic_us();
    client_->link_changed();
  } else {
    spdlog::warn("{}: the upstream router {} stopped answering through {}", name_,
                 router_->link_local.str(), config_.spec.tap_name);
    rebinding_since_us_.reset();
  }
  pending_.announcement = true;
  pending_.status = true;
}

// The client answered (or could not, for longer than a confirmation may take): the LANs may use
// the tunnel again.
void RoutedTunnel::rebind_settled() {
  if (!rebinding_since_us_) return;
  rebinding_since_us_.reset();
  pending_.announcement = true;
}

void RoutedTunnel::on_deadline() {
  Event event(*this);
  upstream_heard({});
  if (rebinding_since_us_ &&
      context_.clock.monotonic_us() - *rebinding_since_us_ > kRebindGrace_us)
    rebind_settled();
  if (lan_check_at_us_ && context_.clock.monotonic_us() >= *lan_check_at_us_) check_lan_routes();
}

// The upstream router's lifetime running out, and the end of the rebind's grace.
std::optional<uint64_t> RoutedTunnel::next_deadline() const {
  std::optional<uint64_t> next;
  auto earliest = [&](uint64_t at) { next = next ? std::min(*next, at) : at; };
  if (router_) earliest(routers_.at(router_->link_local).default_until_us);
  if (rebinding_since_us_) earliest(*rebinding_since_us_ + kRebindGrace_us + 1);
  if (lan_check_at_us_) earliest(*lan_check_at_us_);
  return next;
}

// ---- The end of an event ------------------------------------------------------------------------

void RoutedTunnel::finish_event() {
  // What runs here may start events of its own (the owner answering with set_usable): they add to
  // what is pending and are handled in the same pass.
  ++event_depth_;
  try {
    if (std::exchange(pending_.routing, false)) apply_routing();
    if (const auto health = std::exchange(pending_.status, std::nullopt))
      owner_.routed_changed(*health);
    if (std::exchange(pending_.announcement, false)) announce();
    if (std::exchange(pending_.record, false)) save_record();
    for (const auto& prefix : std::exchange(pending_.delegated, {}))
      owner_.prefix_delegated(prefix);
    for (const auto& [prefix, reason] : std::exchange(pending_.lost, {}))
      owner_.prefix_lost(prefix, reason);
    if (deadline_) deadline_->arm(next_deadline());
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", name_, e.what());
  }
  --event_depth_;
}

// Moves the kernel from what was applied to what the bound prefixes need.
void RoutedTunnel::apply_routing() {
  const auto& pd = *config_.prefix_delegation;
  lan::RoutingPlan desired;
  for (const auto& [prefix, bound] : bound_) {
    lan::RoutingSetup setup;
    setup.delegated = prefix;
    for (const auto& [lan, subnet] : bound.subnets) setup.lan_subnets[lans_.at(lan).ifindex] = subnet;
    setup.tap_ifindex = tap_.ifindex;
    if (router_) setup.upstream_router = router_->link_local;
    setup.table = table_;
    setup.rule_priority = kRoutedRulePriority;
    setup.source_routing = pd.source_routing;
    try {
      merge(desired, lan::plan_routing(setup));
    } catch (const Error& e) {
      spdlog::error("{}: cannot route {}: {}", name_, prefix.str(), e.what());
    }
  }
  const auto change = lan::routing_change(applied_, desired);
  remove_plan(context_.netlink, change.remove, name_);
  try {
    add_plan(context_.netlink, change.add);
  } catch (const Error& e) {
    spdlog::error("{}: cannot apply its routing: {}", name_, e.what());
  }
  if (applied_ == desired) return;
  applied_ = std::move(desired);
  pending_.record = true;
}

lan::Announcement RoutedTunnel::announcement(const std::string& lan) const {
  lan::Announcement a;
  a.default_router = usable_ && router_ && !router_lost_ && !rebinding_since_us_;
  const uint64_t now = context_.clock.wall_us();
  for (const auto& [prefix, bound] : bound_) {
    if (auto subnet = bound.subnets.find(lan); subnet != bound.subnets.end())
      a.prefixes.push_back(
          {subnet->second, bound.prefix.preferred_until_us, bound.prefix.valid_until_us});
    a.delegated.push_back({{prefix.address.masked(prefix.length), prefix.length},
                           bound.prefix.preferred_until_us,
                           bound.prefix.valid_until_us});
  }
  // What the LAN's hosts send off-link must fit the tap and the upstream router's link, or it
  // depends on Packet Too Big reaching them.
  a.mtu = tap_.mtu;
  if (router_ && router_->mtu) a.mtu = std::min(a.mtu, *router_->mtu);
  for (const auto& d : deprecated_)
    if (d.lan == lan && d.valid_until_us > now) a.deprecated.push_back({d.subnet, 0, d.valid_until_us});
  const auto& configured_dns = config_.prefix_delegation->dns;
  a.dns_servers = configured_dns.empty() ? lease_dns_ : configured_dns;
  a.domains = lease_domains_;
  return a;
}

void RoutedTunnel::announce() {
  const uint64_t now = context_.clock.wall_us();
  std::erase_if(deprecated_, [&](const DeprecatedSubnet& d) { return d.valid_until_us <= now; });
  if (!announcing_) return;
  for (auto& [lan, entry] : lans_) entry.endpoint->announce(announcement(lan));
}

// STATE/routed/NAME.json.
RoutedRecord RoutedTunnel::record() const {
  RoutedRecord record{table_, remembered_ids_, deprecated_, applied_, std::nullopt};
  // The router the applied default goes through, until its lifetime ends (wall clock): a restart
  // keeps routing through it instead of cutting the LANs off until it is heard again.
  if (router_) {
    const uint64_t now = context_.clock.monotonic_us();
    const uint64_t until = routers_.at(router_->link_local).default_until_us;
    record.upstream = RecordedUpstream{
        router_->link_local, context_.clock.wall_us() + (until - std::min(until, now)),
        router_->mtu};
  }
  return record;
}

void RoutedTunnel::save_record() {
  try {
    context_.store.save_routed(name_, record());
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot record its routed state in {}: {}", name_,
                 context_.store.dir().string(), e.what());
  }
}

}  // namespace l2wg
