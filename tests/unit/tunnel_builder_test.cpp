// TunnelBuilder against a fake kernel: what it creates, what it refuses, and that a failure at
// any step leaves the system exactly as it found it.
#include <gtest/gtest.h>

#include "fake_netlink.h"
#include "l2wg/bridge/tunnel.h"
#include "l2wg/error.h"

namespace l2wg {
namespace {

using testing::FakeNetlink;
using testing::FakeWireGuard;

wg::PublicKey key_of(uint8_t seed) {
  wg::PublicKey k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed + i);
  return k;
}

// Records what the builder asks of nftables; refuses when told to.
struct FakeNftables : nft::Nftables {
  std::vector<std::string> applied;
  bool refuse = false;
  void apply(const std::string& json_commands) override {
    if (refuse) throw Error(ErrorCode::Kernel, "nftables: Could not process rule: No such file");
    applied.push_back(json_commands);
  }
  std::string list_ruleset() override { return R"({"nftables": []})"; }
};

class TunnelBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nl::Link wg0;
    wg0.name = "wg0";
    wg0.kind = "wireguard";
    wg0.mtu = 1420;
    wg0.up = true;
    wg_ifindex = netlink.add_link(wg0);
    netlink.state.addresses.push_back({wg_ifindex, *IpPrefix::parse("10.0.31.10/24")});
    nl::Link br;
    br.name = "br-wan";
    br.kind = "bridge";
    br.mtu = 1500;
    br.mac = *MacAddress::parse("fe:00:00:00:00:01");  // higher than any derived tap MAC
    br.up = true;
    bridge_ifindex = netlink.add_link(br);
    nl::Link eth;
    eth.name = "eth0";
    eth.kind = "veth";
    eth.mtu = 1500;
    netlink.add_link(eth);

    wg::Device device;
    device.name = "wg0";
    device.public_key = key_of(100);
    wg::Peer peer;
    peer.public_key = key_of(1);
    peer.allowed_ips = {*IpPrefix::parse("10.0.31.2/32")};
    device.peers.push_back(peer);
    wireguard.devices.push_back(device);
    before = netlink.state;
  }

  TunnelSpec bridged() {
    TunnelSpec spec;
    spec.wireguard = "wg0";
    spec.peer = "10.0.31.2";
    spec.tap_name = "l2-lab";
    spec.datapath = gre::DatapathChoice::Kernel;
    spec.bridge = BridgeSpec{"br-wan", false, false};
    return spec;
  }

  // Links and addresses as they were; a bridge MTU pinned at its own value is invisible.
  void expect_untouched() {
    EXPECT_EQ(netlink.state.links, before.links);
    EXPECT_EQ(netlink.state.addresses, before.addresses);
  }

  void expect_refused(const TunnelSpec& spec, ErrorCode code, const std::string& message) {
    netlink.calls.clear();
    try {
      builder.setup(spec);
      ADD_FAILURE() << "setup succeeded, expected: " << message;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    EXPECT_TRUE(netlink.calls.empty()) << "refused input must not touch the kernel";
    expect_untouched();
  }

  FakeNetlink netlink;
  FakeWireGuard wireguard;
  dp::Datapath datapath{1};
  TunnelBuilder builder{netlink, wireguard, datapath};
  FakeNftables nftables;
  TunnelBuilder clamping{netlink, wireguard, datapath, &nftables};
  int wg_ifindex = 0;
  int bridge_ifindex = 0;
  FakeNetlink::State before;
};

TEST_F(TunnelBuilderTest, BridgedKernelGretapOnTheWireGuardPeer) {
  const auto t = builder.setup(bridged());
  EXPECT_EQ(t.plan.datapath, gre::DatapathKind::Kernel);
  EXPECT_EQ(t.local, *IpAddress::parse("10.0.31.10"));
  EXPECT_EQ(t.remote, *IpAddress::parse("10.0.31.2"));
  EXPECT_EQ(t.peer_key, key_of(1));
  const auto tap = netlink.link("l2-lab");
  ASSERT_TRUE(tap);
  EXPECT_EQ(tap->kind, "gretap");
  ASSERT_TRUE(tap->gre);
  EXPECT_EQ(tap->gre->link_ifindex, wg_ifindex) << "GRE must never leave outside the tunnel";
  EXPECT_EQ(tap->gre->local, t.local);
  EXPECT_EQ(tap->gre->remote, t.remote);
  EXPECT_TRUE(tap->gre->fragment);
  EXPECT_EQ(tap->mtu, 1500u);
  EXPECT_EQ(tap->mac, gre::derive_mac(key_of(1), key_of(100), {std::nullopt, "l2-lab"}));
  EXPECT_TRUE(tap->up);
  EXPECT_EQ(tap->master_ifindex, bridge_ifindex);
  EXPECT_EQ(netlink.without_ipv6, std::vector<int>{tap->ifindex})
      << "a bridge port needs no address";
  EXPECT_TRUE(netlink.last_port_options.multicast_router_permanent);
  EXPECT_FALSE(netlink.last_port_options.isolated);
  EXPECT_EQ(netlink.link("br-wan")->mtu, 1500u);

  builder.teardown(t);
  expect_untouched();
}

// MTU=auto on kernel gretap: the tap's own nftables table clamps TCP's MSS (1420 less 38 bytes of
// IPv4, GRE and Ethernet headers), and goes with the tunnel.
TEST_F(TunnelBuilderTest, KernelGretapGetsItsMssClampedByNftables) {
  const auto t = clamping.setup(bridged());
  EXPECT_EQ(t.plan.mss_clamp_mtu, 1382u);
  EXPECT_EQ(nftables.applied,
            std::vector<std::string>{nft::install_commands({"l2-lab", true, 1382})});
  clamping.teardown(t);
  EXPECT_EQ(nftables.applied.back(), nft::remove_commands("l2-lab"));
  expect_untouched();

  TunnelSpec fixed = bridged();
  fixed.mtu.fixed = 1300;
  nftables.applied.clear();
  clamping.teardown(clamping.setup(fixed));
  EXPECT_TRUE(nftables.applied.empty()) << "a fixed MTU fragments nothing: no clamp";
}

TEST_F(TunnelBuilderTest, WithoutNftablesTheTunnelWorksUnclampedAndSaysSo) {
  nftables.refuse = true;
  const auto t = clamping.setup(bridged());
  EXPECT_EQ(t.plan.mss_clamp_mtu, std::nullopt);
  EXPECT_NE(t.plan.note.find("TCP's MSS is not clamped"), std::string::npos) << t.plan.note;
  EXPECT_TRUE(netlink.link("l2-lab")) << "the tunnel itself is built";
  clamping.teardown(t);
  expect_untouched();
  EXPECT_EQ(builder.setup(bridged()).plan.mss_clamp_mtu, std::nullopt) << "no nftables at all";
}

// Kernel gretap's counters are its link's own: what it sends (tx) is what goes into GRE.
TEST_F(TunnelBuilderTest, KernelStatisticsAreTheGretapsCounters) {
  const auto t = builder.setup(bridged());
  netlink.state.stats[t.tap_ifindex] = {.rx_packets = 1,
                                        .tx_packets = 2,
                                        .rx_bytes = 3,
                                        .tx_bytes = 4,
                                        .rx_errors = 5,
                                        .tx_errors = 6,
                                        .rx_dropped = 7,
                                        .tx_dropped = 8};
  EXPECT_EQ(builder.statistics(t), (Statistics{{"FramesOut", 2},
                                               {"BytesOut", 4},
                                               {"FramesIn", 1},
                                               {"BytesIn", 3},
                                               {"DroppedOut", 8},
                                               {"DroppedIn", 7},
                                               {"ErrorsOut", 6},
                                               {"ErrorsIn", 5}}));
  builder.teardown(t);
  EXPECT_THROW(builder.statistics(t), Error) << "the tap is gone";
}

TEST_F(TunnelBuilderTest, ASmallerFixedMtuDoesNotShrinkTheBridge) {
  auto spec = bridged();
  spec.mtu.fixed = 1280;
  spec.bridge->isolated = true;
  spec.key = 42;
  const auto t = builder.setup(spec);
  EXPECT_EQ(netlink.link("l2-lab")->mtu, 1280u);
  EXPECT_FALSE(netlink.link("l2-lab")->gre->fragment);
  EXPECT_EQ(netlink.link("l2-lab")->gre->key, 42u);
  EXPECT_EQ(netlink.link("br-wan")->mtu, 1500u);
  EXPECT_EQ(netlink.state.pinned_mtu, std::vector<int>{bridge_ifindex});
  EXPECT_TRUE(netlink.last_port_options.isolated);
  builder.teardown(t);
  expect_untouched();
}

TEST_F(TunnelBuilderTest, TheBridgeKeepsItsMacWhenTheTapJoins) {
  const auto t = builder.setup(bridged());
  EXPECT_EQ(netlink.link("br-wan")->mac, *MacAddress::parse("fe:00:00:00:00:01"));
  EXPECT_EQ(netlink.state.pinned_mac, std::vector<int>{bridge_ifindex});
  builder.teardown(t);
  expect_untouched();
}

TEST_F(TunnelBuilderTest, ExplicitMacAndPeerByKey) {
  auto spec = bridged();
  spec.peer = wg::to_base64(key_of(1));
  spec.mac = MacAddress::parse("02:00:00:00:00:01");
  const auto t = builder.setup(spec);
  EXPECT_EQ(t.remote, *IpAddress::parse("10.0.31.2"));
  EXPECT_EQ(netlink.link("l2-lab")->mac, *spec.mac);
  builder.teardown(t);
  expect_untouched();
}

TEST_F(TunnelBuilderTest, CreatedBridgeIsRemovedOnTeardownOnly) {
  auto spec = bridged();
  spec.bridge = BridgeSpec{"br-new", true, false};
  const auto t = builder.setup(spec);
  EXPECT_TRUE(t.created_bridge);
  const auto br = netlink.link("br-new");
  ASSERT_TRUE(br);
  EXPECT_TRUE(br->up);
  EXPECT_EQ(netlink.link("l2-lab")->master_ifindex, br->ifindex);
  builder.teardown(t);
  EXPECT_FALSE(netlink.link("br-new"));
  expect_untouched();
}

TEST_F(TunnelBuilderTest, ACreatedBridgeOthersJoinedStaysOnTeardown) {
  auto spec = bridged();
  spec.bridge = BridgeSpec{"br-new", true, false};
  const auto t = builder.setup(spec);
  nl::Link lan;
  lan.name = "eth-lan";
  lan.master_ifindex = netlink.link("br-new")->ifindex;
  netlink.add_link(lan);
  builder.teardown(t);
  EXPECT_FALSE(netlink.link("l2-lab"));
  EXPECT_TRUE(netlink.link("br-new")) << "eth-lan is still its port";
}

TEST_F(TunnelBuilderTest, AnExistingBridgeIsNeverDeleted) {
  const auto t = builder.setup(bridged());
  EXPECT_FALSE(t.created_bridge);
  builder.teardown(t);
  EXPECT_TRUE(netlink.link("br-wan"));
}

TEST_F(TunnelBuilderTest, TeardownToleratesALinkAlreadyGone) {
  const auto t = builder.setup(bridged());
  netlink.delete_link(t.tap_ifindex);
  EXPECT_NO_THROW(builder.teardown(t));
  expect_untouched();
}

TEST_F(TunnelBuilderTest, BadInputIsRefusedWithADistinctMessage) {
  auto spec = bridged();
  spec.wireguard = "wg9";
  expect_refused(spec, ErrorCode::NotFound, "no interface named wg9");
  spec = bridged();
  spec.wireguard = "eth0";
  expect_refused(spec, ErrorCode::InvalidArgument, "eth0 is a veth, not a WireGuard interface");
  spec = bridged();
  spec.peer = "10.0.31.99";
  expect_refused(spec, ErrorCode::NotFound, "10.0.31.99");
  spec = bridged();
  spec.peer = wg::to_base64(key_of(50));
  expect_refused(spec, ErrorCode::NotFound, wg::to_base64(key_of(50)));
  spec = bridged();
  spec.tap_name = "l2-0123456789abc";
  expect_refused(spec, ErrorCode::InvalidArgument, "is 16 bytes long; Linux allows at most 15");
  spec = bridged();
  spec.bridge->name = "eth0";
  expect_refused(spec, ErrorCode::InvalidArgument, "eth0 is a veth, not a bridge");
  spec = bridged();
  spec.bridge->name = "br-nope";
  expect_refused(spec, ErrorCode::NotFound, "no bridge named br-nope");
  spec = bridged();
  spec.tap_name = "eth0";
  expect_refused(spec, ErrorCode::Exists, "an interface named eth0 already exists");
  spec = bridged();
  spec.mtu.fixed = 1450;
  expect_refused(spec, ErrorCode::InvalidArgument, "MTU=1450 does not fit");
}

TEST_F(TunnelBuilderTest, KernelWithoutGretapAndKernelForcedIsUnsupported) {
  netlink.gretap_supported = false;
  try {
    builder.setup(bridged());
    ADD_FAILURE() << "expected Unsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  }
  expect_untouched();
}

// Fail each mutating step in turn: whatever had been done is undone.
TEST_F(TunnelBuilderTest, AFailureAtAnyStepRollsBackEverything) {
  for (const std::string failing : {"create_gretap", "create_bridge", "disable_ipv6_addresses",
                                    "set_mtu", "set_master", "set_bridge_port", "set_up"}) {
    SCOPED_TRACE(failing);
    netlink.before_call = [&](const std::string& call) {
      if (call == failing) throw Error(ErrorCode::Kernel, "injected: " + call);
    };
    auto spec = bridged();
    spec.bridge = BridgeSpec{"br-new", true, false};
    spec.mtu.fixed = 1280;  // so that the bridge's MTU has to be pinned back (set_mtu)
    try {
      builder.teardown(builder.setup(spec));
      ADD_FAILURE() << "setup did not call " << failing;
    } catch (const Error&) {
    }
    netlink.before_call = [](const std::string&) {};
    expect_untouched();
  }
}

TEST_F(TunnelBuilderTest, AdoptTakesOverAMatchingTapWithoutRecreatingIt) {
  const auto made = builder.setup(bridged());
  netlink.calls.clear();
  const auto adopted = builder.adopt(bridged(), made.created_bridge);
  ASSERT_TRUE(adopted);
  EXPECT_TRUE(netlink.calls.empty()) << "nothing to change";
  EXPECT_EQ(adopted->tap_ifindex, made.tap_ifindex);
  EXPECT_EQ(adopted->bridge_ifindex, made.bridge_ifindex);
  EXPECT_EQ(adopted->mac, made.mac);
  EXPECT_EQ(adopted->plan, made.plan);
}

TEST_F(TunnelBuilderTest, AdoptPutsBackWhatWasUndoneMeanwhile) {
  const auto made = builder.setup(bridged());
  netlink.set_master(made.tap_ifindex, 0);
  netlink.set_up(made.tap_ifindex, false);
  const auto adopted = builder.adopt(bridged(), false);
  ASSERT_TRUE(adopted);
  EXPECT_EQ(netlink.link("l2-lab")->master_ifindex, bridge_ifindex);
  EXPECT_TRUE(netlink.link("l2-lab")->up);
}

TEST_F(TunnelBuilderTest, AdoptFindsNothingOrRefusesAForeignLink) {
  EXPECT_FALSE(builder.adopt(bridged(), false));
  auto spec = bridged();
  spec.tap_name = "eth0";
  try {
    builder.adopt(spec, false);
    ADD_FAILURE() << "a veth must not be adopted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Exists);
    EXPECT_NE(std::string(e.what()).find("it is a veth"), std::string::npos) << e.what();
  }
  builder.setup(bridged());
  spec = bridged();
  spec.key = 5;
  try {
    builder.adopt(spec, false);
    ADD_FAILURE() << "a gretap with another key must not be adopted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Exists);
  }
}

}  // namespace
}  // namespace l2wg
