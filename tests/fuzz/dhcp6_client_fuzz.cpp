// libFuzzer target for the client's receive path: a dhcp6::Client on a fake clock, transport,
// random source and observer, brought into one of its states by the Kea exchange captured in
// tests/unit/data, then fed fuzzed packets, timer runs and API calls. Any crash, leak, hang or
// broken invariant (below) is a finding: the process aborts with the reason.
//
// Input format (tests/fuzz/make_corpus.py writes seeds in it):
//   byte 0, the setup: bits 0-2 the starting state, modulo 6: 0 soliciting (after the initial
//     delay if bit 5), 1 requesting (after Kea's Advertise), 2 bound (after Kea's Reply),
//     3 renewing (bound, then T1), 4 rebinding (then T2), 5 rebinding from a stored lease;
//     bit 3 Rapid Commit, bit 4 a /56 prefix-length hint.
//   then records, at most kMaxRecords:
//     op & 0x80: an action, op & 7: 0 renew(), 1 link_changed(), 2 release(), 3 stop(),
//       4 start() (when idle), 5-7 advance the clock to the next deadline and run it.
//     otherwise a packet: advance the clock by (op >> 2 & 15) units of (op & 3: 10 ms, 1 s,
//       100 s, 10000 s), running every timer that falls due on the way; then a 16-bit big-endian
//       length and that many bytes (fewer if the input ends), given to receive() with bytes 1..3
//       replaced by the transaction id of the client's last message unless op & 0x40, so that
//       the packet gets past the transaction-id check to the deep paths.
//
// Invariants checked after every step:
// - every packet sent parses whole, is a client message with our Client Identifier, our IA_PD, an
//   Elapsed Time, and a Server Identifier exactly when the message type requires one;
// - each receive() counts the packet exactly once (received or dropped), and a packet the codec
//   refuses as malformed;
// - after on_timer() the next deadline is in the future and no prefix past its valid lifetime is
//   still held; a state that waits for an answer always has a deadline; bound states hold a lease;
// - the lease: our IAID, a server DUID, at least one prefix, T1 <= T2, each prefix IPv6 of length
//   1..128 with preferred <= valid, no prefix twice; the last lease_changed is client.lease(),
//   the prefixes added and not lost are leased (all of them once bound), none added twice, none
//   changed or lost without being added; a dropped packet is reported by message_dropped.
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "l2wg/bytes.h"
#include "l2wg/dhcp6/client.h"
#include "l2wg/dhcp6/message.h"

namespace l2wg::dhcp6 {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kMaxRecords = 64;
// One clock advance runs at most this many timers; the longest jump (15 x 10000 s) needs a few
// thousand at SOL_MAX_RT's floor of 60 s. More means a timer that does not move forward: a hang.
constexpr int kMaxTimerRunsPerAdvance = 10000;
constexpr uint64_t kMonotonicStartUs = 5'000'000'000;     // 5000 s after boot
constexpr uint64_t kWallStartUs = 1'700'000'000'000'000;  // November 2023
constexpr uint64_t kSecondUs = 1'000'000;
constexpr uint64_t kAdvanceUnitUs[] = {10'000, kSecondUs, 100 * kSecondUs, 10'000 * kSecondUs};
constexpr uint32_t kIaid = 1;  // what the Kea captures carry

[[noreturn]] __attribute__((format(printf, 1, 2))) void finding(const char* format, ...) {
  std::fprintf(stderr, "dhcp6_client_fuzz: ");
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fprintf(stderr, "\n");
  std::abort();
}

Bytes load_capture(const char* name) {
  const std::string path = std::string(L2WG_TEST_DATA_DIR) + "/" + name;
  std::ifstream in(path);
  if (!in) finding("cannot read %s", path.c_str());
  return *from_hex(std::string(std::istreambuf_iterator<char>(in), {}));
}

// The Kea exchange the setup replays (tests/unit/data/dhcp6_kea_capture.sh); the client uses the
// capture's Client Identifier and IAID so that Kea's answers are answers to it.
struct Captures {
  Bytes advertise = load_capture("dhcp6_kea_advertise.hex");
  Bytes reply = load_capture("dhcp6_kea_reply.hex");
  Duid client_id{*from_hex("0003000102005e100001")};
  Duid server_id{*from_hex("0003000102005e100002")};
};
const Captures* captures;

class FakeClock : public Clock {
 public:
  uint64_t monotonic_us() override { return now; }
  uint64_t wall_us() override { return now - kMonotonicStartUs + kWallStartUs; }
  uint64_t now = kMonotonicStartUs;
};

class FakeRandom : public Random {
 public:
  explicit FakeRandom(uint32_t seed) : state_(seed | 1) {}
  uint32_t next() override {  // xorshift32: deterministic, so every finding reproduces
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }

 private:
  uint32_t state_;
};

bool needs_server_id(MessageType type) {
  return type == MessageType::Request || type == MessageType::Renew || type == MessageType::Release;
}

// Checks each packet the client sends and remembers the last transaction id.
class CheckingTransport : public Transport {
 public:
  void send(std::span<const uint8_t> packet) override {
    ++sent;
    const auto parsed = parse(packet);
    if (const auto* error = std::get_if<ParseError>(&parsed))
      finding("the client sent a packet its own codec refuses: %s", error->reason.c_str());
    const Parsed& kept = std::get<Parsed>(parsed);
    if (!kept.dropped.empty())
      finding("the client sent a packet its own codec drops part of: %s", kept.dropped[0].c_str());
    const Message& m = kept.message;
    switch (m.type) {
      case MessageType::Solicit:
      case MessageType::Request:
      case MessageType::Renew:
      case MessageType::Rebind:
      case MessageType::Release:
        break;
      default:
        finding("the client sent a %s", to_string(m.type));
    }
    if (m.client_id != captures->client_id)
      finding("%s without our Client Identifier", to_string(m.type));
    if (m.server_id.has_value() != needs_server_id(m.type))
      finding("%s %s a Server Identifier", to_string(m.type), m.server_id ? "with" : "without");
    if (m.ia_pds.size() != 1 || m.ia_pds[0].iaid != kIaid)
      finding("%s without exactly our IA_PD", to_string(m.type));
    if (!m.elapsed_time) finding("%s without an Elapsed Time", to_string(m.type));
    last_transaction_id = m.transaction_id;
  }

  uint64_t sent = 0;
  std::optional<uint32_t> last_transaction_id;
};

// Follows the callbacks: which prefixes the owner was told about and the last lease it was given.
class TrackingObserver : public Observer {
 public:
  void prefix_added(const DelegatedPrefix& prefix, const Lease&) override {
    if (!announced.insert(prefix.prefix).second)
      finding("prefix_added for %s, already added", prefix.prefix.str().c_str());
  }
  void prefix_changed(const DelegatedPrefix& prefix, const Lease&) override {
    if (!announced.contains(prefix.prefix))
      finding("prefix_changed for %s, never added", prefix.prefix.str().c_str());
  }
  void prefix_lost(const IpPrefix& prefix, std::string_view reason) override {
    if (announced.erase(prefix) == 0)
      finding("prefix_lost for %s, never added", prefix.str().c_str());
    if (reason.empty()) finding("prefix_lost without a reason");
  }
  void lease_changed(const std::optional<Lease>& lease) override { last_lease = lease; }
  void message_dropped(std::string_view reason) override {
    ++dropped;
    if (reason.empty()) finding("message_dropped without a reason");
  }

  std::set<IpPrefix> announced;
  std::optional<Lease> last_lease;
  uint64_t dropped = 0;  // message_dropped calls, also those about one option of a packet used
};

class Harness {
 public:
  Harness(uint8_t setup, std::optional<Lease> stored)
      : random_(0x9e3779b9u ^ setup),
        client_(ClientConfig{.client_id = captures->client_id,
                             .iaid = kIaid,
                             .prefix_length_hint = static_cast<uint8_t>(setup & 0x10 ? 56 : 0),
                             .rapid_commit = (setup & 0x08) != 0,
                             .initial_delay = (setup & 0x20) != 0 && (setup & 7) % 6 == 0},
                stored, clock_, transport_, random_, observer_) {
    observer_.last_lease = stored;
  }

  Client& client() { return client_; }

  void start() {
    client_.start();
    check(false);
  }

  void receive(Bytes packet, bool keep_transaction_id) {
    if (!keep_transaction_id && packet.size() >= 4 && transport_.last_transaction_id) {
      packet[1] = static_cast<uint8_t>(*transport_.last_transaction_id >> 16);
      packet[2] = static_cast<uint8_t>(*transport_.last_transaction_id >> 8);
      packet[3] = static_cast<uint8_t>(*transport_.last_transaction_id);
    }
    const Counters before = client_.counters();
    const uint64_t dropped_before = observer_.dropped;
    client_.receive(packet);
    const Counters& after = client_.counters();
    const uint64_t counted = (after.received - before.received) +
                             (after.dropped_malformed - before.dropped_malformed) +
                             (after.dropped_unexpected - before.dropped_unexpected);
    if (counted != 1) finding("one packet changed the receive counters by %lu", counted);
    if (after.received == before.received && observer_.dropped == dropped_before)
      finding("a packet dropped without message_dropped");
    if (std::holds_alternative<ParseError>(parse(packet)) &&
        after.dropped_malformed == before.dropped_malformed)
      finding("a malformed packet was not dropped as malformed");
    check(false);
  }

  // Moves the clock to `target`, running each timer as it falls due (as the owner's timerfd would).
  void advance_to(uint64_t target) {
    for (int runs = 0;; ++runs) {
      const auto deadline = client_.next_deadline_us();
      if (!deadline || *deadline > target) break;
      if (runs == kMaxTimerRunsPerAdvance)
        finding("more than %d timer runs in one clock advance: a timer that does not move on",
                kMaxTimerRunsPerAdvance);
      clock_.now = std::max(clock_.now, *deadline);
      run_timer();
    }
    clock_.now = std::max(clock_.now, target);
  }

  void advance_by(uint64_t us) { advance_to(clock_.now + us); }

  void run_next_deadline() {
    if (const auto deadline = client_.next_deadline_us()) {
      clock_.now = std::max(clock_.now, *deadline);
      run_timer();
    }
  }

  // The checks valid at any time; after on_timer() also those that hold once every due timer ran.
  void check(bool after_timer) {
    if (client_.counters().sent != transport_.sent)
      finding("counters().sent is %lu, the transport saw %lu", client_.counters().sent,
              transport_.sent);
    const State state = client_.state();
    const auto deadline = client_.next_deadline_us();
    if (deadline && (after_timer ? *deadline <= clock_.now : *deadline < clock_.now))
      finding("next deadline %lu is not after now %lu (%s, state %s)", *deadline, clock_.now,
              after_timer ? "after on_timer" : "outside on_timer", to_string(state));
    const bool waits_for_answer = state == State::Delaying || state == State::Soliciting ||
                                  state == State::Requesting || state == State::Renewing ||
                                  state == State::Rebinding || state == State::Releasing;
    if (waits_for_answer && !deadline) finding("state %s without a deadline", to_string(state));

    const auto& lease = client_.lease();
    const bool bound =
        state == State::Bound || state == State::Renewing || state == State::Rebinding;
    if (bound && !lease) finding("state %s without a lease", to_string(state));
    if (lease != observer_.last_lease) finding("the lease changed without lease_changed");
    std::set<IpPrefix> leased;
    if (lease) {
      check_lease(*lease, after_timer);
      for (const auto& prefix : lease->prefixes) leased.insert(prefix.prefix);
    }
    // A stored lease's prefixes are announced once a server confirms them (or the confirming
    // Rebind gives up), so until then the owner may know of fewer; never of more, and a bound
    // client has announced them all (a renew() while confirming may Renew them unannounced).
    for (const auto& prefix : observer_.announced)
      if (!leased.contains(prefix))
        finding("the observer holds %s, the lease does not", prefix.str().c_str());
    if (state == State::Bound && leased != observer_.announced)
      finding("%s with %zu prefixes leased, %zu announced", to_string(state), leased.size(),
              observer_.announced.size());
  }

 private:
  void run_timer() {
    client_.on_timer();
    check(true);
  }

  void check_lease(const Lease& lease, bool after_timer) {
    if (lease.iaid != kIaid) finding("lease for IAID %u", lease.iaid);
    if (lease.server_id.bytes.empty() || lease.server_id.bytes.size() > 130)
      finding("lease with a server DUID of %zu octets", lease.server_id.bytes.size());
    if (lease.prefixes.empty()) finding("a lease without prefixes");
    if (lease.renew_at_us > lease.rebind_at_us)
      finding("lease with T1 %lu after T2 %lu", lease.renew_at_us, lease.rebind_at_us);
    std::set<IpPrefix> seen;
    for (const auto& p : lease.prefixes) {
      const std::string name = p.prefix.str();
      if (!p.prefix.address.is_v6() || p.prefix.length < 1 || p.prefix.length > 128)
        finding("leased prefix %s", name.c_str());
      if (p.preferred_until_us > p.valid_until_us)
        finding("leased prefix %s preferred until %lu, after its valid lifetime %lu", name.c_str(),
                p.preferred_until_us, p.valid_until_us);
      if (after_timer && p.valid_until_us <= clock_.wall_us())
        finding("leased prefix %s still held after its valid lifetime", name.c_str());
      if (!seen.insert(p.prefix).second) finding("prefix %s leased twice", name.c_str());
    }
  }

  FakeClock clock_;
  CheckingTransport transport_;
  FakeRandom random_;
  TrackingObserver observer_;
  Client client_;
};

// Kea's binding (the captures: T1 1000 s, T2 2000 s, 2001:db8:100::/56 for 3000/4000 s) as a
// previous run would have stored it just now.
Lease stored_lease() {
  const uint64_t now = kWallStartUs;
  DelegatedPrefix prefix{{
                             .prefix = *IpPrefix::parse("2001:db8:100::/56"),
                             .preferred_until_us = now + 3000 * kSecondUs,
                             .valid_until_us = now + 4000 * kSecondUs,
                         },
                         IpPrefix::parse("2001:db8:100::/64")};
  return Lease{.iaid = kIaid,
               .server_id = captures->server_id,
               .renew_at_us = now + 1000 * kSecondUs,
               .rebind_at_us = now + 2000 * kSecondUs,
               .prefixes = {prefix},
               .dns_servers = {},
               .domain_search = {}};
}

// Runs timers until the client is in `want` (a handful of runs at most: the first RT of a
// Solicit, T1, T2).
void run_timers_until(Harness& h, State want) {
  for (int i = 0; i < 20 && h.client().state() != want; ++i) h.run_next_deadline();
}

void expect_state(Harness& h, State want, const char* step) {
  if (h.client().state() != want)
    finding("setup: %s left the client %s, not %s", step, to_string(h.client().state()),
            to_string(want));
}

// Brings a fresh client into the state the setup byte names.
void set_up(Harness& h, uint8_t setup) {
  const int scenario = (setup & 7) % 6;
  h.start();
  if (scenario == 5) return expect_state(h, State::Rebinding, "start() with a stored lease");
  if (scenario == 0)
    return expect_state(h, setup & 0x20 ? State::Delaying : State::Soliciting, "start()");
  h.receive(captures->advertise, false);
  run_timers_until(h, State::Requesting);
  expect_state(h, State::Requesting, "Kea's Advertise and the first Solicit RT");
  if (scenario == 1) return;
  h.receive(captures->reply, false);
  expect_state(h, State::Bound, "Kea's Reply");
  if (scenario == 2) return;
  run_timers_until(h, State::Renewing);
  expect_state(h, State::Renewing, "T1");
  if (scenario == 3) return;
  run_timers_until(h, State::Rebinding);
  expect_state(h, State::Rebinding, "T2");
}

void run_action(Harness& h, uint8_t op) {
  Client& client = h.client();
  switch (op & 7) {
    case 0:
      client.renew();
      break;
    case 1:
      client.link_changed();
      break;
    case 2:
      client.release();
      break;
    case 3:
      client.stop();
      if (client.state() != State::Idle)
        finding("stop() left the client %s", to_string(client.state()));
      break;
    case 4:
      if (client.state() == State::Idle) return h.start();
      break;
    default:
      return h.run_next_deadline();
  }
  h.check(false);
}

void run(std::span<const uint8_t> input) {
  if (input.empty()) return;
  const uint8_t setup = input[0];
  std::optional<Lease> stored;
  if ((setup & 7) % 6 == 5) stored = stored_lease();
  Harness h(setup, stored);
  set_up(h, setup);

  std::span<const uint8_t> rest = input.subspan(1);
  for (size_t records = 0; records < kMaxRecords && !rest.empty(); ++records) {
    const uint8_t op = rest[0];
    rest = rest.subspan(1);
    if (op & 0x80) {
      run_action(h, op);
      continue;
    }
    h.advance_by(((op >> 2) & 15) * kAdvanceUnitUs[op & 3]);
    size_t length = 0;
    if (rest.size() >= 2) {
      length = std::min<size_t>(size_t{rest[0]} << 8 | rest[1], rest.size() - 2);
      rest = rest.subspan(2);
    } else {
      rest = {};
    }
    h.receive(Bytes(rest.begin(), rest.begin() + length), (op & 0x40) != 0);
    rest = rest.subspan(length);
  }
}

}  // namespace
}  // namespace l2wg::dhcp6

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  l2wg::dhcp6::captures = new l2wg::dhcp6::Captures;  // lives as long as the process
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  l2wg::dhcp6::run({data, size});
  return 0;
}
