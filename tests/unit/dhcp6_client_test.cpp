// The DHCPv6 client state machine on a fake clock: every timer path runs in microseconds. Tests
// read what the client sent with parse() and answer with packets made by encode() (and a few raw
// byte packets for what encode() cannot produce).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "l2wg/bytes.h"
#include "l2wg/dhcp6/client.h"
#include "l2wg/dhcp6/message.h"
#include "l2wg/error.h"

namespace l2wg::dhcp6 {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Bytes = std::vector<uint8_t>;

constexpr uint64_t kSec = 1'000'000;
constexpr uint64_t kNever = UINT64_MAX;
constexpr uint32_t kInfinite = 0xffffffff;
constexpr uint32_t kIaid = 0x01020304;
constexpr uint64_t kMonoStart = 5'000 * kSec;
constexpr uint64_t kWallStart = 1'700'000'000 * kSec;
// RAND = 0 (to a part in 10^10): RTs are exactly IRT, 2*IRT..., delays half their range.
constexpr uint32_t kRandMiddle = 0x80000000;
constexpr uint32_t kRandLowest = 0;            // RAND = -0.1
constexpr uint32_t kRandHighest = 0xffffffff;  // RAND = +0.1

const Duid kClientDuid{*from_hex("0003000102005e100001")};
const Duid kServerA{*from_hex("0003000102005e100002")};
const Duid kServerB{*from_hex("0003000102005e100003")};

IpPrefix ip_prefix(const char* text) {
  return *IpPrefix::parse(text, /*strict=*/true);
}

IaPrefix pfx(const char* text, uint32_t preferred, uint32_t valid) {
  const IpPrefix prefix = ip_prefix(text);
  IaPrefix out;
  out.preferred_lifetime = preferred;
  out.valid_lifetime = valid;
  out.length = prefix.length;
  out.prefix = prefix.address;
  return out;
}

IaPd ia_pd(uint32_t iaid, uint32_t t1, uint32_t t2, std::vector<IaPrefix> prefixes) {
  IaPd ia;
  ia.iaid = iaid;
  ia.t1 = t1;
  ia.t2 = t2;
  ia.prefixes = std::move(prefixes);
  return ia;
}

// A server's answer to `to`: same transaction id, the client's DUID, the server's.
Message answer(MessageType type, const Message& to, const Duid& server, std::vector<IaPd> ias) {
  Message m;
  m.type = type;
  m.transaction_id = to.transaction_id;
  m.client_id = to.client_id;
  m.server_id = server;
  m.ia_pds = std::move(ias);
  return m;
}

class FakeClock : public Clock {
 public:
  uint64_t monotonic_us() override { return mono; }
  uint64_t wall_us() override { return wall; }
  void advance_to(uint64_t to) {
    ASSERT_GE(to, mono);
    wall += to - mono;
    mono = to;
  }
  uint64_t mono = kMonoStart;
  uint64_t wall = kWallStart;
};

class FakeTransport : public Transport {
 public:
  void send(std::span<const uint8_t> packet) override {
    if (refusal) throw Error(ErrorCode::Io, *refusal);
    packets.emplace_back(packet.begin(), packet.end());
    times.push_back(clock->mono);
  }
  FakeClock* clock = nullptr;
  std::optional<std::string> refusal;  // set: every send() fails with it
  std::vector<Bytes> packets;
  std::vector<uint64_t> times;  // monotonic µs of each send
};

class FakeRandom : public Random {
 public:
  uint32_t next() override {
    if (!queued.empty()) {
      const uint32_t value = queued.front();
      queued.pop_front();
      return value;
    }
    return source ? source() : kRandMiddle;
  }
  std::deque<uint32_t> queued;       // used first
  std::function<uint32_t()> source;  // then this, or RAND 0
};

// A linear congruential generator: many RAND values spread over the whole range.
std::function<uint32_t()> lcg(uint32_t seed) {
  return [state = seed]() mutable { return state = state * 1664525u + 1013904223u; };
}

class Recorder : public Observer {
 public:
  void prefix_added(const DelegatedPrefix& prefix, const Lease& lease) override {
    events.push_back("added " + prefix.prefix.str());
    EXPECT_THAT(lease.prefixes, Contains(prefix));
    added.push_back(prefix);
  }
  void prefix_changed(const DelegatedPrefix& prefix, const Lease& lease) override {
    events.push_back("changed " + prefix.prefix.str());
    EXPECT_THAT(lease.prefixes, Contains(prefix));
    changed.push_back(prefix);
  }
  void prefix_lost(const IpPrefix& prefix, std::string_view reason) override {
    events.push_back("lost " + prefix.str() + " " + std::string(reason));
  }
  void lease_changed(const std::optional<Lease>& lease) override {
    events.push_back(lease ? "lease" : "lease null");
    leases.push_back(lease);
  }
  void state_changed(State state) override {
    events.push_back(std::string("state ") + to_string(state));
  }
  void message_sent(MessageType type, uint32_t) override {
    events.push_back(std::string("sent ") + to_string(type));
  }
  void message_received(MessageType type, uint32_t) override {
    events.push_back(std::string("received ") + to_string(type));
  }
  void message_dropped(std::string_view reason) override {
    events.push_back("dropped " + std::string(reason));
    dropped.emplace_back(reason);
  }
  void clear() {
    events.clear();
    leases.clear();
    dropped.clear();
    added.clear();
    changed.clear();
  }

  std::vector<std::string> events;
  std::vector<std::optional<Lease>> leases;
  std::vector<std::string> dropped;
  std::vector<DelegatedPrefix> added;
  std::vector<DelegatedPrefix> changed;
};

class Dhcp6ClientTest : public ::testing::Test {
 protected:
  Dhcp6ClientTest() {
    transport_.clock = &clock_;
    config_.client_id = kClientDuid;
    config_.iaid = kIaid;
    config_.initial_delay = false;
  }

  void create(std::optional<Lease> stored = std::nullopt) {
    client_ = std::make_unique<Client>(config_, std::move(stored), clock_, transport_, random_,
                                       observer_);
  }
  void start(std::optional<Lease> stored = std::nullopt) {
    create(std::move(stored));
    client_->start();
  }

  uint64_t now() const { return clock_.mono; }
  size_t sent_count() const { return transport_.packets.size(); }
  Message sent(size_t index) const {
    auto result = parse(transport_.packets.at(index));
    if (auto* error = std::get_if<ParseError>(&result)) {
      ADD_FAILURE() << "the client sent a packet it cannot parse: " << error->reason;
      return {};
    }
    EXPECT_THAT(std::get<Parsed>(result).dropped, IsEmpty());
    return std::get<Parsed>(result).message;
  }
  Message last() const { return sent(sent_count() - 1); }
  uint64_t last_time() const { return transport_.times.back(); }

  void deliver(const Message& message) { deliver_raw(encode(message)); }
  // A packet of `type` answering `to`, with options written out in hex: for what encode() cannot
  // produce.
  static Bytes raw_answer(MessageType type, const Message& to, const std::string& options) {
    Bytes packet = {static_cast<uint8_t>(type), static_cast<uint8_t>(to.transaction_id >> 16),
                    static_cast<uint8_t>(to.transaction_id >> 8),
                    static_cast<uint8_t>(to.transaction_id)};
    const Bytes rest = *from_hex(options);
    packet.insert(packet.end(), rest.begin(), rest.end());
    return packet;
  }
  void deliver_raw(const Bytes& packet) {
    client_->receive(packet);
    if (auto deadline = client_->next_deadline_us()) {
      EXPECT_GE(*deadline, now());
    }
  }

  // Fires the next deadline, if any, at its time; returns whether there was one.
  bool fire_next() {
    const auto deadline = client_->next_deadline_us();
    if (!deadline) return false;
    clock_.advance_to(*deadline);
    client_->on_timer();
    // A deadline that on_timer() did not move past would make the owner spin.
    if (auto next = client_->next_deadline_us()) {
      EXPECT_GT(*next, now()) << "busy timer";
    }
    return true;
  }
  // Fires every deadline up to `to`, then sets the clock to `to`.
  void run_until(uint64_t to) {
    for (int guard = 0; guard < 100000; ++guard) {
      const auto deadline = client_->next_deadline_us();
      if (!deadline || *deadline > to) {
        clock_.advance_to(to);
        return;
      }
      fire_next();
    }
    FAIL() << "timers never settle";
  }
  void run_for(uint64_t duration) { run_until(now() + duration); }
  // Fires deadlines until the client sends something; returns the time it did.
  uint64_t run_until_sent() {
    const size_t before = sent_count();
    for (int guard = 0; guard < 1000 && sent_count() == before; ++guard)
      if (!fire_next()) break;
    EXPECT_GT(sent_count(), before) << "nothing was sent";
    return last_time();
  }

  static std::vector<IaPrefix> default_prefixes() { return {pfx("2001:db8:100::/56", 1000, 2000)}; }
  // Answers a Solicit with an Advertise of preference 255 and the Request with a Reply.
  // Starts and answers the Solicit with a preference-255 Advertise from kServerA, which the
  // client Requests at once.
  void start_requesting(const std::vector<IaPrefix>& prefixes = default_prefixes(),
                        uint32_t t1 = 0, uint32_t t2 = 0) {
    if (!client_) start();
    EXPECT_EQ(last().type, MessageType::Solicit);
    Message advertise =
        answer(MessageType::Advertise, last(), kServerA, {ia_pd(kIaid, t1, t2, prefixes)});
    advertise.preference = 255;
    deliver(advertise);
    EXPECT_EQ(last().type, MessageType::Request);
  }

  Message bind(std::vector<IaPrefix> prefixes = default_prefixes(), uint32_t t1 = 500,
               uint32_t t2 = 800) {
    start_requesting(prefixes, t1, t2);
    Message reply = answer(MessageType::Reply, last(), kServerA, {ia_pd(kIaid, t1, t2, prefixes)});
    reply.dns_servers = {*IpAddress::parse("2001:db8::53")};
    reply.domain_search = {"example.com"};
    deliver(reply);
    EXPECT_EQ(client_->state(), State::Bound);
    return reply;
  }

  FakeClock clock_;
  FakeTransport transport_;
  FakeRandom random_;
  Recorder observer_;
  ClientConfig config_;
  std::unique_ptr<Client> client_;
};

// ---- Solicit ----

TEST_F(Dhcp6ClientTest, SolicitBytes) {
  config_.prefix_length_hint = 56;
  random_.queued = {0xab123456};  // the transaction id (24 bits)
  start();
  ASSERT_EQ(sent_count(), 1u);
  EXPECT_EQ(transport_.packets[0],
            *from_hex("01 123456"
                     "0001 000a 0003000102005e100001"        // Client Identifier
                     "0006 000a 0017 0018 0043 0052 0053"    // ORO 23 24 67 82 83
                     "0008 0002 0000"                        // Elapsed Time 0
                     "0019 0029 01020304 00000000 00000000"  // IA_PD, T1 = T2 = 0
                     "  001a 0019 00000000 00000000 38"      // IA Prefix hint ::/56
                     "  00000000000000000000000000000000"));
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_THAT(observer_.events, ElementsAre("state soliciting", "sent SOLICIT"));
  EXPECT_EQ(client_->counters().sent, 1u);
}

TEST_F(Dhcp6ClientTest, SolicitWithRapidCommitAndNoHint) {
  config_.rapid_commit = true;
  start();
  const Message solicit = last();
  EXPECT_TRUE(solicit.rapid_commit);
  ASSERT_EQ(solicit.ia_pds.size(), 1u);
  EXPECT_THAT(solicit.ia_pds[0].prefixes, IsEmpty());
  EXPECT_EQ(solicit.ia_pds[0].iaid, kIaid);
  EXPECT_FALSE(solicit.server_id);
}

TEST_F(Dhcp6ClientTest, InitialDelayWithinSolMaxDelay) {
  config_.initial_delay = true;
  for (uint32_t value : {kRandLowest, kRandMiddle, kRandHighest, 0x12345678u}) {
    transport_.packets.clear();
    transport_.times.clear();
    random_.queued = {value};
    const uint64_t started = now();
    start();
    EXPECT_EQ(client_->state(), State::Delaying);
    EXPECT_EQ(sent_count(), 0u);
    const uint64_t deadline = *client_->next_deadline_us();
    EXPECT_GE(deadline, started);
    EXPECT_LE(deadline, started + kSec);
    const double expected = value / 4294967296.0 * kSec;
    EXPECT_NEAR(static_cast<double>(deadline - started), expected, 2.0);
    if (deadline > started) {
      run_until(deadline - 1);
      EXPECT_EQ(sent_count(), 0u);
    }
    fire_next();
    ASSERT_EQ(sent_count(), 1u);
    EXPECT_EQ(last().type, MessageType::Solicit);
    EXPECT_EQ(last_time(), deadline);
    EXPECT_EQ(*last().elapsed_time, 0);
    run_for(2 * kSec);
  }
}

TEST_F(Dhcp6ClientTest, SolicitRetransmissionBounds) {
  random_.source = lcg(1);
  start();
  const uint32_t xid = last().transaction_id;
  const uint64_t first = last_time();
  std::vector<uint64_t> rts;
  uint64_t previous = first;
  for (int i = 0; i < 30; ++i) {
    const uint64_t at = run_until_sent();
    const Message solicit = last();
    EXPECT_EQ(solicit.transaction_id, xid) << "a retransmission keeps the transaction id";
    const uint64_t elapsed = std::min<uint64_t>((at - first) / 10'000, 0xffff);
    EXPECT_EQ(*solicit.elapsed_time, elapsed);
    rts.push_back(at - previous);
    previous = at;
  }
  // First RT: IRT + RAND*IRT with RAND strictly positive.
  EXPECT_GT(rts[0], 1 * kSec);
  EXPECT_LE(rts[0], 1'100'000u);
  const uint64_t mrt = 3600 * kSec;
  for (size_t i = 1; i < rts.size(); ++i) {
    const double doubled_low = 1.9 * rts[i - 1], doubled_high = 2.1 * rts[i - 1];
    const bool doubled = rts[i] >= doubled_low - 1 && rts[i] <= doubled_high + 1;
    const bool capped = rts[i] >= 0.9 * mrt - 1 && rts[i] <= 1.1 * mrt + 1;
    EXPECT_TRUE(doubled || capped) << "RT " << i << ": " << rts[i] << " after " << rts[i - 1];
    EXPECT_LE(rts[i], 1.1 * mrt + 1);
  }
  EXPECT_GE(rts.back(), 0.9 * mrt - 1) << "reached SOL_MAX_RT";
  EXPECT_EQ(*last().elapsed_time, 0xffff) << "capped";
  EXPECT_EQ(client_->state(), State::Soliciting) << "Solicit never gives up (MRC = MRD = 0)";
}

TEST_F(Dhcp6ClientTest, FirstSolicitRtIsAboveIrtEvenForTheLowestRand) {
  random_.queued = {0, kRandLowest};
  start();
  EXPECT_EQ(*client_->next_deadline_us(), now() + 1 * kSec + 1);
  random_.queued = {0, kRandHighest};
  start();
  EXPECT_EQ(*client_->next_deadline_us(), now() + 1'100'000);
}

TEST_F(Dhcp6ClientTest, SolicitRtExact) {
  // RAND = 0 after the first: RTs are 1.05 s, 2.1 s, 4.2 s...
  start();
  EXPECT_EQ(run_until_sent() - kMonoStart, 1'050'000u);
  EXPECT_EQ(run_until_sent() - kMonoStart, 3'150'000u);
  EXPECT_EQ(run_until_sent() - kMonoStart, 7'350'000u);
  EXPECT_EQ(*last().elapsed_time, 735);
}

// ---- server selection ----

TEST_F(Dhcp6ClientTest, Preference255IsTakenAtOnce) {
  random_.queued = {0x000001, kRandMiddle, 0x000002};  // xid, RT, xid
  start();
  const Message solicit = last();
  Message low = answer(MessageType::Advertise, solicit, kServerB,
                       {ia_pd(kIaid, 0, 0, {pfx("2001:db8:200::/56", 100, 200)})});
  low.preference = 10;
  deliver(low);
  EXPECT_EQ(sent_count(), 1u) << "waits for the first RT";
  Message best = answer(MessageType::Advertise, solicit, kServerA,
                        {ia_pd(kIaid, 0, 0, {pfx("2001:db8:100::/56", 100, 200)})});
  best.preference = 255;
  deliver(best);
  ASSERT_EQ(sent_count(), 2u);
  EXPECT_EQ(last_time(), kMonoStart);
  const Message request = last();
  EXPECT_EQ(request.type, MessageType::Request);
  EXPECT_EQ(request.server_id, kServerA);
  EXPECT_EQ(request.client_id, kClientDuid);
  EXPECT_NE(request.transaction_id, solicit.transaction_id);
  EXPECT_EQ(*request.elapsed_time, 0);
  EXPECT_THAT(request.option_request, Contains(option::kSolMaxRt));
  ASSERT_EQ(request.ia_pds.size(), 1u);
  EXPECT_EQ(request.ia_pds[0].iaid, kIaid);
  ASSERT_EQ(request.ia_pds[0].prefixes.size(), 1u);
  EXPECT_EQ(request.ia_pds[0].prefixes[0].prefix, *IpAddress::parse("2001:db8:100::"));
  EXPECT_EQ(request.ia_pds[0].prefixes[0].length, 56);
  EXPECT_EQ(client_->state(), State::Requesting);
}

TEST_F(Dhcp6ClientTest, BestAdvertiseAtTheEndOfTheFirstRt) {
  random_.queued = {0x000001};  // xid of the Solicit
  start();
  const Message solicit = last();
  const auto advertise = [&](const Duid& server, std::optional<uint8_t> preference,
                             const char* prefix) {
    Message m = answer(MessageType::Advertise, solicit, server,
                       {ia_pd(kIaid, 0, 0, {pfx(prefix, 100, 200)})});
    m.preference = preference;
    return m;
  };
  const Duid serverC{*from_hex("0003000102005e100004")};
  deliver(advertise(kServerB, std::nullopt, "2001:db8:200::/56"));
  deliver(advertise(kServerA, 20, "2001:db8:100::/56"));
  deliver(advertise(serverC, 20, "2001:db8:300::/56"));  // a tie: the first one stays
  EXPECT_EQ(sent_count(), 1u);
  EXPECT_EQ(client_->counters().received, 3u);
  const uint64_t at = run_until_sent();
  EXPECT_EQ(at, kMonoStart + 1'050'000) << "at the end of the first RT";
  EXPECT_EQ(last().type, MessageType::Request);
  EXPECT_EQ(last().server_id, kServerA);
  EXPECT_EQ(last().ia_pds[0].prefixes[0].prefix, *IpAddress::parse("2001:db8:100::"));
}

TEST_F(Dhcp6ClientTest, AfterTheFirstRtTheFirstAdvertiseWins) {
  start();
  run_until_sent();  // the first RT ends without an Advertise: retransmitted
  EXPECT_EQ(last().type, MessageType::Solicit);
  Message m = answer(MessageType::Advertise, last(), kServerB,
                     {ia_pd(kIaid, 0, 0, {pfx("2001:db8:200::/56", 100, 200)})});
  m.preference = 1;
  deliver(m);
  EXPECT_EQ(last().type, MessageType::Request);
  EXPECT_EQ(last().server_id, kServerB);
  EXPECT_EQ(last_time(), now());
}

TEST_F(Dhcp6ClientTest, AdvertisesWithoutPrefixesAreIgnoredButSolMaxRtIsTaken) {
  start();
  const Message solicit = last();
  // NoPrefixAvail at the top (§18.3.1's form) and in the IA_PD, and an empty IA_PD.
  Message top = answer(MessageType::Advertise, solicit, kServerA, {});
  top.status = Status{status_code::kNoPrefixAvail, "none left"};
  top.sol_max_rt = 100;
  deliver(top);
  IaPd refused = ia_pd(kIaid, 0, 0, {});
  refused.status = Status{status_code::kNoPrefixAvail, ""};
  Message in_ia = answer(MessageType::Advertise, solicit, kServerA, {refused});
  in_ia.preference = 255;
  in_ia.inf_max_rt = 120;
  deliver(in_ia);
  Message empty = answer(MessageType::Advertise, solicit, kServerA, {ia_pd(kIaid, 0, 0, {})});
  empty.preference = 255;
  deliver(empty);
  EXPECT_EQ(sent_count(), 1u);
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_EQ(client_->sol_max_rt(), 100u);
  EXPECT_EQ(client_->inf_max_rt(), 120u);
  EXPECT_EQ(client_->counters().dropped_unexpected, 3u);
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("NoPrefixAvail")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("no usable prefix")));

  // The new SOL_MAX_RT caps the retransmissions: 100 s ± 10%.
  random_.source = lcg(7);
  uint64_t previous = last_time();
  for (int i = 0; i < 12; ++i) {
    const uint64_t at = run_until_sent();
    EXPECT_LE(at - previous, 110 * kSec);
    previous = at;
  }
  EXPECT_GE(last_time() - transport_.times[sent_count() - 2], 90 * kSec);
}

TEST_F(Dhcp6ClientTest, SolMaxRtOutOfRangeIsIgnored) {
  start();
  for (uint32_t value : {0u, 59u, 86401u, kInfinite}) {
    Message m = answer(MessageType::Advertise, last(), kServerA, {});
    m.status = Status{status_code::kNoPrefixAvail, ""};
    m.sol_max_rt = value;
    m.inf_max_rt = value;
    deliver(m);
  }
  EXPECT_EQ(client_->sol_max_rt(), 3600u);
  EXPECT_EQ(client_->inf_max_rt(), 3600u);
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("SOL_MAX_RT 59 outside 60..86400")));
  Message edge = answer(MessageType::Advertise, last(), kServerA, {});
  edge.status = Status{status_code::kNoPrefixAvail, ""};
  edge.sol_max_rt = 86400;
  edge.inf_max_rt = 60;
  deliver(edge);
  EXPECT_EQ(client_->sol_max_rt(), 86400u);
  EXPECT_EQ(client_->inf_max_rt(), 60u);
}

TEST_F(Dhcp6ClientTest, SolMaxRtFromAReplyToo) {
  const Message reply = bind();
  (void)reply;
  run_until(*client_->next_deadline_us());  // T1
  ASSERT_EQ(last().type, MessageType::Renew);
  Message m = answer(MessageType::Reply, last(), kServerA, {});
  m.status = Status{status_code::kUnspecFail, ""};
  m.sol_max_rt = 300;
  deliver(m);
  EXPECT_EQ(client_->sol_max_rt(), 300u);
}

// ---- Rapid Commit ----

TEST_F(Dhcp6ClientTest, RapidCommitBindsFromTheSolicit) {
  config_.rapid_commit = true;
  start();
  const Message solicit = last();
  Message no_commit =
      answer(MessageType::Reply, solicit, kServerA, {ia_pd(kIaid, 500, 800, default_prefixes())});
  deliver(no_commit);
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("without Rapid Commit")));
  Message reply = no_commit;
  reply.rapid_commit = true;
  deliver(reply);
  EXPECT_EQ(client_->state(), State::Bound);
  EXPECT_EQ(sent_count(), 1u) << "no Request";
  ASSERT_TRUE(client_->lease());
  EXPECT_EQ(client_->lease()->prefixes[0].prefix, ip_prefix("2001:db8:100::/56"));
}

TEST_F(Dhcp6ClientTest, ReplyToASolicitWithoutRapidCommitConfiguredIsUnexpected) {
  start();
  Message reply =
      answer(MessageType::Reply, last(), kServerA, {ia_pd(kIaid, 500, 800, default_prefixes())});
  reply.rapid_commit = true;
  deliver(reply);
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_EQ(client_->counters().dropped_unexpected, 1u);
  EXPECT_THAT(observer_.dropped, Contains("REPLY not expected while soliciting"));
}

// ---- Request ----

TEST_F(Dhcp6ClientTest, RequestRetransmissionAndMrc) {
  start_requesting();
  const Message request = last();
  const uint64_t first = last_time();
  random_.source = lcg(3);
  uint64_t previous = first, previous_rt = 0;
  for (int i = 1; i < 10; ++i) {
    const uint64_t at = run_until_sent();
    const Message again = last();
    ASSERT_EQ(again.type, MessageType::Request);
    EXPECT_EQ(again.transaction_id, request.transaction_id);
    EXPECT_EQ(*again.elapsed_time, (at - first) / 10'000);
    const uint64_t rt = at - previous;
    if (i == 1) {
      EXPECT_EQ(rt, 1 * kSec) << "RAND 0 for the first";
    } else {
      const bool doubled = rt >= 1.9 * previous_rt - 1 && rt <= 2.1 * previous_rt + 1;
      const bool capped = rt >= 27 * kSec - 1 && rt <= 33 * kSec + 1;
      EXPECT_TRUE(doubled || capped) << rt << " after " << previous_rt;
      EXPECT_LE(rt, 33 * kSec + 1);
    }
    previous_rt = rt;
    previous = at;
  }
  EXPECT_EQ(sent_count(), 11u) << "1 Solicit and REQ_MAX_RC = 10 Requests";
  EXPECT_GE(previous_rt, 27 * kSec - 1) << "REQ_MAX_RT reached";
  // After the tenth, the exchange fails at the end of its RT: back to Solicit.
  const uint64_t at = run_until_sent();
  EXPECT_GE(at - previous, 27 * kSec - 1);
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_EQ(*last().elapsed_time, 0);
}

TEST_F(Dhcp6ClientTest, ReplyToRequestBinds) {
  const Message reply = bind();
  const uint64_t t = now();
  const uint64_t wall = clock_.wall;
  ASSERT_TRUE(client_->lease());
  const Lease& lease = *client_->lease();
  EXPECT_EQ(lease.iaid, kIaid);
  EXPECT_EQ(lease.server_id, kServerA);
  EXPECT_EQ(lease.renew_at_us, wall + 500 * kSec);
  EXPECT_EQ(lease.rebind_at_us, wall + 800 * kSec);
  ASSERT_EQ(lease.prefixes.size(), 1u);
  EXPECT_EQ(lease.prefixes[0], (DelegatedPrefix{ip_prefix("2001:db8:100::/56"), wall + 1000 * kSec,
                                                wall + 2000 * kSec, std::nullopt}));
  EXPECT_THAT(lease.dns_servers, ElementsAre(*IpAddress::parse("2001:db8::53")));
  EXPECT_THAT(lease.domain_search, ElementsAre("example.com"));
  EXPECT_THAT(observer_.events,
              ElementsAre("state soliciting", "sent SOLICIT", "received ADVERTISE",
                          "state requesting", "sent REQUEST", "received REPLY", "state bound",
                          "lease", "added 2001:db8:100::/56"));
  ASSERT_EQ(observer_.leases.size(), 1u);
  EXPECT_EQ(observer_.leases[0], client_->lease());
  EXPECT_EQ(*client_->next_deadline_us(), t + 500 * kSec);
  EXPECT_EQ(client_->counters(), (Counters{2, 2, 0, 0}));
}

TEST_F(Dhcp6ClientTest, PrefixExcludeIsKept) {
  start();
  IaPrefix prefix = pfx("2001:db8:100::/56", 1000, 2000);
  prefix.exclude = ip_prefix("2001:db8:100:ff::/64");
  bind({prefix});
  EXPECT_EQ(client_->lease()->prefixes[0].exclude, ip_prefix("2001:db8:100:ff::/64"));
  EXPECT_EQ(observer_.added.at(0).exclude, ip_prefix("2001:db8:100:ff::/64"));
}

// ---- T1/T2 and lifetimes ----

TEST_F(Dhcp6ClientTest, T1AndT2OfZeroAreChosenFromTheShortestPreferredLifetime) {
  bind({pfx("2001:db8:100::/56", 1000, 2000), pfx("2001:db8:200::/56", 400, 3000)}, 0, 0);
  const uint64_t wall = clock_.wall;
  EXPECT_EQ(client_->lease()->renew_at_us, wall + 200 * kSec);
  EXPECT_EQ(client_->lease()->rebind_at_us, wall + 320 * kSec);
  const uint64_t bound_at = now();
  run_until_sent();
  EXPECT_EQ(last().type, MessageType::Renew);
  EXPECT_EQ(last_time(), bound_at + 200 * kSec);
}

TEST_F(Dhcp6ClientTest, T1GreaterThanT2DiscardsTheIaPd) {
  start_requesting();
  deliver(
      answer(MessageType::Reply, last(), kServerA, {ia_pd(kIaid, 900, 800, default_prefixes())}));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("T1 > T2 in IA_PD 0x01020304")));
  EXPECT_FALSE(client_->lease());
  EXPECT_EQ(client_->state(), State::Delaying) << "counted as NoPrefixAvail";
}

TEST_F(Dhcp6ClientTest, InfiniteLifetimes) {
  bind({pfx("2001:db8:100::/56", kInfinite, kInfinite)}, kInfinite, kInfinite);
  const Lease& lease = *client_->lease();
  EXPECT_EQ(lease.prefixes[0].preferred_until_us, kNever);
  EXPECT_EQ(lease.prefixes[0].valid_until_us, kNever);
  EXPECT_EQ(lease.renew_at_us, kNever);
  EXPECT_EQ(lease.rebind_at_us, kNever);
  EXPECT_FALSE(client_->next_deadline_us()) << "nothing to do, ever";
}

TEST_F(Dhcp6ClientTest, InfiniteLifetimesWithT1AndT2OfZero) {
  bind({pfx("2001:db8:100::/56", kInfinite, kInfinite)}, 0, 0);
  EXPECT_EQ(client_->lease()->renew_at_us, kNever);
  EXPECT_FALSE(client_->next_deadline_us());
}

TEST_F(Dhcp6ClientTest, RenewAtT1ThenRebindAtT2ThenExpiry) {
  bind();
  const uint64_t bound_at = now();
  const Lease held = *client_->lease();
  observer_.clear();

  // Renew at T1, with the Server ID, on REN timing (10 s, doubling, at most 600 s) until T2.
  random_.source = lcg(11);
  EXPECT_EQ(run_until_sent(), bound_at + 500 * kSec);
  const Message renew = last();
  EXPECT_EQ(renew.type, MessageType::Renew);
  EXPECT_EQ(renew.server_id, kServerA);
  EXPECT_EQ(renew.client_id, kClientDuid);
  EXPECT_EQ(*renew.elapsed_time, 0);
  EXPECT_THAT(renew.option_request, Contains(option::kSolMaxRt));
  ASSERT_EQ(renew.ia_pds.size(), 1u);
  EXPECT_EQ(renew.ia_pds[0].iaid, kIaid);
  EXPECT_EQ(renew.ia_pds[0].t1, 0u);
  ASSERT_EQ(renew.ia_pds[0].prefixes.size(), 1u);
  EXPECT_EQ(renew.ia_pds[0].prefixes[0].valid_lifetime, 0u);
  EXPECT_EQ(renew.ia_pds[0].prefixes[0].length, 56);
  EXPECT_EQ(client_->state(), State::Renewing);

  uint64_t previous = last_time();
  uint64_t at = run_until_sent();
  EXPECT_GE(at - previous, 9 * kSec);
  EXPECT_LE(at - previous, 11 * kSec);
  EXPECT_EQ(last().transaction_id, renew.transaction_id);
  while (last().type == MessageType::Renew) {
    previous = at;
    at = run_until_sent();
    if (last().type == MessageType::Renew) {
      EXPECT_LE(at - previous, 660 * kSec);
    }
  }
  // MRD = T2: the Rebind starts exactly then, without a Server ID.
  EXPECT_EQ(at, bound_at + 800 * kSec);
  const Message rebind = last();
  EXPECT_EQ(rebind.type, MessageType::Rebind);
  EXPECT_FALSE(rebind.server_id);
  EXPECT_NE(rebind.transaction_id, renew.transaction_id);
  EXPECT_EQ(rebind.ia_pds[0].prefixes.size(), 1u);
  EXPECT_EQ(client_->state(), State::Rebinding);
  EXPECT_EQ(client_->lease(), held) << "the lease is kept while Renewing and Rebinding";

  // REB timing until the valid lifetime ends (2000 s), then the prefix is lost.
  previous = at;
  at = run_until_sent();
  EXPECT_GE(at - previous, 9 * kSec);
  EXPECT_LE(at - previous, 11 * kSec);
  while (last().type == MessageType::Rebind) {
    previous = at;
    at = run_until_sent();
    if (last().type == MessageType::Rebind) {
      EXPECT_LE(at - previous, 660 * kSec);
    }
  }
  EXPECT_EQ(at, bound_at + 2000 * kSec);
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_FALSE(client_->lease());
  EXPECT_THAT(observer_.events, Contains("lost 2001:db8:100::/56 expired"));
  EXPECT_THAT(observer_.events, Contains("lease null"));
  EXPECT_EQ(observer_.leases.back(), std::nullopt);
}

TEST_F(Dhcp6ClientTest, RenewReplyExtendsTheLease) {
  bind();
  run_until_sent();  // T1
  observer_.clear();
  const Message renew = last();
  run_for(3 * kSec);
  Message reply = answer(MessageType::Reply, renew, kServerA,
                         {ia_pd(kIaid, 600, 900, {pfx("2001:db8:100::/56", 1200, 2400)})});
  reply.dns_servers = {*IpAddress::parse("2001:db8::54")};
  deliver(reply);
  const uint64_t wall = clock_.wall;
  EXPECT_EQ(client_->state(), State::Bound);
  const Lease& lease = *client_->lease();
  EXPECT_EQ(lease.renew_at_us, wall + 600 * kSec);
  EXPECT_EQ(lease.prefixes[0].valid_until_us, wall + 2400 * kSec);
  EXPECT_THAT(lease.dns_servers, ElementsAre(*IpAddress::parse("2001:db8::54")));
  EXPECT_THAT(lease.domain_search, IsEmpty());
  EXPECT_THAT(observer_.events,
              ElementsAre("received REPLY", "state bound", "lease", "changed 2001:db8:100::/56"));
  EXPECT_EQ(observer_.leases.back(), client_->lease());
  EXPECT_EQ(*client_->next_deadline_us(), now() + 600 * kSec);
}

TEST_F(Dhcp6ClientTest, RenewReplyWithoutAHeldPrefixKeepsItUntilItRunsOut) {
  bind({pfx("2001:db8:100::/56", 1000, 2000), pfx("2001:db8:200::/56", 1000, 2000)});
  const DelegatedPrefix second = client_->lease()->prefixes[1];
  run_until_sent();  // T1
  observer_.clear();
  deliver(answer(
      MessageType::Reply, last(), kServerA,
      {ia_pd(kIaid, 500, 800,
             {pfx("2001:db8:100::/56", 1000, 2000), pfx("2001:db8:300::/56", 1000, 2000)})}));
  const Lease& lease = *client_->lease();
  ASSERT_EQ(lease.prefixes.size(), 3u);
  EXPECT_EQ(lease.prefixes[1], second) << "old lifetimes";
  EXPECT_EQ(lease.prefixes[2].prefix, ip_prefix("2001:db8:300::/56"));
  EXPECT_THAT(observer_.events, Contains("added 2001:db8:300::/56"));
  EXPECT_THAT(observer_.events, Not(Contains(HasSubstr("2001:db8:200::/56"))));
  // It expires at its own valid lifetime; the others stay.
  run_until(clock_.mono + 1500 * kSec);  // past the second's end (bound + 2000 s)
  EXPECT_THAT(observer_.events, Contains("lost 2001:db8:200::/56 expired"));
  ASSERT_TRUE(client_->lease());
}

TEST_F(Dhcp6ClientTest, ZeroValidLifetimeWithdraws) {
  bind({pfx("2001:db8:100::/56", 1000, 2000), pfx("2001:db8:200::/56", 1000, 2000)});
  run_until_sent();
  observer_.clear();
  deliver(answer(MessageType::Reply, last(), kServerA,
                 {ia_pd(kIaid, 500, 800,
                        {pfx("2001:db8:100::/56", 0, 0), pfx("2001:db8:200::/56", 1000, 2000)})}));
  EXPECT_EQ(client_->state(), State::Bound);
  ASSERT_EQ(client_->lease()->prefixes.size(), 1u);
  EXPECT_EQ(client_->lease()->prefixes[0].prefix, ip_prefix("2001:db8:200::/56"));
  EXPECT_THAT(observer_.events, ElementsAre("received REPLY", "state bound", "lease",
                                            "lost 2001:db8:100::/56 withdrawn by the server",
                                            "changed 2001:db8:200::/56"));
}

TEST_F(Dhcp6ClientTest, WithdrawingEveryPrefixSolicitsAgain) {
  bind();
  run_until_sent();
  observer_.clear();
  deliver(answer(MessageType::Reply, last(), kServerA,
                 {ia_pd(kIaid, 0, 0, {pfx("2001:db8:100::/56", 0, 0)})}));
  EXPECT_FALSE(client_->lease());
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_THAT(observer_.events, Contains("lost 2001:db8:100::/56 withdrawn by the server"));
  EXPECT_THAT(observer_.events, Contains("lease null"));
}

TEST_F(Dhcp6ClientTest, BadPrefixesAreIgnored) {
  start_requesting();
  IaPrefix refused = pfx("2001:db8:500::/56", 100, 200);
  refused.status = Status{status_code::kNoPrefixAvail, ""};
  IaPrefix host_bits = pfx("2001:db8:600::/56", 100, 200);
  host_bits.prefix = *IpAddress::parse("2001:db8:600::1");
  deliver(answer(MessageType::Reply, last(), kServerA,
                 {ia_pd(kIaid, 50, 80,
                        {pfx("2001:db8:300::/56", 300, 200), pfx("::/0", 100, 200), refused,
                         host_bits, pfx("ff05:1::/56", 100, 200), pfx("fe80::/64", 100, 200),
                         pfx("::/64", 100, 200), pfx("8000::/1", 100, 200),
                         pfx("2001:db8:100::/56", 100, 200)})}));
  ASSERT_TRUE(client_->lease());
  ASSERT_EQ(client_->lease()->prefixes.size(), 1u);
  EXPECT_EQ(client_->lease()->prefixes[0].prefix, ip_prefix("2001:db8:100::/56"));
  EXPECT_THAT(observer_.dropped,
              Contains(HasSubstr("prefix 2001:db8:300::/56 preferred lifetime > valid")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("prefix ::/0 has length 0")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("2001:db8:500::/56 has status NoPrefixAvail")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("has bits set past its length")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("ff05:1::/56 overlaps ff00::/8 (multicast)")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("fe80::/64 overlaps fe80::/10 (link-local)")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("prefix ::/64 overlaps ::/8")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("prefix 8000::/1 overlaps fe80::/10")));
}

TEST_F(Dhcp6ClientTest, PrefixChangesInAReply) {
  bind();
  run_until_sent();
  observer_.clear();
  // The server renumbers: a new prefix, the old one withdrawn.
  deliver(answer(MessageType::Reply, last(), kServerA,
                 {ia_pd(kIaid, 500, 800,
                        {pfx("2001:db8:100::/56", 0, 0), pfx("2001:db8:900::/48", 1000, 2000)})}));
  EXPECT_THAT(observer_.events, ElementsAre("received REPLY", "state bound", "lease",
                                            "lost 2001:db8:100::/56 withdrawn by the server",
                                            "added 2001:db8:900::/48"));
  EXPECT_EQ(client_->lease()->prefixes.size(), 1u);
}

TEST_F(Dhcp6ClientTest, AReplyThatChangesNothingIsNotReported) {
  // Lifetimes are absolute: the same Reply at the same instant leaves the lease as it was.
  Message reply = bind();
  observer_.clear();
  client_->renew();
  ASSERT_EQ(last().type, MessageType::Renew);
  reply.transaction_id = last().transaction_id;
  deliver(reply);
  EXPECT_EQ(client_->state(), State::Bound);
  EXPECT_THAT(observer_.events,
              ElementsAre("state renewing", "sent RENEW", "received REPLY", "state bound"));
}

// ---- limits ----

// `count` /64s of 2001:db8::/32, numbered from `first`: 2001:db8:0:<first>::/64 onwards.
std::vector<IaPrefix> many_64s(uint32_t first, size_t count) {
  std::vector<IaPrefix> prefixes;
  for (uint32_t n = first; n < first + count; ++n) {
    IaPrefix prefix;
    prefix.preferred_lifetime = 1000;
    prefix.valid_lifetime = 2000;
    prefix.length = 64;
    prefix.prefix = IpAddress::v6({0x20, 0x01, 0x0d, 0xb8, static_cast<uint8_t>(n >> 24),
                                   static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8),
                                   static_cast<uint8_t>(n)});
    prefixes.push_back(prefix);
  }
  return prefixes;
}

// What a packet may be and still fit in IPv6's minimum MTU after the IPv6 and UDP headers.
constexpr size_t kMinimumMtuPayload = 1280 - 40 - 8;

TEST_F(Dhcp6ClientTest, ThousandsOfDelegatedPrefixesAreCappedAndRenewalGoesOn) {
  start_requesting(many_64s(0, 2000));
  const Message request = last();
  EXPECT_EQ(request.ia_pds.at(0).prefixes.size(), kMaxPrefixesPerIaPd);
  EXPECT_THAT(observer_.dropped,
              Contains("IA_PD 0x01020304: 1968 delegated prefixes refused (the first "
                       "2001:db8:0:20::/64): at most 32 are taken from one IA_PD"));
  deliver(
      answer(MessageType::Reply, request, kServerA, {ia_pd(kIaid, 500, 800, many_64s(0, 2000))}));
  ASSERT_TRUE(client_->lease());
  EXPECT_EQ(client_->lease()->prefixes.size(), kMaxPrefixesPerIaPd);
  EXPECT_EQ(client_->lease()->prefixes.back().prefix, ip_prefix("2001:db8:0:1f::/64"));

  // Each Reply to a Renew delegates 2000 more: none is taken, the Renews stay small.
  for (uint32_t round = 1; round <= 3; ++round) {
    run_until_sent();
    ASSERT_EQ(last().type, MessageType::Renew);
    EXPECT_EQ(last().ia_pds.at(0).prefixes.size(), kMaxPrefixesHeld);
    EXPECT_LE(transport_.packets.back().size(), kMinimumMtuPayload);
    observer_.clear();
    deliver(answer(MessageType::Reply, last(), kServerA,
                   {ia_pd(kIaid, 500, 800, many_64s(round * 10'000, 2000))}));
    EXPECT_EQ(client_->lease()->prefixes.size(), kMaxPrefixesHeld);
    EXPECT_THAT(observer_.added, IsEmpty());
    EXPECT_THAT(observer_.dropped,
                Contains(HasSubstr("32 new prefixes refused: already holding 32, the most the "
                                   "client holds")));
  }
}

TEST_F(Dhcp6ClientTest, HeldPrefixesComeFirstUnderTheLimit) {
  bind(many_64s(0, 32));
  run_until_sent();  // Renew
  observer_.clear();
  // New prefixes listed before the renewed ones do not push them out.
  std::vector<IaPrefix> listed = many_64s(100, 40);
  for (IaPrefix renewed : many_64s(0, 32)) {
    renewed.valid_lifetime = 3000;
    listed.push_back(renewed);
  }
  deliver(answer(MessageType::Reply, last(), kServerA, {ia_pd(kIaid, 500, 800, listed)}));
  ASSERT_EQ(client_->lease()->prefixes.size(), 32u);
  EXPECT_EQ(client_->lease()->prefixes[0].valid_until_us, clock_.wall + 3000 * kSec);
  EXPECT_EQ(observer_.changed.size(), 32u);
  EXPECT_THAT(observer_.added, IsEmpty());
}

// A message that cannot go out is a lost transmission: reported, and retransmitted on schedule;
// the exchange ends as it would have without an answer.
TEST_F(Dhcp6ClientTest, AMessageThatCannotBeSentIsALostTransmission) {
  bind();
  const uint64_t bound_at = now();
  transport_.refusal = "sendto: Message too long";
  run_until(bound_at + 500 * kSec);  // T1
  EXPECT_EQ(client_->state(), State::Renewing);
  EXPECT_THAT(observer_.dropped, Contains("RENEW not sent: sendto: Message too long"));
  EXPECT_EQ(client_->counters().not_sent, 1u);
  run_until(bound_at + 800 * kSec);  // T2: Renew's MRD
  EXPECT_EQ(client_->state(), State::Rebinding);
  EXPECT_THAT(observer_.dropped, Contains("REBIND not sent: sendto: Message too long"));
  const uint64_t attempts = client_->counters().not_sent;
  EXPECT_GT(attempts, 5u);
  EXPECT_EQ(client_->counters().sent, 2u) << "the Solicit and the Request";

  // The transport works again: the next retransmission goes out and binds.
  transport_.refusal.reset();
  run_until_sent();
  EXPECT_EQ(last().type, MessageType::Rebind);
  deliver(
      answer(MessageType::Reply, last(), kServerA, {ia_pd(kIaid, 500, 800, default_prefixes())}));
  EXPECT_EQ(client_->state(), State::Bound);
  EXPECT_EQ(client_->counters().not_sent, attempts);
}

// ---- status codes ----

TEST_F(Dhcp6ClientTest, UnspecFailAndUseMulticastAreNoAnswer) {
  start_requesting();
  const Message request = last();
  const uint64_t deadline = *client_->next_deadline_us();
  for (uint16_t code : {status_code::kUnspecFail, status_code::kUseMulticast}) {
    Message reply =
        answer(MessageType::Reply, request, kServerA, {ia_pd(kIaid, 500, 800, default_prefixes())});
    reply.status = Status{code, "try later"};
    deliver(reply);
    EXPECT_EQ(client_->state(), State::Requesting);
    EXPECT_EQ(*client_->next_deadline_us(), deadline) << "the schedule goes on unchanged";
  }
  EXPECT_EQ(sent_count(), 2u);
  EXPECT_THAT(observer_.dropped,
              Contains(HasSubstr("UnspecFail (\"try later\"), treated as no answer")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("UseMulticast")));
  EXPECT_EQ(client_->counters().dropped_unexpected, 2u);
  EXPECT_FALSE(client_->lease());
  EXPECT_EQ(run_until_sent(), deadline);
  EXPECT_EQ(last().type, MessageType::Request);
}

TEST_F(Dhcp6ClientTest, NotOnLinkInReplyToRequestSolicitsAgain) {
  start_requesting();
  Message reply = answer(MessageType::Reply, last(), kServerA, {});
  reply.status = Status{status_code::kNotOnLink, ""};
  deliver(reply);
  EXPECT_EQ(client_->state(), State::Delaying);
  run_until_sent();
  EXPECT_EQ(last().type, MessageType::Solicit);
}

TEST_F(Dhcp6ClientTest, NotOnLinkInReplyToRebindLosesThePrefixes) {
  bind();
  client_->link_changed();
  ASSERT_EQ(last().type, MessageType::Rebind);
  observer_.clear();
  Message reply = answer(MessageType::Reply, last(), kServerB, {});
  reply.status = Status{status_code::kNotOnLink, ""};
  deliver(reply);
  EXPECT_FALSE(client_->lease());
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_THAT(observer_.events, Contains(HasSubstr("lost 2001:db8:100::/56 the server says")));
}

TEST_F(Dhcp6ClientTest, NoBindingInReplyToRenewSendsARequest) {
  bind();
  run_until_sent();  // Renew
  const Lease held = *client_->lease();
  observer_.clear();
  IaPd no_binding = ia_pd(kIaid, 0, 0, {});
  no_binding.status = Status{status_code::kNoBinding, ""};
  deliver(answer(MessageType::Reply, last(), kServerB, {no_binding}));
  const Message request = last();
  EXPECT_EQ(request.type, MessageType::Request);
  EXPECT_EQ(request.server_id, kServerB) << "the server that answered";
  ASSERT_EQ(request.ia_pds.size(), 1u);
  ASSERT_EQ(request.ia_pds[0].prefixes.size(), 1u);
  EXPECT_EQ(request.ia_pds[0].prefixes[0].prefix, *IpAddress::parse("2001:db8:100::"));
  EXPECT_EQ(client_->state(), State::Requesting);
  EXPECT_EQ(client_->lease(), held) << "kept meanwhile";
  EXPECT_THAT(observer_.leases, IsEmpty());

  deliver(
      answer(MessageType::Reply, request, kServerB, {ia_pd(kIaid, 500, 800, default_prefixes())}));
  EXPECT_EQ(client_->state(), State::Bound);
  EXPECT_EQ(client_->lease()->server_id, kServerB);
  EXPECT_THAT(observer_.events, Contains("changed 2001:db8:100::/56"));
}

// §18.2.10.1: when discovery starts over, the client stops using the prefixes it holds (the owner
// deprecates them on the LANs) rather than keeping them announced but never renewed.
class Dhcp6ClientDiscoveryRestartTest : public Dhcp6ClientTest {
 protected:
  // Bound, then NoBinding in reply to the Renew: a Request for the prefixes held.
  void request_after_no_binding() {
    bind();
    run_until_sent();  // Renew
    IaPd no_binding = ia_pd(kIaid, 0, 0, {});
    no_binding.status = Status{status_code::kNoBinding, ""};
    deliver(answer(MessageType::Reply, last(), kServerA, {no_binding}));
    ASSERT_EQ(last().type, MessageType::Request);
    ASSERT_TRUE(client_->lease());
    observer_.clear();
  }
};

TEST_F(Dhcp6ClientDiscoveryRestartTest, ARefusedRequestStopsUsingThePrefixes) {
  request_after_no_binding();
  IaPd refused = ia_pd(kIaid, 0, 0, {});
  refused.status = Status{status_code::kNoPrefixAvail, ""};
  deliver(answer(MessageType::Reply, last(), kServerA, {refused}));
  EXPECT_EQ(client_->state(), State::Delaying);
  EXPECT_FALSE(client_->lease());
  EXPECT_THAT(observer_.events,
              Contains("lost 2001:db8:100::/56 the Request was refused: discovery starts over"));
  EXPECT_EQ(observer_.leases.back(), std::nullopt);
  run_until_sent();
  EXPECT_EQ(last().type, MessageType::Solicit);
}

TEST_F(Dhcp6ClientDiscoveryRestartTest, AnUnansweredRequestStopsUsingThePrefixes) {
  request_after_no_binding();
  while (last().type == MessageType::Request) run_until_sent();
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_FALSE(client_->lease());
  EXPECT_THAT(
      observer_.events,
      Contains("lost 2001:db8:100::/56 the Request went unanswered: discovery starts over"));
  EXPECT_EQ(observer_.leases.back(), std::nullopt);
}

TEST_F(Dhcp6ClientTest, NoPrefixAvailInReplyToRequestBacksOffMoreEachTime) {
  start();
  std::vector<uint64_t> pauses;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(last().type, MessageType::Solicit);
    Message advertise =
        answer(MessageType::Advertise, last(), kServerA, {ia_pd(kIaid, 0, 0, default_prefixes())});
    advertise.preference = 255;
    deliver(advertise);
    ASSERT_EQ(last().type, MessageType::Request);
    IaPd refused = ia_pd(kIaid, 0, 0, {});
    refused.status = Status{status_code::kNoPrefixAvail, "all gone"};
    deliver(answer(MessageType::Reply, last(), kServerA, {refused}));
    EXPECT_EQ(client_->state(), State::Delaying);
    const uint64_t refused_at = now();
    pauses.push_back(run_until_sent() - refused_at);
  }
  EXPECT_THAT(pauses, ElementsAre(1 * kSec, 2 * kSec, 4 * kSec, 8 * kSec, 16 * kSec));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("NoPrefixAvail")));
  EXPECT_FALSE(client_->lease());
}

TEST_F(Dhcp6ClientTest, ReplyToRequestWithoutUsablePrefixCountsAsNoPrefixAvail) {
  start_requesting();
  deliver(answer(MessageType::Reply, last(), kServerA,
                 {ia_pd(kIaid, 0, 0, {pfx("2001:db8:100::/56", 300, 200)})}));
  EXPECT_EQ(client_->state(), State::Delaying);
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("counted as NoPrefixAvail")));
}

TEST_F(Dhcp6ClientTest, NoPrefixAvailInReplyToRenewKeepsThePrefixesAndTheSchedule) {
  bind();
  run_until_sent();  // Renew
  const Lease held = *client_->lease();
  const uint64_t deadline = *client_->next_deadline_us();
  observer_.clear();
  IaPd refused = ia_pd(kIaid, 0, 0, {});
  refused.status = Status{status_code::kNoPrefixAvail, ""};
  deliver(answer(MessageType::Reply, last(), kServerA, {refused}));
  EXPECT_EQ(client_->state(), State::Renewing);
  EXPECT_EQ(client_->lease(), held);
  EXPECT_EQ(*client_->next_deadline_us(), deadline);
  EXPECT_THAT(observer_.leases, IsEmpty());
  EXPECT_EQ(run_until_sent(), deadline);
  EXPECT_EQ(last().type, MessageType::Renew);
}

TEST_F(Dhcp6ClientTest, PerPrefixStatusIgnoresThatPrefixOnly) {
  start_requesting();
  IaPrefix refused = pfx("2001:db8:200::/56", 1000, 2000);
  refused.status = Status{status_code::kNoPrefixAvail, ""};
  deliver(answer(MessageType::Reply, last(), kServerA,
                 {ia_pd(kIaid, 500, 800, {refused, pfx("2001:db8:100::/56", 1000, 2000)})}));
  ASSERT_TRUE(client_->lease());
  ASSERT_EQ(client_->lease()->prefixes.size(), 1u);
  EXPECT_EQ(client_->lease()->prefixes[0].prefix, ip_prefix("2001:db8:100::/56"));
}

// ---- what is checked in every packet ----

TEST_F(Dhcp6ClientTest, UnrequestedIaidIsIgnored) {
  start_requesting();
  deliver(answer(MessageType::Reply, last(), kServerA,
                 {ia_pd(0x99, 500, 800, {pfx("2001:db8:999::/56", 1000, 2000)}),
                  ia_pd(kIaid, 500, 800, default_prefixes())}));
  EXPECT_THAT(observer_.dropped, Contains("IA_PD 0x00000099 not ours"));
  ASSERT_EQ(client_->lease()->prefixes.size(), 1u);
  EXPECT_EQ(client_->lease()->prefixes[0].prefix, ip_prefix("2001:db8:100::/56"));
}

TEST_F(Dhcp6ClientTest, OnlyAnUnrequestedIaidIsNoPrefix) {
  start();
  Message advertise =
      answer(MessageType::Advertise, last(), kServerA, {ia_pd(0x99, 0, 0, default_prefixes())});
  advertise.preference = 255;
  deliver(advertise);
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_THAT(observer_.dropped, Contains("IA_PD 0x00000099 not ours"));
}

TEST_F(Dhcp6ClientTest, WrongTransactionIdClientIdOrMissingServerIdIsDropped) {
  random_.queued = {0x000042};
  start();
  const Message solicit = last();
  Message advertise =
      answer(MessageType::Advertise, solicit, kServerA, {ia_pd(kIaid, 0, 0, default_prefixes())});
  advertise.preference = 255;
  advertise.sol_max_rt = 100;  // not taken from a packet that is not for us

  Message wrong_xid = advertise;
  wrong_xid.transaction_id = 0x000043;
  deliver(wrong_xid);
  Message wrong_client = advertise;
  wrong_client.client_id = kServerB;
  deliver(wrong_client);
  Message no_client = advertise;
  no_client.client_id.reset();
  deliver(no_client);
  Message no_server = advertise;
  no_server.server_id.reset();
  deliver(no_server);

  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_EQ(sent_count(), 1u);
  EXPECT_EQ(client_->sol_max_rt(), 3600u);
  EXPECT_EQ(client_->counters().dropped_unexpected, 4u);
  EXPECT_EQ(client_->counters().received, 0u);
  EXPECT_THAT(
      observer_.dropped,
      ElementsAre("ADVERTISE transaction id 0x000043 does not match 0x000042",
                  "ADVERTISE Client Identifier is not ours", "ADVERTISE has no Client Identifier",
                  "ADVERTISE has no Server Identifier"));
  deliver(advertise);
  EXPECT_EQ(client_->state(), State::Requesting);
}

TEST_F(Dhcp6ClientTest, MalformedPacketsAreDroppedAndCounted) {
  start();
  const Message solicit = last();
  const auto packet = [&](const std::string& options) {
    return raw_answer(MessageType::Advertise, solicit, options);
  };
  deliver_raw({});
  deliver_raw({2, 0});
  // An option whose length runs past the end.
  deliver_raw(packet("0001 0010 0003000102005e100001"));
  // An IA_PD of 11 bytes.
  deliver_raw(
      packet("0001 000a 0003000102005e100001 0002 000a 0003000102005e100002"
             "0019 000b 01020304 00000000 000000"));
  // A relay message.
  deliver_raw(*from_hex("0c00"));
  EXPECT_EQ(client_->counters().dropped_malformed, 5u);
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("malformed: packet of 0 bytes")));
  EXPECT_THAT(observer_.dropped,
              Contains(HasSubstr("malformed: message: option 1 length 16 runs past the end")));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("IA_PD shorter than 12 bytes (11)")));
  // The same packet with a whole IA_PD is taken.
  deliver_raw(
      packet("0001 000a 0003000102005e100001 0002 000a 0003000102005e100002"
             "0007 0001 ff"
             "0019 0029 01020304 00000000 00000000"
             "  001a 0019 00000064 000000c8 38 20010db8010000000000000000000000"));
  EXPECT_EQ(client_->state(), State::Requesting);
  EXPECT_EQ(last().server_id, kServerA);
}

// A broken part is dropped alone: the good prefix next to it is bound from the same Reply.
TEST_F(Dhcp6ClientTest, ABrokenPartOfAReplyIsDroppedAndTheGoodPrefixBound) {
  start_requesting();
  deliver_raw(raw_answer(
      MessageType::Reply, last(),
      "0001 000a 0003000102005e100001 0002 000a 0003000102005e100002"
      "0019 008d 01020304 000001f4 00000320"                               // IA_PD, T1 500, T2 800
      "  001a 0019 000003e8 000007d0 38 20010db8010000000000000000000000"  // 2001:db8:100::/56
      "  001a 0019 000003e8 000007d0 81 20010db8020000000000000000000000"  // /129
      "  001a 001f 000003e8 000007d0 38 20010db8030000000000000000000000"  // exclude, padding set
      "    0043 0002 3c01"
      "  001a 0020 000003e8 000007d0 38 20010db8040000000000000000000000"  // exclude, 1 byte long
      "    0043 0003 400000"
      "0017 0010 20010db8000000000000000000000053"     // DNS 2001:db8::53
      "0017 0010 20010db8000000000000000000000054"));  // DNS again
  EXPECT_EQ(client_->state(), State::Bound);
  ASSERT_TRUE(client_->lease());
  ASSERT_EQ(client_->lease()->prefixes.size(), 1u);
  EXPECT_EQ(client_->lease()->prefixes[0].prefix, ip_prefix("2001:db8:100::/56"));
  EXPECT_THAT(client_->lease()->dns_servers, ElementsAre(*IpAddress::parse("2001:db8::53")));
  EXPECT_THAT(observer_.added, ElementsAre(client_->lease()->prefixes[0]));
  EXPECT_THAT(observer_.dropped,
              ElementsAre("REPLY: IA_PD 0x01020304: IAPREFIX 2001:db8:200::/129: prefix length "
                          "over 128, IAPREFIX dropped",
                          "REPLY: IA_PD 0x01020304: IAPREFIX 2001:db8:300::/56: prefix exclude "
                          "subnet ID has non-zero padding bits, IAPREFIX dropped",
                          "REPLY: IA_PD 0x01020304: IAPREFIX 2001:db8:400::/56: prefix exclude "
                          "option length 3, must be 2, IAPREFIX dropped",
                          "REPLY: message: option 23 appears twice, option dropped"));
  EXPECT_EQ(client_->counters(), (Counters{2, 2, 0, 0}));
}

TEST_F(Dhcp6ClientTest, MessagesNotExpectedNowAreDropped) {
  const Message reply = bind();
  const Lease held = *client_->lease();
  Message reconfigure = reply;
  reconfigure.type = MessageType::Reconfigure;
  deliver(reconfigure);
  deliver(reply);  // a duplicate of the Reply, now that the client is bound
  Message advertise = reply;
  advertise.type = MessageType::Advertise;
  deliver(advertise);
  Message solicit = reply;
  solicit.type = MessageType::Solicit;
  deliver(solicit);
  EXPECT_EQ(client_->counters().dropped_unexpected, 4u);
  EXPECT_THAT(observer_.dropped, Contains("RECONFIGURE not expected while bound"));
  EXPECT_THAT(observer_.dropped, Contains("REPLY not expected while bound"));
  EXPECT_EQ(client_->lease(), held);
  EXPECT_EQ(client_->state(), State::Bound);
}

TEST_F(Dhcp6ClientTest, CountersAddUpToEveryPacket) {
  start();
  random_.source = lcg(5);
  const Message solicit = last();
  Bytes packet = encode(
      answer(MessageType::Advertise, solicit, kServerA, {ia_pd(kIaid, 0, 0, default_prefixes())}));
  uint64_t delivered = 0;
  for (int i = 0; i < 2000; ++i) {
    Bytes mutated = packet;
    const uint32_t r = random_.source();
    mutated[r % mutated.size()] ^= static_cast<uint8_t>(r >> 24 | 1);
    if (r & 0x100) mutated.resize(r % mutated.size());
    deliver_raw(mutated);
    ++delivered;
  }
  const Counters& c = client_->counters();
  EXPECT_EQ(c.received + c.dropped_malformed + c.dropped_unexpected, delivered);
  EXPECT_GT(c.dropped_malformed, 0u);
  EXPECT_GT(c.dropped_unexpected, 0u);
}

// ---- start with a stored lease, stop, release, link changes, renew() ----

Lease stored_lease(uint64_t wall_now) {
  Lease lease;
  lease.iaid = kIaid;
  lease.server_id = kServerA;
  lease.renew_at_us = wall_now + 100 * kSec;
  lease.rebind_at_us = wall_now + 200 * kSec;
  lease.prefixes = {
      {ip_prefix("2001:db8:100::/56"), wall_now + 400 * kSec, wall_now + 600 * kSec, std::nullopt}};
  lease.dns_servers = {*IpAddress::parse("2001:db8::53")};
  return lease;
}

TEST_F(Dhcp6ClientTest, StartWithAValidLeaseRebindsAtOnce) {
  config_.initial_delay = true;  // not for a Rebind
  const Lease lease = stored_lease(clock_.wall);
  start(lease);
  ASSERT_EQ(sent_count(), 1u);
  EXPECT_EQ(last_time(), kMonoStart);
  const Message rebind = last();
  EXPECT_EQ(rebind.type, MessageType::Rebind);
  EXPECT_FALSE(rebind.server_id);
  EXPECT_EQ(rebind.client_id, kClientDuid);
  ASSERT_EQ(rebind.ia_pds.size(), 1u);
  ASSERT_EQ(rebind.ia_pds[0].prefixes.size(), 1u);
  EXPECT_EQ(rebind.ia_pds[0].prefixes[0].prefix, *IpAddress::parse("2001:db8:100::"));
  EXPECT_EQ(client_->state(), State::Rebinding);
  EXPECT_EQ(client_->lease(), lease);
  EXPECT_THAT(observer_.leases, IsEmpty()) << "nothing changed";
  EXPECT_THAT(observer_.added, IsEmpty()) << "not announced before it is confirmed";

  run_for(20'000);  // one round trip
  deliver(answer(MessageType::Reply, rebind, kServerA,
                 {ia_pd(kIaid, 100, 200, {pfx("2001:db8:100::/56", 400, 600)})}));
  EXPECT_EQ(client_->state(), State::Bound);
  EXPECT_THAT(observer_.events, ElementsAre("state rebinding", "sent REBIND", "received REPLY",
                                            "state bound", "lease", "added 2001:db8:100::/56"));
  EXPECT_EQ(client_->counters().sent, 1u);
}

TEST_F(Dhcp6ClientTest, StartWithAValidLeaseFromAnotherServer) {
  start(stored_lease(clock_.wall));
  deliver(answer(MessageType::Reply, last(), kServerB,
                 {ia_pd(kIaid, 100, 200, {pfx("2001:db8:100::/56", 400, 600)})}));
  EXPECT_EQ(client_->lease()->server_id, kServerB) << "the server that answered the Rebind";
}

TEST_F(Dhcp6ClientTest, StoredLeaseWithoutAnswerIsKeptOnItsSchedule) {
  const Lease lease = stored_lease(clock_.wall);
  start(lease);
  // Confirm's timing: 1 s, 2 s, 4 s, 4 s (MRT) ... until 10 s.
  EXPECT_EQ(run_until_sent() - kMonoStart, 1 * kSec);
  EXPECT_EQ(run_until_sent() - kMonoStart, 3 * kSec);
  EXPECT_EQ(run_until_sent() - kMonoStart, 7 * kSec);
  EXPECT_EQ(last().type, MessageType::Rebind);
  EXPECT_EQ(*client_->next_deadline_us(), kMonoStart + 10 * kSec) << "MRD";
  fire_next();
  EXPECT_EQ(client_->state(), State::Bound);
  EXPECT_EQ(client_->lease(), lease);
  EXPECT_THAT(observer_.events, Contains("added 2001:db8:100::/56"));
  EXPECT_THAT(observer_.leases, IsEmpty());
  // Then Renew at T1 (100 s from the start).
  EXPECT_EQ(run_until_sent(), kMonoStart + 100 * kSec);
  EXPECT_EQ(last().type, MessageType::Renew);
  EXPECT_EQ(last().server_id, kServerA);
}

TEST_F(Dhcp6ClientTest, StoredLeasePastT2GoesOnRebinding) {
  Lease lease = stored_lease(clock_.wall);
  lease.renew_at_us = clock_.wall - 50 * kSec;
  lease.rebind_at_us = clock_.wall + 5 * kSec;
  start(lease);
  run_until(kMonoStart + 10 * kSec);
  EXPECT_EQ(client_->state(), State::Rebinding);
  const Message rebind = last();
  EXPECT_EQ(rebind.type, MessageType::Rebind);
  EXPECT_EQ(last_time(), kMonoStart + 10 * kSec) << "a new, normal Rebind";
  EXPECT_EQ(*rebind.elapsed_time, 0);
  EXPECT_EQ(*client_->next_deadline_us() - now(), 10 * kSec) << "REB_TIMEOUT";
  // It runs until the prefix expires (600 s).
  run_until(kMonoStart + 600 * kSec);
  EXPECT_FALSE(client_->lease());
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_THAT(observer_.events, Contains("lost 2001:db8:100::/56 expired"));
}

TEST_F(Dhcp6ClientTest, StoredLeaseBetweenT1AndT2Renews) {
  Lease lease = stored_lease(clock_.wall);
  lease.renew_at_us = clock_.wall - 50 * kSec;
  start(lease);
  run_until(kMonoStart + 10 * kSec);
  EXPECT_EQ(client_->state(), State::Renewing);
  EXPECT_EQ(last().type, MessageType::Renew);
}

TEST_F(Dhcp6ClientTest, StartWithAnExpiredLeaseSolicits) {
  Lease lease = stored_lease(clock_.wall - 1000 * kSec);
  start(lease);
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_FALSE(client_->lease());
  EXPECT_THAT(observer_.events, ElementsAre("lease null", "state soliciting", "sent SOLICIT"));
  EXPECT_THAT(observer_.events, Not(Contains(HasSubstr("lost"))));
}

TEST_F(Dhcp6ClientTest, StartDropsOnlyTheExpiredPrefixes) {
  Lease lease = stored_lease(clock_.wall);
  lease.prefixes.push_back(
      {ip_prefix("2001:db8:200::/56"), clock_.wall - 20 * kSec, clock_.wall - 10 * kSec, {}});
  start(lease);
  EXPECT_EQ(last().type, MessageType::Rebind);
  ASSERT_EQ(observer_.leases.size(), 1u);
  EXPECT_EQ(observer_.leases[0], stored_lease(clock_.wall));
}

TEST_F(Dhcp6ClientTest, StoredLeaseOfAnotherIaidIsDropped) {
  Lease lease = stored_lease(clock_.wall);
  lease.iaid = 7;
  start(lease);
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_FALSE(client_->lease());
}

TEST_F(Dhcp6ClientTest, AStoredLeaseOverTheLimitKeepsTheFirstPrefixes) {
  Lease lease = stored_lease(clock_.wall);
  for (const IaPrefix& prefix : many_64s(0, 40))
    lease.prefixes.push_back(
        {{{prefix.prefix, 64}, clock_.wall + 400 * kSec, clock_.wall + 600 * kSec}, std::nullopt});
  start(lease);
  ASSERT_EQ(last().type, MessageType::Rebind);
  EXPECT_EQ(last().ia_pds.at(0).prefixes.size(), kMaxPrefixesHeld);
  ASSERT_TRUE(client_->lease());
  EXPECT_EQ(client_->lease()->prefixes.size(), kMaxPrefixesHeld);
  EXPECT_EQ(client_->lease()->prefixes[0].prefix, ip_prefix("2001:db8:100::/56"));
  EXPECT_THAT(observer_.dropped, Contains(HasSubstr("stored lease: 9 prefixes past the first 32")));
}

TEST_F(Dhcp6ClientTest, StopSendsNothingAndKeepsTheLease) {
  bind();
  const Lease held = *client_->lease();
  const size_t sent = sent_count();
  observer_.clear();
  client_->stop();
  EXPECT_EQ(client_->state(), State::Idle);
  EXPECT_FALSE(client_->next_deadline_us());
  run_for(10'000 * kSec);
  client_->on_timer();
  EXPECT_EQ(sent_count(), sent);
  EXPECT_EQ(client_->lease(), held);
  EXPECT_THAT(observer_.events, ElementsAre("state idle"));
  client_->renew();
  client_->link_changed();
  EXPECT_EQ(sent_count(), sent) << "nothing while stopped";
}

TEST_F(Dhcp6ClientTest, StopThenStartRebinds) {
  bind();
  client_->stop();
  run_for(10 * kSec);
  client_->start();
  EXPECT_EQ(last().type, MessageType::Rebind);
  EXPECT_EQ(client_->state(), State::Rebinding);
}

TEST_F(Dhcp6ClientTest, Release) {
  bind();
  run_for(5 * kSec);
  observer_.clear();
  client_->release();
  EXPECT_FALSE(client_->lease());
  const Message release = last();
  EXPECT_EQ(release.type, MessageType::Release);
  EXPECT_EQ(release.server_id, kServerA);
  EXPECT_EQ(release.client_id, kClientDuid);
  EXPECT_THAT(release.option_request, IsEmpty());
  ASSERT_EQ(release.ia_pds.size(), 1u);
  ASSERT_EQ(release.ia_pds[0].prefixes.size(), 1u);
  EXPECT_EQ(release.ia_pds[0].prefixes[0].prefix, *IpAddress::parse("2001:db8:100::"));
  EXPECT_THAT(observer_.events, ElementsAre("lease null", "lost 2001:db8:100::/56 released",
                                            "state releasing", "sent RELEASE"));
  // REL timing: 1 s, 2 s, 4 s, then REL_MAX_RC = 4 and Idle after the last RT.
  const uint64_t first = last_time();
  EXPECT_EQ(run_until_sent() - first, 1 * kSec);
  EXPECT_EQ(run_until_sent() - first, 3 * kSec);
  EXPECT_EQ(run_until_sent() - first, 7 * kSec);
  EXPECT_EQ(last().transaction_id, release.transaction_id);
  EXPECT_EQ(*last().elapsed_time, 700);
  EXPECT_EQ(client_->state(), State::Releasing);
  EXPECT_TRUE(fire_next());
  EXPECT_EQ(now() - first, 15 * kSec);
  EXPECT_EQ(client_->state(), State::Idle);
  EXPECT_EQ(sent_count(), 2u + 4u);
  EXPECT_FALSE(client_->next_deadline_us());
}

TEST_F(Dhcp6ClientTest, ReplyEndsTheReleaseEarly) {
  bind();
  client_->release();
  Message reply = answer(MessageType::Reply, last(), kServerA, {});
  reply.status = Status{status_code::kSuccess, "released"};
  deliver(reply);
  EXPECT_EQ(client_->state(), State::Idle);
  EXPECT_FALSE(client_->next_deadline_us());
  EXPECT_FALSE(client_->lease());
}

TEST_F(Dhcp6ClientTest, RenewAfterReleaseSolicitsAnew) {
  // A released tunnel whose uplink comes back (the NetworkManager dispatcher's Renew) gets a
  // prefix again, without a restart.
  bind();
  client_->release();
  deliver(answer(MessageType::Reply, last(), kServerA, {}));
  ASSERT_EQ(client_->state(), State::Idle);
  client_->renew();
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_EQ(last_time(), now()) << "at once, no initial delay";
}

TEST_F(Dhcp6ClientTest, RenewOrReleaseWhileReleasingDoesNothing) {
  bind();
  client_->release();
  const size_t sent = sent_count();
  const auto deadline = client_->next_deadline_us();
  client_->renew();
  client_->release();  // NetworkManager's down after its pre-down
  EXPECT_EQ(client_->state(), State::Releasing);
  EXPECT_EQ(sent_count(), sent);
  EXPECT_EQ(client_->next_deadline_us(), deadline) << "the Release's retransmissions go on";
}

TEST_F(Dhcp6ClientTest, RenewOfAStoppedClientDoesNothing) {
  bind();
  client_->stop();
  const size_t sent = sent_count();
  client_->renew();
  EXPECT_EQ(client_->state(), State::Idle) << "a stopped client stays stopped";
  EXPECT_EQ(sent_count(), sent);
}

TEST_F(Dhcp6ClientTest, ReleaseWithNothingHeldGoesIdle) {
  start();
  client_->release();
  EXPECT_EQ(client_->state(), State::Idle);
  EXPECT_EQ(sent_count(), 1u);
  EXPECT_FALSE(client_->next_deadline_us());
}

TEST_F(Dhcp6ClientTest, LinkChangedRebindsWhenBound) {
  bind();
  run_for(50 * kSec);
  observer_.clear();
  client_->link_changed();
  EXPECT_EQ(client_->state(), State::Rebinding);
  EXPECT_EQ(last().type, MessageType::Rebind);
  EXPECT_EQ(*client_->next_deadline_us() - now(), 1 * kSec) << "CNF_TIMEOUT";
  deliver(
      answer(MessageType::Reply, last(), kServerA, {ia_pd(kIaid, 500, 800, default_prefixes())}));
  EXPECT_EQ(client_->state(), State::Bound);
  EXPECT_THAT(observer_.events, Contains("changed 2001:db8:100::/56"));
  EXPECT_THAT(observer_.events, Not(Contains(HasSubstr("added"))));
}

TEST_F(Dhcp6ClientTest, LinkChangedWithoutAnswerKeepsTheLease) {
  bind();
  const uint64_t bound_at = now();
  const Lease held = *client_->lease();
  run_for(50 * kSec);
  client_->link_changed();
  run_for(10 * kSec);
  EXPECT_EQ(client_->state(), State::Bound);
  EXPECT_EQ(client_->lease(), held);
  EXPECT_EQ(*client_->next_deadline_us(), bound_at + 500 * kSec) << "T1 as before";
}

TEST_F(Dhcp6ClientTest, LinkChangedWithoutLeaseSolicitsAgain) {
  random_.queued = {0x000001};
  start();
  run_until_sent();
  random_.queued = {0x000002};
  client_->link_changed();
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_EQ(last().transaction_id, 2u);
  EXPECT_EQ(*last().elapsed_time, 0);
}

TEST_F(Dhcp6ClientTest, RenewOnRequest) {
  bind();
  run_for(100 * kSec);
  client_->renew();
  EXPECT_EQ(last().type, MessageType::Renew);
  EXPECT_EQ(client_->state(), State::Renewing);
  deliver(
      answer(MessageType::Reply, last(), kServerA, {ia_pd(kIaid, 500, 800, default_prefixes())}));
  run_for(850 * kSec);  // past T2, no answer to the Renew at T1
  ASSERT_EQ(client_->state(), State::Rebinding);
  client_->renew();
  EXPECT_EQ(last().type, MessageType::Rebind);
  EXPECT_EQ(*last().elapsed_time, 0);
}

TEST_F(Dhcp6ClientTest, RenewWithNothingHeldSolicitsNow) {
  config_.initial_delay = true;
  start();
  EXPECT_EQ(client_->state(), State::Delaying);
  client_->renew();
  EXPECT_EQ(client_->state(), State::Soliciting);
  EXPECT_EQ(last().type, MessageType::Solicit);
  EXPECT_EQ(last_time(), kMonoStart);
}

TEST_F(Dhcp6ClientTest, LeaseChangedOnEveryChangeWithTheRightContent) {
  bind({pfx("2001:db8:100::/56", 100, 200)}, 50, 80);
  std::vector<std::optional<Lease>> seen = observer_.leases;
  // Renew, Reply; Rebind after T2 without answer; expiry.
  run_until_sent();
  deliver(answer(MessageType::Reply, last(), kServerA,
                 {ia_pd(kIaid, 50, 80, {pfx("2001:db8:100::/56", 100, 200)})}));
  ASSERT_EQ(observer_.leases.size(), 2u);
  EXPECT_EQ(observer_.leases.back(), client_->lease());
  run_until(now() + 300 * kSec);
  EXPECT_EQ(observer_.leases.back(), std::nullopt);
  EXPECT_FALSE(client_->lease());
  // Every callback carried a lease that differs from the one before.
  for (size_t i = 1; i < observer_.leases.size(); ++i)
    EXPECT_NE(observer_.leases[i], observer_.leases[i - 1]);
}

// ---- robustness ----

TEST_F(Dhcp6ClientTest, RandomPacketsInEveryStateNeverBreakTheClient) {
  // Valid answers to whatever was sent last, mutated, plus random bytes, interleaved with timers.
  random_.source = lcg(42);
  std::function<uint32_t()> noise = lcg(99);
  config_.rapid_commit = true;
  start();
  for (int round = 0; round < 20000; ++round) {
    const uint32_t r = noise();
    const Message to = last();
    Bytes packet;
    if (r % 5 == 0) {
      packet.resize(noise() % 64);
      for (auto& b : packet) b = static_cast<uint8_t>(noise());
    } else {
      const MessageType type = r % 3 == 0 ? MessageType::Advertise : MessageType::Reply;
      IaPd ia = ia_pd(r % 7 == 0 ? 5 : kIaid, noise() % 100, noise() % 150,
                      {pfx("2001:db8:100::/56", noise() % 300, noise() % 300)});
      if (r % 11 == 0) ia.status = Status{static_cast<uint16_t>(noise() % 8), ""};
      Message m = answer(type, to, r % 13 == 0 ? kServerB : kServerA, {ia});
      m.rapid_commit = r % 2 == 0;
      if (r % 17 == 0) m.status = Status{static_cast<uint16_t>(noise() % 8), ""};
      if (r % 19 == 0) m.preference = static_cast<uint8_t>(noise());
      packet = encode(m);
      if (r % 4 == 0) packet[noise() % packet.size()] ^= static_cast<uint8_t>(noise() | 1);
    }
    deliver_raw(packet);
    if (r % 3 == 0) fire_next();
    if (r % 97 == 0) client_->link_changed();
    if (r % 101 == 0) client_->renew();
    if (r % 211 == 0) client_->release();
    if (r % 223 == 0) client_->stop();
    if (client_->state() == State::Idle) client_->start();
  }
  const Counters& c = client_->counters();
  EXPECT_GT(c.received, 100u);
  EXPECT_GT(c.dropped_malformed, 100u);
}

}  // namespace
}  // namespace l2wg::dhcp6
