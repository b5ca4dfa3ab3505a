// The DHCPv6 prefix-delegation client (RFC 8415, one IA_PD) as a pure state machine: no sockets,
// no files, no threads. Time comes from an injected Clock, packets leave through an injected
// Transport and arrive through receive(), randomness (jitter, transaction ids) from an injected
// Random. The owner arms a timer for next_deadline() and calls on_timer() when it passes, so every
// timer path can be tested on a fake clock in microseconds.
//
// What it does, and why where the RFC leaves a choice:
// - Solicit after the §18.2.1 random delay (skippable for a tunnel a user just brought up); server
//   selection by preference, 255 at once, else the best Advertise when the first RT ends;
//   optional Rapid Commit. SOL_MAX_RT/INF_MAX_RT are taken from every Advertise and Reply, even
//   those otherwise ignored (§18.2.9), within 60..86400 s (§21.24/§21.25).
// - Request; Renew at T1; Rebind at T2; expiry of each prefix at its valid lifetime; §7.6
//   constants and §15 retransmission with jitter (RAND in [-0.1, 0.1]).
// - start() with a stored lease that is still valid Rebinds at once (no initial delay), so a
//   restart keeps the prefix; link_changed() Rebinds too (§18.2.12). Both use Confirm's timing
//   (CNF_MAX_RD): without an answer the client keeps the lease and its T1/T2/expiry schedule.
// - Release only when release() is called; stop() never sends anything and keeps the lease.
// - Every packet is checked (codec bounds, transaction id, our Client Identifier, a Server
//   Identifier, message type for the state); anything else is dropped and counted, never trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "l2wg/timed_prefix.h"
#include "l2wg/clock.h"
#include "l2wg/dhcp6/message.h"
#include "l2wg/ip.h"

namespace l2wg::dhcp6 {

// Clock and Random (l2wg/clock.h) are l2wg-wide; the transport is the client's own.
class Transport {
 public:
  virtual ~Transport() = default;
  // Sends to All_DHCP_Relay_Agents_and_Servers (ff02::1:2) port 547 on the client's link. A send
  // that fails throws l2wg::Error: the client reports it (message_dropped, Counters::not_sent) and
  // takes it as a lost transmission, which retransmission covers.
  virtual void send(std::span<const uint8_t> packet) = 0;
};

// How many prefixes the client takes: at most kMaxPrefixesPerIaPd delegated by one IA_PD (those it
// already holds first, then the server's order), and at most kMaxPrefixesHeld at once (those held
// first: new ones cannot push out what the LANs already use). A home router numbers its LANs from
// a handful; a server that delegates thousands would otherwise make every Renew, which lists each
// prefix held, too big to send. 32 keeps every message the client sends, with the DUID-UUID l2wg
// uses and a server DUID of any length, within 1280 bytes, IPv6's minimum MTU.
inline constexpr size_t kMaxPrefixesPerIaPd = 32;
inline constexpr size_t kMaxPrefixesHeld = 32;

// One delegated prefix, with absolute lifetimes (wall clock, µs since the epoch; UINT64_MAX for
// an infinite lifetime).
// A delegated prefix with its lifetimes' ends (wall clock) and what of it must not be used.
struct DelegatedPrefix : TimedPrefix {
  std::optional<IpPrefix> exclude;  // RFC 6603: not to be used on the LAN
  bool operator==(const DelegatedPrefix&) const = default;
};

// What the client holds: everything the daemon needs to announce the prefixes, and everything the
// client needs to Rebind after a restart. Times are wall clock, µs since the epoch; UINT64_MAX is
// never.
struct Lease {
  uint32_t iaid = 0;
  Duid server_id;
  uint64_t renew_at_us = 0;   // T1 as an absolute time
  uint64_t rebind_at_us = 0;  // T2 as an absolute time
  std::vector<DelegatedPrefix> prefixes;
  std::vector<IpAddress> dns_servers;
  std::vector<std::string> domain_search;
  bool operator==(const Lease&) const = default;
};

enum class State {
  Idle,        // not started, stopped, or released
  Delaying,    // the §18.2.1 random delay before the first Solicit
  Soliciting,
  Requesting,
  Bound,
  Renewing,
  Rebinding,
  Releasing,
};
const char* to_string(State state);

// Counters for `l2wg show`/logs and for tests: what was sent, received, dropped and why.
struct Counters {
  uint64_t sent = 0;
  uint64_t received = 0;          // passed every check and was acted on
  uint64_t dropped_malformed = 0; // the codec refused it
  uint64_t dropped_unexpected = 0;// well-formed, but not for us or not now (xid, ids, type, state)
  uint64_t not_sent = 0;  // transmissions that could not be encoded or that the transport refused
  bool operator==(const Counters&) const = default;
};

// Callbacks, on the thread that drives the client. Lifetimes in DelegatedPrefix are absolute.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void prefix_added(const DelegatedPrefix& /*prefix*/, const Lease& /*lease*/) {}
  // Lifetimes (or the excluded prefix) changed, e.g. after a Renew.
  virtual void prefix_changed(const DelegatedPrefix& /*prefix*/, const Lease& /*lease*/) {}
  // reason: "expired", "withdrawn by the server", "released", "replaced by the server's new
  // binding", "rebind failed, the server has no binding"...
  virtual void prefix_lost(const IpPrefix& /*prefix*/, std::string_view /*reason*/) {}
  // Called on every change of the lease (prefixes, lifetimes, T1/T2, server, DNS), nullopt once
  // the client holds nothing. The owner writes it to disk, atomically.
  virtual void lease_changed(const std::optional<Lease>& /*lease*/) {}
  virtual void state_changed(State /*state*/) {}
  virtual void message_sent(MessageType /*type*/, uint32_t /*transaction_id*/) {}
  virtual void message_received(MessageType /*type*/, uint32_t /*transaction_id*/) {}
  virtual void message_dropped(std::string_view /*reason*/) {}
};

struct ClientConfig {
  Duid client_id;
  uint32_t iaid = 0;
  uint8_t prefix_length_hint = 0;  // 0 = no hint
  bool rapid_commit = false;
  // The SHOULD of §18.2.1: a random delay of up to SOL_MAX_DELAY (1 s) before the first Solicit,
  // so that many clients starting together do not flood the server. Skip it only for a tunnel a
  // user just brought up.
  bool initial_delay = true;
};

class Client {
 public:
  // `stored` is the lease a previous run left (see Observer::lease_changed), if any.
  Client(ClientConfig config, std::optional<Lease> stored, Clock& clock, Transport& transport,
         Random& random, Observer& observer);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Begins: Rebind at once with a stored lease that is still valid for at least one prefix;
  // otherwise (dropping an expired lease) Solicit, after the initial delay if configured.
  void start();
  // Stops sending; keeps the lease (a restart Rebinds). Never sends Release.
  void stop();
  // A user asked to renew: Renew now when bound (Rebind if T2 has passed), else Solicit now,
  // also after a release (Idle). Nothing while a Release is under way.
  void renew();
  // Gives the prefixes back: reports them lost ("released"), clears the lease, sends Release
  // (REL_MAX_RC transmissions) and ends Idle. Nothing to release: just goes Idle. Nothing while a
  // Release is under way.
  void release();
  // The link went down and up, or the interface was recreated: Rebind when holding a lease.
  void link_changed();

  // A packet from UDP port 547 on the client's link.
  void receive(std::span<const uint8_t> packet);

  // When on_timer() must be called next (monotonic µs), nullopt when nothing is pending.
  std::optional<uint64_t> next_deadline_us() const;
  // Runs everything due at the clock's current time (retransmissions, T1, T2, expiries).
  void on_timer();

  State state() const { return state_; }
  const std::optional<Lease>& lease() const { return lease_; }
  const Counters& counters() const { return counters_; }
  uint32_t sol_max_rt() const { return sol_max_rt_; }  // seconds, as last set by a server
  uint32_t inf_max_rt() const { return inf_max_rt_; }

 private:
  // §15 retransmission parameters in µs; 0 means no limit. Solicit's MRT is sol_max_rt_.
  struct Timing {
    uint64_t irt_us = 0;
    uint64_t mrt_us = 0;
    uint32_t mrc = 0;
  };
  // The message exchange in progress: one message, retransmitted with a fresh Elapsed Time.
  struct Exchange {
    Message message;
    Timing timing;
    bool confirming = false;        // a Rebind after start()/link_changed(), on Confirm's timing
    uint64_t started_us = 0;        // first transmission, monotonic
    uint64_t ends_us = UINT64_MAX;  // MRD as a deadline
    uint64_t rt_us = 0;
    uint32_t transmissions = 0;
    uint64_t next_us = 0;  // the next retransmission, or the end, or (Solicit) the first RT's end
  };
  // A prefix held, with its end on the monotonic clock (timers never follow the wall clock).
  struct HeldPrefix {
    DelegatedPrefix prefix;
    uint64_t valid_until_mono_us = 0;
    bool announced = false;  // prefix_added was called (a stored lease's are not, until confirmed)
  };
  struct Binding {
    Duid server_id;
    uint64_t renew_at_us = 0;  // wall, as in Lease
    uint64_t rebind_at_us = 0;
    uint64_t renew_at_mono_us = 0;
    uint64_t rebind_at_mono_us = 0;
    std::vector<HeldPrefix> prefixes;
    std::vector<IpAddress> dns_servers;
    std::vector<std::string> domain_search;
    std::vector<HeldPrefix>::iterator find(const IpPrefix& prefix);  // prefixes.end() if not held
  };
  // The best Advertise seen during the first RT of a Solicit.
  struct Offer {
    Duid server_id;
    std::vector<IaPrefix> prefixes;
    uint8_t preference = 0;
  };
  // What a server said about our IA_PD, after every check.
  struct IaVerdict {
    bool present = false;  // our IAID, with T1 <= T2
    uint16_t status = 0;   // the IA_PD's status code
    uint32_t t1 = 0, t2 = 0;
    std::vector<IaPrefix> prefixes;  // usable ones, valid lifetime 0 included
    bool grants() const;             // a success with at least one non-zero valid lifetime
  };
  struct PrefixEvent {
    enum class Kind { Added, Changed, Lost } kind;
    DelegatedPrefix prefix;
    const char* reason = "";
  };

  void set_state(State state);
  bool adopt_stored_lease();
  void begin_delay(uint64_t delay_us);
  void begin_solicit();
  void begin_request(const Duid& server_id, const std::vector<IaPrefix>& prefixes);
  void begin_renew();
  void begin_rebind(bool confirming);
  void begin_exchange(State state, Message message, Timing timing, uint64_t ends_us,
                      bool confirming = false);
  void transmit(uint64_t now);
  void exchange_timer(uint64_t now);
  void exchange_failed(uint64_t now);
  void resume_schedule(uint64_t now);
  Message client_message(MessageType type) const;
  IaPd our_ia(const std::vector<IaPrefix>& prefixes) const;
  std::vector<IaPrefix> held_as_ia_prefixes() const;

  bool expects(MessageType type) const;
  void take_max_rt(const Message& message);
  IaVerdict judge_ia(const Message& message);
  void limit_delegations(std::vector<IaPrefix>& prefixes, const std::string& ia_name);
  void refuse_past_held_limit(IaVerdict& ia);
  bool holds(const IpPrefix& prefix);
  void accept(const Message& message);
  void ignore(const std::string& reason);
  void on_advertise(const Message& message);
  void on_reply(const Message& message);
  void on_renew_or_rebind_reply(const Message& message, IaVerdict ia);
  void bind(const Message& message, const IaVerdict& ia, bool fresh);
  bool apply_withdrawals(const IaVerdict& ia, std::vector<PrefixEvent>& events);
  void refused();
  void lose_everything(const char* reason);
  void stop_using_binding(const char* reason);
  void expire_prefixes(uint64_t now);
  void commit(const std::vector<PrefixEvent>& events);

  uint64_t jittered(uint64_t base_us, bool strictly_above = false);
  uint64_t uniform_us(uint64_t max_us);

  ClientConfig config_;
  Clock& clock_;
  Transport& transport_;
  Random& random_;
  Observer& observer_;
  State state_ = State::Idle;
  std::optional<Lease> lease_;      // what lease() shows: binding_ on the wall clock
  std::optional<Binding> binding_;  // empty until start() adopts a stored lease
  std::optional<Exchange> exchange_;
  std::optional<Offer> offer_;
  uint64_t delay_until_us_ = 0;  // Delaying: when the Solicit starts
  uint32_t refusals_ = 0;        // Requests refused in a row: grows the pause before Soliciting
  Counters counters_;
  uint32_t sol_max_rt_ = 3600;
  uint32_t inf_max_rt_ = 3600;
};

}  // namespace l2wg::dhcp6
