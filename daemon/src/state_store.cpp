#include "state_store.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "l2wg/error.h"
#include "l2wg/file.h"

namespace l2wg {
namespace {

using nlohmann::json;

void write_record(const std::filesystem::path& path, const json& record) {
  try {
    std::filesystem::create_directories(path.parent_path());
  } catch (const std::filesystem::filesystem_error& e) {
    throw Error(ErrorCode::Io, e.what());
  }
  write_file_atomically(path, record.dump() + "\n");
}

// The record as a JSON object; nullopt (and a log line naming the file) when it is not one.
std::optional<json> read_record(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  auto record = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded() || !record.is_object()) {
    spdlog::warn("{}: not a record l2wgd wrote (truncated or edited?): ignored", path.string());
    return std::nullopt;
  }
  return record;
}

// Reads record[key] into `out` when present; a value of the wrong type is logged and left out,
// since the rest of the record is still worth having.
template <typename T>
void read_field(const std::filesystem::path& path, const json& record, const char* key, T& out) {
  const auto it = record.find(key);
  if (it == record.end() || it->is_null()) return;
  try {
    out = it->template get<T>();
  } catch (const json::exception& e) {
    spdlog::warn("{}: ignoring \"{}\": {}", path.string(), key, e.what());
  }
}

json plan_to_json(const lan::RoutingPlan& plan) {
  auto out = json::object();
  auto& addresses = out["addresses"] = json::array();
  for (const auto& a : plan.addresses)
    addresses.push_back({{"ifindex", a.ifindex}, {"prefix", a.prefix.str()}});
  auto& routes = out["routes"] = json::array();
  for (const auto& r : plan.routes) {
    json route = {{"table", r.table},
                  {"destination", r.destination.str()},
                  {"unreachable", r.type == RouteType::Unreachable},
                  {"ifindex", r.ifindex}};
    if (r.gateway) route["gateway"] = r.gateway->str();
    if (r.metric) route["metric"] = *r.metric;
    routes.push_back(route);
  }
  auto& rules = out["rules"] = json::array();
  for (const auto& r : plan.rules)
    rules.push_back({{"priority", r.priority}, {"source", r.source.str()}, {"table", r.table}});
  return out;
}

IpPrefix prefix_from(const json& value) {
  const auto prefix = IpPrefix::parse(value.get<std::string>());
  if (!prefix) throw Error(ErrorCode::InvalidArgument, "not a prefix: " + value.dump());
  return *prefix;
}

// What cannot be read is left out: at worst an entry stays in the kernel, as before this record.
lan::RoutingPlan plan_from_json(const std::filesystem::path& path, const json& in) {
  lan::RoutingPlan plan;
  if (!in.is_object()) return plan;
  auto each = [&](const char* key, auto&& read) {
    const auto it = in.find(key);
    if (it == in.end() || !it->is_array()) return;
    for (const auto& item : *it) {
      try {
        read(item);
      } catch (const std::exception& e) {
        spdlog::warn("{}: ignoring an entry of the applied {}: {}", path.string(), key, e.what());
      }
    }
  };
  each("addresses", [&](const json& a) {
    plan.addresses.push_back({a.at("ifindex").get<int>(), prefix_from(a.at("prefix"))});
  });
  each("routes", [&](const json& r) {
    Route route{r.at("table").get<uint32_t>(),
                prefix_from(r.at("destination")),
                r.at("unreachable").get<bool>() ? RouteType::Unreachable : RouteType::Unicast,
                std::nullopt,
                r.at("ifindex").get<int>(),
                std::nullopt};
    if (r.contains("gateway")) route.gateway = IpAddress::parse(r["gateway"].get<std::string>());
    if (r.contains("metric")) route.metric = r["metric"].get<uint32_t>();
    plan.routes.push_back(route);
  });
  each("rules", [&](const json& r) {
    plan.rules.push_back(
        {r.at("priority").get<uint32_t>(), prefix_from(r.at("source")), r.at("table").get<uint32_t>()});
  });
  return plan;
}

}  // namespace

std::filesystem::path StateStore::tunnel_path(const std::string& name) const {
  return dir_ / "tunnels" / (name + ".json");
}

std::filesystem::path StateStore::routed_path(const std::string& name) const {
  return dir_ / "routed" / (name + ".json");
}

std::vector<std::string> StateStore::recorded_tunnels() const {
  std::vector<std::string> names;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir_ / "tunnels", error), end; !error && it != end;
       it.increment(error)) {
    if (it->path().extension() == ".json") names.push_back(it->path().stem().string());
  }
  return names;
}

std::optional<TunnelRecord> StateStore::load_tunnel(const std::string& name) const {
  const auto path = tunnel_path(name);
  const auto json_record = read_record(path);
  if (!json_record) return std::nullopt;
  TunnelRecord record;
  read_field(path, *json_record, "created_bridge", record.created_bridge);
  std::string config;
  read_field(path, *json_record, "config", config);
  if (json_record->contains("config") && (*json_record)["config"].is_string())
    record.config = std::move(config);
  std::string stopped;
  read_field(path, *json_record, "stopped_in_boot", stopped);
  if (!stopped.empty()) record.stopped_in_boot = std::move(stopped);
  return record;
}

void StateStore::save_tunnel(const std::string& name, const TunnelRecord& record) {
  json out = {{"created_bridge", record.created_bridge},
              {"config", record.config ? json(*record.config) : json()}};
  if (record.stopped_in_boot) out["stopped_in_boot"] = *record.stopped_in_boot;
  write_record(tunnel_path(name), out);
}

void StateStore::remove_tunnel(const std::string& name) {
  std::error_code ignored;
  std::filesystem::remove(tunnel_path(name), ignored);
}

RoutedRecord StateStore::load_routed(const std::string& name) const {
  const auto path = routed_path(name);
  RoutedRecord record;
  const auto in = read_record(path);
  if (!in) return record;
  if (const auto it = in->find("table"); it != in->end()) {
    if (it->is_number_unsigned() && it->get<uint64_t>() <= UINT32_MAX)
      record.table = it->get<uint32_t>();
    else
      spdlog::warn("{}: ignoring \"table\": {} is not a table number", path.string(), it->dump());
  }
  read_field(path, *in, "subnet_ids", record.subnet_ids);
  if (const auto it = in->find("deprecated"); it != in->end() && it->is_array()) {
    for (const auto& d : *it) {
      try {
        record.deprecated.push_back({d.at("lan").get<std::string>(), prefix_from(d.at("subnet")),
                                     d.at("valid_until_us").get<uint64_t>()});
      } catch (const std::exception& e) {
        spdlog::warn("{}: ignoring a deprecated prefix: {}", path.string(), e.what());
      }
    }
  }
  if (in->contains("applied")) record.applied = plan_from_json(path, (*in)["applied"]);
  if (const auto it = in->find("upstream"); it != in->end() && it->is_object()) {
    try {
      const auto link_local = IpAddress::parse(it->at("link_local").get<std::string>());
      if (!link_local) throw Error(ErrorCode::InvalidArgument, "not an address");
      RecordedUpstream upstream{*link_local, it->at("until_us").get<uint64_t>(), std::nullopt};
      if (it->contains("mtu")) upstream.mtu = (*it)["mtu"].get<uint32_t>();
      record.upstream = upstream;
    } catch (const std::exception& e) {
      spdlog::warn("{}: ignoring the upstream router: {}", path.string(), e.what());
    }
  }
  return record;
}

void StateStore::save_routed(const std::string& name, const RoutedRecord& record) {
  auto deprecated = json::array();
  for (const auto& d : record.deprecated)
    deprecated.push_back(
        {{"lan", d.lan}, {"subnet", d.subnet.str()}, {"valid_until_us", d.valid_until_us}});
  json out = {{"subnet_ids", record.subnet_ids},
              {"deprecated", deprecated},
              {"applied", plan_to_json(record.applied)}};
  if (record.table) out["table"] = *record.table;
  if (record.upstream) {
    out["upstream"] = {{"link_local", record.upstream->link_local.str()},
                       {"until_us", record.upstream->until_us}};
    if (record.upstream->mtu) out["upstream"]["mtu"] = *record.upstream->mtu;
  }
  write_record(routed_path(name), out);
}

void StateStore::remove_routed(const std::string& name) {
  std::error_code ignored;
  std::filesystem::remove(routed_path(name), ignored);
}

}  // namespace l2wg
