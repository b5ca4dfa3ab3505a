#include "l2wg/daemon/status.h"

#include <nlohmann/json.hpp>

namespace l2wg {

const char* to_string(TunnelState state) {
  switch (state) {
    case TunnelState::Configuring: return "configuring";
    case TunnelState::WaitingForPeer: return "waiting-for-peer";
    case TunnelState::Up: return "up";
    case TunnelState::Degraded: return "degraded";
    case TunnelState::Failed: return "failed";
  }
  return "failed";
}

std::vector<std::string> changed_properties(const TunnelStatus& a, const TunnelStatus& b) {
  std::vector<std::string> out;
  auto note = [&](bool differs, const char* name) {
    if (differs) out.emplace_back(name);
  };
  note(a.name != b.name, "Name");
  note(a.state != b.state, "State");
  note(a.state_reason != b.state_reason, "StateReason");
  note(a.wireguard != b.wireguard, "WireGuard");
  note(a.peer_public_key != b.peer_public_key, "PeerPublicKey");
  note(a.local_address != b.local_address, "LocalAddress");
  note(a.remote_address != b.remote_address, "RemoteAddress");
  note(a.interface != b.interface, "Interface");
  note(a.bridge != b.bridge, "Bridge");
  note(a.datapath != b.datapath, "Datapath");
  note(a.mtu != b.mtu, "MTU");
  note(a.peer_endpoint != b.peer_endpoint, "PeerEndpoint");
  note(a.last_handshake_us != b.last_handshake_us, "LastHandshake");
  note(a.delegated_prefixes != b.delegated_prefixes, "DelegatedPrefixes");
  note(a.lan_prefixes != b.lan_prefixes, "LANPrefixes");
  note(a.upstream_router != b.upstream_router, "UpstreamRouter");
  note(a.persistent != b.persistent, "Persistent");
  return out;
}

std::string describe_json(const TunnelStatus& s) {
  auto delegated = nlohmann::json::array();
  for (const auto& p : s.delegated_prefixes)
    delegated.push_back({{"prefix", p.prefix.str()},
                         {"preferred_until", p.preferred_until_us},
                         {"valid_until", p.valid_until_us}});
  auto lans = nlohmann::json::array();
  for (const auto& l : s.lan_prefixes) lans.push_back({{"lan", l.lan}, {"prefix", l.prefix.str()}});
  const nlohmann::json j = {
      {"Name", s.name},
      {"State", to_string(s.state)},
      {"StateReason", s.state_reason},
      {"WireGuard", s.wireguard},
      {"PeerPublicKey", s.peer_public_key},
      {"LocalAddress", s.local_address},
      {"RemoteAddress", s.remote_address},
      {"Interface", s.interface},
      {"Bridge", s.bridge},
      {"Datapath", s.datapath},
      {"MTU", s.mtu},
      {"PeerEndpoint", s.peer_endpoint},
      {"LastHandshake", s.last_handshake_us},
      {"DelegatedPrefixes", delegated},
      {"LANPrefixes", lans},
      {"UpstreamRouter", s.upstream_router},
      {"Persistent", s.persistent},
  };
  return j.dump();
}

}  // namespace l2wg
