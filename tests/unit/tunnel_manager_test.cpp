// TunnelManager on a fake kernel, a fake WireGuard and a fake clock: states and their reasons,
// change notification, link events, persistence and restore, all without privileges.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "fake_clock.h"
#include "fake_event_loop.h"
#include "fake_netlink.h"
#include "test_dir.h"
#include "l2wg/daemon/manager.h"
#include "l2wg/error.h"

namespace l2wg {
namespace {

using testing::FakeClock;
using testing::FakeEventLoop;
using testing::FakeNetlink;
using testing::FakeWireGuard;


struct Recorder : ManagerObserver {
  std::vector<std::string> log;
  void tunnel_added(const TunnelStatus& s) override { log.push_back("added " + s.name); }
  void tunnel_removed(const std::string& name) override { log.push_back("removed " + name); }
  void tunnel_changed(const TunnelStatus& s, const std::vector<std::string>& props) override {
    std::string line = "changed " + s.name + ":";
    for (const auto& p : props) line += " " + p;
    log.push_back(line);
  }
};

wg::PublicKey key(uint8_t seed) {
  wg::PublicKey k{};
  k.fill(seed);
  return k;
}

class TunnelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = testing::fresh_test_dir("l2wg-manager-test");
    add_wireguard();
    manager = std::make_unique<TunnelManager>(
        netlink, wireguard, datapath, clock, loop,
        ManagerOptions{dir / "etc", dir / "state", 180'000'000, {}});
    manager->set_observer(&recorder);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  void add_wireguard() {
    nl::Link wg0;
    wg0.name = "wg0";
    wg0.kind = "wireguard";
    wg0.mtu = 1420;
    wg_ifindex = netlink.add_link(wg0);
    netlink.state.addresses.push_back({wg_ifindex, *IpPrefix::parse("10.0.31.1/24")});
    wg::Device device;
    device.name = "wg0";
    wg::Peer peer;
    peer.public_key = key(7);
    peer.allowed_ips = {*IpPrefix::parse("10.0.31.10/32")};
    peer.endpoint = Endpoint::parse("192.0.2.2:51820");
    device.peers = {peer};
    wireguard.devices = {device};
  }

  // One peer carries several tunnels only with a GRE key each.
  static config::Tunnel keyed(config::Tunnel t, uint32_t key) {
    t.spec.key = key;
    return t;
  }

  void handshake_at(uint64_t when) { wireguard.devices[0].peers[0].last_handshake_us = when; }

  config::Tunnel tunnel(const std::string& name) {
    config::Tunnel t;
    t.name = name;
    t.spec.wireguard = "wg0";
    t.spec.peer = "10.0.31.10";
    t.spec.tap_name = "l2-" + name;
    t.spec.datapath = gre::DatapathChoice::Kernel;  // the fake kernel has gretap
    return t;
  }

  std::filesystem::path dir;
  FakeNetlink netlink;
  FakeWireGuard wireguard;
  FakeClock clock;
  FakeEventLoop loop{clock};
  dp::Datapath datapath{1};
  Recorder recorder;
  std::unique_ptr<TunnelManager> manager;
  int wg_ifindex = 0;
};

TEST_F(TunnelManagerTest, UpOnlyWhileHandshakesAreFresh) {
  auto status = manager->create(tunnel("lab"), false);
  EXPECT_EQ(status.state, TunnelState::WaitingForPeer);
  EXPECT_NE(status.state_reason.find("No handshake with peer"), std::string::npos);
  EXPECT_EQ(status.peer_endpoint, "192.0.2.2:51820");
  EXPECT_EQ(status.datapath, "kernel");
  EXPECT_EQ(status.mtu, 1500u);

  handshake_at(clock.now - 5'000'000);
  manager->poll_peers();
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Up);
  EXPECT_EQ(manager->find("lab")->state_reason, "");
  EXPECT_EQ(recorder.log.back(), "changed lab: State StateReason LastHandshake");

  clock.now += 176'000'000;  // 181 s after the handshake
  manager->poll_peers();
  EXPECT_EQ(manager->find("lab")->state, TunnelState::WaitingForPeer);
  EXPECT_NE(manager->find("lab")->state_reason.find("within the last 180 s"), std::string::npos);
}

// Each endpoint WireGuard reports is remembered with when it was first seen (the last 8), and
// Describe() tells them, so that doctor can see a peer's source address drift.
TEST_F(TunnelManagerTest, ThePeersEndpointsAreRemembered) {
  manager->create(tunnel("lab"), false);
  const uint64_t first_seen = clock.now;
  for (int i = 1; i <= 9; ++i) {
    clock.now += 2'000'000;
    wireguard.devices[0].peers[0].endpoint = Endpoint::parse("198.51.100." + std::to_string(i) + ":51820");
    manager->poll_peers();
    manager->poll_peers();  // the same endpoint again adds nothing
  }
  const auto& history = manager->find("lab")->endpoint_history;
  ASSERT_EQ(history.size(), TunnelStatus::kEndpointHistory);
  EXPECT_EQ(history.front().endpoint, "198.51.100.2:51820") << "the oldest went first";
  EXPECT_EQ(history.back(), (TunnelStatus::EndpointSeen{"198.51.100.9:51820", clock.now}));
  EXPECT_GT(history.back().seen_us, first_seen);
  const auto described = nlohmann::json::parse(describe_json(*manager->find("lab")));
  EXPECT_EQ(described["EndpointHistory"].size(), TunnelStatus::kEndpointHistory);
  EXPECT_EQ(described["EndpointHistory"].back(),
            (nlohmann::json{{"Endpoint", "198.51.100.9:51820"}, {"Seen", clock.now}}));
}

TEST_F(TunnelManagerTest, KernelIp6gretapShortOfMtuAutoIsDegraded) {
  netlink.state.addresses.push_back({wg_ifindex, *IpPrefix::parse("fd00:31::1/64")});
  wireguard.devices[0].peers[0].allowed_ips.push_back(*IpPrefix::parse("fd00:31::10/128"));
  handshake_at(clock.now);
  auto t = tunnel("v6");
  t.spec.peer = "fd00:31::10";
  const auto status = manager->create(t, false);
  EXPECT_EQ(status.mtu, 1362u);
  EXPECT_EQ(status.state, TunnelState::Degraded);
  EXPECT_FALSE(status.state_reason.empty()) << "the reason explains the reduced MTU";
}

TEST_F(TunnelManagerTest, ManyCreatesWithinASecondReadTheDeviceOnce) {
  for (int i = 0; i < 20; ++i) manager->create(keyed(tunnel("t" + std::to_string(i)), i), false);
  EXPECT_EQ(wireguard.reads, 1);
  clock.now += 2'000'000;
  manager->create(keyed(tunnel("later"), 20), false);
  EXPECT_EQ(wireguard.reads, 2) << "a snapshot older than a second is read again";
  manager->poll_peers();
  EXPECT_EQ(wireguard.reads, 3) << "a poll always reads afresh, once for all tunnels";
}

TEST_F(TunnelManagerTest, APeerAddedAMomentAgoIsFound) {
  manager->create(tunnel("first"), false);  // the snapshot now lacks the new peer
  wg::Peer peer;
  peer.public_key = key(9);
  peer.allowed_ips = {*IpPrefix::parse("10.0.31.20/32")};
  wireguard.devices[0].peers.push_back(peer);
  auto t = tunnel("second");
  t.spec.peer = "10.0.31.20";
  EXPECT_NO_THROW(manager->create(t, false));
}

TEST_F(TunnelManagerTest, AWireGuardInterfaceConfiguredAfterItAppearsIsPickedUp) {
  handshake_at(clock.now);
  manager->create(tunnel("lab"), false);
  const auto wg_link = *netlink.link("wg0");
  netlink.delete_link(wg_ifindex);
  manager->handle({nl::LinkRemoved{wg_link}});
  // Recreated as wg-quick or wireguard-go do it: the link first, its peers a moment later.
  add_wireguard();
  const auto configured = wireguard.devices;
  wireguard.devices[0].peers.clear();
  manager->handle({nl::LinkAdded{*netlink.link("wg0")}});
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Failed);
  wireguard.devices = configured;
  handshake_at(clock.now);
  manager->poll_peers();
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Up) << manager->find("lab")->state_reason;
}

TEST_F(TunnelManagerTest, NothingChangedNothingAnnounced) {
  handshake_at(clock.now);
  manager->create(tunnel("lab"), false);
  const auto before = recorder.log.size();
  manager->poll_peers();
  manager->poll_peers();
  EXPECT_EQ(recorder.log.size(), before);
}

TEST_F(TunnelManagerTest, AMissingWireGuardInterfaceIsWaitedFor) {
  auto t = tunnel("lab");
  t.spec.wireguard = "wg9";
  const auto status = manager->create(t, false);
  EXPECT_EQ(status.state, TunnelState::WaitingForPeer);
  EXPECT_NE(status.state_reason.find("wg9 does not exist"), std::string::npos);
  EXPECT_FALSE(netlink.link("l2-lab"));
}

TEST_F(TunnelManagerTest, RefusalsLeaveNothingBehind) {
  manager->create(tunnel("lab"), false);
  const auto links = netlink.state.links;
  auto expect_code = [&](const config::Tunnel& t, ErrorCode code) {
    try {
      manager->create(t, false);
      ADD_FAILURE() << "created " << t.name;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
    }
    EXPECT_EQ(netlink.state.links, links);
  };
  expect_code(tunnel("lab"), ErrorCode::Exists);
  auto same_tap = tunnel("other");
  same_tap.spec.tap_name = "l2-lab";
  expect_code(same_tap, ErrorCode::Exists);
  auto unknown_peer = tunnel("other");
  unknown_peer.spec.peer = "10.0.31.99";
  expect_code(unknown_peer, ErrorCode::NotFound);
  auto routed = tunnel("other");
  routed.prefix_delegation = config::PrefixDelegation{};
  expect_code(routed, ErrorCode::InvalidArgument);
  EXPECT_EQ(manager->list().size(), 1u);
}

TEST_F(TunnelManagerTest, TheWireGuardInterfaceGoingAndComingBack) {
  handshake_at(clock.now);
  manager->create(tunnel("lab"), false);
  ASSERT_EQ(manager->find("lab")->state, TunnelState::Up);
  const auto wg_link = *netlink.link("wg0");
  netlink.delete_link(wg_ifindex);
  manager->handle({nl::LinkRemoved{wg_link}});
  EXPECT_EQ(manager->find("lab")->state, TunnelState::WaitingForPeer);
  EXPECT_NE(manager->find("lab")->state_reason.find("disappeared"), std::string::npos);

  add_wireguard();
  handshake_at(clock.now);
  manager->handle({nl::LinkAdded{*netlink.link("wg0")}});
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Up);
  EXPECT_EQ(netlink.link("l2-lab")->gre->link_ifindex, wg_ifindex) << "rebuilt on the new device";
}

TEST_F(TunnelManagerTest, ATapDeletedBySomeoneElseIsRebuilt) {
  manager->create(tunnel("lab"), false);
  const auto tap = *netlink.link("l2-lab");
  netlink.delete_link(tap.ifindex);
  manager->handle({nl::LinkRemoved{tap}});
  ASSERT_TRUE(netlink.link("l2-lab"));
  EXPECT_NE(netlink.link("l2-lab")->ifindex, tap.ifindex);
}

TEST_F(TunnelManagerTest, PersistWritesTheFileAndRemoveDeletesIt) {
  manager->create(tunnel("lab"), true);
  EXPECT_TRUE(std::filesystem::exists(dir / "etc" / "lab.conf"));
  EXPECT_TRUE(manager->find("lab")->persistent);
  manager->remove("lab");
  EXPECT_FALSE(std::filesystem::exists(dir / "etc" / "lab.conf"));
  EXPECT_FALSE(std::filesystem::exists(dir / "state" / "tunnels" / "lab.json"));
  EXPECT_FALSE(netlink.link("l2-lab"));
  EXPECT_EQ(recorder.log.back(), "removed lab");
  EXPECT_THROW(manager->remove("lab"), Error);
}

TEST_F(TunnelManagerTest, ARestartAdoptsEveryTunnelWithoutRecreatingIt) {
  manager->create(tunnel("kept"), true);
  manager->create(keyed(tunnel("runtime"), 1), false);
  const auto links = netlink.state.links;
  manager.reset();  // SIGTERM: the data plane stays
  EXPECT_EQ(netlink.state.links, links);

  TunnelManager next(netlink, wireguard, datapath, clock, loop,
                     ManagerOptions{dir / "etc", dir / "state", 180'000'000, {}});
  netlink.calls.clear();
  next.restore();
  next.reload();
  EXPECT_TRUE(next.find("kept"));
  EXPECT_TRUE(next.find("runtime"));
  EXPECT_TRUE(next.find("kept")->persistent);
  EXPECT_FALSE(next.find("runtime")->persistent);
  EXPECT_EQ(netlink.state.links, links);
  EXPECT_TRUE(netlink.calls.empty()) << "adopted, nothing recreated";
}

TEST_F(TunnelManagerTest, ARuntimeTunnelWhoseTapIsGoneIsForgotten) {
  manager->create(tunnel("runtime"), false);
  manager.reset();
  netlink.delete_link(netlink.link("l2-runtime")->ifindex);  // as after a reboot
  TunnelManager next(netlink, wireguard, datapath, clock, loop,
                     ManagerOptions{dir / "etc", dir / "state", 180'000'000, {}});
  next.restore();
  EXPECT_FALSE(next.find("runtime"));
  EXPECT_FALSE(std::filesystem::exists(dir / "state" / "tunnels" / "runtime.json"));
}

TEST_F(TunnelManagerTest, ReloadFollowsTheDirectory) {
  std::filesystem::create_directories(dir / "etc");
  std::ofstream(dir / "etc" / "a.conf") << "[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.10\n";
  std::ofstream(dir / "etc" / "broken.conf") << "[Tunnel]\nWireGuard=wg0\nPeer 10.0.31.10\n";
  const auto errors = manager->reload();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("broken.conf:3"), std::string::npos) << errors[0];
  EXPECT_TRUE(manager->find("a"));
  EXPECT_TRUE(netlink.link("l2-a"));

  std::ofstream(dir / "etc" / "a.conf") << "[Tunnel]\nWireGuard=wg0\nPeer=10.0.31.10\nKey=5\n";
  manager->reload();
  EXPECT_EQ(netlink.link("l2-a")->gre->key, 5u) << "a changed file re-applies";

  std::filesystem::remove(dir / "etc" / "a.conf");
  manager->reload();
  EXPECT_FALSE(manager->find("a"));
  EXPECT_FALSE(netlink.link("l2-a"));
}

// A second tunnel on a GRE flow another carries (same WireGuard interface, peer and GRE key) is
// refused before anything is made, whether its peer is named by address or by key.
TEST_F(TunnelManagerTest, ASecondTunnelOnTheSameFlowIsRefused) {
  manager->create(tunnel("lab"), false);
  const auto links = netlink.state.links;
  auto again = tunnel("lab2");
  for (const auto& peer : {std::string("10.0.31.10"), wg::to_base64(key(7))}) {
    again.spec.peer = peer;
    try {
      manager->create(again, false);
      FAIL() << "accepted " << peer;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Exists);
      EXPECT_NE(std::string(e.what()).find("tunnel lab already carries GRE without a key"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(netlink.state.links, links) << "nothing made";
  }
  again.spec.key = 1;
  EXPECT_NO_THROW(manager->create(again, false)) << "another GRE key is another flow";

  // A config file naming the same flow is an error of that file.
  std::filesystem::create_directories(dir / "etc");
  auto file = tunnel("lab3");
  file.spec.key = 1;
  std::ofstream(dir / "etc" / "lab3.conf") << config::render_tunnel(file);
  const auto errors = manager->reload();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("lab3.conf: tunnel lab2 already carries GRE key 1"), std::string::npos)
      << errors[0];
  EXPECT_FALSE(manager->find("lab3"));
}

// `ip link set l2-lab nomaster`, or its bridge deleted: the tap stays, the tunnel is degraded
// saying why, and joins the bridge again when it is back.
TEST_F(TunnelManagerTest, ATapOutOfItsBridgeIsDegradedNotRecreated) {
  handshake_at(clock.now);
  netlink.create_bridge("br-wan");
  auto t = tunnel("lab");
  t.spec.bridge = BridgeSpec{"br-wan", false, false};
  manager->create(t, false);
  ASSERT_EQ(manager->find("lab")->state, TunnelState::Up);
  const auto tap = *netlink.link("l2-lab");
  auto left = tap;
  left.master_ifindex = 0;
  netlink.set_master(tap.ifindex, 0);
  manager->handle({nl::LinkChanged{tap, left}});
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Degraded);
  EXPECT_NE(manager->find("lab")->state_reason.find("l2-lab left the bridge br-wan"),
            std::string::npos)
      << manager->find("lab")->state_reason;
  manager->poll_peers();
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Degraded) << "until it is back";

  const auto bridge = *netlink.link("br-wan");
  netlink.delete_link(bridge.ifindex);
  manager->handle({nl::LinkRemoved{bridge}});
  EXPECT_NE(manager->find("lab")->state_reason.find("The bridge br-wan was deleted"),
            std::string::npos);
  const int again = netlink.create_bridge("br-wan");
  manager->handle({nl::LinkAdded{*netlink.link(again)}});
  EXPECT_EQ(netlink.link("l2-lab")->master_ifindex, again);
  EXPECT_EQ(netlink.link("l2-lab")->ifindex, tap.ifindex) << "the same tap";
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Up);
  manager->remove("lab");
  EXPECT_TRUE(netlink.link("br-wan")) << "a bridge someone else made stays";
}

// l2wg down: a tunnel with a file is stopped (nothing built, the file kept) until l2wg up NAME,
// also across a daemon restart, but not across a reboot; one without a file is removed.
TEST_F(TunnelManagerTest, StopKeepsTheFileAndStartBuildsItAgain) {
  handshake_at(clock.now);
  manager->create(tunnel("lab"), true);
  const auto before = netlink.state.links.size();
  manager->stop("lab");
  const auto* status = manager->find("lab");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, TunnelState::Stopped);
  EXPECT_NE(status->state_reason.find("l2wg up lab"), std::string::npos) << status->state_reason;
  EXPECT_FALSE(netlink.link("l2-lab")) << "what it built is gone";
  EXPECT_EQ(netlink.state.links.size(), before - 1);
  EXPECT_TRUE(std::filesystem::exists(dir / "etc" / "lab.conf"));
  manager->poll_peers();
  manager->reload();
  EXPECT_FALSE(netlink.link("l2-lab")) << "neither a poll nor a reload brings it back";
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Stopped);

  // A daemon restart in the same boot: still stopped.
  auto options = ManagerOptions{dir / "etc", dir / "state", 180'000'000, {}, "boot-1"};
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  manager->reload();      // another boot than the host's, whose id the first manager recorded
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Up);
  manager->stop("lab");
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  manager->restore();
  manager->reload();
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Stopped);
  EXPECT_FALSE(netlink.link("l2-lab"));

  manager->start("lab");
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Up);
  EXPECT_TRUE(netlink.link("l2-lab"));
  manager->start("lab");  // running: nothing to do
  manager->stop("lab");

  // The next boot starts it from its file.
  options.boot_id = "boot-2";
  manager = std::make_unique<TunnelManager>(netlink, wireguard, datapath, clock, loop, options);
  manager->reload();
  EXPECT_EQ(manager->find("lab")->state, TunnelState::Up);
  EXPECT_THROW(manager->stop("nothere"), Error);
  EXPECT_THROW(manager->start("nothere"), Error);
}

TEST_F(TunnelManagerTest, StopOfATunnelWithoutAFileRemovesIt) {
  const auto links = netlink.state.links;
  manager->create(tunnel("eph"), false);
  manager->stop("eph");
  EXPECT_FALSE(manager->find("eph"));
  EXPECT_EQ(netlink.state.links, links);
  EXPECT_EQ(recorder.log.back(), "removed eph");
}

}  // namespace
}  // namespace l2wg
