#include "l2wg/daemon/config.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "l2wg/error.h"
#include "l2wg/file.h"

namespace l2wg::config {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kPeerKey = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

// The example of /work/shared/spec/interface.md, verbatim: its trailing "# ..." text documents
// the keys and is not valid in a real file.
constexpr const char* kContractExample = R"(
[Tunnel]
WireGuard=wg0          # required: an existing WireGuard interface (kernel or userspace)
Peer=10.0.31.2         # required: the peer's inner address on that interface, or its base64 public key
Local=10.0.31.10       # optional: default is the interface's own address of the same family
Interface=l2-NAME      # optional tap name (default l2-NAME)
Key=42                 # optional GRE key (32-bit)
MTU=auto               # auto (default): the tap keeps MTU 1500 and oversized encapsulated packets
                       #   are fragmented inside the WireGuard tunnel; or a number: that MTU, no fragmentation
Datapath=auto          # auto | kernel | userspace  (auto: kernel gretap/ip6gretap, userspace if the kernel lacks it)
MACAddress=            # optional; default is derived from the peer's public key, so it is stable across restarts

[Bridge]               # bridge mode (typically the lab side)
Bridge=br-wan          # enslave the tap into this bridge
CreateBridge=no        # create the bridge if it does not exist (and remove it on down only if created)
Isolated=no            # set the bridge port isolated

[PrefixDelegation]     # routed mode (typically the dorm side)
PrefixLength=60        # length hint sent to the server; 0 = no hint
LAN=br-lan             # repeatable: each LAN interface gets its own /64 out of the delegated prefix
SubnetId=br-lan:1      # optional, repeatable: a stable subnet id per LAN (default: stable, by order)
SourceRouting=yes      # traffic sourced from the delegated prefix leaves through the tap
RapidCommit=no
DNS=                   # optional, repeatable: RDNSS to announce instead of the servers learned by DHCPv6
)";

// The same example with the documentation removed, split in its three parts.
constexpr const char* kExampleTunnel = R"([Tunnel]
WireGuard=wg0
Peer=10.0.31.2
Local=10.0.31.10
Interface=l2-NAME
Key=42
MTU=auto
Datapath=auto
MACAddress=
)";
constexpr const char* kExampleBridge = R"(
[Bridge]
Bridge=br-wan
CreateBridge=no
Isolated=no
)";
constexpr const char* kExamplePrefixDelegation = R"(
[PrefixDelegation]
PrefixLength=60
LAN=br-lan
SubnetId=br-lan:1
SourceRouting=yes
RapidCommit=no
DNS=
)";

constexpr const char* kMinimal = "[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.2\n";

IpAddress ip(const char* text) {
  return *IpAddress::parse(text);
}

struct Failure {
  int line = -1;
  std::string key;
  std::string message;
};

// The ConfigError parse_tunnel throws for `text` (a test failure if it does not throw).
Failure parse_failure(const std::string& text, const std::string& file = "lab.conf") {
  try {
    parse_tunnel(text, file);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(e.file(), file);
    return {e.line(), e.key(), e.what()};
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return {};
}

// The message of the failure of a minimal tunnel with `extra` lines appended (from line 4 on).
std::string minimal_with(const std::string& extra) {
  return parse_failure(std::string(kMinimal) + extra).message;
}

std::string settings_failure(const std::map<std::string, SettingValue>& settings,
                             const std::string& name = "lab") {
  try {
    tunnel_from_settings(name, settings);
  } catch (const ConfigError& e) {
    ADD_FAILURE() << "settings errors carry no file: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

// ---------------------------------------------------------------------------------------------
// The contract's example.

TEST(ConfigParse, ContractExampleBridgeMode) {
  const Tunnel tunnel = parse_tunnel(std::string(kExampleTunnel) + kExampleBridge, "lab.conf");
  EXPECT_EQ(tunnel.name, "lab");
  EXPECT_EQ(tunnel.spec.wireguard, "wg0");
  EXPECT_EQ(tunnel.spec.peer, "10.0.31.2");
  EXPECT_EQ(tunnel.spec.local, ip("10.0.31.10"));
  EXPECT_EQ(tunnel.spec.tap_name, "l2-NAME");
  EXPECT_EQ(tunnel.spec.key, 42u);
  EXPECT_EQ(tunnel.spec.mtu, gre::MtuPolicy{});
  EXPECT_EQ(tunnel.spec.datapath, gre::DatapathChoice::Auto);
  EXPECT_EQ(tunnel.spec.mac, std::nullopt);
  EXPECT_EQ(tunnel.spec.bridge, (BridgeSpec{"br-wan", false, false}));
  EXPECT_EQ(tunnel.prefix_delegation, std::nullopt);
}

TEST(ConfigParse, ContractExampleRoutedMode) {
  const Tunnel tunnel =
      parse_tunnel(std::string(kExampleTunnel) + kExamplePrefixDelegation, "dorm.conf");
  EXPECT_EQ(tunnel.name, "dorm");
  EXPECT_EQ(tunnel.spec.bridge, std::nullopt);
  ASSERT_TRUE(tunnel.prefix_delegation);
  PrefixDelegation expected;
  expected.prefix_length = 60;
  expected.lans = {"br-lan"};
  expected.subnet_ids = {{"br-lan", 1}};
  expected.source_routing = true;
  expected.rapid_commit = false;
  EXPECT_EQ(*tunnel.prefix_delegation, expected);
}

TEST(ConfigParse, ContractExampleWithBothModesIsRejected) {
  const Failure failure =
      parse_failure(std::string(kExampleTunnel) + kExampleBridge + kExamplePrefixDelegation);
  EXPECT_EQ(failure.line, 16);
  EXPECT_EQ(failure.key, "[PrefixDelegation]");
  EXPECT_EQ(failure.message,
            "lab.conf:16: [Bridge] (line 11) and [PrefixDelegation] (line 16) are mutually "
            "exclusive: a tunnel is either bridged or routed");
}

TEST(ConfigParse, ContractExampleWithInlineCommentsHintsThatCommentsNeedTheirOwnLine) {
  const Failure failure = parse_failure(kContractExample);
  EXPECT_EQ(failure.line, 3);
  EXPECT_EQ(failure.key, "WireGuard");
  EXPECT_EQ(failure.message,
            "lab.conf:3: WireGuard=wg0          # required: an existing WireGuard interface "
            "(kernel or userspace): not an interface name (1-15 characters, no '/', ':' or "
            "whitespace) (comments must be on their own line)");
}

TEST(ConfigParse, InlineCommentAfterASectionHeaderHints) {
  const Failure failure = parse_failure("[Tunnel]   # the tunnel\n");
  EXPECT_EQ(failure.line, 1);
  EXPECT_EQ(failure.message,
            "lab.conf:1: \"[Tunnel]   # the tunnel\" is not a [Section] header (comments must be "
            "on their own line)");
}

// ---------------------------------------------------------------------------------------------
// Syntax.

TEST(ConfigParse, MinimalFileGetsEveryDefault) {
  const Tunnel tunnel = parse_tunnel(kMinimal, "lab.conf");
  Tunnel expected;
  expected.name = "lab";
  expected.spec.wireguard = "wg0";
  expected.spec.peer = "10.0.31.2";
  expected.spec.tap_name = "l2-lab";
  EXPECT_EQ(tunnel, expected);
}

TEST(ConfigParse, CommentsBlankLinesAndWhitespaceAreIgnored) {
  const Tunnel tunnel = parse_tunnel(
      "# a comment\n"
      "; another comment\n"
      "\n"
      "   \t\n"
      "  [Tunnel]  \n"
      "   # indented comment\n"
      "  WireGuard =  wg0  \n"
      "\tPeer\t=\t10.0.31.2\t\n",
      "lab.conf");
  EXPECT_EQ(tunnel.spec.wireguard, "wg0");
  EXPECT_EQ(tunnel.spec.peer, "10.0.31.2");
}

TEST(ConfigParse, CrlfLineEndingsAreAccepted) {
  const Tunnel tunnel = parse_tunnel(
      "[Tunnel]\r\nWireGuard=wg0\r\nPeer=10.0.31.2\r\nKey=7\r\n\r\n[Bridge]\r\nBridge=br0\r\n",
      "lab.conf");
  EXPECT_EQ(tunnel.spec.wireguard, "wg0");
  EXPECT_EQ(tunnel.spec.key, 7u);
  ASSERT_TRUE(tunnel.spec.bridge);
  EXPECT_EQ(tunnel.spec.bridge->name, "br0");
}

TEST(ConfigParse, LastLineNeedsNoNewline) {
  EXPECT_EQ(parse_tunnel("[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.2", "lab.conf").spec.peer,
            "10.0.31.2");
}

TEST(ConfigParse, ASectionMayAppearTwice) {
  const Tunnel tunnel = parse_tunnel(
      "[Tunnel]\nWireGuard=wg0\n[PrefixDelegation]\nLAN=br-a\n[Tunnel]\nPeer=10.0.31.2\n"
      "[PrefixDelegation]\nLAN=br-b\n",
      "lab.conf");
  EXPECT_EQ(tunnel.spec.peer, "10.0.31.2");
  ASSERT_TRUE(tunnel.prefix_delegation);
  EXPECT_THAT(tunnel.prefix_delegation->lans, ElementsAre("br-a", "br-b"));
}

TEST(ConfigParse, FileNameGivesTheTunnelName) {
  EXPECT_EQ(parse_tunnel(kMinimal, "a_b-C9.conf").name, "a_b-C9");
  EXPECT_EQ(parse_tunnel(kMinimal, "/etc/l2wg/lab.conf").name, "lab");
  EXPECT_EQ(parse_tunnel(kMinimal, "twelve_chars.conf").spec.tap_name, "l2-twelve_chars");
}

TEST(ConfigParse, BadFileNamesAreReportedOnLineZeroWithTheRule) {
  for (const std::string file : {"thirteen_char.conf", "a.b.conf", "sp ace.conf", ".conf"}) {
    const Failure failure = parse_failure(kMinimal, file);
    EXPECT_EQ(failure.line, 0) << file;
    EXPECT_THAT(failure.message, StartsWith(file + ":0: bad tunnel name")) << file;
    EXPECT_THAT(failure.message, HasSubstr("1-12 characters of A-Z, a-z, 0-9, '_' and '-'"));
  }
}

TEST(ConfigParse, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(parse_failure("[Tunnel]\nWireGuard=wg0\njust some words\n").message,
            "lab.conf:3: \"just some words\": expected Key=Value, a [Section] header or a comment "
            "starting with #");
  EXPECT_EQ(parse_failure("[Tunnel]\n=wg0\n").message, "lab.conf:2: \"=wg0\": no key before =");
  EXPECT_EQ(parse_failure("[Tunnel\n").message,
            "lab.conf:1: \"[Tunnel\" is not a [Section] header");
}

TEST(ConfigParse, UnknownSection) {
  const Failure failure = parse_failure("[Tunnel]\nWireGuard=wg0\n[Network]\n");
  EXPECT_EQ(failure.line, 3);
  EXPECT_EQ(failure.key, "[Network]");
  EXPECT_EQ(failure.message,
            "lab.conf:3: unknown section [Network] (known: [Tunnel], [Bridge], "
            "[PrefixDelegation])");
  // Section names are case-sensitive, as in systemd.
  EXPECT_EQ(parse_failure("[tunnel]\n").line, 1);
}

TEST(ConfigParse, UnknownKeyListsTheSectionsKeys) {
  const Failure failure = parse_failure("[Tunnel]\nWireguard=wg0\n");
  EXPECT_EQ(failure.line, 2);
  EXPECT_EQ(failure.key, "Wireguard");
  EXPECT_EQ(failure.message,
            "lab.conf:2: unknown key Wireguard= in [Tunnel] (known: WireGuard, Peer, Local, "
            "Interface, Key, MTU, Datapath, MACAddress)");
  EXPECT_EQ(parse_failure("[Bridge]\nBridges=br0\n").message,
            "lab.conf:2: unknown key Bridges= in [Bridge] (known: Bridge, CreateBridge, "
            "Isolated)");
}

TEST(ConfigParse, KeyBeforeAnySection) {
  const Failure failure = parse_failure("# header\nWireGuard=wg0\n[Tunnel]\n");
  EXPECT_EQ(failure.line, 2);
  EXPECT_EQ(failure.key, "WireGuard");
  EXPECT_EQ(failure.message,
            "lab.conf:2: WireGuard= comes before any section header; it belongs in [Tunnel]");
}

TEST(ConfigParse, KeyInTheWrongSection) {
  const Failure failure = parse_failure("[Tunnel]\nWireGuard=wg0\nBridge=br0\n");
  EXPECT_EQ(failure.line, 3);
  EXPECT_EQ(failure.key, "Bridge");
  EXPECT_EQ(failure.message, "lab.conf:3: Bridge= belongs in [Bridge], not in [Tunnel]");
  EXPECT_EQ(minimal_with("[Bridge]\nLAN=br-lan\n"),
            "lab.conf:5: LAN= belongs in [PrefixDelegation], not in [Bridge]");
}

TEST(ConfigParse, NonRepeatableKeyTwiceNamesBothLines) {
  const Failure failure =
      parse_failure("[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.2\n\nPeer=10.0.31.3\n");
  EXPECT_EQ(failure.line, 5);
  EXPECT_EQ(failure.key, "Peer");
  EXPECT_EQ(failure.message, "lab.conf:5: Peer= given twice (lines 3 and 5)");
  // Even across repeated sections, and even when one of them is empty.
  EXPECT_EQ(minimal_with("MTU=\n[Bridge]\nBridge=br0\n[Tunnel]\nMTU=1400\n"),
            "lab.conf:8: MTU= given twice (lines 4 and 8)");
  for (const char* key : {"Local=10.0.0.1", "Interface=x", "Key=1", "MTU=1400", "Datapath=auto",
                          "MACAddress=02:00:00:00:00:01"}) {
    EXPECT_THAT(minimal_with(std::string(key) + "\n" + key + "\n"), HasSubstr("given twice"))
        << key;
  }
  EXPECT_EQ(minimal_with("[Bridge]\nBridge=br0\nIsolated=yes\nIsolated=no\n"),
            "lab.conf:7: Isolated= given twice (lines 6 and 7)");
  EXPECT_EQ(minimal_with("[PrefixDelegation]\nLAN=a\nRapidCommit=yes\nRapidCommit=yes\n"),
            "lab.conf:7: RapidCommit= given twice (lines 6 and 7)");
}

TEST(ConfigParse, MissingTunnelSectionOrRequiredKeys) {
  Failure failure = parse_failure("");
  EXPECT_EQ(failure.line, 0);
  EXPECT_EQ(failure.message,
            "lab.conf:0: no [Tunnel] section: a tunnel needs at least WireGuard= and Peer=");
  EXPECT_EQ(parse_failure("[Bridge]\nBridge=br0\n").line, 0);

  failure = parse_failure("# x\n[Tunnel]\nPeer=10.0.31.2\n");
  EXPECT_EQ(failure.line, 2);  // the section that lacks it
  EXPECT_EQ(failure.key, "WireGuard");
  EXPECT_EQ(failure.message,
            "lab.conf:2: WireGuard= is required: the WireGuard interface the tunnel runs over");

  failure = parse_failure("[Tunnel]\nWireGuard=wg0\n");
  EXPECT_EQ(failure.line, 1);
  EXPECT_EQ(failure.key, "Peer");
  EXPECT_EQ(failure.message,
            "lab.conf:1: Peer= is required: the peer's inner address on wg0, or its base64 "
            "public key");

  // An empty value of a required key is the key's own line.
  failure = parse_failure("[Tunnel]\nWireGuard=\nPeer=10.0.31.2\n");
  EXPECT_EQ(failure.line, 2);
  EXPECT_EQ(failure.key, "WireGuard");
}

// ---------------------------------------------------------------------------------------------
// Every key: good and bad values.

TEST(ConfigKeys, WireGuardAndInterfaceAreInterfaceNames) {
  EXPECT_EQ(parse_tunnel("[Tunnel]\nWireGuard=wg-fifteen-char\nPeer=10.0.0.2\n", "lab.conf")
                .spec.wireguard,
            "wg-fifteen-char");
  EXPECT_EQ(parse_tunnel(std::string(kMinimal) + "Interface=tap7\n", "lab.conf").spec.tap_name,
            "tap7");
  EXPECT_EQ(parse_failure("[Tunnel]\nWireGuard=wg-sixteen-chars\n").message,
            "lab.conf:2: WireGuard=wg-sixteen-chars: not an interface name (1-15 characters, no "
            "'/', ':' or whitespace)");
  for (const char* bad : {"a/b", "a:b", "a b", ".", ".."}) {
    const Failure failure = parse_failure(std::string(kMinimal) + "Interface=" + bad + "\n");
    EXPECT_EQ(failure.line, 4) << bad;
    EXPECT_EQ(failure.key, "Interface");
    EXPECT_THAT(failure.message, HasSubstr("not an interface name")) << bad;
  }
  EXPECT_EQ(parse_failure("[Tunnel]\nWireGuard=wg0\nPeer=10.0.0.2\nInterface=wg0\n").message,
            "lab.conf:4: Interface=wg0: that is the WireGuard interface; the tap needs a name of "
            "its own");
  // The default tap name can clash too: then WireGuard= is the line to change.
  EXPECT_EQ(parse_failure("[Tunnel]\nPeer=10.0.0.2\nWireGuard=l2-lab\n").message,
            "lab.conf:3: Interface=l2-lab: that is the WireGuard interface; the tap needs a name "
            "of its own");
}

TEST(ConfigKeys, PeerIsAnAddressOrAPublicKey) {
  EXPECT_EQ(parse_tunnel("[Tunnel]\nWireGuard=wg0\nPeer=2001:DB8:0::2\n", "lab.conf").spec.peer,
            "2001:db8::2");  // canonical text
  EXPECT_EQ(
      parse_tunnel(std::string("[Tunnel]\nWireGuard=wg0\nPeer=") + kPeerKey + "\n", "lab.conf")
          .spec.peer,
      kPeerKey);
  const std::string accepted =
      "neither an IP address nor a base64 WireGuard public key (44 characters ending in '=')";
  EXPECT_EQ(parse_failure("[Tunnel]\nWireGuard=wg0\nPeer=10.0.31\n").message,
            "lab.conf:3: Peer=10.0.31: " + accepted);
  // 43 characters, and a key with non-zero padding bits.
  EXPECT_EQ(
      parse_failure("[Tunnel]\nWireGuard=wg0\nPeer=xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8D=\n")
          .line,
      3);
  EXPECT_EQ(
      parse_failure("[Tunnel]\nWireGuard=wg0\nPeer=xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dh=\n")
          .line,
      3);
}

TEST(ConfigKeys, LocalIsAnAddressOfThePeersFamily) {
  EXPECT_EQ(parse_tunnel(std::string(kMinimal) + "Local=10.0.31.10\n", "lab.conf").spec.local,
            ip("10.0.31.10"));
  EXPECT_EQ(minimal_with("Local=10.0.31.300\n"),
            "lab.conf:4: Local=10.0.31.300: not an IP address");
  EXPECT_EQ(minimal_with("Local=2001:db8::1\n"),
            "lab.conf:4: Local=2001:db8::1: an IPv6 address, but Peer=10.0.31.2 is IPv4; both "
            "ends of the tunnel must be the same family");
  // With a key as Peer the family is only known from WireGuard at setup time.
  const Tunnel tunnel = parse_tunnel(
      std::string("[Tunnel]\nWireGuard=wg0\nPeer=") + kPeerKey + "\nLocal=2001:db8::1\n",
      "lab.conf");
  EXPECT_EQ(tunnel.spec.local, ip("2001:db8::1"));
}

TEST(ConfigKeys, KeyIsA32BitNumber) {
  EXPECT_EQ(parse_tunnel(std::string(kMinimal) + "Key=0\n", "lab.conf").spec.key, 0u);
  EXPECT_EQ(parse_tunnel(std::string(kMinimal) + "Key=4294967295\n", "lab.conf").spec.key,
            4294967295u);
  EXPECT_EQ(minimal_with("Key=abc\n"), "lab.conf:4: Key=abc: not a number (0..4294967295)");
  for (const char* bad : {"-1", "+1", "0x10", "1 2"}) {
    const Failure failure = parse_failure(std::string(kMinimal) + "\nKey=" + bad + "\n");
    EXPECT_EQ(failure.line, 5) << bad;
    EXPECT_EQ(failure.key, "Key") << bad;
    EXPECT_EQ(failure.message,
              std::string("lab.conf:5: Key=") + bad + ": not a number (0..4294967295)");
  }
  for (const char* big : {"4294967296", "99999999999999999999999"})
    EXPECT_EQ(minimal_with(std::string("Key=") + big + "\n"),
              std::string("lab.conf:4: Key=") + big + ": out of range (0..4294967295)");
  EXPECT_EQ(minimal_with("Key=42   # the GRE key\n"),
            "lab.conf:4: Key=42   # the GRE key: not a number (0..4294967295) (comments must be on "
            "their own line)");
}

TEST(ConfigKeys, MtuIsAutoOrANumber) {
  EXPECT_EQ(parse_tunnel(std::string(kMinimal) + "MTU=auto\n", "lab.conf").spec.mtu.fixed,
            std::nullopt);
  EXPECT_EQ(parse_tunnel(std::string(kMinimal) + "MTU=1280\n", "lab.conf").spec.mtu.fixed, 1280u);
  EXPECT_EQ(parse_tunnel(std::string(kMinimal) + "MTU=65535\n", "lab.conf").spec.mtu.fixed, 65535u);
  for (const char* bad : {"Auto", "big", "1500b"}) {
    EXPECT_EQ(
        minimal_with(std::string("MTU=") + bad + "\n"),
        std::string("lab.conf:4: MTU=") + bad + ": not an MTU (auto, or a number 1280..65535)");
  }
  for (const char* outside : {"1279", "65536"})
    EXPECT_EQ(minimal_with(std::string("MTU=") + outside + "\n"),
              std::string("lab.conf:4: MTU=") + outside + ": out of range (1280..65535)");
}

TEST(ConfigKeys, DatapathIsAutoKernelOrUserspace) {
  const auto datapath = [](const char* value) {
    return parse_tunnel(std::string(kMinimal) + "Datapath=" + value + "\n", "lab.conf")
        .spec.datapath;
  };
  EXPECT_EQ(datapath("auto"), gre::DatapathChoice::Auto);
  EXPECT_EQ(datapath("kernel"), gre::DatapathChoice::Kernel);
  EXPECT_EQ(datapath("userspace"), gre::DatapathChoice::Userspace);
  EXPECT_EQ(minimal_with("Datapath=dpdk\n"),
            "lab.conf:4: Datapath=dpdk: not a datapath (auto, kernel or userspace)");
}

TEST(ConfigKeys, MacAddressIsAUnicastMac) {
  EXPECT_EQ(
      parse_tunnel(std::string(kMinimal) + "MACAddress=02:00:5E:10:00:01\n", "lab.conf").spec.mac,
      MacAddress::parse("02:00:5e:10:00:01"));
  EXPECT_EQ(minimal_with("MACAddress=02:00:5e:10:00\n"),
            "lab.conf:4: MACAddress=02:00:5e:10:00: not a MAC address (six hex pairs like "
            "02:00:5e:10:00:01)");
  EXPECT_EQ(minimal_with("MACAddress=01:00:5e:00:00:01\n"),
            "lab.conf:4: MACAddress=01:00:5e:00:00:01: a multicast address cannot be the tap's "
            "own (the first byte must be even)");
  EXPECT_EQ(minimal_with("MACAddress=ff:ff:ff:ff:ff:ff\n"),
            "lab.conf:4: MACAddress=ff:ff:ff:ff:ff:ff: a multicast address cannot be the tap's "
            "own (the first byte must be even)");
  EXPECT_EQ(minimal_with("MACAddress=00:00:00:00:00:00\n"),
            "lab.conf:4: MACAddress=00:00:00:00:00:00: the all-zero address cannot be the tap's "
            "own");
}

TEST(ConfigKeys, EmptyValueMeansTheDefault) {
  const Tunnel tunnel = parse_tunnel(
      std::string(kMinimal) + "Local=\nInterface=\nKey=\nMTU=\nDatapath=\nMACAddress=\n",
      "lab.conf");
  EXPECT_EQ(tunnel, parse_tunnel(kMinimal, "lab.conf"));
}

TEST(ConfigKeys, BridgeSection) {
  const Tunnel tunnel = parse_tunnel(
      std::string(kMinimal) + "[Bridge]\nBridge=br-wan\nCreateBridge=yes\nIsolated=on\n",
      "lab.conf");
  EXPECT_EQ(tunnel.spec.bridge, (BridgeSpec{"br-wan", true, true}));
  EXPECT_EQ(minimal_with("[Bridge]\nBridge=br wan\n"),
            "lab.conf:5: Bridge=br wan: not an interface name (1-15 characters, no '/', ':' or "
            "whitespace)");
  EXPECT_EQ(minimal_with("[Bridge]\nCreateBridge=maybe\n"),
            "lab.conf:5: CreateBridge=maybe: not a boolean (yes/no, true/false, on/off, 1/0)");
  EXPECT_EQ(minimal_with("[Bridge]\nIsolated=2\n"),
            "lab.conf:5: Isolated=2: not a boolean (yes/no, true/false, on/off, 1/0)");
  // The section alone asks for bridge mode, which needs Bridge=.
  const Failure failure = parse_failure(std::string(kMinimal) + "\n[Bridge]\nIsolated=yes\n");
  EXPECT_EQ(failure.line, 5);
  EXPECT_EQ(failure.key, "Bridge");
  EXPECT_EQ(failure.message,
            "lab.conf:5: Bridge= is required in bridge mode: the bridge to plug the tap into");
  EXPECT_EQ(minimal_with("[Bridge]\nBridge=l2-lab\n"),
            "lab.conf:5: Bridge=l2-lab: that is the tunnel's own tap");
  EXPECT_EQ(minimal_with("[Bridge]\nBridge=wg0\n"),
            "lab.conf:5: Bridge=wg0: that is the WireGuard interface");
}

TEST(ConfigKeys, BooleansAcceptTheSystemdSpellings) {
  for (const char* yes : {"yes", "YES", "true", "True", "on", "1"}) {
    const Tunnel tunnel = parse_tunnel(
        std::string(kMinimal) + "[Bridge]\nBridge=br0\nIsolated=" + yes + "\n", "lab.conf");
    EXPECT_TRUE(tunnel.spec.bridge->isolated) << yes;
  }
  for (const char* no : {"no", "No", "false", "FALSE", "off", "0"}) {
    const Tunnel tunnel = parse_tunnel(
        std::string(kMinimal) + "[Bridge]\nBridge=br0\nIsolated=" + no + "\n", "lab.conf");
    EXPECT_FALSE(tunnel.spec.bridge->isolated) << no;
  }
}

TEST(ConfigKeys, PrefixDelegationSection) {
  const Tunnel tunnel = parse_tunnel(std::string(kMinimal) +
                                         "[PrefixDelegation]\n"
                                         "PrefixLength=56\n"
                                         "LAN=br-lan\n"
                                         "LAN=br-iot\n"
                                         "SubnetId=br-iot:7\n"
                                         "SubnetId=br-lan:0\n"
                                         "SourceRouting=no\n"
                                         "RapidCommit=yes\n"
                                         "DNS=2001:db8::53\n"
                                         "DNS=2001:db8::35\n",
                                     "dorm.conf");
  ASSERT_TRUE(tunnel.prefix_delegation);
  const PrefixDelegation& pd = *tunnel.prefix_delegation;
  EXPECT_EQ(pd.prefix_length, 56);
  EXPECT_THAT(pd.lans, ElementsAre("br-lan", "br-iot"));
  EXPECT_THAT(pd.subnet_ids, ElementsAre(std::pair<std::string, uint32_t>{"br-iot", 7},
                                         std::pair<std::string, uint32_t>{"br-lan", 0}));
  EXPECT_FALSE(pd.source_routing);
  EXPECT_TRUE(pd.rapid_commit);
  EXPECT_THAT(pd.dns, ElementsAre(ip("2001:db8::53"), ip("2001:db8::35")));
}

TEST(ConfigKeys, PrefixLengthIsZeroOrUpTo64) {
  const auto length = [](const char* value) {
    return parse_tunnel(
               std::string(kMinimal) + "[PrefixDelegation]\nLAN=a\nPrefixLength=" + value + "\n",
               "lab.conf")
        .prefix_delegation->prefix_length;
  };
  EXPECT_EQ(length("0"), 0);
  EXPECT_EQ(length("1"), 1);
  EXPECT_EQ(length("64"), 64);
  EXPECT_EQ(parse_tunnel(std::string(kMinimal) + "[PrefixDelegation]\nLAN=a\n", "lab.conf")
                .prefix_delegation->prefix_length,
            60);
  for (const char* bad : {"/60", "x"}) {
    EXPECT_EQ(minimal_with(std::string("[PrefixDelegation]\nLAN=a\nPrefixLength=") + bad + "\n"),
              std::string("lab.conf:6: PrefixLength=") + bad +
                  ": not a prefix length (0 = no hint, or 1..64)");
  }
  for (const char* outside : {"65", "128"})
    EXPECT_EQ(
        minimal_with(std::string("[PrefixDelegation]\nLAN=a\nPrefixLength=") + outside + "\n"),
        std::string("lab.conf:6: PrefixLength=") + outside + ": out of range (0..64)");
}

TEST(ConfigKeys, LanRules) {
  // At least one.
  Failure failure = parse_failure(std::string(kMinimal) + "[PrefixDelegation]\nRapidCommit=yes\n");
  EXPECT_EQ(failure.line, 4);
  EXPECT_EQ(failure.key, "LAN");
  EXPECT_EQ(failure.message,
            "lab.conf:4: LAN= is required for prefix delegation: at least one LAN interface to "
            "give a /64 to");
  // An empty LAN= clears the list, as in systemd.
  EXPECT_EQ(minimal_with("[PrefixDelegation]\nLAN=a\nLAN=\n"),
            "lab.conf:6: LAN= is required for prefix delegation: at least one LAN interface to "
            "give a /64 to");
  EXPECT_EQ(minimal_with("[PrefixDelegation]\nLAN=a/b\n"),
            "lab.conf:5: LAN=a/b: not an interface name (1-15 characters, no '/', ':' or "
            "whitespace)");
  failure = parse_failure(std::string(kMinimal) + "[PrefixDelegation]\nLAN=a\nLAN=b\nLAN=a\n");
  EXPECT_EQ(failure.line, 7);
  EXPECT_EQ(failure.message, "lab.conf:7: LAN=a given twice (lines 5 and 7)");
  EXPECT_EQ(minimal_with("[PrefixDelegation]\nLAN=l2-lab\n"),
            "lab.conf:5: LAN=l2-lab: that is the tunnel's own tap");
  EXPECT_EQ(minimal_with("[PrefixDelegation]\nLAN=wg0\n"),
            "lab.conf:5: LAN=wg0: that is the WireGuard interface");
}

TEST(ConfigKeys, SubnetIdRules) {
  const std::string head = std::string(kMinimal) + "[PrefixDelegation]\nLAN=a\nLAN=b\n";  // 4-6
  // The LAN may come after its SubnetId.
  const Tunnel tunnel =
      parse_tunnel(std::string(kMinimal) + "[PrefixDelegation]\nSubnetId=a:3\nLAN=a\n", "lab.conf");
  EXPECT_THAT(tunnel.prefix_delegation->subnet_ids,
              ElementsAre(std::pair<std::string, uint32_t>{"a", 3}));

  const std::string accepted =
      "not LAN:ID (one of the LAN= interfaces, a colon, a subnet number 0..4294967295)";
  for (const char* bad : {"a", "a:", ":1", "a:-1", "a:x", "a b:1"}) {
    EXPECT_EQ(parse_failure(head + "SubnetId=" + bad + "\n").message,
              std::string("lab.conf:7: SubnetId=") + bad + ": " + accepted)
        << bad;
  }
  EXPECT_EQ(parse_failure(head + "SubnetId=a:4294967296\n").message,
            "lab.conf:7: SubnetId=a:4294967296: out of range (0..4294967295)");
  EXPECT_EQ(parse_failure(head + "SubnetId=c:1\n").message,
            "lab.conf:7: SubnetId=c:1: c is not one of the LAN= interfaces (a, b)");
  EXPECT_EQ(parse_failure(head + "SubnetId=a:1\nSubnetId=b:1\n").message,
            "lab.conf:8: SubnetId=b:1: subnet id 1 is already a's (line 7)");
  EXPECT_EQ(parse_failure(head + "SubnetId=a:1\n\nSubnetId=a:2\n").message,
            "lab.conf:9: SubnetId=a:2: a already has subnet id 1 (line 7)");
  // A /60 holds 16 /64s.
  EXPECT_NO_THROW(parse_tunnel(head + "SubnetId=a:15\n", "lab.conf"));
  EXPECT_EQ(parse_failure(head + "SubnetId=a:16\n").message,
            "lab.conf:7: SubnetId=a:16: does not fit PrefixLength=60, which leaves subnet ids "
            "0..15");
  // Checked against the final PrefixLength, wherever it is.
  EXPECT_EQ(parse_failure(head + "SubnetId=a:1\nPrefixLength=64\n").message,
            "lab.conf:7: SubnetId=a:1: does not fit PrefixLength=64, which leaves subnet ids 0..0");
  EXPECT_NO_THROW(parse_tunnel(head + "SubnetId=a:4294967295\nPrefixLength=0\n", "lab.conf"));
  EXPECT_NO_THROW(parse_tunnel(head + "SubnetId=a:4294967295\nPrefixLength=32\n", "lab.conf"));
  EXPECT_THAT(parse_failure(head + "SubnetId=a:2147483648\nPrefixLength=33\n").message,
              HasSubstr("which leaves subnet ids 0..2147483647"));
}

TEST(ConfigKeys, DnsIsIpv6) {
  EXPECT_EQ(minimal_with("[PrefixDelegation]\nLAN=a\nDNS=192.0.2.53\n"),
            "lab.conf:6: DNS=192.0.2.53: not an IPv6 address");
  EXPECT_EQ(minimal_with("[PrefixDelegation]\nLAN=a\nDNS=2001:db8::g\n"),
            "lab.conf:6: DNS=2001:db8::g: not an IPv6 address");
  // An empty DNS= drops the ones before it.
  const Tunnel tunnel = parse_tunnel(
      std::string(kMinimal) + "[PrefixDelegation]\nLAN=a\nDNS=2001:db8::1\nDNS=\nDNS=2001:db8::2\n",
      "lab.conf");
  EXPECT_THAT(tunnel.prefix_delegation->dns, ElementsAre(ip("2001:db8::2")));
}

// ---------------------------------------------------------------------------------------------
// D-Bus settings.

TEST(ConfigSettings, FullRoutedTunnel) {
  const Tunnel tunnel =
      tunnel_from_settings("dorm", {{"WireGuard", std::string("wg0")},
                                    {"Peer", std::string("2001:db8:31::2")},
                                    {"Local", std::string("2001:db8:31::10")},
                                    {"Interface", std::string("tap-dorm")},
                                    {"Key", uint32_t{42}},
                                    {"MTU", std::string("1400")},
                                    {"Datapath", std::string("userspace")},
                                    {"MACAddress", std::string("02:00:5e:10:00:01")},
                                    {"PrefixLength", uint32_t{56}},
                                    {"LAN", std::vector<std::string>{"br-lan", "br-iot"}},
                                    {"SubnetId", std::vector<std::string>{"br-lan:1", "br-iot:2"}},
                                    {"SourceRouting", false},
                                    {"RapidCommit", true},
                                    {"DNS", std::vector<std::string>{"2001:db8::53"}}});
  const Tunnel from_file = parse_tunnel(
      "[Tunnel]\nWireGuard=wg0\nPeer=2001:db8:31::2\nLocal=2001:db8:31::10\nInterface=tap-dorm\n"
      "Key=42\nMTU=1400\nDatapath=userspace\nMACAddress=02:00:5e:10:00:01\n"
      "[PrefixDelegation]\nPrefixLength=56\nLAN=br-lan\nLAN=br-iot\nSubnetId=br-lan:1\n"
      "SubnetId=br-iot:2\nSourceRouting=no\nRapidCommit=yes\nDNS=2001:db8::53\n",
      "dorm.conf");
  EXPECT_EQ(tunnel, from_file);
}

TEST(ConfigSettings, BridgedTunnelAndMtuAsNumber) {
  const Tunnel tunnel = tunnel_from_settings("lab", {{"WireGuard", std::string("wg0")},
                                                     {"Peer", std::string(kPeerKey)},
                                                     {"MTU", uint32_t{1380}},
                                                     {"Bridge", std::string("br-wan")},
                                                     {"CreateBridge", true}});
  EXPECT_EQ(tunnel.spec.peer, kPeerKey);
  EXPECT_EQ(tunnel.spec.mtu.fixed, 1380u);
  EXPECT_EQ(tunnel.spec.tap_name, "l2-lab");
  EXPECT_EQ(tunnel.spec.bridge, (BridgeSpec{"br-wan", true, false}));
  EXPECT_EQ(tunnel_from_settings("lab", {{"WireGuard", std::string("wg0")},
                                         {"Peer", std::string("10.0.0.2")},
                                         {"MTU", std::string("auto")}})
                .spec.mtu.fixed,
            std::nullopt);
}

TEST(ConfigSettings, EmptySettingsLackWireGuardAndPeer) {
  EXPECT_EQ(settings_failure({}),
            "WireGuard= is required: the WireGuard interface the tunnel runs over");
  EXPECT_EQ(settings_failure({{"WireGuard", std::string("wg0")}}),
            "Peer= is required: the peer's inner address on wg0, or its base64 public key");
}

TEST(ConfigSettings, WrongTypesNameTheKeyAndBothTypes) {
  const std::map<std::string, SettingValue> base = {{"WireGuard", std::string("wg0")},
                                                    {"Peer", std::string("10.0.0.2")}};
  const auto with = [&base](const std::string& key, SettingValue value) {
    auto settings = base;
    settings[key] = std::move(value);
    return settings_failure(settings);
  };
  EXPECT_EQ(with("Key", std::string("42")), "Key: expected type u, got s");
  EXPECT_EQ(with("PrefixLength", true), "PrefixLength: expected type u, got b");
  EXPECT_EQ(with("MTU", true), "MTU: expected type s or u, got b");
  EXPECT_EQ(with("LAN", std::string("br-lan")), "LAN: expected type as, got s");
  EXPECT_EQ(with("DNS", std::string("2001:db8::1")), "DNS: expected type as, got s");
  EXPECT_EQ(with("SubnetId", uint32_t{1}), "SubnetId: expected type as, got u");
  EXPECT_EQ(with("CreateBridge", std::string("yes")), "CreateBridge: expected type b, got s");
  EXPECT_EQ(with("Isolated", uint32_t{1}), "Isolated: expected type b, got u");
  EXPECT_EQ(with("SourceRouting", std::vector<std::string>{}),
            "SourceRouting: expected type b, got as");
  EXPECT_EQ(with("RapidCommit", std::string("no")), "RapidCommit: expected type b, got s");
  EXPECT_EQ(with("Peer", uint32_t{2}), "Peer: expected type s, got u");
  EXPECT_EQ(with("Bridge", std::vector<std::string>{"br0"}), "Bridge: expected type s, got as");
}

TEST(ConfigSettings, BadValuesUseTheFileRulesWithoutAFile) {
  const std::map<std::string, SettingValue> base = {{"WireGuard", std::string("wg0")},
                                                    {"Peer", std::string("10.0.0.2")}};
  const auto with = [&base](const std::string& key, SettingValue value) {
    auto settings = base;
    settings[key] = std::move(value);
    return settings_failure(settings);
  };
  EXPECT_EQ(with("MTU", std::string("abc")), "MTU=abc: not an MTU (auto, or a number 1280..65535)");
  EXPECT_EQ(with("MTU", uint32_t{9}), "MTU=9: out of range (1280..65535)");
  EXPECT_EQ(with("PrefixLength", uint32_t{65}), "PrefixLength=65: out of range (0..64)");
  EXPECT_EQ(with("Local", std::string("2001:db8::1")),
            "Local=2001:db8::1: an IPv6 address, but Peer=10.0.0.2 is IPv4; both ends of the "
            "tunnel must be the same family");
  EXPECT_EQ(with("WireGuard", std::string("")),
            "WireGuard= is required: the WireGuard interface the tunnel runs over");
  // No "comments" hint outside files.
  EXPECT_EQ(with("Datapath", std::string("kernel # fast")),
            "Datapath=kernel # fast: not a datapath (auto, kernel or userspace)");
  EXPECT_EQ(with("LAN", std::vector<std::string>{"a", "a"}), "LAN=a given twice");
  EXPECT_EQ(with("LAN", std::vector<std::string>{}),
            "LAN= is required for prefix delegation: at least one LAN interface to give a /64 to");
  EXPECT_EQ(with("SubnetId", std::vector<std::string>{"x:1"}),
            "LAN= is required for prefix delegation: at least one LAN interface to give a /64 to");
  EXPECT_EQ(with("Isolated", true),
            "Bridge= is required in bridge mode: the bridge to plug the tap into");

  auto both = base;
  both["Bridge"] = std::string("br0");
  both["LAN"] = std::vector<std::string>{"br-lan"};
  EXPECT_EQ(settings_failure(both),
            "Bridge settings (Bridge, CreateBridge, Isolated) and prefix delegation settings "
            "(PrefixLength, LAN, SubnetId, SourceRouting, RapidCommit, DNS) are mutually "
            "exclusive: a tunnel is either bridged or routed");
}

TEST(ConfigSettings, UnknownKeyAndBadName) {
  EXPECT_EQ(settings_failure({{"Endpoint", std::string("x")}}),
            "unknown setting Endpoint (known: WireGuard, Peer, Local, Interface, Key, MTU, "
            "Datapath, MACAddress, Bridge, CreateBridge, Isolated, PrefixLength, LAN, SubnetId, "
            "SourceRouting, RapidCommit, DNS)");
  EXPECT_EQ(settings_failure({}, "bad/name"),
            "bad tunnel name \"bad/name\": a tunnel name is 1-12 characters of A-Z, a-z, 0-9, "
            "'_' and '-'");
  EXPECT_THAT(settings_failure({}, ""), StartsWith("bad tunnel name \"\""));
  EXPECT_THAT(settings_failure({}, "thirteenchars"), StartsWith("bad tunnel name"));
}

// ---------------------------------------------------------------------------------------------
// Rendering.

TEST(ConfigRender, PlainTapRendersOnlyWhatIsNotDefault) {
  const Tunnel tunnel = parse_tunnel(kMinimal, "lab.conf");
  EXPECT_EQ(render_tunnel(tunnel), "# Written by l2wgd\n[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.2\n");
  EXPECT_EQ(parse_tunnel(render_tunnel(tunnel), "lab.conf"), tunnel);
}

TEST(ConfigRender, BridgeModeRoundTrips) {
  const Tunnel tunnel =
      tunnel_from_settings("lab", {{"WireGuard", std::string("wg0")},
                                   {"Peer", std::string(kPeerKey)},
                                   {"Local", std::string("10.0.31.10")},
                                   {"Interface", std::string("gre-lab")},
                                   {"Key", uint32_t{0}},
                                   {"MTU", uint32_t{1400}},
                                   {"Datapath", std::string("kernel")},
                                   {"MACAddress", std::string("02:aa:bb:cc:dd:ee")},
                                   {"Bridge", std::string("br-wan")},
                                   {"CreateBridge", true},
                                   {"Isolated", true}});
  const std::string text = render_tunnel(tunnel);
  EXPECT_EQ(text,
            "# Written by l2wgd\n"
            "[Tunnel]\n"
            "WireGuard=wg0\n"
            "Peer=" +
                std::string(kPeerKey) +
                "\n"
                "Local=10.0.31.10\n"
                "Interface=gre-lab\n"
                "Key=0\n"
                "MTU=1400\n"
                "Datapath=kernel\n"
                "MACAddress=02:aa:bb:cc:dd:ee\n"
                "\n"
                "[Bridge]\n"
                "Bridge=br-wan\n"
                "CreateBridge=yes\n"
                "Isolated=yes\n");
  EXPECT_EQ(parse_tunnel(text, "lab.conf"), tunnel);
}

TEST(ConfigRender, RoutedModeWithDnsAndSubnetIdsRoundTrips) {
  const Tunnel tunnel = tunnel_from_settings(
      "dorm", {{"WireGuard", std::string("wg-up")},
               {"Peer", std::string("2001:db8:31::2")},
               {"Datapath", std::string("userspace")},
               {"PrefixLength", uint32_t{0}},
               {"LAN", std::vector<std::string>{"br-lan", "br-iot"}},
               {"SubnetId", std::vector<std::string>{"br-iot:9", "br-lan:4000000000"}},
               {"SourceRouting", false},
               {"RapidCommit", true},
               {"DNS", std::vector<std::string>{"2001:db8::53", "2001:db8::35"}}});
  const std::string text = render_tunnel(tunnel);
  EXPECT_EQ(text,
            "# Written by l2wgd\n"
            "[Tunnel]\n"
            "WireGuard=wg-up\n"
            "Peer=2001:db8:31::2\n"
            "Datapath=userspace\n"
            "\n"
            "[PrefixDelegation]\n"
            "PrefixLength=0\n"
            "LAN=br-lan\n"
            "LAN=br-iot\n"
            "SubnetId=br-iot:9\n"
            "SubnetId=br-lan:4000000000\n"
            "SourceRouting=no\n"
            "RapidCommit=yes\n"
            "DNS=2001:db8::53\n"
            "DNS=2001:db8::35\n");
  EXPECT_EQ(parse_tunnel(text, "dorm.conf"), tunnel);

  // Defaults of [PrefixDelegation] stay out, the section stays in.
  const Tunnel plain_routed =
      parse_tunnel(std::string(kMinimal) + "[PrefixDelegation]\nLAN=br-lan\n", "dorm.conf");
  EXPECT_EQ(render_tunnel(plain_routed),
            "# Written by l2wgd\n[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.2\n\n"
            "[PrefixDelegation]\nLAN=br-lan\n");
  EXPECT_EQ(parse_tunnel(render_tunnel(plain_routed), "dorm.conf"), plain_routed);
}

TEST(ConfigTunnel, EqualityLooksAtEveryField) {
  const Tunnel base =
      parse_tunnel(std::string(kMinimal) + "[PrefixDelegation]\nLAN=a\n", "lab.conf");
  EXPECT_EQ(base, base);
  Tunnel other = base;
  other.name = "lab2";
  EXPECT_NE(other, base);
  other = base;
  other.spec.key = 1;
  EXPECT_NE(other, base);
  other = base;
  other.spec.datapath = gre::DatapathChoice::Kernel;
  EXPECT_NE(other, base);
  other = base;
  other.prefix_delegation->dns.push_back(ip("2001:db8::1"));
  EXPECT_NE(other, base);
  other = base;
  other.prefix_delegation.reset();
  other.spec.bridge = BridgeSpec{"br0"};
  EXPECT_NE(other, base);
}

// ---------------------------------------------------------------------------------------------
// Files.

class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/l2wg-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string read(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::vector<std::string> entries() {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

TEST_F(ConfigFiles, LoadDirectoryLoadsGoodFilesAndReportsBadOnes) {
  write("b.conf", "[Tunnel]\nWireGuard=wg0\nPeer=10.0.0.2\n");
  write("a.conf", "[Tunnel]\nWireGuard=wg0\nPeer=10.0.0.3\nInterface=l2-c\n");
  write("broken.conf", "[Tunnel]\nWireGuard=wg0\nthis is not ini\n");
  write("c.conf", "[Tunnel]\nWireGuard=wg1\nPeer=10.0.1.2\n");  // default l2-c: taken by a
  write("d.conf", "[Tunnel]\nWireGuard=wg1\nPeer=10.0.1.3\n\nInterface=l2-b\n");  // b's
  write("notes.txt", "not a tunnel");
  write("e.conf.bak", "[Tunnel]\n");
  write(".hidden.conf", "[Tunnel]\n");
  write("bad name.conf", "[Tunnel]\nWireGuard=wg0\nPeer=10.0.0.9\n");
  fs::create_directory(dir_ / "dir.conf");

  const LoadedDirectory loaded = load_directory(dir_);
  std::vector<std::string> names;
  for (const Tunnel& tunnel : loaded.tunnels) names.push_back(tunnel.name);
  EXPECT_THAT(names, ElementsAre("a", "b"));

  std::vector<std::string> errors;
  for (const ConfigError& error : loaded.errors) errors.push_back(error.what());
  EXPECT_THAT(errors,
              ElementsAre(StartsWith("bad name.conf:0: bad tunnel name \"bad name\""),
                          "broken.conf:3: \"this is not ini\": expected Key=Value, a [Section] "
                          "header or a comment starting with #",
                          "c.conf:0: Interface=l2-c (the default) is already used by a.conf",
                          "d.conf:5: Interface=l2-b is already used by b.conf"));
  ASSERT_EQ(loaded.errors.size(), 4u);
  EXPECT_EQ(loaded.errors[3].file(), "d.conf");
  EXPECT_EQ(loaded.errors[3].line(), 5);
  EXPECT_EQ(loaded.errors[3].key(), "Interface");
}

TEST_F(ConfigFiles, LoadDirectoryReportsEveryErrorOfAFileAtOnce) {
  write("good.conf", "[Tunnel]\nWireGuard=wg0\nPeer=10.0.0.2\n");
  write("lab.conf",
        "[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.2\nKey=abc\nDatapath=fast\n\nColour=blue\n");

  const LoadedDirectory loaded = load_directory(dir_);
  ASSERT_EQ(loaded.tunnels.size(), 1u);
  EXPECT_EQ(loaded.tunnels[0].name, "good");
  std::vector<std::string> errors;
  for (const ConfigError& error : loaded.errors) errors.push_back(error.what());
  EXPECT_THAT(errors,
              ElementsAre("lab.conf:4: Key=abc: not a number (0..4294967295)",
                          "lab.conf:5: Datapath=fast: not a datapath (auto, kernel or userspace)",
                          StartsWith("lab.conf:7: unknown key Colour= in [Tunnel] (known: ")));
  ASSERT_EQ(loaded.errors.size(), 3u);
  EXPECT_EQ(loaded.errors[1].line(), 5);
  EXPECT_EQ(loaded.errors[1].key(), "Datapath");
}

TEST_F(ConfigFiles, LoadDirectoryReportsLineErrorsAndWholeFileErrorsTogether) {
  // Local= of the wrong family and Bridge= are found once the whole file is read: they come
  // after what is wrong with a line itself.
  write("lab.conf",
        "[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.2\nLocal=2001:db8::1\nKey=abc\n"
        "[Bridge]\nBridge=wg0\n");
  std::vector<std::string> errors;
  for (const ConfigError& error : load_directory(dir_).errors) errors.push_back(error.what());
  EXPECT_THAT(errors, ElementsAre("lab.conf:5: Key=abc: not a number (0..4294967295)",
                                  StartsWith("lab.conf:4: Local=2001:db8::1: an IPv6 address"),
                                  "lab.conf:7: Bridge=wg0: that is the WireGuard interface"));
}

TEST_F(ConfigFiles, LoadDirectoryReportsNoErrorThatOnlyFollowsFromAnother) {
  // A bad value is not also missing; the lines under a header that cannot be read are not checked
  // (nor is anything called missing: they may have held it).
  write("a.conf", "[Tunnel]\nWireGuard=wg/0\nPeer=10.0.31.2\n");
  write("b.conf", "[Tunel]\nWireGuard=wg0\nPeer=10.0.31.2\n");
  write("c.conf", "[Tunnel]\nWireGuard=wg0\nPeer 10.0.31.2\n");
  write("d.conf", "[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.2\n[PrefixDelegation]\nLAN=a/b\n");
  std::vector<std::string> errors;
  for (const ConfigError& error : load_directory(dir_).errors) errors.push_back(error.what());
  EXPECT_THAT(errors, ElementsAre(StartsWith("a.conf:2: WireGuard=wg/0: not an interface name"),
                                  StartsWith("b.conf:1: unknown section [Tunel]"),
                                  StartsWith("c.conf:3: \"Peer 10.0.31.2\": expected Key=Value"),
                                  StartsWith("d.conf:5: LAN=a/b: not an interface name")));
}

TEST_F(ConfigFiles, LoadDirectoryOfAMissingOrEmptyDirectoryIsEmpty) {
  LoadedDirectory loaded = load_directory(dir_);
  EXPECT_TRUE(loaded.tunnels.empty());
  EXPECT_TRUE(loaded.errors.empty());
  loaded = load_directory(dir_ / "missing");
  EXPECT_TRUE(loaded.tunnels.empty());
  EXPECT_TRUE(loaded.errors.empty());
}

TEST_F(ConfigFiles, WriteFileAtomicallyWritesTheContentWithMode0644) {
  const fs::path path = dir_ / "lab.conf";
  const mode_t old_umask = umask(077);
  write_file_atomically(path, "first\n");
  umask(old_umask);
  EXPECT_EQ(read(path), "first\n");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  write_file_atomically(path, "second, longer\n");
  EXPECT_EQ(read(path), "second, longer\n");
  EXPECT_THAT(entries(), ElementsAre("lab.conf"));  // no temporary left behind

  const Tunnel tunnel = parse_tunnel(kMinimal, "lab.conf");
  write_file_atomically(path, render_tunnel(tunnel));
  EXPECT_EQ(load_directory(dir_).tunnels, std::vector<Tunnel>{tunnel});
}

TEST_F(ConfigFiles, WriteFileAtomicallyFailsWithIoNamingThePath) {
  const fs::path path = dir_ / "missing" / "lab.conf";
  try {
    write_file_atomically(path, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Io);
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
  }
}

TEST_F(ConfigFiles, WriteFileAtomicallyRemovesTheTemporaryWhenRenameFails) {
  // A directory in the way makes rename() fail after the temporary was written.
  fs::create_directory(dir_ / "lab.conf");
  fs::create_directory(dir_ / "lab.conf" / "child");
  EXPECT_THROW(write_file_atomically(dir_ / "lab.conf", "x"), Error);
  EXPECT_THAT(entries(), ElementsAre("lab.conf"));
}

}  // namespace
}  // namespace l2wg::config
