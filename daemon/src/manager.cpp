#include "l2wg/daemon/manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "l2wg/error.h"
#include "l2wg/file.h"
#include "l2wg/lan/routing.h"
#include "l2wg/lan/subnet.h"

namespace l2wg {
namespace {

const char* datapath_name(gre::DatapathKind kind) {
  return kind == gre::DatapathKind::Kernel ? "kernel" : "userspace";
}

// Source routing's table and rule: one table per tunnel, numbered from its name (as the IAID is)
// above the 0..255 range that iproute2 names and admins number by hand, the next free one when
// another tunnel has it, and kept in the state dir; one priority for all tunnels, since their
// rules select disjoint sources.
constexpr uint32_t kFirstRoutedTable = 0x10000;
constexpr uint32_t kRoutedTables = 0x10000;
constexpr uint32_t kRoutedRulePriority = 32000;

// How long the LANs wait for the client to rebind once the upstream router answers again: a
// confirming Rebind gives up after 10 s (dhcp6::Session) and the lease is kept.
constexpr uint64_t kRebindGrace_us = 12'000'000;

bool is_routed_table(uint64_t table) {
  return table >= kFirstRoutedTable && table < kFirstRoutedTable + kRoutedTables;
}

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

// The plan applied, in the state dir: a later run removes what this one added even when it never
// sees that prefix again (it expired or was replaced while l2wgd was not running).
nlohmann::json plan_to_json(const lan::RoutingPlan& plan) {
  auto out = nlohmann::json::object();
  auto& addresses = out["addresses"] = nlohmann::json::array();
  for (const auto& a : plan.addresses)
    addresses.push_back({{"ifindex", a.ifindex}, {"prefix", a.prefix.str()}});
  auto& routes = out["routes"] = nlohmann::json::array();
  for (const auto& r : plan.routes) {
    nlohmann::json route = {{"table", r.table},
                            {"destination", r.destination.str()},
                            {"unreachable", r.type == RouteType::Unreachable},
                            {"ifindex", r.ifindex}};
    if (r.gateway) route["gateway"] = r.gateway->str();
    if (r.metric) route["metric"] = *r.metric;
    routes.push_back(route);
  }
  auto& rules = out["rules"] = nlohmann::json::array();
  for (const auto& r : plan.rules)
    rules.push_back({{"priority", r.priority}, {"source", r.source.str()}, {"table", r.table}});
  return out;
}

// What cannot be read is left out: at worst an entry stays in the kernel, as before this record.
lan::RoutingPlan plan_from_json(const nlohmann::json& in) {
  lan::RoutingPlan plan;
  if (!in.is_object()) return plan;
  auto array = [&](const char* key) {
    return in.contains(key) && in[key].is_array() ? in[key] : nlohmann::json::array();
  };
  try {
    for (const auto& a : array("addresses"))
      if (auto prefix = IpPrefix::parse(a.at("prefix").get<std::string>()))
        plan.addresses.push_back({a.at("ifindex").get<int>(), *prefix});
    for (const auto& r : array("routes")) {
      const auto destination = IpPrefix::parse(r.at("destination").get<std::string>());
      if (!destination) continue;
      Route route{r.at("table").get<uint32_t>(),
                  *destination,
                  r.at("unreachable").get<bool>() ? RouteType::Unreachable : RouteType::Unicast,
                  std::nullopt,
                  r.at("ifindex").get<int>(),
                  std::nullopt};
      if (r.contains("gateway")) route.gateway = IpAddress::parse(r["gateway"].get<std::string>());
      if (r.contains("metric")) route.metric = r["metric"].get<uint32_t>();
      plan.routes.push_back(route);
    }
    for (const auto& r : array("rules"))
      if (auto source = IpPrefix::parse(r.at("source").get<std::string>()))
        plan.rules.push_back(
            {r.at("priority").get<uint32_t>(), *source, r.at("table").get<uint32_t>()});
  } catch (const nlohmann::json::exception& e) {
    spdlog::warn("ignoring part of a recorded routing plan: {}", e.what());
  }
  return plan;
}

}  // namespace

// A routed tunnel's moving parts. It lives as long as the tunnel's plumbing; the client's
// callbacks find the tunnel again by name, since an Entry moves until it is in tunnels_.
struct TunnelManager::Routed final : dhcp6::Observer {
  struct Bound {
    dhcp6::DelegatedPrefix prefix;
    std::map<std::string, IpPrefix> subnets;  // LAN → its /64
  };
  struct Deprecated {
    std::string lan;
    lan::AnnouncedPrefix subnet;  // lifetimes 0 on the LAN until subnet.valid_until_us
  };

  Routed(TunnelManager& owner, std::string tunnel) : manager(owner), name(std::move(tunnel)) {}

  void prefix_added(const dhcp6::DelegatedPrefix& p, const dhcp6::Lease& l) override {
    manager.prefix_bound(name, p, l, /*added=*/true);
  }
  void prefix_changed(const dhcp6::DelegatedPrefix& p, const dhcp6::Lease& l) override {
    manager.prefix_bound(name, p, l, /*added=*/false);
  }
  void prefix_lost(const IpPrefix& p, std::string_view reason) override {
    manager.prefix_gone(name, p, std::string(reason));
  }
  void lease_changed(const std::optional<dhcp6::Lease>& l) override {
    manager.lease_changed(name, l);
  }
  // What l2wg-dhcp6 prints, in the debug log: without it a server that never answers, or answers
  // what the client drops, leaves no trace.
  void state_changed(dhcp6::State state) override {
    spdlog::debug("{}: DHCPv6 {}", name, dhcp6::to_string(state));
  }
  void message_sent(dhcp6::MessageType type, uint32_t xid) override {
    spdlog::debug("{}: DHCPv6 {} sent (transaction {:06x})", name, dhcp6::to_string(type), xid);
  }
  void message_received(dhcp6::MessageType type, uint32_t xid) override {
    spdlog::debug("{}: DHCPv6 {} received (transaction {:06x})", name, dhcp6::to_string(type), xid);
  }
  void message_dropped(std::string_view reason) override {
    spdlog::debug("{}: DHCPv6 packet dropped: {}", name, reason);
  }

  TunnelManager& manager;
  std::string name;
  std::unique_ptr<routed::PdClient> client;
  std::unique_ptr<routed::UpstreamListener> upstream;
  struct HeardRouter {
    lan::UpstreamRouter router;
    uint64_t default_until_us = 0;  // monotonic: when its router lifetime runs out
  };
  std::map<IpAddress, HeardRouter> routers;   // every router heard on the tap
  std::optional<lan::UpstreamRouter> router;  // the one T's default route goes through
  bool router_lost = false;                   // it stopped answering probes through the tunnel
  // Since the router answered again: until the client has rebound (or given up trying), the LANs
  // still do not use us, so that no host sends through a tunnel whose lease is unconfirmed.
  std::optional<uint64_t> rebinding_since_us;  // monotonic
  std::map<std::string, int> lans;            // LAN → ifindex
  // The tap and LANs seen going down: only those come back up. The tap's own first "up" (its
  // event arrives after the client started) is no reason to Solicit again.
  std::set<int> links_down;
  bool own_link(int ifindex, int tap_ifindex) const {
    return ifindex == tap_ifindex || std::any_of(lans.begin(), lans.end(), [&](const auto& lan) {
             return lan.second == ifindex;
           });
  }
  std::map<std::string, std::unique_ptr<routed::RaEndpoint>> endpoints;
  std::map<std::string, uint64_t> remembered_ids;  // subnet ids, kept in the state dir
  uint32_t table = 0;                              // source routing's, kept in the state dir
  std::map<IpPrefix, Bound> bound;
  std::vector<Deprecated> deprecated;
  std::vector<IpAddress> lease_dns;
  std::vector<std::string> lease_domains;
  lan::RoutingPlan applied;
  bool announcing = false;  // from the first prefix bound on: no RA before there is one
};

const wg::Device& TunnelManager::DeviceSnapshots::device(const std::string& ifname) {
  const uint64_t now = clock_.monotonic_us();
  auto it = snapshots_.find(ifname);
  if (it == snapshots_.end() || now - std::min(now, it->second.read_at_us) > kMaxAgeUs)
    it = snapshots_.insert_or_assign(ifname, Snapshot{reader_.read_device(ifname), now}).first;
  return it->second.device;
}

TunnelManager::TunnelManager(nl::Netlink& netlink, wg::WireGuardReader& wireguard,
                             dp::Datapath& datapath, Clock& clock, ManagerOptions options)
    : netlink_(netlink),
      wireguard_(wireguard, clock),
      builder_(netlink, wireguard_, datapath),
      clock_(clock),
      options_(std::move(options)) {}

TunnelManager::~TunnelManager() {
  // The clients stop while the tunnels they report to still exist.
  for (auto& [name, entry] : tunnels_)
    if (entry.routed) entry.routed->client.reset();
}

std::filesystem::path TunnelManager::config_file(const std::string& name) const {
  return options_.config_dir / (name + ".conf");
}

// What a later run must know to adopt a tunnel: whether it created the bridge, and for a tunnel
// that has no config file, its configuration.
std::filesystem::path TunnelManager::state_file(const std::string& name) const {
  return options_.state_dir / "tunnels" / (name + ".json");
}

void TunnelManager::save_record(const Entry& entry) {
  nlohmann::json record = {
      {"created_bridge", entry.plumbing && entry.plumbing->created_bridge},
      {"config",
       entry.persistent ? nlohmann::json() : nlohmann::json(config::render_tunnel(entry.config))}};
  const auto path = state_file(entry.config.name);
  std::filesystem::create_directories(path.parent_path());
  write_file_atomically(path, record.dump() + "\n");
}

void TunnelManager::restore() {
  std::error_code error;
  std::filesystem::directory_iterator it(options_.state_dir / "tunnels", error);
  if (error) return;  // first start: nothing recorded
  for (const auto& file : it) {
    if (file.path().extension() != ".json") continue;
    const std::string name = file.path().stem().string();
    std::ifstream in(file.path());
    const auto record = nlohmann::json::parse(in, nullptr, false);
    if (record.is_discarded() || !record.contains("config") || !record["config"].is_string() ||
        std::filesystem::exists(config_file(name)))
      continue;  // a tunnel with a config file comes back through reload()
    try {
      auto tunnel = config::parse_tunnel(record["config"].get<std::string>(), name + ".conf");
      // Its tap outlives a daemon restart but not a reboot: without it, the tunnel is history.
      if (!netlink_.link(tunnel.spec.tap_name)) {
        std::filesystem::remove(file.path(), error);
        continue;
      }
      Entry entry{std::move(tunnel), false, std::nullopt, {}, nullptr};
      entry.status.name = name;
      bring_up(entry, /*strict=*/false);
      auto [inserted, ok] = tunnels_.emplace(name, std::move(entry));
      spdlog::info("{}: restored (created over D-Bus by a previous run)", name);
      if (observer_) observer_->tunnel_added(inserted->second.status);
      start_routed(inserted->second);
    } catch (const Error& e) {
      spdlog::error("{}: cannot restore: {}", file.path().string(), e.what());
    }
  }
}

TunnelStatus TunnelManager::base_status(const Entry& e) const {
  TunnelStatus s = e.status;  // keeps handshake and endpoint until the next poll
  s.name = e.config.name;
  s.wireguard = e.config.spec.wireguard;
  s.interface = e.config.spec.tap_name;
  s.bridge = e.config.spec.bridge ? e.config.spec.bridge->name : "";
  s.persistent = e.persistent;
  if (e.plumbing) {
    s.peer_public_key = wg::to_base64(e.plumbing->peer_key);
    s.local_address = e.plumbing->local.str();
    s.remote_address = e.plumbing->remote.str();
    s.datapath = datapath_name(e.plumbing->plan.datapath);
    s.mtu = e.plumbing->plan.tap_mtu;
  }
  routed_status(e, s);
  return s;
}

void TunnelManager::update(Entry& entry, TunnelStatus next) {
  const auto changed = changed_properties(entry.status, next);
  if (next.state != entry.status.state || next.state_reason != entry.status.state_reason) {
    spdlog::info("{}: {}{}{}", next.name, to_string(next.state),
                 next.state_reason.empty() ? "" : ": ", next.state_reason);
  }
  const bool state_changed = next.state != entry.status.state;
  entry.status = std::move(next);
  // Router lifetime 0 on the LANs whenever the tunnel is not up (RFC 7084 G-5).
  if (state_changed && entry.routed) announce(entry);
  if (!changed.empty() && observer_) observer_->tunnel_changed(entry.status, changed);
}

void TunnelManager::bring_up(Entry& entry, bool strict) {
  TunnelStatus next = base_status(entry);
  const auto& spec = entry.config.spec;
  if (!netlink_.link(spec.wireguard)) {
    next.state = TunnelState::WaitingForPeer;
    next.state_reason = "The WireGuard interface " + spec.wireguard + " does not exist (yet).";
    update(entry, std::move(next));
    return;
  }
  try {
    check_routed(entry.config);
    const TunnelSpec build = build_spec(entry.config);
    bool created_bridge = false;
    if (std::ifstream in(state_file(entry.config.name)); in) {
      const auto record = nlohmann::json::parse(in, nullptr, false);
      if (record.is_object()) created_bridge = record.value("created_bridge", false);
    }
    auto adopted = builder_.adopt(build, created_bridge);
    if (adopted) {
      spdlog::info("{}: adopted the existing {}", entry.config.name, spec.tap_name);
      entry.plumbing = std::move(adopted);
    } else {
      entry.plumbing = builder_.setup(build);
    }
    if (entry.config.prefix_delegation) {
      try {
        // Issue 4's rule: no initial delay for a tunnel a user just created (strict: create()).
        set_up_routed(entry, /*initial_delay=*/!strict);
      } catch (const Error&) {
        tear_down(entry);
        throw;
      }
    }
  } catch (const Error& e) {
    if (strict) throw;
    next.state = TunnelState::Failed;
    next.state_reason = e.what();
    update(entry, std::move(next));
    return;
  }
  // create() records a new tunnel itself, undoing everything when it cannot.
  if (!strict) {
    try {
      save_record(entry);
    } catch (const std::exception& e) {
      spdlog::warn("{}: cannot record the tunnel in {}: {}", entry.config.name,
                   options_.state_dir.string(), e.what());
    }
  }
  refresh_state(entry);
}

// State from the WireGuard peer: up while handshakes are fresh.
void TunnelManager::apply_peer(Entry& entry, const wg::Device* device, TunnelStatus& next) {
  if (!entry.plumbing) return;
  const wg::Peer* peer = nullptr;
  if (device) {
    for (const auto& p : device->peers)
      if (p.public_key == entry.plumbing->peer_key) peer = &p;
  }
  const std::string key = wg::to_base64(entry.plumbing->peer_key);
  if (!peer) {
    next.state = TunnelState::WaitingForPeer;
    next.state_reason = device ? "The peer " + key + " is no longer configured on " +
                                     entry.config.spec.wireguard + "."
                               : "Cannot read " + entry.config.spec.wireguard + ".";
    return;
  }
  next.peer_endpoint = peer->endpoint ? peer->endpoint->str() : "";
  next.last_handshake_us = peer->last_handshake_us;
  const uint64_t now = clock_.wall_us();  // handshakes are wall-clock timestamps
  const bool fresh = peer->last_handshake_us != 0 &&
                     now - std::min(now, peer->last_handshake_us) <= options_.handshake_timeout_us;
  if (fresh) {
    // MTU=auto promises 1500-byte frames; a smaller tap (kernel ip6gretap forced) works but
    // drops larger frames silently at the bridge, so it is degraded, not up.
    const bool short_of_auto = !entry.config.spec.mtu.fixed && entry.plumbing->plan.tap_mtu < 1500;
    next.state = short_of_auto ? TunnelState::Degraded : TunnelState::Up;
    // The contract asks that a datapath or MTU compromise be explained even when up.
    next.state_reason = entry.plumbing->plan.note;
    if (entry.routed && entry.routed->router && entry.routed->router_lost) {
      next.state = TunnelState::Degraded;
      next.state_reason = "The upstream router " + entry.routed->router->link_local.str() +
                          " stopped answering through " + entry.config.spec.tap_name +
                          ": the LANs were told not to route through this tunnel.";
    }
  } else {
    next.state = TunnelState::WaitingForPeer;
    const auto seconds = std::to_string(options_.handshake_timeout_us / 1'000'000);
    next.state_reason = peer->last_handshake_us == 0 ? "No handshake with peer " + key + " yet."
                                                     : "No handshake with peer " + key +
                                                           " within the last " + seconds + " s.";
  }
}

void TunnelManager::tear_down(Entry& entry, bool final) {
  stop_routed(entry, final);
  if (!entry.plumbing) return;
  builder_.teardown(*entry.plumbing);
  entry.plumbing.reset();
}

void TunnelManager::rebuild(Entry& entry, const std::string& why) {
  spdlog::info("{}: rebuilding: {}", entry.config.name, why);
  // Something changed: a snapshot taken a moment ago may not show it (a new WireGuard interface
  // gets its peers only after it appears).
  wireguard_.forget(entry.config.spec.wireguard);
  try {
    tear_down(entry);
  } catch (const Error& e) {
    spdlog::warn("{}: teardown before rebuild: {}", entry.config.name, e.what());
    entry.plumbing.reset();
  }
  bring_up(entry, /*strict=*/false);
  start_routed(entry);
}

TunnelStatus TunnelManager::create(const config::Tunnel& tunnel, bool persist) {
  if (!config::valid_tunnel_name(tunnel.name))
    throw Error(ErrorCode::InvalidArgument,
                "name '" + tunnel.name + "': use 1-12 characters of A-Z, a-z, 0-9, '_' and '-'");
  if (tunnels_.count(tunnel.name))
    throw Error(ErrorCode::Exists, "a tunnel named " + tunnel.name + " already exists");
  for (const auto& [name, other] : tunnels_) {
    if (other.config.spec.tap_name == tunnel.spec.tap_name)
      throw Error(ErrorCode::Exists,
                  "the interface " + tunnel.spec.tap_name + " is already used by tunnel " + name);
  }
  check_routed(tunnel);
  if (persist && std::filesystem::exists(config_file(tunnel.name)))
    throw Error(ErrorCode::Exists, config_file(tunnel.name).string() + " already exists");

  Entry entry{tunnel, persist, std::nullopt, {}, nullptr};
  entry.status.name = tunnel.name;
  try {
    bring_up(entry, /*strict=*/true);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound) throw;
    wireguard_.forget(tunnel.spec.wireguard);  // a peer added a moment ago: read afresh
    bring_up(entry, /*strict=*/true);
  }
  try {
    if (persist) {
      std::filesystem::create_directories(options_.config_dir);
      write_file_atomically(config_file(tunnel.name), config::render_tunnel(tunnel));
    }
    save_record(entry);
  } catch (const std::exception& e) {
    tear_down(entry);
    std::error_code ignored;
    if (persist) std::filesystem::remove(config_file(tunnel.name), ignored);
    throw Error(ErrorCode::Io, std::string("cannot record the tunnel: ") + e.what());
  }
  auto [it, inserted] = tunnels_.emplace(tunnel.name, std::move(entry));
  if (observer_) observer_->tunnel_added(it->second.status);
  start_routed(it->second);
  return it->second.status;
}

void TunnelManager::remove_entry(std::map<std::string, Entry>::iterator it) {
  tear_down(it->second, /*final=*/true);
  std::error_code ignored;
  std::filesystem::remove(config_file(it->first), ignored);
  std::filesystem::remove(state_file(it->first), ignored);
  const std::string name = it->first;
  tunnels_.erase(it);
  if (observer_) observer_->tunnel_removed(name);
}

void TunnelManager::remove(const std::string& name) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end()) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
  remove_entry(it);
}

void TunnelManager::restart(const std::string& name) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end()) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
  rebuild(it->second, "restart requested");
}

TunnelManager::Routed& TunnelManager::routed_of(const std::string& name) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end()) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
  if (!it->second.config.prefix_delegation)
    throw Error(ErrorCode::Unsupported, name + " is not in routed mode ([PrefixDelegation])");
  if (!it->second.routed)
    throw Error(ErrorCode::Unsupported,
                name + " has no DHCPv6 client running: " +
                    (it->second.status.state_reason.empty() ? std::string("its tap is not built")
                                                            : it->second.status.state_reason));
  return *it->second.routed;
}

void TunnelManager::renew(const std::string& name) {
  routed_of(name).client->renew();
}

void TunnelManager::release(const std::string& name) {
  routed_of(name).client->release();
}

std::vector<std::string> TunnelManager::reload() {
  auto loaded = config::load_directory(options_.config_dir);
  std::vector<std::string> errors;
  std::set<std::string> named_in_files;
  for (const auto& error : loaded.errors) {
    spdlog::error("{}", error.what());
    errors.emplace_back(error.what());
    // A broken file still names its tunnel: keep that tunnel as it is rather than delete it.
    const auto stem = std::filesystem::path(error.file()).stem().string();
    named_in_files.insert(stem);
  }
  for (auto& tunnel : loaded.tunnels) {
    named_in_files.insert(tunnel.name);
    auto it = tunnels_.find(tunnel.name);
    if (it != tunnels_.end()) {
      it->second.persistent = true;
      if (it->second.config == tunnel) continue;
      retire_dropped_lans(it->second, tunnel);
      it->second.config = tunnel;
      rebuild(it->second, "its configuration changed");
      continue;
    }
    if (tunnel.prefix_delegation &&
        (!options_.routed.prefix_delegation || !options_.routed.router_advertisements)) {
      errors.push_back(tunnel.name + ".conf: [PrefixDelegation] is not supported by this l2wgd");
      spdlog::error("{}", errors.back());
      continue;
    }
    Entry entry{tunnel, true, std::nullopt, {}, nullptr};
    entry.status.name = tunnel.name;
    bring_up(entry, /*strict=*/false);
    auto [inserted, ok] = tunnels_.emplace(tunnel.name, std::move(entry));
    if (observer_) observer_->tunnel_added(inserted->second.status);
    start_routed(inserted->second);
  }
  for (auto it = tunnels_.begin(); it != tunnels_.end();) {
    auto next = std::next(it);
    if (it->second.persistent && !named_in_files.count(it->first)) remove_entry(it);
    it = next;
  }
  return errors;
}

std::vector<TunnelStatus> TunnelManager::list() const {
  std::vector<TunnelStatus> out;
  for (const auto& [name, entry] : tunnels_) out.push_back(entry.status);
  return out;
}

const TunnelStatus* TunnelManager::find(const std::string& name) const {
  auto it = tunnels_.find(name);
  return it == tunnels_.end() ? nullptr : &it->second.status;
}

void TunnelManager::handle(const std::vector<nl::Event>& events) {
  for (const auto& event : events) {
    // The interface an added address belongs to: looked up only if a tunnel needs it (one that
    // failed), and then once for all tunnels.
    std::optional<std::string> address_link;
    auto link_of_added_address = [&]() -> const std::string& {
      if (!address_link) {
        const auto link = netlink_.link(std::get<nl::AddressAdded>(event).address.ifindex);
        address_link = link ? link->name : "";
      }
      return *address_link;
    };
    for (auto& [name, entry] : tunnels_) {
      const auto& spec = entry.config.spec;
      const auto* plumbing = entry.plumbing ? &*entry.plumbing : nullptr;
      // A routed tunnel needs all its LANs: without one it is down (Failed, saying which) until
      // the LAN is back.
      const auto* lans =
          entry.config.prefix_delegation ? &entry.config.prefix_delegation->lans : nullptr;
      auto is_lan = [&](const std::string& link) {
        return lans && std::find(lans->begin(), lans->end(), link) != lans->end();
      };
      if (const auto* added = std::get_if<nl::LinkAdded>(&event)) {
        if (added->link.name == spec.wireguard)
          rebuild(entry, "the WireGuard interface " + spec.wireguard + " appeared");
        else if (!plumbing && is_lan(added->link.name))
          rebuild(entry, "the LAN " + added->link.name + " appeared");
      } else if (const auto* removed = std::get_if<nl::LinkRemoved>(&event)) {
        if (entry.routed && is_lan(removed->link.name) &&
            entry.routed->lans.at(removed->link.name) == removed->link.ifindex) {
          rebuild(entry, "the LAN " + removed->link.name + " disappeared");
          continue;
        }
        if (plumbing && removed->link.ifindex == plumbing->wireguard_ifindex) {
          wireguard_.forget(spec.wireguard);
          TunnelStatus next = entry.status;
          next.state = TunnelState::WaitingForPeer;
          next.state_reason = "The WireGuard interface " + spec.wireguard + " disappeared.";
          update(entry, std::move(next));
        } else if (plumbing && removed->link.ifindex == plumbing->tap_ifindex) {
          rebuild(entry, spec.tap_name + " was deleted by someone else");
        }
      } else if (const auto* changed = std::get_if<nl::LinkChanged>(&event)) {
        if (plumbing && changed->after.ifindex == plumbing->wireguard_ifindex &&
            changed->after.mtu != changed->before.mtu)
          rebuild(entry,
                  spec.wireguard + "'s MTU changed to " + std::to_string(changed->after.mtu));
        else if (entry.routed && changed->before.up && !changed->after.up &&
                 entry.routed->own_link(changed->after.ifindex, plumbing->tap_ifindex))
          entry.routed->links_down.insert(changed->after.ifindex);
        else if (entry.routed && !changed->before.up && changed->after.up &&
                 entry.routed->links_down.erase(changed->after.ifindex))
          link_came_back(entry, changed->after.ifindex);
      } else if (const auto* gone = std::get_if<nl::AddressRemoved>(&event)) {
        if (plumbing && gone->address.ifindex == plumbing->wireguard_ifindex &&
            gone->address.prefix.address == plumbing->local) {
          TunnelStatus next = entry.status;
          next.state = TunnelState::Failed;
          next.state_reason = "The local address " + plumbing->local.str() + " was removed from " +
                              spec.wireguard + ".";
          update(entry, std::move(next));
        }
      } else if (std::holds_alternative<nl::AddressAdded>(event)) {
        if (entry.status.state == TunnelState::Failed && link_of_added_address() == spec.wireguard)
          rebuild(entry, "an address was added to " + spec.wireguard);
      }
    }
  }
}

void TunnelManager::poll_peers() {
  wireguard_.clear();
  std::set<std::string> unreadable;  // tried once per poll, not once per tunnel
  for (auto& [name, entry] : tunnels_) {
    if (!entry.plumbing) {
      // Not built: its WireGuard interface or peer was missing, or setup failed. Whatever was
      // wrong may have been put right without an event l2wgd watches (wg set, wg setconf).
      bring_up(entry, /*strict=*/false);
      start_routed(entry);
      continue;
    }
    if (entry.routed) {
      // An upstream router whose lifetime ran out without a new RA no longer carries traffic.
      upstream_heard(entry, {});
      const auto since = entry.routed->rebinding_since_us;
      if (since && clock_.monotonic_us() - *since > kRebindGrace_us) rebind_settled(entry);
    }
    // A tunnel failed for a reason only a rebuild clears (address removed) stays failed.
    if (entry.status.state == TunnelState::Failed) continue;
    const auto& ifname = entry.config.spec.wireguard;
    const wg::Device* device = nullptr;
    if (!unreadable.count(ifname)) {
      try {
        device = &wireguard_.device(ifname);
      } catch (const Error& e) {
        spdlog::debug("cannot read {}: {}", ifname, e.what());
        unreadable.insert(ifname);
      }
    }
    TunnelStatus next = base_status(entry);
    apply_peer(entry, device, next);
    update(entry, std::move(next));
  }
}

// ---- Routed mode -------------------------------------------------------------------------------

std::filesystem::path TunnelManager::routed_state_file(const std::string& name) const {
  return options_.state_dir / "routed" / (name + ".json");
}

TunnelSpec TunnelManager::build_spec(const config::Tunnel& tunnel) const {
  TunnelSpec spec = tunnel.spec;
  // The tap must never give the kernel a default route from the upstream's RAs (l2wgd hears them
  // itself), and DHCPv6 needs its link-local address usable at once. Optimistic DAD would do that
  // on a host, but the kernel makes no address optimistic while forwarding, which a routed dorm
  // does; so no DAD on the tap: its link-local comes from the MAC derived from the peer's public
  // key, and DAD's 1-2 s would only delay the first Solicit.
  if (tunnel.prefix_delegation) spec.ipv6_conf = {{"accept_ra", 0}, {"accept_dad", 0}};
  return spec;
}

// What can be refused before anything is created.
void TunnelManager::check_routed(const config::Tunnel& tunnel) const {
  if (!tunnel.prefix_delegation) return;
  if (!options_.routed.prefix_delegation || !options_.routed.router_advertisements)
    throw Error(ErrorCode::InvalidArgument,
                "[PrefixDelegation] (routed mode) is not supported by this l2wgd");
  const auto& pd = *tunnel.prefix_delegation;
  if (pd.lans.empty())
    throw Error(ErrorCode::InvalidArgument, "[PrefixDelegation] needs at least one LAN=");
  for (const auto& lan : pd.lans) {
    if (lan == tunnel.spec.tap_name || lan == tunnel.spec.wireguard)
      throw Error(ErrorCode::InvalidArgument,
                  "LAN=" + lan + ": that is the tunnel's own interface, not a LAN");
    if (!netlink_.link(lan))
      throw Error(ErrorCode::InvalidArgument, "LAN=" + lan + ": no such interface");
  }
}

// After the plumbing: the LAN endpoints and the client, not started. Throws, leaving no routed
// state behind (the caller tears the plumbing down).
void TunnelManager::set_up_routed(Entry& entry, bool initial_delay) {
  const auto& config = entry.config;
  check_routed(config);
  auto routed = std::make_unique<Routed>(*this, config.name);
  for (const auto& lan : config.prefix_delegation->lans) {
    routed->lans[lan] = netlink_.link(lan)->ifindex;
    routed->endpoints[lan] = options_.routed.router_advertisements->create(lan);
  }
  uint32_t table = kFirstRoutedTable + (dhcp6::iaid_for(config.name) & (kRoutedTables - 1));
  if (std::ifstream in(routed_state_file(config.name)); in) {
    const auto record = nlohmann::json::parse(in, nullptr, false);
    if (record.is_object() && record.contains("table") && record["table"].is_number_unsigned() &&
        is_routed_table(record["table"].get<uint64_t>()))
      table = record["table"].get<uint32_t>();
    if (record.is_object() && record.contains("subnet_ids") && record["subnet_ids"].is_object())
      for (const auto& [lan, id] : record["subnet_ids"].items())
        if (id.is_number_unsigned()) routed->remembered_ids[lan] = id.get<uint64_t>();
    const uint64_t now = clock_.wall_us();
    if (record.is_object() && record.contains("deprecated") && record["deprecated"].is_array()) {
      for (const auto& d : record["deprecated"]) {
        if (!d.is_object() || !d.value("lan", nlohmann::json()).is_string()) continue;
        const auto subnet = IpPrefix::parse(d.value("subnet", std::string()), /*strict=*/true);
        const uint64_t until = d.value("valid_until_us", uint64_t{0});
        // Only for a LAN still configured, and only while hosts may still hold the prefix.
        if (subnet && until > now && routed->lans.count(d["lan"].get<std::string>()))
          routed->deprecated.push_back({d["lan"].get<std::string>(), {*subnet, 0, until}});
      }
    }
    // A restart keeps deprecating what the previous run lost (RFC 9096 §3.5).
    routed->announcing = !routed->deprecated.empty();
    if (record.is_object() && record.contains("applied"))
      routed->applied = plan_from_json(record["applied"]);
    // The upstream router, for what is left of its lifetime (or until it says otherwise).
    if (record.is_object() && record.contains("upstream") && record["upstream"].is_object()) {
      const auto& upstream = record["upstream"];
      const auto link_local = upstream.contains("link_local") && upstream["link_local"].is_string()
                                  ? IpAddress::parse(upstream["link_local"].get<std::string>())
                                  : std::nullopt;
      const uint64_t until =
          upstream.contains("until_us") && upstream["until_us"].is_number_unsigned()
              ? upstream["until_us"].get<uint64_t>()
              : 0;
      if (link_local && until > now) {
        const uint64_t left_us = until - now;
        lan::UpstreamRouter router{
            *link_local,
            static_cast<uint16_t>(std::clamp<uint64_t>(left_us / 1'000'000, 1, 0xffff)),
            std::nullopt};
        if (upstream.contains("mtu") && upstream["mtu"].is_number_unsigned())
          router.mtu = upstream["mtu"].get<uint32_t>();
        routed->routers[*link_local] = {router, clock_.monotonic_us() + left_us};
        routed->router = router;
      }
    }
  }
  dhcp6::SessionOptions options;
  options.name = config.name;
  options.interface = config.spec.tap_name;
  options.state_dir = options_.state_dir;
  options.prefix_length_hint = config.prefix_delegation->prefix_length;
  options.rapid_commit = config.prefix_delegation->rapid_commit;
  options.initial_delay = initial_delay;
  routed->table = free_routed_table(config.name, table);
  routed->upstream = options_.routed.router_advertisements->listen_upstream(config.spec.tap_name);
  if (routed->router) routed->upstream->watch(routed->router->link_local);
  routed->client = options_.routed.prefix_delegation->create(options, *routed);
  entry.routed = std::move(routed);
}

// `wanted`, or the next table no other routed tunnel uses (two names can hash alike).
uint32_t TunnelManager::free_routed_table(const std::string& name, uint32_t wanted) const {
  auto taken = [&](uint32_t table) {
    return std::any_of(tunnels_.begin(), tunnels_.end(), [&](const auto& other) {
      return other.first != name && other.second.routed && other.second.routed->table == table;
    });
  };
  uint32_t table = wanted;
  while (taken(table))
    table = kFirstRoutedTable + ((table - kFirstRoutedTable + 1) & (kRoutedTables - 1));
  if (table != wanted)
    spdlog::info("{}: routing table {} belongs to another tunnel; using {}", name, wanted, table);
  return table;
}

// Once the entry is in tunnels_, where the client's callbacks find it.
void TunnelManager::start_routed(Entry& entry) {
  if (!entry.routed) return;
  // What a previous run applied stays while its lease may still be confirmed (a restart must not
  // cut the LAN off); with no lease file, or one whose prefixes all expired meanwhile, the client
  // will never report those prefixes again: remove their routing now.
  if (!entry.routed->applied.empty()) {
    bool valid_lease = false;
    try {
      const auto lease =
          dhcp6::load_lease(dhcp6::lease_path(options_.state_dir, entry.config.name));
      const uint64_t now = clock_.wall_us();
      if (lease)
        for (const auto& p : lease->prefixes) valid_lease = valid_lease || p.valid_until_us > now;
    } catch (const Error& e) {
      spdlog::warn("{}: {}", entry.config.name, e.what());
    }
    if (!valid_lease) apply_routing(entry);
  }
  announce(entry);  // the prefixes a previous run deprecated, if any
  entry.routed->client->start();
}

// STATE/routed/NAME.json: the subnet ids, and the prefixes still announced deprecated, which a
// restart must go on deprecating.
void TunnelManager::save_routed_state(const std::string& name, const Routed& routed) {
  auto deprecated = nlohmann::json::array();
  for (const auto& d : routed.deprecated)
    deprecated.push_back({{"lan", d.lan},
                          {"subnet", d.subnet.subnet.str()},
                          {"valid_until_us", d.subnet.valid_until_us}});
  nlohmann::json record = {{"table", routed.table},
                           {"subnet_ids", routed.remembered_ids},
                           {"deprecated", deprecated},
                           {"applied", plan_to_json(routed.applied)}};
  // The router the applied default goes through, until its lifetime ends (wall clock): a restart
  // keeps routing through it instead of cutting the LANs off until it is heard again.
  if (routed.router) {
    const uint64_t now = clock_.monotonic_us();
    const uint64_t until = routed.routers.at(routed.router->link_local).default_until_us;
    record["upstream"] = {{"link_local", routed.router->link_local.str()},
                          {"until_us", clock_.wall_us() + (until - std::min(until, now))}};
    if (routed.router->mtu) record["upstream"]["mtu"] = *routed.router->mtu;
  }
  try {
    const auto path = routed_state_file(name);
    std::filesystem::create_directories(path.parent_path());
    write_file_atomically(path, record.dump() + "\n");
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot record its routed state in {}: {}", name, options_.state_dir.string(),
                 e.what());
  }
}

// `final` (DeleteTunnel): final RAs deprecate everything on the LANs, and the subnet ids are
// forgotten. Either way the client stops without Release (its lease file stays for a restart)
// and every address, route and rule routed mode added is removed.
void TunnelManager::stop_routed(Entry& entry, bool final) {
  if (!entry.routed) return;
  auto routed = std::move(entry.routed);
  routed->client->stop();
  routed->client.reset();
  remove_plan(netlink_, routed->applied, entry.config.name);
  routed->applied = {};
  for (auto& [lan, endpoint] : routed->endpoints) {
    if (!final || !routed->announcing) continue;
    endpoint->stop();
    if (!endpoint->finished()) retiring_.push_back(std::move(endpoint));
  }
  if (final) {
    std::error_code ignored;
    std::filesystem::remove(routed_state_file(entry.config.name), ignored);
  } else {
    save_routed_state(entry.config.name, *routed);
  }
}

void TunnelManager::prefix_bound(const std::string& name, const dhcp6::DelegatedPrefix& prefix,
                                 const dhcp6::Lease& lease, bool added) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end() || !it->second.routed) return;
  Entry& entry = it->second;
  Routed& routed = *entry.routed;
  const auto& pd = *entry.config.prefix_delegation;
  std::map<std::string, uint64_t> configured;
  for (const auto& [lan, id] : pd.subnet_ids) configured[lan] = id;
  auto plan =
      lan::plan_subnets(prefix.prefix, prefix.exclude, pd.lans, configured, routed.remembered_ids);
  for (const auto& problem : plan.problems) spdlog::warn("{}: {}", name, problem);
  const auto deprecated_before = routed.deprecated.size();
  // A prefix bound again is no longer deprecated.
  std::erase_if(routed.deprecated, [&](const Routed::Deprecated& d) {
    for (const auto& [lan, subnet] : plan.subnets)
      if (d.lan == lan && d.subnet.subnet == subnet) return true;
    return false;
  });
  bool new_ids = false;
  for (const auto& [lan, id] : plan.ids) {
    const auto known = routed.remembered_ids.find(lan);
    if (known != routed.remembered_ids.end() && known->second == id) continue;
    routed.remembered_ids[lan] = id;
    new_ids = true;
  }
  if (new_ids || routed.deprecated.size() != deprecated_before) {
    save_routed_state(entry.config.name, routed);
  }
  routed.bound[prefix.prefix] = {prefix, plan.subnets};
  routed.lease_dns = lease.dns_servers;
  routed.lease_domains = lease.domain_search;
  routed.announcing = true;
  if (added) spdlog::info("{}: prefix {} delegated", name, prefix.prefix.str());
  apply_routing(entry);
  announce(entry);
  update(entry, base_status(entry));
  if (added && observer_) observer_->prefix_delegated(entry.status, prefix.prefix);
}

void TunnelManager::prefix_gone(const std::string& name, const IpPrefix& prefix,
                                const std::string& reason) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end() || !it->second.routed) return;
  Entry& entry = it->second;
  Routed& routed = *entry.routed;
  auto gone = routed.bound.find(prefix);
  if (gone == routed.bound.end()) return;
  // Hosts were told at most kValidLimit of valid lifetime, at most what the lease had left
  // (RFC 9096 §3.5): announce the subnets deprecated for that long.
  const uint64_t until = std::min(gone->second.prefix.valid_until_us,
                                  clock_.wall_us() + uint64_t{lan::kValidLimit} * 1'000'000);
  for (const auto& [lan, subnet] : gone->second.subnets)
    routed.deprecated.push_back({lan, {subnet, 0, until}});
  routed.bound.erase(gone);
  save_routed_state(entry.config.name, routed);
  spdlog::info("{}: prefix {} lost: {}", name, prefix.str(), reason);
  apply_routing(entry);
  announce(entry);
  update(entry, base_status(entry));
  if (observer_) observer_->prefix_lost(entry.status, prefix, reason);
}

void TunnelManager::lease_changed(const std::string& name,
                                  const std::optional<dhcp6::Lease>& lease) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end() || !it->second.routed || !lease) return;
  Routed& routed = *it->second.routed;
  rebind_settled(it->second);
  if (routed.lease_dns == lease->dns_servers && routed.lease_domains == lease->domain_search)
    return;
  routed.lease_dns = lease->dns_servers;
  routed.lease_domains = lease->domain_search;
  announce(it->second);
}

// Moves the kernel from what was applied to what the bound prefixes need.
void TunnelManager::apply_routing(Entry& entry) {
  Routed& routed = *entry.routed;
  const auto& pd = *entry.config.prefix_delegation;
  lan::RoutingPlan desired;
  for (const auto& [prefix, bound] : routed.bound) {
    lan::RoutingSetup setup;
    setup.delegated = prefix;
    for (const auto& [lan, subnet] : bound.subnets) setup.lan_subnets[routed.lans.at(lan)] = subnet;
    setup.tap_ifindex = entry.plumbing->tap_ifindex;
    if (routed.router) setup.upstream_router = routed.router->link_local;
    setup.table = routed.table;
    setup.rule_priority = kRoutedRulePriority;
    setup.source_routing = pd.source_routing;
    try {
      merge(desired, lan::plan_routing(setup));
    } catch (const Error& e) {
      spdlog::error("{}: cannot route {}: {}", entry.config.name, prefix.str(), e.what());
    }
  }
  const auto change = lan::routing_change(routed.applied, desired);
  remove_plan(netlink_, change.remove, entry.config.name);
  try {
    add_plan(netlink_, change.add);
  } catch (const Error& e) {
    spdlog::error("{}: cannot apply its routing: {}", entry.config.name, e.what());
  }
  if (routed.applied == desired) return;
  routed.applied = std::move(desired);
  save_routed_state(entry.config.name, routed);
}

lan::Announcement TunnelManager::announcement(const Entry& entry, const std::string& lan) const {
  const Routed& routed = *entry.routed;
  lan::Announcement a;
  // Degraded for bridged frames larger than the tap's MTU still carries routed traffic; what
  // stops it is said by the routed flags.
  a.default_router =
      (entry.status.state == TunnelState::Up || entry.status.state == TunnelState::Degraded) &&
      routed.router && !routed.router_lost && !routed.rebinding_since_us;
  const uint64_t now = clock_.wall_us();
  for (const auto& [prefix, bound] : routed.bound) {
    if (auto subnet = bound.subnets.find(lan); subnet != bound.subnets.end())
      a.prefixes.push_back(
          {subnet->second, bound.prefix.preferred_until_us, bound.prefix.valid_until_us});
    a.delegated.push_back({{prefix.address.masked(prefix.length), prefix.length},
                           bound.prefix.preferred_until_us,
                           bound.prefix.valid_until_us});
  }
  // What the LAN's hosts send off-link must fit the tap and the upstream router's link, or it
  // depends on Packet Too Big reaching them.
  a.mtu = entry.plumbing->plan.tap_mtu;
  if (routed.router && routed.router->mtu) a.mtu = std::min(a.mtu, *routed.router->mtu);
  for (const auto& d : routed.deprecated)
    if (d.lan == lan && d.subnet.valid_until_us > now) a.deprecated.push_back(d.subnet);
  const auto& configured_dns = entry.config.prefix_delegation->dns;
  a.dns_servers = configured_dns.empty() ? routed.lease_dns : configured_dns;
  a.domains = routed.lease_domains;
  return a;
}

void TunnelManager::announce(Entry& entry) {
  Routed& routed = *entry.routed;
  const uint64_t now = clock_.wall_us();
  std::erase_if(routed.deprecated,
                [&](const Routed::Deprecated& d) { return d.subnet.valid_until_us <= now; });
  if (!routed.announcing) return;
  for (auto& [lan, endpoint] : routed.endpoints) endpoint->announce(announcement(entry, lan));
}

// A LAN the new configuration no longer names gets its final RAs (its hosts deprecate the
// prefix at once); the rebuild that follows drops the other endpoints silently and makes new ones.
void TunnelManager::retire_dropped_lans(Entry& entry, const config::Tunnel& next) {
  if (!entry.routed || !entry.routed->announcing) return;
  const std::vector<std::string> none;
  const auto& kept = next.prefix_delegation ? next.prefix_delegation->lans : none;
  auto& endpoints = entry.routed->endpoints;
  for (auto it = endpoints.begin(); it != endpoints.end();) {
    if (std::find(kept.begin(), kept.end(), it->first) != kept.end()) {
      ++it;
      continue;
    }
    spdlog::info("{}: {} is no longer one of its LANs: final Router Advertisements",
                 entry.config.name, it->first);
    it->second->stop();
    if (!it->second->finished()) retiring_.push_back(std::move(it->second));
    it = endpoints.erase(it);
  }
}

// A link going down loses every route through it (the tap's default in T, a LAN's /64 in T):
// put the plan back (what survived is Exists, i.e. done). The tap coming back also means the
// client must Rebind and the upstream router be solicited again.
void TunnelManager::link_came_back(Entry& entry, int ifindex) {
  Routed& routed = *entry.routed;
  const bool tap = ifindex == entry.plumbing->tap_ifindex;
  bool ours = tap;
  for (const auto& [lan, lan_ifindex] : routed.lans) ours = ours || lan_ifindex == ifindex;
  if (!ours) return;
  const auto link = netlink_.link(ifindex);
  spdlog::info("{}: {} is up again: re-applying its routing", entry.config.name,
               link ? link->name : "#" + std::to_string(ifindex));
  try {
    add_plan(netlink_, routed.applied);
  } catch (const Error& e) {
    spdlog::error("{}: cannot re-apply its routing: {}", entry.config.name, e.what());
  }
  if (!tap) return;
  routed.upstream->link_changed();
  routed.client->link_changed();
}

// The router T's default goes through: the current one while its router lifetime runs, else any
// other whose does. Called with nothing heard to notice a lifetime running out (peer polls: within
// 5 s of it).
void TunnelManager::upstream_heard(Entry& entry, const routed::UpstreamNews& news) {
  Routed& routed = *entry.routed;
  const uint64_t now = clock_.monotonic_us();
  if (news.reachable) upstream_reachability(entry, *news.reachable);
  for (const auto& r : news.heard)
    routed.routers[r.link_local] = {r, now + uint64_t{r.router_lifetime} * 1'000'000};
  auto usable = [&](const Routed::HeardRouter& h) {
    return h.router.router_lifetime > 0 && h.default_until_us > now;
  };
  std::optional<lan::UpstreamRouter> chosen;
  if (routed.router) {
    const auto& current = routed.routers.at(routed.router->link_local);
    if (usable(current)) chosen = current.router;
  }
  for (const auto& [address, h] : routed.routers)
    if (!chosen && usable(h)) chosen = h.router;
  const bool moved = (chosen ? std::optional(chosen->link_local) : std::nullopt) !=
                     (routed.router ? std::optional(routed.router->link_local) : std::nullopt);
  routed.router = chosen;
  if (!moved) {
    // Its lifetime moved on: what a restart would take over (see save_routed_state).
    const bool refreshed =
        chosen && std::any_of(news.heard.begin(), news.heard.end(),
                              [&](const auto& r) { return r.link_local == chosen->link_local; });
    if (refreshed && !routed.applied.empty()) save_routed_state(entry.config.name, routed);
    if (refreshed) announce(entry);  // its MTU may have changed
    return;
  }
  spdlog::info("{}: upstream router {}", entry.config.name,
               chosen ? chosen->link_local.str() : std::string("none"));
  routed.router_lost = false;
  routed.upstream->watch(chosen ? std::optional(chosen->link_local) : std::nullopt);
  apply_routing(entry);
  refresh_state(entry);
  announce(entry);
}

// The tunnel's health as the LANs see it (RFC 7084 G-5): router lifetime 0 while the upstream
// router does not answer; back once it does and the client has rebound.
void TunnelManager::upstream_reachability(Entry& entry, bool reachable) {
  Routed& routed = *entry.routed;
  if (!routed.router || routed.router_lost == !reachable) return;
  routed.router_lost = !reachable;
  if (reachable) {
    spdlog::info("{}: the upstream router {} answers again: rebinding", entry.config.name,
                 routed.router->link_local.str());
    routed.rebinding_since_us = clock_.monotonic_us();
    routed.client->link_changed();
  } else {
    spdlog::warn("{}: the upstream router {} stopped answering through {}", entry.config.name,
                 routed.router->link_local.str(), entry.config.spec.tap_name);
    routed.rebinding_since_us.reset();
  }
  refresh_state(entry);
  announce(entry);
}

// The client answered (or could not, for longer than a confirmation may take): the LANs may use
// the tunnel again.
void TunnelManager::rebind_settled(Entry& entry) {
  Routed& routed = *entry.routed;
  if (!routed.rebinding_since_us) return;
  routed.rebinding_since_us.reset();
  announce(entry);
}

// State and status afresh from WireGuard (a snapshot under a second old will do) and routed mode.
void TunnelManager::refresh_state(Entry& entry) {
  TunnelStatus next = base_status(entry);
  const wg::Device* device = nullptr;
  try {
    device = &wireguard_.device(entry.config.spec.wireguard);
  } catch (const Error& e) {
    spdlog::warn("{}: cannot read {}: {}", entry.config.name, entry.config.spec.wireguard,
                 e.what());
  }
  apply_peer(entry, device, next);
  update(entry, std::move(next));
}

void TunnelManager::routed_status(const Entry& entry, TunnelStatus& status) const {
  status.delegated_prefixes.clear();
  status.lan_prefixes.clear();
  status.upstream_router.clear();
  if (!entry.routed) return;
  if (entry.routed->router) status.upstream_router = entry.routed->router->link_local.str();
  for (const auto& [prefix, bound] : entry.routed->bound) {
    status.delegated_prefixes.push_back(
        {prefix, bound.prefix.preferred_until_us, bound.prefix.valid_until_us});
    for (const auto& [lan, subnet] : bound.subnets) status.lan_prefixes.push_back({lan, subnet});
  }
}

std::vector<int> TunnelManager::fds() const {
  std::vector<int> out;
  auto append = [&](const std::vector<int>& fds) { out.insert(out.end(), fds.begin(), fds.end()); };
  for (const auto& [name, entry] : tunnels_) {
    if (!entry.routed) continue;
    append(entry.routed->client->fds());
    append(entry.routed->upstream->fds());
    for (const auto& [lan, endpoint] : entry.routed->endpoints) append(endpoint->fds());
  }
  for (const auto& endpoint : retiring_) append(endpoint->fds());
  return out;
}

void TunnelManager::handle_fd(int fd) {
  auto owns = [fd](const auto& thing) {
    const auto fds = thing.fds();
    return std::find(fds.begin(), fds.end(), fd) != fds.end();
  };
  try {
    for (auto& [name, entry] : tunnels_) {
      if (!entry.routed) continue;
      if (owns(*entry.routed->client)) return entry.routed->client->handle(fd);
      if (owns(*entry.routed->upstream))
        return upstream_heard(entry, entry.routed->upstream->handle(fd));
      for (auto& [lan, endpoint] : entry.routed->endpoints)
        if (owns(*endpoint)) return endpoint->handle(fd);
    }
    for (auto& endpoint : retiring_)
      if (owns(*endpoint)) endpoint->handle(fd);
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
  }
  std::erase_if(retiring_, [](const auto& endpoint) { return endpoint->finished(); });
}

}  // namespace l2wg
