#include "l2wg/cli/discovery_view.h"

#include "l2wg/cli/tunnel_info.h"

namespace l2wg::cli {
namespace {

std::string str(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
uint64_t num(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

const nlohmann::json* client_of(const nlohmann::json& all, const std::string& wireguard) {
  if (!all.is_array()) return nullptr;
  for (const auto& entry : all)
    if (entry.is_object() && str(entry, "Interface") == wireguard && entry.contains("Client") &&
        entry["Client"].is_object())
      return &entry["Client"];
  return nullptr;
}

const nlohmann::json* peer_of(const nlohmann::json& client, const std::string& key) {
  const auto it = client.find("Peers");
  if (it == client.end() || !it->is_array()) return nullptr;
  for (const auto& peer : *it)
    if (peer.is_object() && str(peer, "PublicKey") == key) return &peer;
  return nullptr;
}

std::string peer_text(const nlohmann::json& peer, const std::string& registry, uint64_t now_us) {
  const std::string endpoint = str(peer, "Endpoint");
  const std::string state = str(peer, "State");
  std::string text = endpoint.empty() ? state
                                      : "endpoint " + endpoint + " from registry " + registry +
                                            ", " + format_ago(num(peer, "LearntAt"), now_us);
  if (!endpoint.empty() && state != "resolved") text += " (" + state + ")";
  return text;
}

std::string counters(const nlohmann::json& j) {
  std::string out;
  const auto it = j.find("Counters");
  if (it == j.end() || !it->is_object()) return out;
  for (const auto& [key, value] : it->items())
    out += (out.empty() ? "" : ", ") + key + " " + value.dump();
  return out;
}

}  // namespace

std::string render_discovery(const nlohmann::json& all, const std::string& wireguard,
                             uint64_t now_us) {
  std::string out;
  if (!all.is_array()) return out;
  for (const auto& entry : all) {
    if (!entry.is_object()) continue;
    const std::string ifname = str(entry, "Interface");
    if (!wireguard.empty() && ifname != wireguard) continue;
    out += ifname + ":\n";
    if (const auto r = entry.find("Registry"); r != entry.end() && r->is_object()) {
      std::string addresses;
      if (r->contains("Addresses") && (*r)["Addresses"].is_array())
        for (const auto& a : (*r)["Addresses"])
          if (a.is_string()) addresses += (addresses.empty() ? "" : ", ") + a.get<std::string>();
      out += "  Registry:    zone " + str(*r, "Zone") + ", port " +
             std::to_string(num(*r, "Port")) + " on " +
             (addresses.empty() ? "no inner address yet" : addresses) + "\n";
      if (const auto e = str(*r, "Error"); !e.empty()) out += "  Error:       " + e + "\n";
      out += "  Answers:     " + counters(*r) + "\n";
    }
    if (const auto c = entry.find("Client"); c != entry.end() && c->is_object()) {
      const std::string registry = str(*c, "Registry");
      out += "  Client of:   " + registry + " (zone " + str(*c, "Zone") + ")\n";
      if (const auto e = str(*c, "Error"); !e.empty()) out += "  Error:       " + e + "\n";
      if (c->contains("Peers") && (*c)["Peers"].is_array())
        for (const auto& peer : (*c)["Peers"])
          if (peer.is_object())
            out += "  peer " + str(peer, "PublicKey") + ": " + peer_text(peer, registry, now_us) +
                   "\n";
      out += "  Queries:     " + counters(*c) + "\n";
    }
  }
  return out;
}

std::string discovery_line(const nlohmann::json& all, const std::string& wireguard,
                           const std::string& peer_key, uint64_t now_us) {
  const auto* client = client_of(all, wireguard);
  if (!client) return {};
  const auto* peer = peer_of(*client, peer_key);
  if (!peer) return {};
  return peer_text(*peer, str(*client, "Registry"), now_us);
}

std::vector<Finding> discovery_findings(const nlohmann::json& all, const std::string& wireguard,
                                        const std::string& peer_key) {
  std::vector<Finding> out;
  const auto* client = client_of(all, wireguard);
  if (!client) return out;
  const std::string registry = str(*client, "Registry");
  if (const auto e = str(*client, "Error"); !e.empty())
    out.push_back({Severity::Error, "discovery-device",
                   "endpoint discovery on " + wireguard + " cannot use the device: " + e,
                   "check that " + wireguard + " exists and l2wgd may configure it"});
  const auto* peer = peer_of(*client, peer_key);
  if (!peer) return out;
  const std::string state = str(*peer, "State");
  if (state == "not-registered")
    out.push_back({Severity::Warning, "discovery-not-registered",
                   "the registry " + registry + " has no endpoint for peer " + peer_key +
                       ": it never reached the registry",
                   "check that the peer lists the registry with an endpoint and handshakes "
                   "with it (wg show on the peer)"});
  else if (state == "registry-unreachable")
    out.push_back({Severity::Warning, "discovery-registry-unreachable",
                   "the registry " + registry + " does not answer DNS through " + wireguard,
                   "check the handshake with the registry's peer and that it serves DNS "
                   "(l2wg registry on its side, or wgsd)"});
  else if (state == "admin-endpoint")
    out.push_back({Severity::Info, "discovery-admin-endpoint",
                   "peer " + peer_key + " has an endpoint set by hand; the registry says " +
                       str(*peer, "Endpoint"),
                   "l2wg discover " + wireguard +
                       " --registry ... --override to let the registry's "
                       "endpoint replace it"});
  return out;
}

}  // namespace l2wg::cli
