#include "l2wg/cli/doctor.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace l2wg::cli {
namespace {

bool contains_any(const std::string& text, std::initializer_list<std::string_view> needles) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::any_of(needles.begin(), needles.end(), [&](std::string_view needle) {
    return lower.find(needle) != std::string::npos;
  });
}

bool inner_is_ipv6(const TunnelInfo& t) {
  return t.remote_address.find(':') != std::string::npos ||
         t.local_address.find(':') != std::string::npos;
}

std::string peer_key_or_placeholder(const TunnelInfo& t) {
  return t.peer_public_key.empty() ? "PEERKEY" : t.peer_public_key;
}

std::string wg_name(const TunnelInfo& t) {
  return t.wireguard.empty() ? "wg0" : t.wireguard;
}

// The daemon says so in StateReason; its exact words are not part of the contract, so look for
// the usual ways of saying "absent".
bool wireguard_missing(const TunnelInfo& t) {
  if (t.state != "waiting-for-peer" && t.state != "failed") return false;
  return contains_any(t.state_reason, {"does not exist", "doesn't exist", "no such", "not found",
                                       "missing", "not exist", "absent"});
}

void check_state(const TunnelInfo& t, std::vector<Finding>& out) {
  if (t.state == "failed") {
    out.push_back(
        {Severity::Error, "failed",
         "the tunnel failed: " + (t.state_reason.empty() ? "no reason given" : t.state_reason),
         "fix the cause named above, then `l2wg restart " + t.name +
             "`; `journalctl -u l2wgd` has the details"});
  } else if (t.state == "degraded") {
    out.push_back(
        {Severity::Error, "degraded",
         "the tunnel is degraded: " + (t.state_reason.empty() ? "no reason given" : t.state_reason),
         "address the reason above; `journalctl -u l2wgd` has the details and "
         "`l2wg monitor` shows when the tunnel is up again"});
  }
}

void check_peer(const TunnelInfo& t, uint64_t now_us, std::vector<Finding>& out) {
  const std::string wg = wg_name(t);
  const std::string key = peer_key_or_placeholder(t);
  if (t.peer_endpoint.empty()) {
    out.push_back({Severity::Error, "no-endpoint",
                   "the peer on " + wg +
                       " has no endpoint: this side cannot reach it, and it "
                       "has not reached this side either",
                   "set it with `wg set " + wg + " peer " + key +
                       " endpoint HOST:PORT` (Endpoint= in the WireGuard config), or make the "
                       "peer connect to this side"});
  }
  const bool never = t.last_handshake_us == 0;
  const bool stale = !never && now_us > t.last_handshake_us &&
                     (now_us - t.last_handshake_us) / 1000000 > kHandshakeTimeoutSeconds;
  if (never || stale) {
    const std::string when =
        never ? "has never completed a handshake with its peer (last handshake 0 = never)"
              : "has had no handshake with its peer for " +
                    format_duration((now_us - t.last_handshake_us) / 1000000) + " (more than " +
                    std::to_string(kHandshakeTimeoutSeconds) + " s): the peer is not answering";
    out.push_back(
        {Severity::Error, "no-handshake", wg + " " + when,
         "check the peer's Endpoint (" + (t.peer_endpoint.empty() ? "not set" : t.peer_endpoint) +
             ") and that UDP to it passes the firewalls on both sides; for a peer behind NAT "
             "set PersistentKeepalive (NAT traversal): `wg set " +
             wg + " peer " + key + " persistent-keepalive 25`"});
  }
}

void check_datapath(const TunnelInfo& t, std::vector<Finding>& out) {
  const bool ipv6 = inner_is_ipv6(t);
  if (ipv6 && t.datapath == "kernel") {
    out.push_back(
        {Severity::Warning, "ipv6-kernel-mtu",
         "the inner addresses are IPv6 and the datapath is kernel: ip6gretap drops frames above "
         "1362 bytes, so the tap runs with a reduced MTU" +
             (t.mtu != 0 ? " (" + std::to_string(t.mtu) + ")" : std::string()) +
             " and hosts behind it must use smaller packets",
         "give the WireGuard interfaces IPv4 inner addresses (gretap over IPv4 carries full "
         "1500-byte frames), or let Datapath=auto use the userspace datapath, which fragments "
         "the outer IPv6 packets itself"});
  }
  if (t.datapath == "userspace") {
    if (ipv6) {
      out.push_back({Severity::Info, "userspace-datapath",
                     "the userspace datapath carries this tunnel because the inner addresses "
                     "are IPv6 and kernel ip6gretap cannot carry 1500-byte frames",
                     "for the faster kernel datapath, use IPv4 inner addresses on the WireGuard "
                     "interfaces"});
    } else {
      out.push_back({Severity::Info, "userspace-datapath",
                     "the userspace datapath carries this tunnel because the kernel lacks gretap "
                     "(no ip_gre module), unless Datapath=userspace was asked for",
                     "for the faster kernel datapath, load it (`modprobe ip_gre`) or use a kernel "
                     "with CONFIG_NET_IPGRE, then `l2wg restart " +
                         t.name + "`"});
    }
  }
}

void check_endpoint_drift(const TunnelInfo& t, std::vector<Finding>& out) {
  std::vector<std::string> distinct;
  for (const auto& sighting : t.endpoint_history)
    if (std::find(distinct.begin(), distinct.end(), sighting.endpoint) == distinct.end())
      distinct.push_back(sighting.endpoint);
  if (!t.peer_endpoint.empty() &&
      std::find(distinct.begin(), distinct.end(), t.peer_endpoint) == distinct.end())
    distinct.push_back(t.peer_endpoint);
  if (distinct.size() < 2) return;
  std::string seen;
  for (const auto& endpoint : distinct) seen += (seen.empty() ? "" : " -> ") + endpoint;
  out.push_back({Severity::Warning, "source-address-drift",
                 "the peer's endpoint changed over time (" + seen + "): source address drift",
                 "WireGuard roams to the source address of the last authenticated packet; on a "
                 "multi-homed peer, pin the source address with a policy rule (`ip rule add from "
                 "ADDR table N`) or bind the listen address, so its packets always leave from "
                 "one address"});
}

void check_routed(const TunnelInfo& t, std::vector<Finding>& out) {
  if (!t.routed() || (t.state != "up" && t.state != "degraded")) return;
  const std::string tap = t.interface.empty() ? "the tap" : t.interface;
  if (t.delegated_prefixes.empty()) {
    out.push_back({Severity::Error, "no-prefix",
                   "no prefix is delegated: DHCPv6-PD over " + tap + " got no answer yet",
                   "check that the router on the other side's bridge runs a DHCPv6 server with "
                   "prefix delegation (e.g. a kea pd-pool) and that the other side bridges its "
                   "tap into that network, then `l2wg renew " +
                       t.name + "`"});
  }
  if (t.upstream_router.empty()) {
    out.push_back({Severity::Warning, "no-upstream-router",
                   "no router advertisement was seen on " + tap +
                       ", so there is no IPv6 default route through the tunnel",
                   "make the upstream router send router advertisements on the bridged network "
                   "(radvd or the router's IPv6 settings) and check with `l2wg show` on the "
                   "other side that its tap is in that bridge"});
  }
}

}  // namespace

const char* to_string(Severity severity) {
  switch (severity) {
    case Severity::Info:
      return "info";
    case Severity::Warning:
      return "warning";
    case Severity::Error:
      return "error";
  }
  return "error";
}

std::vector<Finding> diagnose(const TunnelInfo& t, uint64_t now_us) {
  std::vector<Finding> findings;
  if (wireguard_missing(t)) {
    // Everything else follows from it; the peer checks would only repeat it.
    const std::string wg = wg_name(t);
    findings.push_back(
        {Severity::Error, "wireguard-missing",
         "the WireGuard interface " + wg + " does not exist, so the tunnel waits for it",
         "create and configure it (`wg-quick up " + wg + "`, or `ip link add " + wg +
             " type wireguard` / `wireguard-go " + wg + "` and `wg setconf " + wg +
             " FILE`); l2wgd picks it up by itself"});
    return findings;
  }
  if (t.state == "stopped") {
    // Asked for: nothing is wrong, and nothing else can be checked while nothing is built.
    findings.push_back({Severity::Info, "stopped", "the tunnel is stopped (l2wg down)",
                        "`l2wg up " + t.name + "` starts it again"});
    return findings;
  }
  check_state(t, findings);
  if (t.state != "configuring") check_peer(t, now_us, findings);
  check_datapath(t, findings);
  check_endpoint_drift(t, findings);
  check_routed(t, findings);
  return findings;
}

bool has_error(const std::vector<TunnelDiagnosis>& diagnoses) {
  for (const auto& diagnosis : diagnoses)
    for (const auto& finding : diagnosis.findings)
      if (finding.severity == Severity::Error) return true;
  return false;
}

std::string render_diagnoses(const std::vector<TunnelDiagnosis>& diagnoses) {
  if (diagnoses.empty()) return "No tunnels.\n";
  std::string out;
  for (const auto& [tunnel, findings] : diagnoses) {
    const bool wrong = std::any_of(findings.begin(), findings.end(),
                                   [](const Finding& f) { return f.severity != Severity::Info; });
    out += tunnel.name + ": " + (tunnel.state.empty() ? "unknown state" : tunnel.state) +
           (wrong ? "" : ", nothing wrong") + '\n';
    for (const auto& finding : findings) {
      out += std::string("  ") + to_string(finding.severity) + ": " + finding.diagnosis + '\n';
      out += "    fix: " + finding.fix + '\n';
    }
  }
  return out;
}

nlohmann::json diagnoses_to_json(const std::vector<TunnelDiagnosis>& diagnoses) {
  auto tunnels = nlohmann::json::array();
  for (const auto& [tunnel, findings] : diagnoses) {
    auto list = nlohmann::json::array();
    for (const auto& f : findings)
      list.push_back({{"Severity", to_string(f.severity)},
                      {"Code", f.code},
                      {"Diagnosis", f.diagnosis},
                      {"Fix", f.fix}});
    tunnels.push_back({{"Name", tunnel.name}, {"State", tunnel.state}, {"Findings", list}});
  }
  return {{"OK", !has_error(diagnoses)}, {"Tunnels", tunnels}};
}

}  // namespace l2wg::cli
