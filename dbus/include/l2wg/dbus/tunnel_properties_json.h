// Describe()'s JSON of a described record (tunnel_properties.h): an object keyed by the fields'
// names, nested records as objects, prefixes as text. nlohmann::json finds these by ADL.
#pragma once

#include <nlohmann/json.hpp>

#include "l2wg/dbus/tunnel_properties.h"
#include "l2wg/ip.h"

namespace l2wg {

template <Described Record>
void to_json(nlohmann::json& out, const Record& record) {
  out = nlohmann::json::object();
  for_each_field<Record>([&](const auto& each) { out[each.name] = record.*each.member; });
}

inline void to_json(nlohmann::json& out, const IpPrefix& prefix) {
  out = prefix.str();
}

}  // namespace l2wg
