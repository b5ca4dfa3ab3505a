#include "l2wg/daemon/status.h"

#include "l2wg/dbus/tunnel_properties_json.h"

namespace l2wg {

const char* to_string(TunnelState state) {
  switch (state) {
    case TunnelState::Configuring: return "configuring";
    case TunnelState::WaitingForPeer: return "waiting-for-peer";
    case TunnelState::Up: return "up";
    case TunnelState::Degraded: return "degraded";
    case TunnelState::Failed: return "failed";
    case TunnelState::Stopped: return "stopped";
  }
  return "failed";
}

// Describe() names the state; nlohmann::json finds this by ADL, as it does the record's to_json.
void to_json(nlohmann::json& out, TunnelState state) {
  out = to_string(state);
}

std::vector<std::string> changed_properties(const TunnelStatus& before, const TunnelStatus& after) {
  std::vector<std::string> out;
  for_each_field<TunnelStatus>([&](const auto& each) {
    if (before.*each.member != after.*each.member) out.emplace_back(each.name);
  });
  return out;
}

std::string describe_json(const TunnelStatus& status, const ProbeTimes& probe) {
  nlohmann::json out = status;
  if (!status.lans.empty()) out["LAN"] = status.lans;
  out["LastProbeAnswer"] = probe.last_answer_us;
  out["ProbeRoundTrip"] = probe.round_trip_us;
  return out.dump();
}

}  // namespace l2wg
