// The discovery client's state machine on a fake clock, transport and device, against the
// registry's own answers: what it asks, what it sets, and what it never touches.
#include <gtest/gtest.h>

#include "fake_clock.h"
#include "l2wg/discovery/registry.h"
#include "l2wg/discovery/resolver.h"
#include "l2wg/error.h"

namespace l2wg::discovery {
namespace {

struct FakeRandom : Random {
  uint32_t value = 100;
  uint32_t next() override { return value++; }
};

struct FakeTransport : Resolver::Transport {
  std::vector<std::vector<uint8_t>> sent;
  void send(std::span<const uint8_t> d) override { sent.emplace_back(d.begin(), d.end()); }
};

struct SetCall {
  Key key;
  std::optional<Endpoint> endpoint;
  uint16_t keepalive;
  bool operator==(const SetCall&) const = default;
};
struct FakeDevice : Resolver::Device {
  std::vector<SetCall> calls;
  bool fail = false;
  void set_peer(const Key& key, std::optional<Endpoint> endpoint, uint16_t keepalive) override {
    if (fail) throw Error(ErrorCode::Kernel, "no such device");
    calls.push_back({key, endpoint, keepalive});
  }
};

const Key kRegistry{0xaa}, kAlice{0x01}, kBob{0x02};
const auto kAliceMapping = *Endpoint::parse("198.51.100.7:40001");

class ResolverTest : public ::testing::Test {
 protected:
  testing::FakeClock clock;
  FakeRandom random;
  FakeTransport transport;
  FakeDevice device;
  ClientConfig config{*Endpoint::parse("10.99.0.1:53"), "example.com", {}, false, 25};
  std::vector<DevicePeer> peers{
      {kRegistry, Endpoint::parse("192.0.2.1:51820"), {*IpPrefix::parse("10.99.0.1/32")}, 0, 0, 0},
      {kAlice, std::nullopt, {*IpPrefix::parse("10.99.0.2/32")}, 0, 0, 0},
  };
  // What the registry knows.
  std::vector<PeerRecord> registry{{kAlice, kAliceMapping, {*IpPrefix::parse("10.99.0.2/32")}}};

  // The registry answers every query sent since the last call.
  void serve() {
    auto sent = std::move(transport.sent);
    transport.sent.clear();
    for (const auto& q : sent)
      resolver->on_datagram(answer(q, "example.com", registry, false).bytes);
  }
  void advance(uint64_t us) {
    clock.now += us;
    resolver->on_timer();
  }
  std::unique_ptr<Resolver> resolver;
  void start() {
    resolver = std::make_unique<Resolver>(clock, random, transport, device, config);
    resolver->on_device(peers);
  }
};

TEST_F(ResolverTest, SetsTheEndpointOfAPeerWithoutOneAndKeepalive) {
  start();
  // The registry's peer gets its keepalive first, without touching its endpoint.
  ASSERT_EQ(device.calls.size(), 1u);
  EXPECT_EQ(device.calls[0], (SetCall{kRegistry, std::nullopt, 25}));
  EXPECT_EQ(resolver->registry_peer(), kRegistry);
  EXPECT_EQ(resolver->next_deadline_us(), clock.monotonic_us());
  resolver->on_timer();
  ASSERT_EQ(transport.sent.size(), 1u) << "only Alice is asked for, not the registry";
  const auto q = dns::parse(transport.sent[0]);
  EXPECT_EQ(q.questions[0].name, instance_name(kAlice, "example.com"));
  EXPECT_EQ(q.questions[0].type, dns::type::SRV);
  serve();
  ASSERT_EQ(device.calls.size(), 2u);
  EXPECT_EQ(device.calls[1], (SetCall{kAlice, kAliceMapping, 25}));
  const auto status = resolver->peers().at(0);
  EXPECT_EQ(status.state, PeerStatus::State::Resolved);
  EXPECT_EQ(status.learnt, kAliceMapping);
  EXPECT_EQ(status.set_wall_us, clock.now);
  EXPECT_EQ(resolver->counters().endpoints_set, 1u);
}

TEST_F(ResolverTest, NeverReplacesAnAdminEndpointUnlessTold) {
  peers[1].endpoint = Endpoint::parse("203.0.113.9:51820");
  start();
  resolver->on_timer();
  serve();
  EXPECT_EQ(device.calls.size(), 1u);  // the registry's keepalive only
  EXPECT_EQ(resolver->peers().at(0).state, PeerStatus::State::AdminEndpoint);
  EXPECT_EQ(resolver->peers().at(0).learnt, kAliceMapping);

  config.override_endpoints = true;
  device.calls.clear();
  start();
  resolver->on_timer();
  serve();
  ASSERT_EQ(device.calls.size(), 2u);
  EXPECT_EQ(device.calls[1].endpoint, kAliceMapping);
}

TEST_F(ResolverTest, ClaimsAnEndpointEqualToTheRegistrysAnswer) {
  peers[1].endpoint = kAliceMapping;  // we set it before a restart
  start();
  resolver->on_timer();
  serve();
  EXPECT_EQ(resolver->peers().at(0).state, PeerStatus::State::Resolved);
  EXPECT_TRUE(resolver->peers().at(0).owned);
  // Its keepalive was off: turned on without touching the endpoint.
  EXPECT_EQ(device.calls.back(), (SetCall{kAlice, std::nullopt, 25}));
  // The NAT mapping changes and the path goes silent: the new one is set.
  registry[0].endpoint = Endpoint::parse("198.51.100.7:40002");
  peers[1].keepalive_s = 25;
  peers[1].last_handshake_wall_us = clock.now;
  resolver->on_device(peers);
  clock.now += 80'000'000;  // > 3 × 25 s without a received byte
  resolver->on_device(peers);
  resolver->on_timer();
  serve();
  EXPECT_EQ(device.calls.back(), (SetCall{kAlice, Endpoint::parse("198.51.100.7:40002"), 25}));
}

TEST_F(ResolverTest, LeavesAWorkingPeerAlone) {
  start();
  resolver->on_timer();
  serve();
  peers[0].keepalive_s = 25;
  peers[1].keepalive_s = 25;
  // WireGuard roamed: the peer's packets come from elsewhere, handshakes are fresh.
  peers[1].endpoint = Endpoint::parse("198.51.100.7:5555");
  const size_t calls = device.calls.size();
  for (int i = 0; i < 10; ++i) {
    peers[1].last_handshake_wall_us = clock.now;
    peers[1].rx_bytes += 100;
    resolver->on_device(peers);
    advance(20'000'000);
    serve();
  }
  EXPECT_EQ(device.calls.size(), calls);
  EXPECT_GE(resolver->counters().queries, 3u) << "re-resolved every interval";
  EXPECT_LE(resolver->counters().queries, 5u);
}

TEST_F(ResolverTest, RetriesAnUnreachableRegistry) {
  start();
  resolver->on_timer();
  transport.sent.clear();  // lost
  EXPECT_EQ(resolver->next_deadline_us(), clock.monotonic_us() + config.timeout_us);
  advance(config.timeout_us);
  EXPECT_EQ(resolver->peers().at(0).state, PeerStatus::State::Unreachable);
  EXPECT_EQ(resolver->counters().timeouts, 1u);
  EXPECT_TRUE(transport.sent.empty());
  advance(config.retry_us - config.timeout_us);
  EXPECT_EQ(transport.sent.size(), 1u);
  serve();
  EXPECT_EQ(resolver->peers().at(0).state, PeerStatus::State::Resolved);
}

TEST_F(ResolverTest, UnknownPeerAndForgedAnswers) {
  registry.clear();
  start();
  resolver->on_timer();
  const auto query = transport.sent.at(0);
  // An answer with another id, then garbage: both counted, neither applied.
  auto forged =
      answer(query, "example.com", {{kAlice, Endpoint::parse("192.0.2.66:1"), {}}}, false);
  forged.bytes[1] ^= 1;
  resolver->on_datagram(forged.bytes);
  resolver->on_datagram(std::vector<uint8_t>{1, 2, 3});
  EXPECT_EQ(resolver->counters().bad_answers, 2u);
  serve();
  EXPECT_EQ(resolver->peers().at(0).state, PeerStatus::State::NotRegistered);
  EXPECT_EQ(device.calls.size(), 1u);
}

TEST_F(ResolverTest, OnlyListedPeers) {
  peers.push_back({kBob, std::nullopt, {*IpPrefix::parse("10.99.0.3/32")}, 0, 0, 0});
  config.peers = {kBob};
  start();
  resolver->on_timer();
  ASSERT_EQ(transport.sent.size(), 1u);
  EXPECT_EQ(dns::parse(transport.sent[0]).questions[0].name, instance_name(kBob, "example.com"));
}

TEST_F(ResolverTest, DeviceErrorsAreKeptForDoctor) {
  device.fail = true;
  start();
  resolver->on_timer();
  serve();
  EXPECT_EQ(resolver->last_error(), "no such device");
  EXPECT_NE(resolver->peers().at(0).state, PeerStatus::State::Resolved);
}

}  // namespace
}  // namespace l2wg::discovery
