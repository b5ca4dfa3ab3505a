#include "l2wg/daemon/manager.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "l2wg/error.h"
#include "l2wg/file.h"

namespace l2wg {
namespace {

const char* datapath_name(gre::DatapathKind kind) {
  return kind == gre::DatapathKind::Kernel ? "kernel" : "userspace";
}

}  // namespace

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

TunnelManager::~TunnelManager() = default;

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
      Entry entry{std::move(tunnel), false, std::nullopt, {}};
      entry.status.name = name;
      bring_up(entry, /*strict=*/false);
      auto [inserted, ok] = tunnels_.emplace(name, std::move(entry));
      spdlog::info("{}: restored (created over D-Bus by a previous run)", name);
      if (observer_) observer_->tunnel_added(inserted->second.status);
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
  return s;
}

void TunnelManager::update(Entry& entry, TunnelStatus next) {
  const auto changed = changed_properties(entry.status, next);
  if (next.state != entry.status.state || next.state_reason != entry.status.state_reason) {
    spdlog::info("{}: {}{}{}", next.name, to_string(next.state),
                 next.state_reason.empty() ? "" : ": ", next.state_reason);
  }
  entry.status = std::move(next);
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
    bool created_bridge = false;
    if (std::ifstream in(state_file(entry.config.name)); in) {
      const auto record = nlohmann::json::parse(in, nullptr, false);
      if (record.is_object()) created_bridge = record.value("created_bridge", false);
    }
    auto adopted = builder_.adopt(spec, created_bridge);
    if (adopted) {
      spdlog::info("{}: adopted the existing {}", entry.config.name, spec.tap_name);
      entry.plumbing = std::move(adopted);
    } else {
      entry.plumbing = builder_.setup(spec);
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
  next = base_status(entry);
  const wg::Device* device = nullptr;
  try {
    device = &wireguard_.device(spec.wireguard);
  } catch (const Error& e) {
    spdlog::warn("{}: cannot read {}: {}", entry.config.name, spec.wireguard, e.what());
  }
  apply_peer(entry, device, next);
  update(entry, std::move(next));
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
  } else {
    next.state = TunnelState::WaitingForPeer;
    const auto seconds = std::to_string(options_.handshake_timeout_us / 1'000'000);
    next.state_reason = peer->last_handshake_us == 0 ? "No handshake with peer " + key + " yet."
                                                     : "No handshake with peer " + key +
                                                           " within the last " + seconds + " s.";
  }
}

void TunnelManager::tear_down(Entry& entry) {
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
  if (tunnel.prefix_delegation)
    throw Error(ErrorCode::InvalidArgument,
                "[PrefixDelegation] (routed mode) is not supported yet by this l2wgd");
  if (persist && std::filesystem::exists(config_file(tunnel.name)))
    throw Error(ErrorCode::Exists, config_file(tunnel.name).string() + " already exists");

  Entry entry{tunnel, persist, std::nullopt, {}};
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
  return it->second.status;
}

void TunnelManager::remove_entry(std::map<std::string, Entry>::iterator it) {
  tear_down(it->second);
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
      it->second.config = tunnel;
      rebuild(it->second, "its configuration changed");
      continue;
    }
    if (tunnel.prefix_delegation) {
      errors.push_back(tunnel.name + ".conf: [PrefixDelegation] is not supported yet");
      spdlog::error("{}", errors.back());
      continue;
    }
    Entry entry{tunnel, true, std::nullopt, {}};
    entry.status.name = tunnel.name;
    bring_up(entry, /*strict=*/false);
    auto [inserted, ok] = tunnels_.emplace(tunnel.name, std::move(entry));
    if (observer_) observer_->tunnel_added(inserted->second.status);
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
      if (const auto* added = std::get_if<nl::LinkAdded>(&event)) {
        if (added->link.name == spec.wireguard)
          rebuild(entry, "the WireGuard interface " + spec.wireguard + " appeared");
      } else if (const auto* removed = std::get_if<nl::LinkRemoved>(&event)) {
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
      continue;
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

}  // namespace l2wg
