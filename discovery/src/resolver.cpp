#include "l2wg/discovery/resolver.h"

#include <algorithm>

#include "l2wg/error.h"

namespace l2wg::discovery {

const char* to_string(PeerStatus::State state) {
  switch (state) {
    case PeerStatus::State::Waiting:
      return "waiting";
    case PeerStatus::State::Resolved:
      return "resolved";
    case PeerStatus::State::NotRegistered:
      return "not-registered";
    case PeerStatus::State::AdminEndpoint:
      return "admin-endpoint";
    case PeerStatus::State::Unreachable:
      return "registry-unreachable";
  }
  return "?";
}

Resolver::Resolver(Clock& clock, Random& random, Transport& transport, Device& device,
                   ClientConfig config)
    : clock_(clock),
      random_(random),
      transport_(transport),
      device_(device),
      config_(std::move(config)) {}

bool Resolver::managed(const Key& key) const {
  if (registry_peer_ && key == *registry_peer_) return false;
  return config_.peers.empty() || std::ranges::find(config_.peers, key) != config_.peers.end();
}

bool Resolver::stale(const Peer& peer) const {
  const uint64_t wall = clock_.wall_us();
  const auto& d = peer.device;
  if (!d.endpoint || d.last_handshake_wall_us == 0) return true;
  if (wall > d.last_handshake_wall_us && wall - d.last_handshake_wall_us > config_.stale_us)
    return true;
  // Both ends send keepalives: three intervals without a byte means the path is gone.
  const uint64_t silent_us = uint64_t{config_.keepalive_s} * 3'000'000;
  return config_.keepalive_s && clock_.monotonic_us() - peer.rx_changed_us > silent_us;
}

void Resolver::set(const Key& key, std::optional<Endpoint> endpoint) {
  try {
    device_.set_peer(key, endpoint, config_.keepalive_s);
    last_error_.clear();
  } catch (const Error& e) {
    last_error_ = e.what();
  }
}

void Resolver::on_device(const std::vector<DevicePeer>& peers) {
  const uint64_t now = clock_.monotonic_us();
  // The registry's peer: the longest allowed IP containing its address, as WireGuard routes.
  registry_peer_.reset();
  int best = -1;
  for (const auto& p : peers)
    for (const auto& prefix : p.allowed_ips)
      if (prefix.contains(config_.registry.address) && prefix.length > best) {
        best = prefix.length;
        registry_peer_ = p.key;
      }
  for (const auto& p : peers)
    if (registry_peer_ && p.key == *registry_peer_ && p.keepalive_s == 0 && config_.keepalive_s)
      set(p.key, std::nullopt);  // the registry must see our mapping

  for (auto& [key, peer] : peers_) peer.present = false;
  for (const auto& p : peers) {
    if (!managed(p.key)) continue;
    auto [it, added] = peers_.try_emplace(p.key);
    Peer& peer = it->second;
    if (added) {
      peer.status.key = p.key;
      peer.rx_changed_us = now;
      peer.next_query_us = now;
    }
    const bool was_stale = !added && stale(peer);
    if (p.rx_bytes != peer.device.rx_bytes) peer.rx_changed_us = now;
    peer.device = p;
    peer.present = true;
    // Asked at once when it turns stale (not sooner than a retry interval after the last query).
    if (!was_stale && stale(peer) && !peer.pending)
      peer.next_query_us =
          std::min(peer.next_query_us, std::max(now, peer.sent_us + config_.retry_us));
  }
  std::erase_if(peers_, [](const auto& entry) { return !entry.second.present; });
}

void Resolver::ask(Peer& peer) {
  const uint64_t now = clock_.monotonic_us();
  const auto id = static_cast<uint16_t>(random_.next());
  const auto bytes = dns::encode(srv_query(id, peer.status.key, config_.zone));
  peer.pending = id;
  peer.sent_us = now;
  ++counters_.queries;
  transport_.send(bytes);
}

void Resolver::on_timer() {
  const uint64_t now = clock_.monotonic_us();
  for (auto& [key, peer] : peers_) {
    if (peer.pending && now - peer.sent_us >= config_.timeout_us) {
      peer.pending.reset();
      ++counters_.timeouts;
      if (peer.status.state != PeerStatus::State::Resolved || stale(peer))
        peer.status.state = PeerStatus::State::Unreachable;
      peer.next_query_us = peer.sent_us + config_.retry_us;
    }
    if (!peer.pending && now >= peer.next_query_us) {
      ask(peer);
      peer.next_query_us = now + (stale(peer) ? config_.retry_us : config_.interval_us);
    }
  }
}

std::optional<uint64_t> Resolver::next_deadline_us() const {
  std::optional<uint64_t> next;
  for (const auto& [key, peer] : peers_) {
    const uint64_t at = peer.pending ? peer.sent_us + config_.timeout_us : peer.next_query_us;
    if (!next || at < *next) next = at;
  }
  return next;
}

void Resolver::on_datagram(std::span<const uint8_t> datagram) {
  dns::Message m;
  try {
    m = dns::parse(datagram);
  } catch (const Error&) {
    ++counters_.bad_answers;
    return;
  }
  const auto it = std::ranges::find_if(peers_, [&](const auto& entry) {
    return entry.second.pending == m.id && m.questions.size() == 1 &&
           dns::same_name(m.questions[0].name, instance_name(entry.first, config_.zone));
  });
  if (!m.is_response() || it == peers_.end()) {
    ++counters_.bad_answers;
    return;
  }
  Peer& peer = it->second;
  peer.pending.reset();
  ++counters_.answers;
  if (m.rcode() == dns::rcode::NxDomain) {
    peer.status.state = PeerStatus::State::NotRegistered;
    return;
  }
  const auto endpoint = endpoint_from_answer(m, it->first, config_.zone);
  if (!endpoint) {
    ++counters_.bad_answers;
    peer.status.state = PeerStatus::State::NotRegistered;
    return;
  }
  apply(peer, *endpoint);
}

void Resolver::apply(Peer& peer, const Endpoint& endpoint) {
  const uint64_t now = clock_.monotonic_us();
  peer.status.learnt = endpoint;
  peer.status.learnt_wall_us = clock_.wall_us();
  const auto& current = peer.device.endpoint;
  if (current == endpoint) {
    // Ours now whoever set it: the registry agrees (e.g. we set it before a restart).
    peer.status.owned = true;
    peer.status.state = PeerStatus::State::Resolved;
    if (peer.device.keepalive_s == 0 && config_.keepalive_s) set(peer.status.key, std::nullopt);
    return;
  }
  const bool may_replace = !current || peer.status.owned || config_.override_endpoints;
  if (!may_replace) {
    peer.status.state = PeerStatus::State::AdminEndpoint;
    return;
  }
  if (current && !stale(peer)) {
    // It works where it is (WireGuard roamed, or the registry lags): leave it.
    peer.status.state = PeerStatus::State::Resolved;
    return;
  }
  set(peer.status.key, endpoint);
  if (last_error_.empty()) {
    peer.device.endpoint = endpoint;
    peer.device.keepalive_s = config_.keepalive_s;
    peer.status.owned = true;
    peer.status.set_wall_us = clock_.wall_us();
    peer.status.state = PeerStatus::State::Resolved;
    peer.rx_changed_us = now;  // give the new endpoint its time before calling it silent
    ++counters_.endpoints_set;
  }
}

std::vector<PeerStatus> Resolver::peers() const {
  std::vector<PeerStatus> out;
  for (const auto& [key, peer] : peers_) out.push_back(peer.status);
  return out;
}

}  // namespace l2wg::discovery
