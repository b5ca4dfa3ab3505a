// l2wg_cli_core: the command line (every flag, usage errors), CreateTunnel settings, the
// renderings of show/list/monitor (golden strings), doctor findings, and the exit status of
// D-Bus errors.
#include <gtest/gtest.h>

#include "l2wg/cli/bus_errors.h"
#include "l2wg/cli/command_line.h"
#include "l2wg/cli/doctor.h"
#include "l2wg/cli/monitor_events.h"
#include "l2wg/cli/tunnel_info.h"
#include "l2wg/error.h"

namespace l2wg::cli {
namespace {

constexpr uint64_t kSecond = 1000000;
constexpr uint64_t kNow = 1700000000 * kSecond;

Command parse_ok(const std::vector<std::string>& args) {
  const ParseResult result = parse_command_line(args);
  EXPECT_TRUE(result.command.has_value()) << result.err;
  EXPECT_EQ(result.exit_status, kExitOk);
  return result.command.value_or(Command{});
}

int parse_status(const std::vector<std::string>& args) {
  const ParseResult result = parse_command_line(args);
  EXPECT_FALSE(result.command.has_value());
  return result.exit_status;
}

// --- command line ---

TEST(CliCommandLine, SimpleVerbs) {
  EXPECT_EQ(parse_ok({"list"}).verb, Verb::List);
  EXPECT_TRUE(parse_ok({"list", "--json"}).json);
  const Command show = parse_ok({"show", "lab", "--json"});
  EXPECT_EQ(show.verb, Verb::Show);
  EXPECT_EQ(show.name, "lab");
  EXPECT_TRUE(show.json);
  EXPECT_EQ(parse_ok({"renew", "dorm"}).verb, Verb::Renew);
  EXPECT_EQ(parse_ok({"release", "dorm"}).name, "dorm");
  EXPECT_EQ(parse_ok({"monitor", "--json"}).verb, Verb::Monitor);
  EXPECT_EQ(parse_ok({"doctor"}).name, "");
  EXPECT_EQ(parse_ok({"doctor", "lab", "--json"}).name, "lab");
  EXPECT_EQ(parse_ok({"version"}).verb, Verb::Version);
  EXPECT_EQ(parse_ok({"down", "lab"}).name, "lab");
  EXPECT_EQ(parse_ok({"down", "lab"}).verb, Verb::Down);
  EXPECT_EQ(parse_ok({"delete", "lab"}).verb, Verb::Delete);
  EXPECT_EQ(parse_ok({"up", "lab"}).verb, Verb::Start) << "up NAME alone starts it";
  EXPECT_EQ(parse_ok({"up", "lab", "--wg", "wg0", "--peer", "10.0.0.2"}).verb, Verb::Up);
  EXPECT_EQ(parse_status({"up", "lab", "--key", "5"}), kExitUsage) << "creating needs --wg, --peer";
  EXPECT_EQ(parse_status({"up", "lab", "--wg", "wg0"}), kExitUsage);
  EXPECT_EQ(parse_status({"delete"}), kExitUsage);
  EXPECT_TRUE(parse_ok({"down", "--all"}).all);
}

TEST(CliCommandLine, UsageErrorsExitTwo) {
  EXPECT_EQ(parse_status({"frobnicate"}), kExitUsage);
  EXPECT_EQ(parse_status({"show"}), kExitUsage);
  EXPECT_EQ(parse_status({"down"}), kExitUsage);
  EXPECT_EQ(parse_status({"down", "lab", "--all"}), kExitUsage);
  EXPECT_EQ(parse_status({"list", "extra"}), kExitUsage);
  const std::vector<std::string> base{"up", "lab", "--wg", "wg0", "--peer", "10.0.31.2"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  EXPECT_EQ(parse_status({"up", "lab", "--peer", "10.0.31.2"}), kExitUsage);  // no --wg
  EXPECT_EQ(parse_status({"up", "lab", "--wg", "wg0"}), kExitUsage);          // no --peer
  EXPECT_EQ(parse_status(with({"--create-bridge"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--isolated"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--lan", "br-lan"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--pd"})), kExitUsage);  // --pd needs a --lan
  EXPECT_EQ(parse_status(with({"--pd", "--lan", "x", "--bridge", "br0"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--prefix-length", "56"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--no-source-routing"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--rapid-commit"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--pd", "--lan", "x", "--prefix-length", "129"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--mtu", "big"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--datapath", "fast"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--key", "-1"})), kExitUsage);
  EXPECT_EQ(parse_status(with({"--key", "4294967296"})), kExitUsage);

  const ParseResult result = parse_command_line(with({"--create-bridge"}));
  EXPECT_EQ(result.err.rfind("l2wg: ", 0), 0u) << result.err;
  EXPECT_NE(result.err.find("--bridge"), std::string::npos) << result.err;
}

TEST(CliCommandLine, NoSubcommandLists) {
  EXPECT_EQ(parse_ok({}).verb, Verb::List);
}

TEST(CliCommandLine, VersionFlagIsTheVersionSubcommand) {
  EXPECT_EQ(parse_ok({"--version"}).verb, Verb::Version);
}

TEST(CliCommandLine, RestartAndReload) {
  const Command restart = parse_ok({"restart", "lab"});
  EXPECT_EQ(restart.verb, Verb::Restart);
  EXPECT_EQ(restart.name, "lab");
  EXPECT_EQ(parse_status({"restart"}), kExitUsage);
  EXPECT_EQ(parse_ok({"reload"}).verb, Verb::Reload);
  EXPECT_EQ(parse_status({"reload", "lab"}), kExitUsage);
}

TEST(CliCommandLine, UnknownSubcommandSuggestsTheNearest) {
  ParseResult result = parse_command_line({"lsit"});
  EXPECT_EQ(result.exit_status, kExitUsage);
  EXPECT_EQ(result.err,
            "l2wg: unknown command \"lsit\"; did you mean list?\nRun 'l2wg --help' for usage.\n");
  EXPECT_EQ(parse_command_line({"shwo", "lab"})
                .err.rfind("l2wg: unknown command \"shwo\"; did you mean show?", 0),
            0u);
  EXPECT_EQ(parse_command_line({"reloda"})
                .err.rfind("l2wg: unknown command \"reloda\"; did you mean reload?", 0),
            0u);
  result = parse_command_line({"frobnicate"});
  EXPECT_EQ(result.exit_status, kExitUsage);
  EXPECT_EQ(result.err, "l2wg: unknown command \"frobnicate\"\nRun 'l2wg --help' for usage.\n");
  // Asking for help is no mistake.
  result = parse_command_line({"frobnicate", "--help"});
  EXPECT_EQ(result.exit_status, kExitOk);
  EXPECT_EQ(result.err, "");
}

TEST(CliCommandLine, NumbersOutOfRangeSayTheRange) {
  const std::vector<std::string> base{"up", "lab", "--wg", "wg0", "--peer", "10.0.31.2"};
  auto error_of = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    const ParseResult result = parse_command_line(args);
    EXPECT_EQ(result.exit_status, kExitUsage);
    return result.err.substr(0, result.err.find('\n'));
  };
  EXPECT_EQ(error_of({"--mtu", "100"}), "l2wg: --mtu: 100 is out of range (1280..65535)");
  EXPECT_EQ(error_of({"--mtu", "70000"}), "l2wg: --mtu: 70000 is out of range (1280..65535)");
  EXPECT_EQ(error_of({"--mtu", "big"}), "l2wg: --mtu: big is neither auto nor a number");
  EXPECT_EQ(error_of({"--key", "4294967296"}),
            "l2wg: --key: 4294967296 is out of range (0..4294967295)");
  EXPECT_EQ(error_of({"--key", "x"}), "l2wg: --key: x is not a number");
  EXPECT_EQ(error_of({"--pd", "--lan", "x", "--prefix-length", "65"}),
            "l2wg: --prefix-length: 65 is out of range (0..64)");
  EXPECT_EQ(parse_ok({"up", "lab", "--wg", "wg0", "--peer", "10.0.31.2", "--mtu", "65535"}).up.mtu,
            "65535");
}

TEST(CliCommandLine, HelpListsTheExitStatuses) {
  const ParseResult result = parse_command_line({"--help"});
  EXPECT_EQ(result.exit_status, kExitOk);
  for (const char* status :
       {"0 success", "1 l2wgd refused", "2 usage error", "3 l2wgd cannot be reached"})
    EXPECT_NE(result.out.find(status), std::string::npos) << status << " in\n" << result.out;
  EXPECT_NE(result.out.find("restart"), std::string::npos);
  EXPECT_NE(result.out.find("reload"), std::string::npos);
}

TEST(CliCommandLine, HelpExitsZeroOnStdout) {
  const ParseResult result = parse_command_line({"up", "--help"});
  EXPECT_FALSE(result.command.has_value());
  EXPECT_EQ(result.exit_status, kExitOk);
  EXPECT_NE(result.out.find("--create-bridge"), std::string::npos);
  EXPECT_TRUE(result.err.empty());
}

TEST(CliSettings, MinimalUpSendsOnlyTheRequiredKeys) {
  const Command command = parse_ok({"up", "lab", "--wg", "wg0", "--peer", "10.0.31.2"});
  EXPECT_EQ(command.verb, Verb::Up);
  EXPECT_EQ(command.name, "lab");
  EXPECT_FALSE(command.up.persist);
  const Settings expected{{"WireGuard", std::string("wg0")}, {"Peer", std::string("10.0.31.2")}};
  EXPECT_EQ(build_settings(command.up), expected);
}

TEST(CliSettings, EveryTunnelAndBridgeFlag) {
  const Command command = parse_ok({"up",
                                    "lab",
                                    "--wg",
                                    "wg0",
                                    "--peer",
                                    "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
                                    "--local",
                                    "10.0.31.10",
                                    "--interface",
                                    "l2-x",
                                    "--key",
                                    "42",
                                    "--mtu",
                                    "1400",
                                    "--datapath",
                                    "userspace",
                                    "--bridge",
                                    "br-wan",
                                    "--create-bridge",
                                    "--isolated",
                                    "--persist"});
  EXPECT_TRUE(command.up.persist);
  const Settings expected{
      {"WireGuard", std::string("wg0")},
      {"Peer", std::string("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=")},
      {"Local", std::string("10.0.31.10")},
      {"Interface", std::string("l2-x")},
      {"Key", uint32_t{42}},
      {"MTU", uint32_t{1400}},
      {"Datapath", std::string("userspace")},
      {"Bridge", std::string("br-wan")},
      {"CreateBridge", true},
      {"Isolated", true},
  };
  EXPECT_EQ(build_settings(command.up), expected);
}

TEST(CliSettings, MtuAutoIsAString) {
  const Command command =
      parse_ok({"up", "lab", "--wg", "wg0", "--peer", "10.0.31.2", "--mtu", "auto"});
  EXPECT_EQ(build_settings(command.up).at("MTU"), SettingValue(std::string("auto")));
}

TEST(CliSettings, DaemonMessagesNameTheFlags) {
  EXPECT_EQ(with_flag_names("MTU=9000 does not fit: the WireGuard interface's MTU 1420 leaves at "
                            "most 1362 for the tap; use MTU=auto to fragment inside the tunnel"),
            "--mtu 9000 does not fit: the WireGuard interface's MTU 1420 leaves at most 1362 for "
            "the tap; use --mtu auto to fragment inside the tunnel");
  EXPECT_EQ(with_flag_names("Local=2001:db8::1: an IPv6 address, but Peer=10.0.0.2 is IPv4"),
            "--local 2001:db8::1: an IPv6 address, but --peer 10.0.0.2 is IPv4");
  EXPECT_EQ(with_flag_names("Datapath=kernel was asked for; use Datapath=auto or "
                            "Datapath=userspace"),
            "--datapath kernel was asked for; use --datapath auto or --datapath userspace");
  EXPECT_EQ(with_flag_names("[PrefixDelegation] (routed mode) is not supported by this l2wgd"),
            "--pd (routed mode) is not supported by this l2wgd");
  // A key without its value is no flag typed; the daemon may name both itself.
  EXPECT_EQ(with_flag_names("a second tunnel needs another GRE key (Key=, --key) on both ends"),
            "a second tunnel needs another GRE key (Key=, --key) on both ends");
  EXPECT_EQ(with_flag_names("LAN=eth9: no such interface"), "--lan eth9: no such interface");
  EXPECT_EQ(with_flag_names("Interface=l2-x: that is the WireGuard interface"),
            "--interface l2-x: that is the WireGuard interface");
  // Only whole keys: CreateBridge= is not Bridge=, and words without '=' stay.
  EXPECT_EQ(
      with_flag_names("CreateBridge=yes; the Bridge br0 and WireGuard wg0; Key=5 PrefixLength=60"),
      "CreateBridge=yes; the Bridge br0 and WireGuard wg0; --key 5 --prefix-length 60");
  EXPECT_EQ(with_flag_names("no tunnel named lab"), "no tunnel named lab");
}

TEST(CliSettings, EveryPrefixDelegationFlag) {
  const Command command = parse_ok({"up", "dorm", "--wg", "wg0", "--peer", "10.0.31.10", "--pd",
                                    "--prefix-length", "56", "--lan", "br-lan", "--lan", "wlan0",
                                    "--no-source-routing", "--rapid-commit"});
  const Settings expected{
      {"WireGuard", std::string("wg0")}, {"Peer", std::string("10.0.31.10")},
      {"PrefixLength", uint32_t{56}},    {"LAN", std::vector<std::string>{"br-lan", "wlan0"}},
      {"SourceRouting", false},          {"RapidCommit", true},
  };
  EXPECT_EQ(build_settings(command.up), expected);
}

TEST(CliSettings, PrefixLengthZeroMeansNoHintAndIsSent) {
  const Command command = parse_ok({"up", "dorm", "--wg", "wg0", "--peer", "10.0.31.10", "--pd",
                                    "--lan", "br-lan", "--prefix-length", "0"});
  const Settings settings = build_settings(command.up);
  EXPECT_EQ(settings.at("PrefixLength"), SettingValue(uint32_t{0}));
  EXPECT_EQ(settings.count("SourceRouting"), 0u);
  EXPECT_EQ(settings.count("RapidCommit"), 0u);
}

// --- Describe JSON and rendering ---

const char* const kLabJson = R"({
  "Name": "lab", "State": "up", "StateReason": "", "WireGuard": "wg0",
  "PeerPublicKey": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
  "LocalAddress": "10.0.31.10", "RemoteAddress": "10.0.31.2", "Interface": "l2-lab",
  "Bridge": "br-wan", "Datapath": "kernel", "MTU": 1500, "PeerEndpoint": "198.51.100.7:51820",
  "LastHandshake": 1699999958000000, "DelegatedPrefixes": [], "LANPrefixes": [],
  "UpstreamRouter": "", "Persistent": true, "GREKey": "7", "MACAddress": "c2:39:30:be:e3:f5",
  "MSSClamp": 0, "Statistics": {"FramesOut": 12, "BytesOut": 1500, "FramesIn": 3, "BytesIn": 300,
  "DroppedOut": 0, "DroppedIn": 0, "ErrorsOut": 0, "ErrorsIn": 0}})";

const char* const kDormJson = R"({
  "Name": "dorm", "State": "degraded", "StateReason": "The DHCPv6 server stopped answering.",
  "WireGuard": "wg1", "PeerPublicKey": "k2", "LocalAddress": "10.0.31.2",
  "RemoteAddress": "10.0.31.10", "Interface": "l2-dorm", "Bridge": "", "Datapath": "userspace",
  "MTU": 1500, "PeerEndpoint": "203.0.113.5:51820", "LastHandshake": 1699999990000000,
  "DelegatedPrefixes": [{"Prefix": "2001:db8:1200::/56", "PreferredUntil": 1700011520000000,
                         "ValidUntil": 1700018000000000}],
  "LANPrefixes": [{"LAN": "br-lan", "Prefix": "2001:db8:1200:1::/64"}],
  "UpstreamRouter": "fe80::1", "Persistent": false, "GREKey": "", "MSSClamp": 1420,
  "Statistics": {"FramesOut": 0, "DroppedIn": 2, "DroppedWrongKey": 1, "MSSClamped": 4}})";

TEST(CliTunnelInfo, ParsesDescribe) {
  const TunnelInfo dorm = parse_describe(kDormJson);
  EXPECT_EQ(dorm.name, "dorm");
  EXPECT_EQ(dorm.state, "degraded");
  EXPECT_EQ(dorm.mtu, 1500u);
  EXPECT_EQ(dorm.last_handshake_us, 1699999990000000u);
  ASSERT_EQ(dorm.delegated_prefixes.size(), 1u);
  EXPECT_EQ(dorm.delegated_prefixes[0],
            (DelegatedPrefixInfo{"2001:db8:1200::/56", 1700011520000000, 1700018000000000}));
  ASSERT_EQ(dorm.lan_prefixes.size(), 1u);
  EXPECT_EQ(dorm.lan_prefixes[0], (LanPrefixInfo{"br-lan", "2001:db8:1200:1::/64"}));
  EXPECT_TRUE(dorm.routed());
  EXPECT_FALSE(parse_describe(kLabJson).routed());
  EXPECT_TRUE(parse_describe(kLabJson).endpoint_history.empty());
}

TEST(CliTunnelInfo, MissingKeysKeepDefaultsAndBadInputThrows) {
  const TunnelInfo t = parse_describe(R"({"Name":"x"})");
  EXPECT_EQ(t.name, "x");
  EXPECT_EQ(t.last_handshake_us, 0u);
  EXPECT_THROW(parse_describe("not json"), l2wg::Error);
  EXPECT_THROW(parse_describe("[]"), l2wg::Error);
  EXPECT_THROW(parse_describe(R"({"MTU":"big"})"), l2wg::Error);
}

TEST(CliTunnelInfo, EndpointHistoryInBothShapes) {
  const TunnelInfo strings =
      parse_describe(R"({"EndpointHistory":["198.51.100.7:51820","203.0.113.9:51820"]})");
  EXPECT_EQ(strings.endpoint_history,
            (std::vector<EndpointSighting>{{"198.51.100.7:51820", 0}, {"203.0.113.9:51820", 0}}));
  const TunnelInfo objects =
      parse_describe(R"({"EndpointHistory":[{"Endpoint":"198.51.100.7:51820","Seen":5}]})");
  EXPECT_EQ(objects.endpoint_history, (std::vector<EndpointSighting>{{"198.51.100.7:51820", 5}}));
}

TEST(CliRender, Durations) {
  EXPECT_EQ(format_duration(0), "0 s");
  EXPECT_EQ(format_duration(42), "42 s");
  EXPECT_EQ(format_duration(60), "1 min");
  EXPECT_EQ(format_duration(303), "5 min 3 s");
  EXPECT_EQ(format_duration(3600 + 5), "1 h");
  EXPECT_EQ(format_duration(7500), "2 h 5 min");
  EXPECT_EQ(format_duration(3 * 86400 + 4 * 3600 + 59), "3 d 4 h");
  EXPECT_EQ(format_ago(0, kNow), "never");
  EXPECT_EQ(format_ago(kNow - 42 * kSecond, kNow), "42 s ago");
  EXPECT_EQ(format_ago(kNow + kSecond, kNow), "just now");
}

TEST(CliRender, ShowBridgeTunnel) {
  EXPECT_EQ(render_tunnel(parse_describe(kLabJson), kNow),
            "Tunnel lab\n"
            "  State:           up\n"
            "  WireGuard:       wg0\n"
            "  Peer:            10.0.31.2 (key xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=)\n"
            "  Peer endpoint:   198.51.100.7:51820\n"
            "  Last handshake:  42 s ago\n"
            "  Local address:   10.0.31.10\n"
            "  Interface:       l2-lab (kernel datapath, MTU 1500)\n"
            "  MAC address:     c2:39:30:be:e3:f5\n"
            "  GRE key:         7\n"
            "  MSS clamp:       off\n"
            "  Bridge:          br-wan\n"
            "  Persistent:      yes\n"
            "  Sent:            12 frames, 1500 bytes (tap to GRE)\n"
            "  Received:        3 frames, 300 bytes (GRE to tap)\n"
            "  Dropped:         none\n");
}

TEST(CliRender, ShowRoutedTunnelWithReason) {
  EXPECT_EQ(render_tunnel(parse_describe(kDormJson), kNow),
            "Tunnel dorm\n"
            "  State:             degraded (The DHCPv6 server stopped answering.)\n"
            "  WireGuard:         wg1\n"
            "  Peer:              10.0.31.10 (key k2)\n"
            "  Peer endpoint:     203.0.113.5:51820\n"
            "  Last handshake:    10 s ago\n"
            "  Local address:     10.0.31.2\n"
            "  Interface:         l2-dorm (userspace datapath, MTU 1500)\n"
            "  MAC address:       -\n"
            "  GRE key:           none\n"
            "  MSS clamp:         TCP SYNs fitted to 1420-byte packets (MSS 1380 over IPv4, 1360 "
            "over IPv6)\n"
            "  Delegated prefix:  2001:db8:1200::/56 (preferred 3 h 12 min, valid 5 h)\n"
            "  LAN prefix:        br-lan 2001:db8:1200:1::/64\n"
            "  Upstream router:   fe80::1\n"
            "  Persistent:        no\n"
            "  Sent:              0 frames, 0 bytes (tap to GRE)\n"
            "  Received:          0 frames, 0 bytes (GRE to tap)\n"
            "  Dropped:           2 on the way in, 1 with another GRE key\n"
            "  Offloads:          4 SYNs clamped\n");
}

TEST(CliRender, ListTable) {
  EXPECT_EQ(render_tunnel_table({parse_describe(kLabJson), parse_describe(kDormJson)}, kNow),
            "NAME  STATE     INTERFACE  WIREGUARD  PEER        HANDSHAKE  MODE\n"
            "lab   up        l2-lab     wg0        10.0.31.2   42 s ago   bridge br-wan\n"
            "dorm  degraded  l2-dorm    wg1        10.0.31.10  10 s ago   routed "
            "2001:db8:1200::/56\n");
  EXPECT_EQ(render_tunnel_table({}, kNow), "No tunnels.\n");
}

// --- monitor ---

TEST(CliMonitor, TunnelNameFromPath) {
  EXPECT_EQ(tunnel_name_from_path("/net/l2wg1/tunnel/lab"), "lab");
  EXPECT_EQ(tunnel_name_from_path("/net/l2wg1/tunnel/lab_2d1"), "lab-1");
  EXPECT_EQ(tunnel_name_from_path("/net/l2wg1/tunnel/_31x_5fy"), "1x_y");
  EXPECT_EQ(tunnel_name_from_path("/net/l2wg1"), std::nullopt);
  EXPECT_EQ(tunnel_name_from_path("/net/l2wg1/tunnel/a/b"), std::nullopt);
  EXPECT_EQ(tunnel_name_from_path("/net/l2wg1/tunnel/bad_z"), std::nullopt);
}

TEST(CliMonitor, PropertiesChangedBecomeEvents) {
  const auto events = events_from_properties_changed(
      "lab",
      {{"StateReason", std::string("")},
       {"State", std::string("up")},
       {"PeerEndpoint", std::string("198.51.100.7:51820")},
       {"MTU", uint32_t{1420}},
       {"DelegatedPrefixes", std::vector<DelegatedPrefixInfo>{{"2001:db8::/60", 1, 2}}}},
      {"UpstreamRouter"});
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(render_event_line(events[0]), "lab: state up");
  EXPECT_EQ(render_event_line(events[1]), "lab: MTU 1420");
  EXPECT_EQ(render_event_line(events[2]), "lab: peer endpoint 198.51.100.7:51820");
  EXPECT_EQ(render_event_line(events[3]), "lab: upstream router (none)");
  EXPECT_EQ(event_to_json(events[1], 7).dump(),
            R"({"Event":"property","Property":"MTU","Time":7,"Tunnel":"lab","Value":1420})");
}

TEST(CliMonitor, PrefixListsInJsonAsDescribeWritesThem) {
  const auto events = events_from_properties_changed(
      "dorm", {{"LANPrefixes", std::vector<LanPrefixInfo>{{"br-lan", "2001:db8:1200:1::/64"}}}},
      {});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(event_to_json(events[0], 7).dump(),
            R"({"Event":"property","Property":"LANPrefixes","Time":7,"Tunnel":"dorm",)"
            R"("Value":[{"LAN":"br-lan","Prefix":"2001:db8:1200:1::/64"}]})");
}

TEST(CliMonitor, StateCarriesItsReason) {
  const auto events = events_from_properties_changed(
      "dorm",
      {{"State", std::string("degraded")}, {"StateReason", std::string("No DHCPv6 reply.")}}, {});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(render_event_line(events[0]), "dorm: state degraded (No DHCPv6 reply.)");
  EXPECT_EQ(event_to_json(events[0], 7).dump(),
            R"({"Event":"state","State":"degraded","StateReason":"No DHCPv6 reply.","Time":7,)"
            R"("Tunnel":"dorm"})");
  // A reason alone is still worth a line.
  const auto alone =
      events_from_properties_changed("dorm", {{"StateReason", std::string("Still waiting.")}}, {});
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(render_event_line(alone[0]), "dorm: reason Still waiting.");
}

TEST(CliMonitor, EventLines) {
  using Kind = MonitorEvent::Kind;
  EXPECT_EQ(render_event_line({Kind::PrefixDelegated, "dorm", "", "2001:db8::/60", "", {}}),
            "dorm: prefix 2001:db8::/60 delegated");
  EXPECT_EQ(render_event_line({Kind::PrefixLost, "dorm", "", "2001:db8::/60", "expired", {}}),
            "dorm: prefix 2001:db8::/60 lost: expired");
  EXPECT_EQ(render_event_line({Kind::TunnelAdded, "lab", "", "configuring", "", {}}),
            "lab: added (state configuring)");
  EXPECT_EQ(render_event_line({Kind::TunnelRemoved, "lab", "", "", "", {}}), "lab: removed");
  EXPECT_EQ(render_event_line({Kind::DaemonGone, "", "", "", "", {}}),
            "l2wgd went away (nothing provides net.l2wg1 any more)");
  EXPECT_EQ(event_to_json({Kind::PrefixLost, "dorm", "", "2001:db8::/60", "expired", {}}, 1).dump(),
            R"({"Event":"prefix-lost","Prefix":"2001:db8::/60","Reason":"expired","Time":1,)"
            R"("Tunnel":"dorm"})");
  EXPECT_EQ(event_to_json({Kind::DaemonGone, "", "", "", "", {}}, 1).dump(),
            R"({"Event":"daemon-gone","Time":1})");
}

// --- doctor ---

TunnelInfo healthy_lab() {
  return parse_describe(kLabJson);
}

std::vector<std::string> codes(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) out.push_back(f.code);
  return out;
}

TEST(CliDoctor, HealthyTunnelHasNoFindings) {
  EXPECT_TRUE(diagnose(healthy_lab(), kNow).empty());
  const std::vector<TunnelDiagnosis> diagnoses{{healthy_lab(), {}}};
  EXPECT_FALSE(has_error(diagnoses));
  EXPECT_EQ(render_diagnoses(diagnoses), "lab: up, nothing wrong\n");
}

TEST(CliDoctor, MissingWireGuardInterface) {
  TunnelInfo t = healthy_lab();
  t.state = "waiting-for-peer";
  t.state_reason = "The WireGuard interface wg0 does not exist.";
  t.last_handshake_us = 0;
  t.peer_endpoint = "";
  const auto findings = diagnose(t, kNow);
  ASSERT_EQ(codes(findings), std::vector<std::string>{"wireguard-missing"});
  EXPECT_EQ(findings[0].severity, Severity::Error);
  EXPECT_NE(findings[0].fix.find("ip link add wg0 type wireguard"), std::string::npos);
}

TEST(CliDoctor, NeverHandshakeAndNoEndpoint) {
  TunnelInfo t = healthy_lab();
  t.state = "waiting-for-peer";
  t.state_reason = "No handshake with the peer yet.";
  t.last_handshake_us = 0;
  t.peer_endpoint = "";
  const auto findings = diagnose(t, kNow);
  EXPECT_EQ(codes(findings), (std::vector<std::string>{"no-endpoint", "no-handshake"}));
  EXPECT_NE(findings[1].diagnosis.find("0 = never"), std::string::npos);
  EXPECT_NE(findings[1].fix.find("PersistentKeepalive"), std::string::npos);
  EXPECT_NE(findings[1].fix.find("NAT"), std::string::npos);
  EXPECT_NE(findings[0].fix.find("endpoint HOST:PORT"), std::string::npos);
}

TEST(CliDoctor, StaleHandshake) {
  TunnelInfo t = healthy_lab();
  t.last_handshake_us = kNow - 181 * kSecond;
  const auto findings = diagnose(t, kNow);
  ASSERT_EQ(codes(findings), std::vector<std::string>{"no-handshake"});
  EXPECT_NE(findings[0].diagnosis.find("3 min 1 s"), std::string::npos) << findings[0].diagnosis;
  t.last_handshake_us = kNow - 180 * kSecond;
  EXPECT_TRUE(diagnose(t, kNow).empty());
}

TEST(CliDoctor, Ipv6InnerAddressesWithKernelDatapath) {
  TunnelInfo t = healthy_lab();
  t.local_address = "fd00::10";
  t.remote_address = "fd00::2";
  t.mtu = 1362;
  const auto findings = diagnose(t, kNow);
  ASSERT_EQ(codes(findings), std::vector<std::string>{"ipv6-kernel-mtu"});
  EXPECT_EQ(findings[0].severity, Severity::Warning);
  EXPECT_NE(findings[0].diagnosis.find("1362"), std::string::npos);
  EXPECT_NE(findings[0].fix.find("IPv4 inner addresses"), std::string::npos);
}

TEST(CliDoctor, UserspaceDatapathIsExplained) {
  TunnelInfo t = healthy_lab();
  t.datapath = "userspace";
  auto findings = diagnose(t, kNow);
  ASSERT_EQ(codes(findings), std::vector<std::string>{"userspace-datapath"});
  EXPECT_EQ(findings[0].severity, Severity::Info);
  EXPECT_NE(findings[0].diagnosis.find("lacks gretap"), std::string::npos);
  t.remote_address = "fd00::2";
  findings = diagnose(t, kNow);
  ASSERT_EQ(codes(findings), std::vector<std::string>{"userspace-datapath"});
  EXPECT_NE(findings[0].diagnosis.find("IPv6"), std::string::npos);
  // Info alone is not "wrong".
  EXPECT_FALSE(has_error({{t, findings}}));
}

TEST(CliDoctor, FailedAndDegradedCarryTheReason) {
  TunnelInfo t = healthy_lab();
  t.state = "failed";
  t.state_reason = "The kernel refused the gretap link: Operation not supported.";
  auto findings = diagnose(t, kNow);
  ASSERT_EQ(codes(findings), std::vector<std::string>{"failed"});
  EXPECT_NE(findings[0].diagnosis.find("Operation not supported"), std::string::npos);
  t.state = "degraded";
  findings = diagnose(t, kNow);
  ASSERT_EQ(codes(findings), std::vector<std::string>{"degraded"});
  EXPECT_TRUE(has_error({{t, findings}}));
}

TEST(CliDoctor, SourceAddressDrift) {
  TunnelInfo t = healthy_lab();
  t.endpoint_history = {{"198.51.100.7:51820", 1}, {"198.51.100.7:51820", 2}};
  EXPECT_TRUE(diagnose(t, kNow).empty());
  t.endpoint_history.push_back({"203.0.113.9:51820", 3});
  const auto findings = diagnose(t, kNow);
  ASSERT_EQ(codes(findings), std::vector<std::string>{"source-address-drift"});
  EXPECT_NE(findings[0].diagnosis.find("198.51.100.7:51820 -> 203.0.113.9:51820"),
            std::string::npos);
  EXPECT_NE(findings[0].fix.find("policy rule"), std::string::npos);
}

TEST(CliDoctor, RoutedWithoutPrefixOrRouter) {
  TunnelInfo t = parse_describe(kDormJson);
  t.state = "up";
  t.state_reason = "";
  t.datapath = "kernel";
  EXPECT_TRUE(diagnose(t, kNow).empty());
  t.delegated_prefixes.clear();
  t.upstream_router.clear();
  const auto findings = diagnose(t, kNow);
  EXPECT_EQ(codes(findings), (std::vector<std::string>{"no-prefix", "no-upstream-router"}));
  EXPECT_NE(findings[0].fix.find("l2wg renew dorm"), std::string::npos);
}

TEST(CliDoctor, RenderAndJson) {
  TunnelInfo t = healthy_lab();
  t.last_handshake_us = 0;
  const std::vector<TunnelDiagnosis> diagnoses{{t, diagnose(t, kNow)}};
  EXPECT_TRUE(has_error(diagnoses));
  const std::string text = render_diagnoses(diagnoses);
  EXPECT_EQ(text.rfind("lab: up\n  error: wg0 has never completed a handshake", 0), 0u) << text;
  EXPECT_NE(text.find("\n    fix: check the peer's Endpoint (198.51.100.7:51820)"),
            std::string::npos);
  const auto j = diagnoses_to_json(diagnoses);
  EXPECT_EQ(j["OK"], false);
  EXPECT_EQ(j["Tunnels"][0]["Name"], "lab");
  EXPECT_EQ(j["Tunnels"][0]["Findings"][0]["Code"], "no-handshake");
  EXPECT_EQ(j["Tunnels"][0]["Findings"][0]["Severity"], "error");
  EXPECT_EQ(render_diagnoses({}), "No tunnels.\n");
}

// --- exit status of D-Bus errors ---

TEST(CliBusErrors, ExitStatusOfErrorNames) {
  for (const char* name :
       {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Disconnected",
        "org.freedesktop.DBus.Error.NoServer", "org.freedesktop.DBus.Error.Spawn.ChildExited",
        "System.Error.ECONNREFUSED", "System.Error.ENOENT"})
    EXPECT_EQ(exit_status_for_error(name), kExitUnreachable) << name;
  for (const char* name :
       {"org.freedesktop.DBus.Error.InvalidArgs", "net.l2wg1.Error.NotFound",
        "net.l2wg1.Error.Exists", "net.l2wg1.Error.Kernel", "net.l2wg1.Error.NotSupported",
        "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.UnknownObject"})
    EXPECT_EQ(exit_status_for_error(name), kExitDaemonError) << name;
}

TEST(CliBusErrors, BeingDeniedIsSaidPlainly) {
  const std::string denied = "permission denied: changing tunnels needs root or group l2wg";
  // The bus policy's answer, and l2wgd's own.
  EXPECT_EQ(refusal_message("org.freedesktop.DBus.Error.AccessDenied",
                            "Rejected send message, 2 matched rules; type=\"method_call\", "
                            "sender=\":1.9\" (uid=65534 pid=77 comm=\"l2wg down pol\")"),
            denied);
  EXPECT_EQ(refusal_message("org.freedesktop.DBus.Error.AccessDenied",
                            "only root and members of group l2wg may change tunnels"),
            denied);
  EXPECT_EQ(refusal_message("net.l2wg1.Error.NotFound", "no tunnel named x"), "no tunnel named x");
  EXPECT_EQ(refusal_message("net.l2wg1.Error.Kernel", ""), "net.l2wg1.Error.Kernel");
}

TEST(CliBusErrors, PlainSentences) {
  EXPECT_EQ(unreachable_message("org.freedesktop.DBus.Error.ServiceUnknown",
                                kDefaultSystemBusAddress, "The name is not activatable"),
            "cannot reach l2wgd: nothing provides net.l2wg1 on the system bus (is l2wgd "
            "running?)");
  EXPECT_EQ(unreachable_message("org.freedesktop.DBus.Error.NoReply", kDefaultSystemBusAddress,
                                "timeout"),
            "cannot reach l2wgd: net.l2wg1 on the system bus did not answer (is l2wgd stuck?)");
  EXPECT_EQ(unreachable_message("System.Error.ECONNRESET", "unix:path=/x", "Connection reset"),
            "cannot reach l2wgd: cannot connect to the system bus at unix:path=/x (Connection "
            "reset)");
}

}  // namespace
}  // namespace l2wg::cli
