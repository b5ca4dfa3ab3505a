// How each tunnel's state follows WireGuard (peer polls), link and address events, and its bridge.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "l2wg/error.h"
#include "manager_impl.h"

namespace l2wg {
namespace {

const char* datapath_name(gre::DatapathKind kind) {
  return kind == gre::DatapathKind::Kernel ? "kernel" : "userspace";
}

bool usable(TunnelState state) {
  // Degraded for bridged frames larger than the tap's MTU still carries routed traffic; what
  // stops it is said by the routed tunnel itself.
  return state == TunnelState::Up || state == TunnelState::Degraded;
}

}  // namespace

// WireGuard handshakes, yet the far l2wgd's probes say GRE does not cross: the firewalls that drop
// IP protocol 47 on a WireGuard interface are the usual cause.
std::optional<std::string> TunnelManager::Impl::path_problem(const Entry& entry) const {
  if (!entry.path || !entry.plumbing) return std::nullopt;
  const std::string peer = entry.plumbing->remote.str();
  const std::string& wg = entry.config.spec.wireguard;
  switch (entry.path->prober.verdict()) {
    case probe::Verdict::OutboundLost:
      return "GRE to " + peer + " does not arrive there (its probes reach " + wg +
             ", ours go unanswered): is IP protocol 47 dropped on the peer's WireGuard interface?";
    case probe::Verdict::InboundLost:
      return "GRE from " + peer + " does not arrive: is IP protocol 47 dropped on " + wg + "?";
    case probe::Verdict::Unverified:
    case probe::Verdict::Verified:
      break;
  }
  return std::nullopt;
}

void TunnelManager::Impl::watch_path(Entry& entry) {
  if (!options_.probe_paths || !entry.plumbing) return;
  try {
    auto watch = std::make_unique<PathWatch>(clock_, entry.plumbing->tap_ifindex,
                                             entry.plumbing->mac);
    PathWatch& path = *watch;
    path.readable = loop_.add(path.socket.fd(), [this, &entry, &path] {
      path.socket.drain([&](std::span<const uint8_t> frame) { path.prober.on_frame(frame); });
      path_event(entry);
    });
    path.timer = loop_.add_timer([this, &entry, &path] {
      path.prober.on_timer();
      path.timer->arm(path.prober.next_deadline_us());
      path_event(entry);
    });
    path.timer->arm(path.prober.next_deadline_us());
    entry.path = std::move(watch);
  } catch (const Error& e) {
    spdlog::warn("{}: the GRE path cannot be probed: {}", entry.config.name, e.what());
  }
}

// A probe or the lack of one may change the path's verdict or the peer's MAC.
void TunnelManager::Impl::path_event(Entry& entry) {
  const auto& prober = entry.path->prober;
  const auto mac = prober.peer_mac();
  if (probe::to_string(prober.verdict()) != entry.status.path ||
      (mac ? mac->str() : "") != entry.status.peer_mac_address)
    refresh_state(entry);
}

TunnelStatus TunnelManager::Impl::base_status(const Entry& e) const {
  TunnelStatus s = e.status;  // keeps handshake and endpoint until the next poll
  s.name = e.config.name;
  s.wireguard = e.config.spec.wireguard;
  s.interface = e.config.spec.tap_name;
  s.bridge = e.config.spec.bridge ? e.config.spec.bridge->name : "";
  s.persistent = e.persistent;
  s.lans = e.config.prefix_delegation ? e.config.prefix_delegation->lans : std::vector<std::string>{};
  if (e.plumbing) {
    s.peer_public_key = wg::to_base64(e.plumbing->peer_key);
    s.local_address = e.plumbing->local.str();
    s.remote_address = e.plumbing->remote.str();
    s.datapath = datapath_name(e.plumbing->plan.datapath);
    s.mtu = e.plumbing->plan.tap_mtu;
    s.mac_address = e.plumbing->mac.str();
    s.mss_clamp = e.plumbing->plan.mss_clamp_mtu.value_or(0);
  }
  s.path.clear();
  s.peer_mac_address.clear();
  if (e.path) {
    s.path = probe::to_string(e.path->prober.verdict());
    if (const auto mac = e.path->prober.peer_mac()) s.peer_mac_address = mac->str();
  }
  s.gre_key = e.config.spec.key ? std::to_string(*e.config.spec.key) : "";
  s.delegated_prefixes.clear();
  s.lan_prefixes.clear();
  s.upstream_router.clear();
  if (e.routed) e.routed->fill_status(s);
  return s;
}

void TunnelManager::Impl::update(Entry& entry, TunnelStatus next) {
  const auto changed = changed_properties(entry.status, next);
  if (next.state != entry.status.state || next.state_reason != entry.status.state_reason) {
    spdlog::info("{}: {}{}{}", next.name, to_string(next.state),
                 next.state_reason.empty() ? "" : ": ", next.state_reason);
  }
  entry.status = std::move(next);
  // Router lifetime 0 on the LANs whenever the tunnel is not up (RFC 7084 G-5).
  if (entry.routed) entry.routed->set_usable(usable(entry.status.state));
  if (!changed.empty() && observer_) observer_->tunnel_changed(entry.status, changed);
}

// State from the WireGuard peer: up while handshakes are fresh.
void TunnelManager::Impl::apply_peer(Entry& entry, const wg::Device* device, TunnelStatus& next) {
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
  auto& history = next.endpoint_history;
  if (!next.peer_endpoint.empty() &&
      (history.empty() || history.back().endpoint != next.peer_endpoint)) {
    history.push_back({next.peer_endpoint, clock_.wall_us()});
    if (history.size() > TunnelStatus::kEndpointHistory) history.erase(history.begin());
  }
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
    if (const auto problem = entry.routed ? entry.routed->upstream_problem() : std::nullopt) {
      next.state = TunnelState::Degraded;
      next.state_reason = *problem;
    }
    // A broken GRE path explains a silent upstream router too: it goes first.
    if (const auto problem = path_problem(entry)) {
      next.state = TunnelState::Degraded;
      next.state_reason = *problem;
    }
    if (entry.bridge_problem) {
      next.state = TunnelState::Degraded;
      next.state_reason = *entry.bridge_problem;
    }
  } else {
    next.state = TunnelState::WaitingForPeer;
    const auto seconds = std::to_string(options_.handshake_timeout_us / 1'000'000);
    next.state_reason = peer->last_handshake_us == 0 ? "No handshake with peer " + key + " yet."
                                                     : "No handshake with peer " + key +
                                                           " within the last " + seconds + " s.";
  }
}

// State and status afresh from WireGuard (a snapshot under a second old will do) and routed mode.
void TunnelManager::Impl::refresh_state(Entry& entry) {
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

void TunnelManager::Impl::handle(const std::vector<nl::Event>& events) {
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
    for (auto& [name, pointer] : tunnels_) {
      Entry& entry = *pointer;
      if (entry.stopped) continue;
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
        else if (entry.bridge_problem && spec.bridge && added->link.name == spec.bridge->name)
          bridge_back(entry);
      } else if (const auto* removed = std::get_if<nl::LinkRemoved>(&event)) {
        if (entry.routed && is_lan(removed->link.name) &&
            entry.routed->lan_ifindex(removed->link.name) == removed->link.ifindex) {
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
        } else if (plumbing && plumbing->bridge_ifindex &&
                   removed->link.ifindex == plumbing->bridge_ifindex) {
          bridge_gone(entry);
        }
      } else if (const auto* changed = std::get_if<nl::LinkChanged>(&event)) {
        if (plumbing && changed->after.ifindex == plumbing->wireguard_ifindex &&
            changed->after.mtu != changed->before.mtu)
          rebuild(entry,
                  spec.wireguard + "'s MTU changed to " + std::to_string(changed->after.mtu));
        else if (plumbing && plumbing->bridge_ifindex &&
                 changed->after.ifindex == plumbing->tap_ifindex &&
                 changed->after.master_ifindex != changed->before.master_ifindex)
          bridge_membership_changed(entry, changed->after);
        else if (entry.routed && changed->before.up && !changed->after.up)
          entry.routed->link_down(changed->after.ifindex);
        else if (entry.routed && !changed->before.up && changed->after.up)
          entry.routed->link_up(changed->after.ifindex);
      } else if (const auto* gone = std::get_if<nl::AddressRemoved>(&event)) {
        if (entry.routed) entry.routed->address_removed(gone->address);
        if (plumbing && gone->address.ifindex == plumbing->wireguard_ifindex &&
            gone->address.prefix.address == plumbing->local) {
          TunnelStatus next = entry.status;
          next.state = TunnelState::Failed;
          next.state_reason = "The local address " + plumbing->local.str() + " was removed from " +
                              spec.wireguard + ".";
          update(entry, std::move(next));
        }
      } else if (const auto* added_address = std::get_if<nl::AddressAdded>(&event)) {
        if (entry.routed) entry.routed->address_added(added_address->address.ifindex);
        if (entry.status.state == TunnelState::Failed && link_of_added_address() == spec.wireguard)
          rebuild(entry, "an address was added to " + spec.wireguard);
      }
    }
  }
}

void TunnelManager::Impl::poll_peers() {
  wireguard_.clear();
  std::set<std::string> unreadable;  // tried once per poll, not once per tunnel
  for (auto& [name, pointer] : tunnels_) {
    Entry& entry = *pointer;
    if (entry.stopped) continue;
    if (!entry.plumbing) {
      // Not built: its WireGuard interface or peer was missing, or setup failed. Whatever was
      // wrong may have been put right without an event l2wgd watches (wg set, wg setconf).
      bring_up(entry, /*strict=*/false);
      if (entry.routed) entry.routed->start();
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

// The tap left its bridge (`ip link set … nomaster`, or the bridge is being deleted), or came
// back into it. The tap itself is fine: it is never recreated for this.
void TunnelManager::Impl::bridge_membership_changed(Entry& entry, const nl::Link& tap) {
  const auto& bridge = entry.plumbing->bridge;
  if (tap.master_ifindex == entry.plumbing->bridge_ifindex) {
    if (!entry.bridge_problem) return;
    spdlog::info("{}: {} is in {} again", entry.config.name, tap.name, bridge);
    entry.bridge_problem.reset();
  } else {
    entry.bridge_problem = tap.name + " left the bridge " + bridge +
                           ": frames no longer cross between them (l2wg restart " +
                           entry.config.name + " puts it back).";
    spdlog::warn("{}: {}", entry.config.name, *entry.bridge_problem);
  }
  refresh_state(entry);
}

void TunnelManager::Impl::bridge_gone(Entry& entry) {
  entry.bridge_problem = "The bridge " + entry.plumbing->bridge + " was deleted: " +
                         entry.config.spec.tap_name + " joins it again when it is back.";
  spdlog::warn("{}: {}", entry.config.name, *entry.bridge_problem);
  refresh_state(entry);
}

void TunnelManager::Impl::bridge_back(Entry& entry) {
  try {
    builder_.rejoin_bridge(*entry.plumbing, entry.config.spec);
  } catch (const Error& e) {
    spdlog::warn("{}: cannot join {} again: {}", entry.config.name, entry.plumbing->bridge,
                 e.what());
    return;
  }
  spdlog::info("{}: {} is back: {} joined it again", entry.config.name, entry.plumbing->bridge,
               entry.config.spec.tap_name);
  entry.bridge_problem.reset();
  try {
    record(entry);  // a bridge someone else made is theirs: deleting the tunnel leaves it
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot record the tunnel: {}", entry.config.name, e.what());
  }
  refresh_state(entry);
}

}  // namespace l2wg
