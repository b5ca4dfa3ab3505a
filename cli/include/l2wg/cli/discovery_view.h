// Endpoint discovery as `l2wg discovery`, `show` and `doctor` tell it, from Manager.
// DescribeDiscovery's JSON. Pure: the caller passes the clock.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "l2wg/cli/doctor.h"

namespace l2wg::cli {

// Every interface (or only `wireguard`, when not empty): its registry's addresses and counters,
// its client's registry and each peer ("peer KEY: endpoint E from registry R, 12 s ago").
std::string render_discovery(const nlohmann::json& all, const std::string& wireguard,
                             uint64_t now_us);

// For `show`: what the client on `wireguard` learnt of `peer_key`; empty when nothing.
std::string discovery_line(const nlohmann::json& all, const std::string& wireguard,
                           const std::string& peer_key, uint64_t now_us);

// For `doctor`: the peer is unknown to the registry, the registry does not answer, an endpoint
// set by hand keeps the registry's from being used, or the device refused the endpoint.
std::vector<Finding> discovery_findings(const nlohmann::json& all, const std::string& wireguard,
                                        const std::string& peer_key);

}  // namespace l2wg::cli
