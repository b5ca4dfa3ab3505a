// `l2wg registry`, `discover` and `discovery`: parsing, the SetDiscovery settings, and what
// discovery, show and doctor say from DescribeDiscovery's JSON.
#include <gtest/gtest.h>

#include "l2wg/cli/command_line.h"
#include "l2wg/cli/discovery_view.h"

namespace l2wg::cli {
namespace {

const char* kKey = "syKB97XhGnvC+kynh2KqQJPXoOoOpx/HmpMRTc+r4js=";

TEST(DiscoveryCommandLine, RegistryAndDiscover) {
  auto r = parse_command_line({"registry", "wg0", "--zone", "example.com", "--port", "5353"});
  ASSERT_TRUE(r.command) << r.err;
  EXPECT_EQ(r.command->verb, Verb::Registry);
  EXPECT_EQ(r.command->name, "wg0");
  EXPECT_EQ(build_discovery_settings(*r.command),
            (Settings{{"RegistryZone", std::string("example.com")}, {"RegistryPort", 5353u}}));

  r = parse_command_line({"discover", "wg0", "--registry", "198.51.100.1", "--zone", "example.com",
                          "--peer", kKey, "--override", "--keepalive", "10"});
  ASSERT_TRUE(r.command) << r.err;
  EXPECT_EQ(r.command->verb, Verb::Discover);
  EXPECT_EQ(build_discovery_settings(*r.command),
            (Settings{{"Registry", std::string("198.51.100.1")},
                      {"Zone", std::string("example.com")},
                      {"Peer", std::vector<std::string>{kKey}},
                      {"Override", true},
                      {"PersistentKeepalive", 10u}}));

  r = parse_command_line({"discover", "wg0", "--off"});
  ASSERT_TRUE(r.command) << r.err;
  EXPECT_TRUE(r.command->discovery.off);

  r = parse_command_line({"discovery", "--json"});
  ASSERT_TRUE(r.command);
  EXPECT_EQ(r.command->verb, Verb::Discovery);
  EXPECT_TRUE(r.command->json);
}

TEST(DiscoveryCommandLine, UsageErrors) {
  auto r = parse_command_line({"discover", "wg0", "--zone", "example.com"});
  EXPECT_FALSE(r.command);
  EXPECT_EQ(r.exit_status, kExitUsage);
  EXPECT_EQ(r.err, "l2wg: discover: --registry and --zone are needed (or --off)\n");
  r = parse_command_line({"registry", "wg0", "--zone", "example.com", "--port", "0"});
  EXPECT_EQ(r.exit_status, kExitUsage);
  EXPECT_NE(r.err.find("0 is out of range (1..65535)"), std::string::npos) << r.err;
  r = parse_command_line({"registry", "wg0", "--zone", "example.com", "--off"});
  EXPECT_EQ(r.exit_status, kExitUsage);
}

const nlohmann::json kStatus = nlohmann::json::parse(R"([
  {"Interface": "wgr",
   "Registry": {"Zone": "example.com", "Port": 53, "Addresses": ["198.51.100.1"], "Error": "",
                "Counters": {"Answered": 7, "Malformed": 2}}},
  {"Interface": "wga",
   "Client": {"Registry": "198.51.100.1:53", "Zone": "example.com", "Error": "",
              "Peers": [{"PublicKey": "syKB97XhGnvC+kynh2KqQJPXoOoOpx/HmpMRTc+r4js=",
                         "State": "resolved", "Endpoint": "203.0.113.2:51820",
                         "LearntAt": 1000000000, "SetAt": 1000000000, "Owned": true},
                        {"PublicKey": "other", "State": "not-registered", "Endpoint": ""}],
              "Counters": {"Queries": 3}}}
])");

TEST(DiscoveryView, ShowLineAndListing) {
  EXPECT_EQ(discovery_line(kStatus, "wga", kKey, 1012000000),
            "endpoint 203.0.113.2:51820 from registry 198.51.100.1:53, 12 s ago");
  EXPECT_EQ(discovery_line(kStatus, "wgr", kKey, 1012000000), "");
  const auto text = render_discovery(kStatus, "", 1012000000);
  EXPECT_NE(text.find("wgr:\n  Registry:    zone example.com, port 53 on 198.51.100.1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  Answers:     Answered 7, Malformed 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  peer other: not-registered\n"), std::string::npos) << text;
  EXPECT_EQ(render_discovery(kStatus, "nothing", 0), "");
}

TEST(DiscoveryView, DoctorFindings) {
  EXPECT_TRUE(discovery_findings(kStatus, "wga", kKey).empty());
  const auto findings = discovery_findings(kStatus, "wga", "other");
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].code, "discovery-not-registered");
  EXPECT_EQ(findings[0].severity, Severity::Warning);
}

}  // namespace
}  // namespace l2wg::cli
