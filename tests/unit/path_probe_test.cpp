// The GRE path probe: its frame byte for byte, what the parser refuses, and the prober's verdicts
// on a fake clock, with two probers wired back to back as the two ends of a tunnel.
#include <gtest/gtest.h>

#include "fake_clock.h"
#include "l2wg/bridge/path_probe.h"
#include "l2wg/bytes.h"

namespace l2wg::probe {
namespace {

using testing::FakeClock;

const MacAddress kLab{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
const MacAddress kDorm{{0x06, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}};

TEST(PathProbeFrame, ByteForByte) {
  const auto frame = encode({Probe::Kind::Request, kLab, 0x01020304, 0x1122334455667788});
  EXPECT_EQ(to_hex(frame),
            "0180c2000002"  // never forwarded by a bridge
            "021122334455"  // the sending tap
            "88b5"          // IEEE local experimental
            "6c327767"      // "l2wg"
            "01" "01" "0000" "01020304" "1122334455667788"
            "0000000000000000000000000000000000000000000000000000");
  EXPECT_EQ(frame.size(), kFrameSize);
  EXPECT_EQ(parse(frame), (Probe{Probe::Kind::Request, kLab, 0x01020304, 0x1122334455667788}));
  const auto reply = encode({Probe::Kind::Reply, kDorm, 7, 9});
  EXPECT_EQ(parse(reply), (Probe{Probe::Kind::Reply, kDorm, 7, 9}));
}

TEST(PathProbeFrame, AnythingElseIsNoProbe) {
  const auto good = encode({Probe::Kind::Request, kLab, 1, 2});
  EXPECT_EQ(parse({good.data(), 33}), std::nullopt) << "cut short";
  EXPECT_TRUE(parse({good.data(), 34})) << "the padding is not needed";
  auto mutate = [&](size_t offset, uint8_t value) {
    auto frame = good;
    frame[offset] = value;
    return parse(frame);
  };
  EXPECT_EQ(mutate(5, 0x0e), std::nullopt) << "another destination";
  EXPECT_EQ(mutate(13, 0xb6), std::nullopt) << "another EtherType";
  EXPECT_EQ(mutate(14, 'L'), std::nullopt) << "another magic";
  EXPECT_EQ(mutate(18, 2), std::nullopt) << "a version to come";
  EXPECT_EQ(mutate(19, 3), std::nullopt) << "an unknown kind";
  EXPECT_EQ(mutate(19, 0), std::nullopt) << "an unknown kind";
}

// Frames sent by one end reach the other only while `delivering` says so.
struct Wire : Prober::Transport {
  std::vector<std::vector<uint8_t>> sent;
  void send(std::span<const uint8_t> frame) override { sent.emplace_back(frame.begin(), frame.end()); }
};

struct Ends : ::testing::Test {
  FakeClock clock;
  Wire lab_out, dorm_out;
  Prober lab{clock, lab_out, kLab};
  Prober dorm{clock, dorm_out, kDorm};
  bool lab_to_dorm = true, dorm_to_lab = true;

  // Both timers, then every frame in flight (and the replies they cause), in order.
  void step(uint64_t advance_us = Prober::kIntervalUs) {
    clock.now += advance_us;
    lab.on_timer();
    dorm.on_timer();
    for (int round = 0; round < 3; ++round) deliver();
  }
  void deliver() {
    auto from_lab = std::exchange(lab_out.sent, {});
    auto from_dorm = std::exchange(dorm_out.sent, {});
    for (const auto& f : from_lab)
      if (lab_to_dorm) dorm.on_frame(f);
    for (const auto& f : from_dorm)
      if (dorm_to_lab) lab.on_frame(f);
  }
};

TEST_F(Ends, AnsweredProbesVerifyThePathAndTellThePeersMac) {
  EXPECT_EQ(lab.verdict(), Verdict::Unverified);
  step(0);
  EXPECT_EQ(lab.verdict(), Verdict::Verified);
  EXPECT_EQ(dorm.verdict(), Verdict::Verified);
  EXPECT_EQ(lab.peer_mac(), kDorm);
  EXPECT_EQ(dorm.peer_mac(), kLab);
  EXPECT_EQ(lab.last_reply_wall_us(), clock.now);
}

TEST_F(Ends, OneRequestPerInterval) {
  clock.now += 1;
  lab.on_timer();
  lab.on_timer();
  EXPECT_EQ(lab_out.sent.size(), 1u);
  EXPECT_EQ(lab.next_deadline_us(), clock.monotonic_us() + Prober::kIntervalUs);
  clock.now += Prober::kIntervalUs;
  lab.on_timer();
  EXPECT_EQ(lab_out.sent.size(), 2u);
}

TEST_F(Ends, TheRoundTripIsTheEchoedTimestampsAge) {
  lab.on_timer();
  dorm.on_frame(lab_out.sent.at(0));
  clock.now += 1500;
  lab.on_frame(dorm_out.sent.at(0));
  EXPECT_EQ(lab.round_trip_us(), 1500u);
}

// The lab's firewall drops GRE arriving on its WireGuard interface: the lab hears nothing (inbound
// lost), the dorm hears the lab's requests but never a reply (outbound lost).
TEST_F(Ends, ADropInOneDirectionIsToldApartOnBothEnds) {
  step(0);
  dorm_to_lab = false;
  step();
  EXPECT_EQ(lab.verdict(), Verdict::Verified) << "not stale yet";
  step();
  step();
  step();
  EXPECT_EQ(lab.verdict(), Verdict::InboundLost);
  EXPECT_EQ(dorm.verdict(), Verdict::OutboundLost);
  dorm_to_lab = true;
  step();
  EXPECT_EQ(lab.verdict(), Verdict::Verified);
  EXPECT_EQ(dorm.verdict(), Verdict::Verified);
}

// Both ends start together: the far end's first request arrives before the reply to ours. That is
// no lost path: ours get the same time to be answered as any.
TEST_F(Ends, AFarRequestBeforeTheFirstReplyIsNoAlarm) {
  lab.on_timer();
  dorm.on_timer();
  lab.on_frame(dorm_out.sent.at(0));  // the dorm's request reaches the lab first
  EXPECT_EQ(lab.verdict(), Verdict::Unverified);
  clock.now += Prober::kStaleUs;
  EXPECT_EQ(lab.verdict(), Verdict::Unverified) << "still within the time a reply may take";
  clock.now += 1;
  EXPECT_EQ(lab.verdict(), Verdict::InboundLost) << "heard from, never answered, silent since";
}

TEST_F(Ends, AFarEndThatNeverAnswersIsUnverifiedNotBroken) {
  lab_to_dorm = dorm_to_lab = false;
  for (int i = 0; i < 10; ++i) step();
  EXPECT_EQ(lab.verdict(), Verdict::Unverified);
  EXPECT_EQ(lab.peer_mac(), std::nullopt);
}

TEST_F(Ends, RepliesAreRateLimitedAndForeignRepliesIgnored) {
  const auto request = encode({Probe::Kind::Request, kDorm, 1, clock.monotonic_us()});
  for (int i = 0; i < 100; ++i) lab.on_frame(request);
  EXPECT_EQ(lab_out.sent.size(), Prober::kRepliesPerSecond);
  clock.now += 1'000'000;
  lab.on_frame(request);
  EXPECT_EQ(lab_out.sent.size(), Prober::kRepliesPerSecond + 1);

  // A reply to a request never sent, from the future, or from our own MAC: no answer.
  lab.on_frame(encode({Probe::Kind::Reply, kDorm, 5, clock.monotonic_us()}));
  lab.on_frame(encode({Probe::Kind::Reply, kDorm, 0, clock.monotonic_us() + 1}));
  lab.on_frame(encode({Probe::Kind::Reply, kLab, 0, clock.monotonic_us()}));
  EXPECT_EQ(lab.last_reply_wall_us(), 0u);
  EXPECT_EQ(lab.verdict(), Verdict::Unverified) << "ours have not had their time yet";
  clock.now += Prober::kStaleUs;
  lab.on_frame(request);
  EXPECT_EQ(lab.verdict(), Verdict::OutboundLost) << "the far end's requests arrive, ours do not";
}

}  // namespace
}  // namespace l2wg::probe
