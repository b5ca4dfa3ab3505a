// Kernel gretap's MSS clamp as libnftables JSON: the commands for a bridged and a routed tap, and
// the removal, exactly (nft -j reads them back as written; the kernel tier applies them).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "l2wg/bridge/mss_rules.h"

namespace l2wg::nft {
namespace {

using nlohmann::json;

json rule(const std::string& family, const std::string& chain, const char* direction,
          json protocol, int mss) {
  const json maxseg = {{"tcp option", {{"name", "maxseg"}, {"field", "size"}}}};
  return {{"add",
           {{"rule",
             {{"family", family},
              {"table", "l2wg-mss-l2-lab"},
              {"chain", chain},
              {"expr",
               {{{"match",
                  {{"op", "=="}, {"left", {{"meta", {{"key", direction}}}}}, {"right", "l2-lab"}}}},
                protocol,
                {{"match",
                  {{"op", "in"},
                   {"left", {{"payload", {{"protocol", "tcp"}, {"field", "flags"}}}}},
                   {"right", "syn"}}}},
                {{"match", {{"op", ">"}, {"left", maxseg}, {"right", mss}}}},
                {{"mangle", {{"key", maxseg}, {"value", mss}}}}}}}}}}};
}

json ether(const char* type) {
  return {{"match",
           {{"op", "=="},
            {"left", {{"payload", {{"protocol", "ether"}, {"field", "type"}}}}},
            {"right", type}}}};
}

json nfproto(const char* proto) {
  return {{"match", {{"op", "=="}, {"left", {{"meta", {{"key", "nfproto"}}}}}, {"right", proto}}}};
}

json table(const char* verb, const std::string& family) {
  return {{verb, {{"table", {{"family", family}, {"name", "l2wg-mss-l2-lab"}}}}}};
}

json chain(const std::string& family, const char* hook, int prio) {
  return {{"add",
           {{"chain",
             {{"family", family},
              {"table", "l2wg-mss-l2-lab"},
              {"name", hook},
              {"type", "filter"},
              {"hook", hook},
              {"prio", prio},
              {"policy", "accept"}}}}}};
}

// 1382-byte packets: MSS 1342 for IPv4 (40 bytes of headers), 1322 for IPv6 (60).
TEST(MssRules, ABridgedTapIsClampedInTheBridgesForwardChainBothWays) {
  const json expected = {
      {"nftables",
       {table("add", "bridge"), table("delete", "bridge"), table("add", "bridge"),
        chain("bridge", "forward", 0),
        rule("bridge", "forward", "oifname", ether("ip"), 1342),
        rule("bridge", "forward", "iifname", ether("ip"), 1342),
        rule("bridge", "forward", "oifname", ether("ip6"), 1322),
        rule("bridge", "forward", "iifname", ether("ip6"), 1322)}}};
  EXPECT_EQ(json::parse(install_commands({"l2-lab", true, 1382})), expected);
}

TEST(MssRules, ARoutedTapIsClampedWhereverTrafficCrossesIt) {
  const json expected = {
      {"nftables",
       {table("add", "inet"), table("delete", "inet"), table("add", "inet"),
        chain("inet", "forward", -150),
        rule("inet", "forward", "oifname", nfproto("ipv4"), 1342),
        rule("inet", "forward", "iifname", nfproto("ipv4"), 1342),
        rule("inet", "forward", "oifname", nfproto("ipv6"), 1322),
        rule("inet", "forward", "iifname", nfproto("ipv6"), 1322),
        chain("inet", "input", -150),
        rule("inet", "input", "iifname", nfproto("ipv4"), 1342),
        rule("inet", "input", "iifname", nfproto("ipv6"), 1322),
        chain("inet", "output", -150),
        rule("inet", "output", "oifname", nfproto("ipv4"), 1342),
        rule("inet", "output", "oifname", nfproto("ipv6"), 1322)}}};
  EXPECT_EQ(json::parse(install_commands({"l2-lab", false, 1382})), expected);
}

TEST(MssRules, RemovalTakesTheTablesOfBothFamiliesAndNothingElse) {
  EXPECT_EQ(json::parse(remove_commands("l2-lab")),
            (json{{"nftables",
                   {table("add", "bridge"), table("delete", "bridge"), table("add", "inet"),
                    table("delete", "inet")}}}));
  EXPECT_EQ(table_name("l2-lab"), "l2wg-mss-l2-lab");
}

}  // namespace
}  // namespace l2wg::nft
