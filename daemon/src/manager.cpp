#include "l2wg/daemon/manager.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <set>

#include "l2wg/daemon/journal.h"
#include "l2wg/error.h"
#include "l2wg/file.h"
#include "manager_impl.h"

namespace l2wg {

namespace {

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace

TunnelManager::Impl::Impl(nl::Netlink& netlink, wg::WireGuardReader& wireguard,
                          dp::Datapath& datapath, Clock& clock, EventLoop& loop,
                          ManagerOptions options)
    : netlink_(netlink),
      wireguard_(wireguard, clock),
      builder_(netlink, wireguard_, datapath, options.nftables),
      clock_(clock),
      loop_(loop),
      options_(std::move(options)),
      store_(options_.state_dir),
      finals_(loop) {
  if (options_.boot_id.empty()) options_.boot_id = read_boot_id();
}

TunnelManager::TunnelManager(nl::Netlink& netlink, wg::WireGuardReader& wireguard,
                             dp::Datapath& datapath, Clock& clock, EventLoop& loop,
                             ManagerOptions options)
    : impl_(std::make_unique<Impl>(netlink, wireguard, datapath, clock, loop, std::move(options))) {
}
TunnelManager::~TunnelManager() = default;
void TunnelManager::set_observer(ManagerObserver* observer) {
  impl_->observer_ = observer;
}
void TunnelManager::restore() {
  impl_->restore();
}
std::vector<std::string> TunnelManager::reload() {
  return impl_->reload();
}
TunnelStatus TunnelManager::create(const config::Tunnel& tunnel, bool persist) {
  return impl_->create(tunnel, persist);
}
void TunnelManager::remove(const std::string& name) {
  impl_->remove(name);
}
void TunnelManager::stop(const std::string& name) {
  impl_->stop(name);
}
void TunnelManager::start(const std::string& name) {
  impl_->start(name);
}
void TunnelManager::restart(const std::string& name) {
  impl_->restart(name);
}
void TunnelManager::renew(const std::string& name) {
  impl_->routed_of(name).renew();
}
void TunnelManager::release(const std::string& name) {
  impl_->routed_of(name).release();
}
std::vector<TunnelStatus> TunnelManager::list() const {
  return impl_->list();
}
Statistics TunnelManager::statistics(const std::string& name) {
  return impl_->statistics(name);
}
std::vector<HostFinding> TunnelManager::diagnose(const std::string& name) {
  return impl_->diagnose(name);
}
ProbeTimes TunnelManager::probe_times(const std::string& name) const {
  return impl_->probe_times(name);
}
const TunnelStatus* TunnelManager::find(const std::string& name) const {
  return impl_->find(name);
}
void TunnelManager::handle(const std::vector<nl::Event>& events) {
  impl_->handle(events);
}
void TunnelManager::poll_peers() {
  impl_->poll_peers();
}

std::filesystem::path TunnelManager::Impl::config_file(const std::string& name) const {
  return options_.config_dir / (name + ".conf");
}

// What a later run must know to adopt a tunnel: whether it created the bridge, and for a tunnel
// that has no config file, its configuration.
void TunnelManager::Impl::record(const Entry& entry) {
  store_.save_tunnel(
      entry.config.name,
      {entry.plumbing && entry.plumbing->created_bridge,
       entry.persistent ? std::nullopt : std::optional(config::render_tunnel(entry.config)),
       entry.stopped ? std::optional(options_.boot_id) : std::nullopt});
}

TunnelManager::Impl::Entry& TunnelManager::Impl::insert(std::unique_ptr<Entry> entry) {
  auto& inserted = *tunnels_.emplace(entry->config.name, std::move(entry)).first->second;
  if (observer_) observer_->tunnel_added(inserted.status);
  if (inserted.routed) inserted.routed->start();
  return inserted;
}

void TunnelManager::Impl::restore() {
  for (const auto& name : store_.recorded_tunnels()) {
    journal::tunnel_known(name);  // from its first message on
    const auto record = store_.load_tunnel(name);
    // A tunnel with a config file comes back through reload().
    if (!record || !record->config || std::filesystem::exists(config_file(name))) continue;
    try {
      auto tunnel = config::parse_tunnel(*record->config, name + ".conf");
      // Its tap outlives a daemon restart but not a reboot: without it, the tunnel is history.
      if (!netlink_.link(tunnel.spec.tap_name)) {
        store_.remove_tunnel(name);
        continue;
      }
      auto entry = std::make_unique<Entry>(*this, std::move(tunnel), false);
      bring_up(*entry, /*strict=*/false);
      spdlog::info("{}: restored (created over D-Bus by a previous run)", name);
      insert(std::move(entry));
    } catch (const Error& e) {
      spdlog::error("{}: cannot restore: {}", name, e.what());
    }
  }
}

void TunnelManager::Impl::bring_up(Entry& entry, bool strict) {
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
    const auto recorded = store_.load_tunnel(entry.config.name);
    auto adopted = builder_.adopt(build, recorded && recorded->created_bridge);
    if (adopted) {
      spdlog::info("{}: adopted the existing {}", entry.config.name, spec.tap_name);
      entry.plumbing = std::move(adopted);
    } else {
      entry.plumbing = builder_.setup(build);
    }
    if (entry.config.prefix_delegation) {
      try {
        // No initial delay for a tunnel a user just created (strict: create()).
        entry.routed = make_routed(entry, /*initial_delay=*/!strict);
      } catch (const Error&) {
        tear_down(entry);
        throw;
      }
    }
    watch_path(entry);
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
      record(entry);
    } catch (const std::exception& e) {
      spdlog::warn("{}: cannot record the tunnel in {}: {}", entry.config.name,
                   options_.state_dir.string(), e.what());
    }
  }
  refresh_state(entry);
}

void TunnelManager::Impl::tear_down(Entry& entry, RoutedTunnel::Ending ending) {
  if (entry.routed) {
    entry.routed->stop(ending);
    entry.routed.reset();
  }
  entry.bridge_problem.reset();
  entry.path.reset();
  if (!entry.plumbing) return;
  builder_.teardown(*entry.plumbing);
  entry.plumbing.reset();
}

void TunnelManager::Impl::rebuild(Entry& entry, const std::string& why) {
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
  if (entry.routed) entry.routed->start();
}

TunnelStatus TunnelManager::Impl::create(const config::Tunnel& tunnel, bool persist) {
  if (!config::valid_tunnel_name(tunnel.name))
    throw Error(ErrorCode::InvalidArgument,
                "name '" + tunnel.name + "': use 1-12 characters of A-Z, a-z, 0-9, '_' and '-'");
  journal::tunnel_known(tunnel.name);
  if (tunnels_.count(tunnel.name))
    throw Error(ErrorCode::Exists, "a tunnel named " + tunnel.name + " already exists");
  for (const auto& [name, other] : tunnels_) {
    if (other->config.spec.tap_name == tunnel.spec.tap_name)
      throw Error(ErrorCode::Exists,
                  "the interface " + tunnel.spec.tap_name + " is already used by tunnel " + name);
  }
  check_routed(tunnel);
  check_flow(tunnel);
  if (persist && std::filesystem::exists(config_file(tunnel.name)))
    throw Error(ErrorCode::Exists, config_file(tunnel.name).string() + " already exists");

  auto entry = std::make_unique<Entry>(*this, tunnel, persist);
  try {
    bring_up(*entry, /*strict=*/true);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound) throw;
    wireguard_.forget(tunnel.spec.wireguard);  // a peer added a moment ago: read afresh
    bring_up(*entry, /*strict=*/true);
  }
  try {
    if (persist) {
      std::filesystem::create_directories(options_.config_dir);
      write_file_atomically(config_file(tunnel.name), config::render_tunnel(tunnel));
    }
    record(*entry);
  } catch (const std::exception& e) {
    tear_down(*entry);
    std::error_code ignored;
    if (persist) std::filesystem::remove(config_file(tunnel.name), ignored);
    throw Error(ErrorCode::Io, std::string("cannot record the tunnel: ") + e.what());
  }
  spdlog::info("{}: created{}", tunnel.name,
               persist ? ", " + config_file(tunnel.name).string() + " written" : "");
  return insert(std::move(entry)).status;
}

void TunnelManager::Impl::remove_entry(Tunnels::iterator it) {
  tear_down(*it->second, RoutedTunnel::Ending::Forgetting);
  std::error_code ignored;
  std::filesystem::remove(config_file(it->first), ignored);
  store_.remove_tunnel(it->first);
  const std::string name = it->first;
  spdlog::info("{}: removed, with what it built", name);
  tunnels_.erase(it);
  if (observer_) observer_->tunnel_removed(name);
}

void TunnelManager::Impl::remove(const std::string& name) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end()) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
  remove_entry(it);
}

void TunnelManager::Impl::restart(const std::string& name) {
  Entry& entry = entry_of(name);
  if (entry.stopped) return start(name);
  rebuild(entry, "restart requested");
}

TunnelManager::Impl::Entry& TunnelManager::Impl::entry_of(const std::string& name) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end()) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
  return *it->second;
}

void TunnelManager::Impl::stop(const std::string& name) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end()) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
  Entry& entry = *it->second;
  // A tunnel without a file is volatile, as a connection made with nmcli without saving it.
  if (!entry.persistent) {
    spdlog::info("{}: stopped; it has no config file, so it is removed", name);
    return remove_entry(it);
  }
  if (entry.stopped) return;
  tear_down(entry, RoutedTunnel::Ending::Deprecating);
  set_stopped(entry);
}

// Stopped: what it built is gone; its file stays, and so does it until start() or the next boot.
void TunnelManager::Impl::set_stopped(Entry& entry) {
  entry.stopped = true;
  TunnelStatus next = base_status(entry);
  next.state = TunnelState::Stopped;
  next.state_reason = "Stopped (l2wg down); l2wg up " + entry.config.name + " starts it again.";
  next.datapath.clear();
  next.mtu = 0;
  next.peer_endpoint.clear();
  update(entry, std::move(next));
  try {
    record(entry);
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot record that it is stopped: {}", entry.config.name, e.what());
  }
}

void TunnelManager::Impl::start(const std::string& name) {
  Entry& entry = entry_of(name);
  if (!entry.stopped) return;
  spdlog::info("{}: starting", name);
  entry.stopped = false;
  try {
    record(entry);  // even if it cannot be built yet: it is no longer stopped
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot record that it runs: {}", name, e.what());
  }
  bring_up(entry, /*strict=*/false);  // records it, no longer stopped
  if (entry.routed) entry.routed->start();
}

RoutedTunnel& TunnelManager::Impl::routed_of(const std::string& name) {
  auto it = tunnels_.find(name);
  if (it == tunnels_.end()) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
  const Entry& entry = *it->second;
  if (!entry.config.prefix_delegation)
    throw Error(ErrorCode::Unsupported, name + " is not in routed mode ([PrefixDelegation])");
  if (!entry.routed)
    throw Error(ErrorCode::Unsupported,
                name + " has no DHCPv6 client running: " +
                    (entry.status.state_reason.empty() ? std::string("its tap is not built")
                                                       : entry.status.state_reason));
  return *entry.routed;
}

std::vector<std::string> TunnelManager::Impl::reload() {
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
    journal::tunnel_known(tunnel.name);
    named_in_files.insert(tunnel.name);
    auto it = tunnels_.find(tunnel.name);
    if (it != tunnels_.end()) {
      Entry& entry = *it->second;
      entry.persistent = true;
      if (entry.config == tunnel) continue;
      if (entry.stopped) {  // applies when it starts
        entry.config = tunnel;
        continue;
      }
      // A LAN the new configuration no longer names gets its final RAs (its hosts deprecate the
      // prefix at once); the rebuild that follows drops the other endpoints silently.
      if (entry.routed)
        entry.routed->retire_lans_not_in(tunnel.prefix_delegation ? tunnel.prefix_delegation->lans
                                                                  : std::vector<std::string>{});
      entry.config = tunnel;
      rebuild(entry, "its configuration changed");
      continue;
    }
    if (tunnel.prefix_delegation && !routed_supported()) {
      errors.push_back(tunnel.name + ".conf: [PrefixDelegation] is not supported by this l2wgd");
      spdlog::error("{}", errors.back());
      continue;
    }
    try {
      check_flow(tunnel);
    } catch (const Error& e) {
      errors.push_back(tunnel.name + ".conf: " + e.what());
      spdlog::error("{}", errors.back());
      continue;
    }
    spdlog::info("{}: created from {}", tunnel.name, config_file(tunnel.name).string());
    auto entry = std::make_unique<Entry>(*this, tunnel, true);
    const auto recorded = store_.load_tunnel(tunnel.name);
    if (recorded && recorded->stopped_in_boot == options_.boot_id) {
      spdlog::info("{}: stays stopped (l2wg down earlier in this boot)", tunnel.name);
      set_stopped(*entry);
    } else {
      bring_up(*entry, /*strict=*/false);
    }
    insert(std::move(entry));
  }
  for (auto it = tunnels_.begin(); it != tunnels_.end();) {
    auto next = std::next(it);
    if (it->second->persistent && !named_in_files.count(it->first)) remove_entry(it);
    it = next;
  }
  return errors;
}

std::vector<TunnelStatus> TunnelManager::Impl::list() const {
  std::vector<TunnelStatus> out;
  for (const auto& [name, entry] : tunnels_) out.push_back(entry->status);
  return out;
}

Statistics TunnelManager::Impl::statistics(const std::string& name) {
  const Entry& entry = entry_of(name);
  return entry.plumbing ? builder_.statistics(*entry.plumbing) : Statistics{};
}

std::vector<HostFinding> TunnelManager::Impl::diagnose(const std::string& name) {
  const Entry& entry = entry_of(name);
  TunnelView view;
  if (const auto& plumbing = entry.plumbing) {
    view.remote = plumbing->remote.str();
    view.local = plumbing->local.str();
    view.tap = plumbing->tap_name;
    view.tap_mtu = plumbing->plan.tap_mtu;
  }
  view.endpoint = entry.status.peer_endpoint;
  for (const auto& delegated : entry.status.delegated_prefixes)
    view.prefixes.emplace_back(delegated.prefix, "");
  for (const auto& lan : entry.status.lan_prefixes) view.prefixes.emplace_back(lan.prefix, lan.lan);
  try {
    view.wireguard_peers = wireguard_.device(entry.config.spec.wireguard).peers;
  } catch (const std::exception& e) {
    spdlog::debug("{}: doctor reads no WireGuard peers: {}", name, e.what());
  }
  // The firewall is read afresh: doctor runs when something is wrong, perhaps just changed.
  std::optional<firewall::Ruleset> ruleset;
  if (options_.nftables) {
    try {
      ruleset = firewall::Ruleset::parse(options_.nftables->list_ruleset());
      view.ruleset = &*ruleset;
    } catch (const std::exception& e) {
      spdlog::warn("{}: doctor cannot read the nftables ruleset: {}", name, e.what());
    }
  }
  return check_host(read_host_facts(netlink_, entry.config, view));
}

ProbeTimes TunnelManager::Impl::probe_times(const std::string& name) const {
  const auto it = tunnels_.find(name);
  if (it == tunnels_.end()) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
  const auto& path = it->second->path;
  if (!path) return {};
  return {path->prober.last_reply_wall_us(), path->prober.round_trip_us()};
}

const TunnelStatus* TunnelManager::Impl::find(const std::string& name) const {
  auto it = tunnels_.find(name);
  return it == tunnels_.end() ? nullptr : &it->second->status;
}

// ---- A tunnel's GRE flow ----------------------------------------------------------------------

// The tunnel already carrying `tunnel`'s GRE flow: the same WireGuard interface, peer and GRE key.
// A second one would receive every frame of the first, and both would send to the same peer.
const TunnelManager::Impl::Entry* TunnelManager::Impl::same_flow(
    const config::Tunnel& tunnel) const {
  const auto& spec = tunnel.spec;
  const auto address = IpAddress::parse(spec.peer);
  for (const auto& [name, other] : tunnels_) {
    const auto& theirs = other->config.spec;
    if (name == tunnel.name || theirs.wireguard != spec.wireguard || theirs.key != spec.key)
      continue;
    // The peer may be named by its inner address or its key, on either side.
    const bool same_peer =
        theirs.peer == spec.peer ||
        (other->plumbing && (spec.peer == wg::to_base64(other->plumbing->peer_key) ||
                             address == other->plumbing->remote));
    if (same_peer) return other.get();
  }
  return nullptr;
}

void TunnelManager::Impl::check_flow(const config::Tunnel& tunnel) const {
  const Entry* other = same_flow(tunnel);
  if (!other) return;
  const auto& spec = tunnel.spec;
  throw Error(ErrorCode::Exists,
              "tunnel " + other->config.name + " already carries GRE " +
                  (spec.key ? "key " + std::to_string(*spec.key) : std::string("without a key")) +
                  " to " + spec.peer + " on " + spec.wireguard +
                  ": a second tunnel needs another GRE key (Key=, --key) on both ends");
}

// ---- Routed mode -------------------------------------------------------------------------------

bool TunnelManager::Impl::routed_supported() const {
  return options_.routed.prefix_delegation && options_.routed.router_advertisements;
}

TunnelSpec TunnelManager::Impl::build_spec(const config::Tunnel& tunnel) const {
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
void TunnelManager::Impl::check_routed(const config::Tunnel& tunnel) const {
  if (!tunnel.prefix_delegation) return;
  if (!routed_supported())
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
std::unique_ptr<RoutedTunnel> TunnelManager::Impl::make_routed(Entry& entry, bool initial_delay) {
  check_routed(entry.config);
  auto record = store_.load_routed(entry.config.name);
  const uint32_t wanted = record.table && is_routed_table(*record.table)
                              ? *record.table
                              : routed_table_for(entry.config.name);
  const uint32_t table = free_routed_table(entry.config.name, wanted);
  return std::make_unique<RoutedTunnel>(
      RoutedTunnel::Context{netlink_, clock_, loop_, store_, *options_.routed.prefix_delegation,
                            *options_.routed.router_advertisements, finals_},
      entry.config, RoutedTunnel::Tap{entry.plumbing->tap_ifindex, entry.plumbing->plan.tap_mtu},
      std::move(record), table, initial_delay, entry);
}

// `wanted`, or the next table no other routed tunnel uses (two names can hash alike).
uint32_t TunnelManager::Impl::free_routed_table(const std::string& name, uint32_t wanted) const {
  auto taken = [&](uint32_t table) {
    return std::any_of(tunnels_.begin(), tunnels_.end(), [&](const auto& other) {
      return other.first != name && other.second->routed && other.second->routed->table() == table;
    });
  };
  uint32_t table = wanted;
  while (taken(table)) table = next_routed_table(table);
  if (table != wanted)
    spdlog::info("{}: routing table {} belongs to another tunnel; using {}", name, wanted, table);
  return table;
}

}  // namespace l2wg
