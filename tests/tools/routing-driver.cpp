// Applies lan/'s routing plan to the kernel through bridge/'s Netlink, for the netns tests: the
// same calls, in the same order, as the daemon will make. A setup is one JSON object:
//   {"prefix": "2001:db8:100::/56", "lans": {"br-lan": 1}, "tap": "l2-lab",
//    "upstream": "fe80::1", "table": 1000, "priority": 1000, "source_routing": true}
// ("lans" maps each LAN to its subnet id; "upstream" and "source_routing" are optional).
//
//   routing-driver plan SETUP         prints the plan
//   routing-driver apply SETUP        adds it: addresses, routes, rules
//   routing-driver change FROM TO     removes what only FROM has, then adds what only TO has
//   routing-driver remove SETUP       removes it: rules, routes, addresses
//   routing-driver show SETUP         what the kernel has in the plan's table and rules, read back
//   routing-driver ipv6-conf IF KEY VALUE
// apply and remove take --part addresses|routes|rules to act on that part of the plan only.
// Every result is one JSON line on stdout; a failure prints {"error": ..., "code": ...} and
// exits 1.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "l2wg/bridge/netlink.h"
#include "l2wg/error.h"
#include "l2wg/lan/routing.h"
#include "l2wg/lan/subnet.h"

namespace {

using l2wg::Error;
using l2wg::ErrorCode;
using nlohmann::json;

int ifindex_of(l2wg::nl::Netlink& netlink, const std::string& name) {
  auto link = netlink.link(name);
  if (!link) throw Error(ErrorCode::NotFound, "no interface " + name);
  return link->ifindex;
}

l2wg::lan::RoutingSetup parse_setup(l2wg::nl::Netlink& netlink, const std::string& text) {
  const json j = json::parse(text);
  const auto delegated = l2wg::IpPrefix::parse(j.at("prefix").get<std::string>());
  if (!delegated) throw Error(ErrorCode::InvalidArgument, "bad prefix in " + text);
  l2wg::lan::RoutingSetup setup;
  setup.delegated = *delegated;
  std::vector<std::string> lans;
  std::map<std::string, uint64_t> ids;
  for (const auto& [lan, id] : j.at("lans").items()) {
    lans.push_back(lan);
    ids[lan] = id.get<uint64_t>();
  }
  const auto subnets = l2wg::lan::plan_subnets(*delegated, std::nullopt, lans, ids, {});
  if (!subnets.problems.empty()) throw Error(ErrorCode::InvalidArgument, subnets.problems.front());
  for (const auto& [lan, subnet] : subnets.subnets)
    setup.lan_subnets[ifindex_of(netlink, lan)] = subnet;
  setup.tap_ifindex = ifindex_of(netlink, j.at("tap").get<std::string>());
  if (j.contains("upstream")) {
    setup.upstream_router = l2wg::IpAddress::parse(j["upstream"].get<std::string>());
    if (!setup.upstream_router) throw Error(ErrorCode::InvalidArgument, "bad upstream in " + text);
  }
  setup.table = j.at("table").get<uint32_t>();
  setup.rule_priority = j.at("priority").get<uint32_t>();
  setup.source_routing = j.value("source_routing", true);
  return setup;
}

json plan_json(const l2wg::lan::RoutingPlan& plan) {
  json out = {{"addresses", json::array()}, {"routes", json::array()}, {"rules", json::array()}};
  for (const auto& a : plan.addresses)
    out["addresses"].push_back(a.prefix.str() + " dev #" + std::to_string(a.ifindex));
  for (const auto& r : plan.routes) out["routes"].push_back(r.str());
  for (const auto& r : plan.rules) out["rules"].push_back(r.str());
  return out;
}

void add(l2wg::nl::Netlink& netlink, const l2wg::lan::RoutingPlan& plan) {
  for (const auto& a : plan.addresses) netlink.add_address(a);
  for (const auto& r : plan.routes) netlink.add_route(r);
  for (const auto& r : plan.rules) netlink.add_rule(r);
}

void remove(l2wg::nl::Netlink& netlink, const l2wg::lan::RoutingPlan& plan) {
  for (auto it = plan.rules.rbegin(); it != plan.rules.rend(); ++it) netlink.delete_rule(*it);
  for (auto it = plan.routes.rbegin(); it != plan.routes.rend(); ++it) netlink.delete_route(*it);
  for (auto it = plan.addresses.rbegin(); it != plan.addresses.rend(); ++it)
    netlink.delete_address(*it);
}

// The kernel's view of the plan's table and rules, and whether it is exactly the plan's.
json show(l2wg::nl::Netlink& netlink, const l2wg::lan::RoutingSetup& setup) {
  const auto plan = l2wg::lan::plan_routing(setup);
  const auto family = l2wg::IpAddress::Family::V6;
  std::vector<l2wg::Route> planned_table;
  for (const auto& r : plan.routes)
    if (r.table == setup.table) planned_table.push_back(r);
  auto table = netlink.routes(family, setup.table);
  std::vector<l2wg::Rule> ours;
  json rules = json::array();
  for (const auto& rule : netlink.rules(family)) {
    rules.push_back(rule.str());
    if (rule.table == setup.table) ours.push_back(rule);
  }
  json routes = json::array();
  for (const auto& r : table) routes.push_back(r.str());
  // The kernel lists a table in its own order (by destination, then metric).
  std::sort(table.begin(), table.end());
  std::sort(planned_table.begin(), planned_table.end());
  bool addresses_present = true;
  for (const auto& a : plan.addresses) {
    const auto present = netlink.addresses(a.ifindex);
    addresses_present &= std::find(present.begin(), present.end(), a) != present.end();
  }
  return {{"table", routes},
          {"rules", rules},
          {"table_is_plan", table == planned_table},
          {"rules_are_plan", ours == plan.rules},
          {"addresses_present", addresses_present}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Applies lan/'s routing plan through bridge/'s Netlink"};
  app.require_subcommand(1);
  std::string setup_text, to_text, ifname, key, part;
  int value = 0;
  auto* plan_cmd = app.add_subcommand("plan", "print the plan");
  auto* apply_cmd = app.add_subcommand("apply", "add the plan");
  auto* change_cmd = app.add_subcommand("change", "go from one plan to another");
  auto* remove_cmd = app.add_subcommand("remove", "remove the plan");
  auto* show_cmd = app.add_subcommand("show", "the kernel's table and rules");
  for (auto* cmd : {plan_cmd, apply_cmd, change_cmd, remove_cmd, show_cmd})
    cmd->add_option("setup", setup_text, "setup (JSON)")->required();
  change_cmd->add_option("to", to_text, "setup to go to (JSON)")->required();
  for (auto* cmd : {apply_cmd, remove_cmd})
    cmd->add_option("--part", part, "only this part of the plan")
        ->check(CLI::IsMember({"addresses", "routes", "rules"}));
  auto* conf_cmd = app.add_subcommand("ipv6-conf", "write /proc/sys/net/ipv6/conf/IF/KEY");
  conf_cmd->add_option("interface", ifname)->required();
  conf_cmd->add_option("key", key)->required();
  conf_cmd->add_option("value", value)->required();
  CLI11_PARSE(app, argc, argv);

  try {
    auto netlink = l2wg::nl::make_kernel_netlink();
    json out;
    if (conf_cmd->parsed()) {
      netlink->set_ipv6_conf(ifindex_of(*netlink, ifname), key, value);
      out = {{"event", "ipv6-conf"}, {"interface", ifname}, {"key", key}, {"value", value}};
    } else {
      const auto setup = parse_setup(*netlink, setup_text);
      auto plan = l2wg::lan::plan_routing(setup);
      if (!part.empty()) {
        if (part != "addresses") plan.addresses.clear();
        if (part != "routes") plan.routes.clear();
        if (part != "rules") plan.rules.clear();
      }
      if (plan_cmd->parsed()) {
        out = {{"event", "plan"}, {"plan", plan_json(plan)}};
      } else if (apply_cmd->parsed()) {
        add(*netlink, plan);
        out = {{"event", "applied"}, {"added", plan_json(plan)}};
      } else if (change_cmd->parsed()) {
        const auto change = l2wg::lan::routing_change(
            plan, l2wg::lan::plan_routing(parse_setup(*netlink, to_text)));
        remove(*netlink, change.remove);
        add(*netlink, change.add);
        out = {{"event", "changed"},
               {"removed", plan_json(change.remove)},
               {"added", plan_json(change.add)}};
      } else if (remove_cmd->parsed()) {
        remove(*netlink, plan);
        out = {{"event", "removed"}, {"removed", plan_json(plan)}};
      } else {
        out = show(*netlink, setup);
        out["event"] = "show";
      }
    }
    std::cout << out.dump() << std::endl;
  } catch (const Error& e) {
    std::cout << json{{"error", e.what()}, {"code", l2wg::to_string(e.code())}}.dump() << std::endl;
    return 1;
  } catch (const json::exception& e) {
    std::cout << json{{"error", e.what()}, {"code", "invalid argument"}}.dump() << std::endl;
    return 1;
  }
  return 0;
}
