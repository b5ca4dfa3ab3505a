// `l2wg doctor`: from what the daemon reports about a tunnel (Describe), what is wrong and how to
// fix it. Pure: the caller passes the clock.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "l2wg/cli/tunnel_info.h"

namespace l2wg::cli {

enum class Severity { Info, Warning, Error };
const char* to_string(Severity severity);  // "info", "warning", "error"

struct Finding {
  Severity severity = Severity::Error;
  std::string code;       // stable identifier for scripts, e.g. "no-handshake"
  std::string diagnosis;  // one line: what is wrong
  std::string fix;        // one line: what to do about it
  bool operator==(const Finding&) const = default;
};

// WireGuard rekeys every 2 minutes while the peer is reachable; 180 s without one means the
// peer is not answering.
inline constexpr uint64_t kHandshakeTimeoutSeconds = 180;

std::vector<Finding> diagnose(const TunnelInfo& tunnel, uint64_t now_us);

struct TunnelDiagnosis {
  TunnelInfo tunnel;
  std::vector<Finding> findings;
};

bool has_error(const std::vector<TunnelDiagnosis>& diagnoses);
std::string render_diagnoses(const std::vector<TunnelDiagnosis>& diagnoses);
// {"OK":bool,"Tunnels":[{"Name":..,"State":..,"Findings":[{"Severity","Code","Diagnosis","Fix"}]}]},
// keys spelt as Describe()'s.
nlohmann::json diagnoses_to_json(const std::vector<TunnelDiagnosis>& diagnoses);

}  // namespace l2wg::cli
