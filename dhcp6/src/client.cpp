#include "l2wg/dhcp6/client.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <utility>
#include <variant>

#include "l2wg/error.h"

namespace l2wg::dhcp6 {
namespace {

constexpr uint64_t kSecond = 1'000'000;  // µs
constexpr uint64_t kNever = UINT64_MAX;
constexpr uint32_t kInfinite = 0xffffffff;  // a lifetime, T1 or T2 that never ends (§7.7)

// §7.6.
constexpr uint64_t kSolMaxDelay = 1 * kSecond;
constexpr uint64_t kSolTimeout = 1 * kSecond;
constexpr uint64_t kReqTimeout = 1 * kSecond;
constexpr uint64_t kReqMaxRt = 30 * kSecond;
constexpr uint32_t kReqMaxRc = 10;
constexpr uint64_t kRenTimeout = 10 * kSecond;
constexpr uint64_t kRenMaxRt = 600 * kSecond;
constexpr uint64_t kRebTimeout = 10 * kSecond;
constexpr uint64_t kRebMaxRt = 600 * kSecond;
constexpr uint64_t kRelTimeout = 1 * kSecond;
constexpr uint32_t kRelMaxRc = 4;
constexpr uint64_t kCnfTimeout = 1 * kSecond;
constexpr uint64_t kCnfMaxRt = 4 * kSecond;
constexpr uint64_t kCnfMaxRd = 10 * kSecond;

// §21.24/§21.25: SOL_MAX_RT and INF_MAX_RT outside this range are ignored.
constexpr uint32_t kMinMaxRt = 60;
constexpr uint32_t kMaxMaxRt = 86400;

constexpr uint32_t kMaxTransactionId = 0xffffff;
constexpr uint16_t kMaxElapsedTime = 0xffff;

// What every message but Release asks for.
const std::vector<uint16_t> kRequestedOptions = {option::kDnsServers, option::kDomainList,
                                                 option::kPdExclude, option::kSolMaxRt,
                                                 option::kInfMaxRt};

uint64_t add_saturating(uint64_t a, uint64_t b) {
  return a > kNever - b ? kNever : a + b;
}

// The end of a lifetime given in seconds from `now`; infinite stays infinite.
uint64_t lifetime_end(uint64_t now, uint32_t seconds) {
  return seconds == kInfinite ? kNever : add_saturating(now, uint64_t{seconds} * kSecond);
}

std::string hex(uint32_t value, int digits) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%0*x", digits, value);
  return text;
}

std::string status_name(uint16_t code) {
  switch (code) {
    case status_code::kSuccess:
      return "Success";
    case status_code::kUnspecFail:
      return "UnspecFail";
    case status_code::kNoAddrsAvail:
      return "NoAddrsAvail";
    case status_code::kNoBinding:
      return "NoBinding";
    case status_code::kNotOnLink:
      return "NotOnLink";
    case status_code::kUseMulticast:
      return "UseMulticast";
    case status_code::kNoPrefixAvail:
      return "NoPrefixAvail";
  }
  return "status " + std::to_string(code);
}

std::string describe(const Status& status) {
  std::string text = status_name(status.code);
  if (!status.message.empty()) text += " (\"" + status.message + "\")";
  return text;
}

IpPrefix prefix_of(const IaPrefix& prefix) {
  return IpPrefix{prefix.prefix, prefix.length};
}

// The ranges no router can number a LAN from (RFC 4291 §2.4): a server offering one is broken or
// hostile, and routing it would break the host (multicast, link-local, loopback and unspecified).
std::optional<std::string> special_range_overlapped(const IpPrefix& prefix) {
  static const std::pair<IpPrefix, const char*> kSpecial[] = {
      {*IpPrefix::parse("::/8", true), "::/8 (unspecified, loopback, IPv4-mapped)"},
      {*IpPrefix::parse("fe80::/10", true), "fe80::/10 (link-local)"},
      {*IpPrefix::parse("ff00::/8", true), "ff00::/8 (multicast)"},
  };
  for (const auto& [range, name] : kSpecial)
    if (range.contains(prefix.address) || prefix.contains(range.address)) return std::string(name);
  return std::nullopt;
}

// Why a prefix offered by a server cannot be used (§21.22, RFC 6603), or nullopt.
std::optional<std::string> prefix_problem(const IaPrefix& prefix) {
  const std::string name = "prefix " + prefix_of(prefix).str();
  if (prefix.status && prefix.status->code != status_code::kSuccess)
    return name + " has status " + describe(*prefix.status);
  if (prefix.length == 0 || prefix.length > 128)
    return name + " has length " + std::to_string(prefix.length) + ", must be 1..128";
  if (prefix.prefix.masked(prefix.length) != prefix.prefix)
    return name + " has bits set past its length";
  if (auto special = special_range_overlapped(prefix_of(prefix)))
    return name + " overlaps " + *special + ", which cannot be delegated";
  if (prefix.preferred_lifetime > prefix.valid_lifetime)
    return name + " preferred lifetime > valid (" + std::to_string(prefix.preferred_lifetime) +
           " > " + std::to_string(prefix.valid_lifetime) + ")";
  return std::nullopt;
}

bool usable_stored(const DelegatedPrefix& prefix) {
  return prefix.prefix.address.is_v6() && prefix.prefix.length >= 1 &&
         prefix.prefix.length <= 128 &&
         prefix.prefix.address.masked(prefix.prefix.length) == prefix.prefix.address &&
         !special_range_overlapped(prefix.prefix);
}

}  // namespace

const char* to_string(State state) {
  switch (state) {
    case State::Idle:
      return "idle";
    case State::Delaying:
      return "delaying";
    case State::Soliciting:
      return "soliciting";
    case State::Requesting:
      return "requesting";
    case State::Bound:
      return "bound";
    case State::Renewing:
      return "renewing";
    case State::Rebinding:
      return "rebinding";
    case State::Releasing:
      return "releasing";
  }
  return "unknown";
}

bool Client::IaVerdict::grants() const {
  return present && status == status_code::kSuccess &&
         std::ranges::any_of(prefixes, [](const auto& p) { return p.valid_lifetime > 0; });
}

Client::Client(ClientConfig config, std::optional<Lease> stored, Clock& clock, Transport& transport,
               Random& random, Observer& observer)
    : config_(std::move(config)),
      clock_(clock),
      transport_(transport),
      random_(random),
      observer_(observer),
      lease_(std::move(stored)) {
  if (config_.client_id.bytes.empty() || config_.client_id.bytes.size() > 130)
    throw Error(ErrorCode::InvalidArgument, "DHCPv6 client DUID is " +
                                                std::to_string(config_.client_id.bytes.size()) +
                                                " octets, must be 1..130");
  if (config_.prefix_length_hint > 128)
    throw Error(
        ErrorCode::InvalidArgument,
        "DHCPv6 prefix length hint " + std::to_string(config_.prefix_length_hint) + " is over 128");
}

// ---- the owner's calls ----

void Client::start() {
  if (state_ != State::Idle) return;
  refusals_ = 0;
  if (adopt_stored_lease()) {
    begin_rebind(/*confirming=*/true);
  } else if (config_.initial_delay) {
    begin_delay(uniform_us(kSolMaxDelay));
  } else {
    begin_solicit();
  }
}

void Client::stop() {
  exchange_.reset();
  offer_.reset();
  set_state(State::Idle);
}

void Client::renew() {
  if (state_ == State::Releasing) return;
  if (state_ == State::Idle) {
    // Released (nothing held): a Renew asks for a prefix anew, at once. A stopped client keeps
    // what it held and stays stopped.
    if (binding_) return;
    refusals_ = 0;
    begin_solicit();
  } else if (!binding_) {
    begin_solicit();
  } else if (clock_.monotonic_us() >= binding_->rebind_at_mono_us) {
    begin_rebind(/*confirming=*/false);
  } else {
    begin_renew();
  }
}

void Client::release() {
  if (state_ == State::Releasing) return;  // one under way goes on with its retransmissions
  if (!binding_ && lease_) adopt_stored_lease();
  if (!binding_) {
    stop();
    return;
  }
  Message message = client_message(MessageType::Release);
  message.option_request.clear();  // §18.2.7: Release carries no Option Request
  message.server_id = binding_->server_id;
  message.ia_pds.push_back(our_ia(held_as_ia_prefixes()));

  std::vector<PrefixEvent> events;
  for (const auto& held : binding_->prefixes)
    if (held.announced) events.push_back({PrefixEvent::Kind::Lost, held.prefix, "released"});
  binding_.reset();
  // §18.2.7: the prefixes are out of use before the Release goes out.
  commit(events);
  begin_exchange(State::Releasing, std::move(message), {kRelTimeout, 0, kRelMaxRc}, kNever);
}

void Client::link_changed() {
  if (state_ == State::Idle || state_ == State::Releasing) return;
  // §18.2.12: the client may have moved to another link; its prefixes are checked by a Rebind.
  if (binding_) {
    begin_rebind(/*confirming=*/true);
  } else {
    exchange_.reset();
    if (config_.initial_delay) {
      begin_delay(uniform_us(kSolMaxDelay));
    } else {
      begin_solicit();
    }
  }
}

std::optional<uint64_t> Client::next_deadline_us() const {
  if (state_ == State::Idle) return std::nullopt;
  uint64_t next = kNever;
  if (state_ == State::Delaying) next = std::min(next, delay_until_us_);
  if (exchange_) next = std::min(next, exchange_->next_us);
  if (binding_) {
    for (const auto& held : binding_->prefixes) next = std::min(next, held.valid_until_mono_us);
    if (state_ == State::Bound) next = std::min(next, binding_->renew_at_mono_us);
    if (state_ == State::Bound || state_ == State::Renewing)
      next = std::min(next, binding_->rebind_at_mono_us);
  }
  if (next == kNever) return std::nullopt;
  return next;
}

void Client::on_timer() {
  if (state_ == State::Idle) return;
  const uint64_t now = clock_.monotonic_us();
  expire_prefixes(now);
  if (state_ == State::Delaying && now >= delay_until_us_) begin_solicit();
  if (binding_ && (state_ == State::Bound || state_ == State::Renewing) &&
      now >= binding_->rebind_at_mono_us) {
    begin_rebind(/*confirming=*/false);
  } else if (binding_ && state_ == State::Bound && now >= binding_->renew_at_mono_us) {
    begin_renew();
  }
  if (exchange_ && now >= exchange_->next_us) exchange_timer(now);
}

// ---- starting exchanges ----

void Client::set_state(State state) {
  if (state == state_) return;
  state_ = state;
  observer_.state_changed(state);
}

// Turns the stored lease (wall clock) into a binding (monotonic), once, dropping what has
// expired. Returns whether the client holds any prefix afterwards.
bool Client::adopt_stored_lease() {
  if (binding_) {
    expire_prefixes(clock_.monotonic_us());
    return binding_.has_value();
  }
  if (!lease_) return false;
  const uint64_t now_mono = clock_.monotonic_us();
  const uint64_t now_wall = clock_.wall_us();
  const auto to_mono = [&](uint64_t wall) {
    if (wall == kNever) return kNever;
    return wall <= now_wall ? now_mono : add_saturating(now_mono, wall - now_wall);
  };
  const Lease& stored = *lease_;
  const bool server_ok = !stored.server_id.bytes.empty() && stored.server_id.bytes.size() <= 130;
  if (stored.iaid == config_.iaid && server_ok) {
    Binding binding;
    binding.server_id = stored.server_id;
    binding.renew_at_us = stored.renew_at_us;
    binding.rebind_at_us = stored.rebind_at_us;
    binding.renew_at_mono_us = to_mono(stored.renew_at_us);
    binding.rebind_at_mono_us = to_mono(stored.rebind_at_us);
    binding.dns_servers = stored.dns_servers;
    binding.domain_search = stored.domain_search;
    size_t past_limit = 0;  // a lease written before the limit existed may hold more
    for (const auto& prefix : stored.prefixes) {
      if (prefix.valid_until_us <= now_wall || !usable_stored(prefix)) continue;
      if (binding.prefixes.size() == kMaxPrefixesHeld) {
        ++past_limit;
        continue;
      }
      binding.prefixes.push_back({prefix, to_mono(prefix.valid_until_us), false});
    }
    if (past_limit > 0)
      observer_.message_dropped("stored lease: " + std::to_string(past_limit) +
                                " prefixes past the first " + std::to_string(kMaxPrefixesHeld) +
                                " dropped, the most the client holds");
    if (!binding.prefixes.empty()) binding_ = std::move(binding);
  }
  commit({});
  return binding_.has_value();
}

void Client::begin_delay(uint64_t delay_us) {
  exchange_.reset();
  offer_.reset();
  delay_until_us_ = add_saturating(clock_.monotonic_us(), delay_us);
  set_state(State::Delaying);
}

Message Client::client_message(MessageType type) const {
  Message message;
  message.type = type;
  message.client_id = config_.client_id;
  message.option_request = kRequestedOptions;
  return message;
}

IaPd Client::our_ia(const std::vector<IaPrefix>& prefixes) const {
  IaPd ia;
  ia.iaid = config_.iaid;  // T1 and T2 stay 0: the server chooses (§21.21)
  for (const auto& offered : prefixes) {
    // §21.22: lifetimes in a client's message are 0; the server ignores them anyway.
    IaPrefix prefix;
    prefix.length = offered.length;
    prefix.prefix = offered.prefix;
    ia.prefixes.push_back(prefix);
  }
  return ia;
}

std::vector<IaPrefix> Client::held_as_ia_prefixes() const {
  std::vector<IaPrefix> prefixes;
  if (!binding_) return prefixes;
  for (const auto& held : binding_->prefixes) {
    IaPrefix prefix;
    prefix.length = held.prefix.prefix.length;
    prefix.prefix = held.prefix.prefix.address;
    prefixes.push_back(prefix);
  }
  return prefixes;
}

void Client::begin_solicit() {
  Message message = client_message(MessageType::Solicit);
  message.rapid_commit = config_.rapid_commit;
  std::vector<IaPrefix> hint;
  if (config_.prefix_length_hint != 0) {
    IaPrefix prefix;
    prefix.length = config_.prefix_length_hint;
    hint.push_back(prefix);
  }
  message.ia_pds.push_back(our_ia(hint));
  // MRC and MRD 0: Solicit until a server answers; MRT is sol_max_rt_, read at each RT.
  begin_exchange(State::Soliciting, std::move(message), {kSolTimeout, 0, 0}, kNever);
}

void Client::begin_request(const Duid& server_id, const std::vector<IaPrefix>& prefixes) {
  Message message = client_message(MessageType::Request);
  message.server_id = server_id;
  message.ia_pds.push_back(our_ia(prefixes));
  begin_exchange(State::Requesting, std::move(message), {kReqTimeout, kReqMaxRt, kReqMaxRc},
                 kNever);
}

void Client::begin_renew() {
  if (!binding_) return begin_solicit();
  Message message = client_message(MessageType::Renew);
  message.server_id = binding_->server_id;
  message.ia_pds.push_back(our_ia(held_as_ia_prefixes()));
  // MRD: until T2, when Rebind takes over.
  begin_exchange(State::Renewing, std::move(message), {kRenTimeout, kRenMaxRt, 0},
                 binding_->rebind_at_mono_us);
}

void Client::begin_rebind(bool confirming) {
  if (!binding_) return begin_solicit();
  Message message = client_message(MessageType::Rebind);
  message.ia_pds.push_back(our_ia(held_as_ia_prefixes()));
  if (confirming) {
    // After a restart or a link change the binding is most likely still good: check it on
    // Confirm's quick timing, and without an answer keep it (§18.2.3, §18.2.12).
    begin_exchange(State::Rebinding, std::move(message), {kCnfTimeout, kCnfMaxRt, 0},
                   add_saturating(clock_.monotonic_us(), kCnfMaxRd), true);
    return;
  }
  // MRD: until the last prefix expires (expire_prefixes() ends the exchange then).
  uint64_t last = 0;
  for (const auto& held : binding_->prefixes) last = std::max(last, held.valid_until_mono_us);
  begin_exchange(State::Rebinding, std::move(message), {kRebTimeout, kRebMaxRt, 0}, last);
}

void Client::begin_exchange(State state, Message message, Timing timing, uint64_t ends_us,
                            bool confirming) {
  const uint64_t now = clock_.monotonic_us();
  message.transaction_id = random_.next() & kMaxTransactionId;
  exchange_ = Exchange{std::move(message), timing, confirming, now, ends_us, 0, 0, now};
  offer_.reset();
  set_state(state);
  transmit(now);
}

// §15: RT = IRT + RAND*IRT, then 2*RTprev + RAND*RTprev, capped at MRT + RAND*MRT.
void Client::transmit(uint64_t now) {
  Exchange& exchange = *exchange_;
  const bool first = exchange.transmissions == 0;
  const bool solicit = exchange.message.type == MessageType::Solicit;
  if (first) {
    // §18.2.1: the first Solicit RT must be strictly greater than IRT (RAND > 0), so that
    // Advertises have time to arrive.
    exchange.rt_us = jittered(exchange.timing.irt_us, solicit);
  } else {
    const uint64_t mrt = solicit ? uint64_t{sol_max_rt_} * kSecond : exchange.timing.mrt_us;
    exchange.rt_us += jittered(exchange.rt_us);
    if (mrt != 0 && exchange.rt_us > mrt) exchange.rt_us = jittered(mrt);
  }
  const uint64_t elapsed = (now - exchange.started_us) / 10'000;  // hundredths of a second
  exchange.message.elapsed_time =
      static_cast<uint16_t>(std::min<uint64_t>(elapsed, kMaxElapsedTime));
  ++exchange.transmissions;
  exchange.next_us = std::min(add_saturating(now, exchange.rt_us), exchange.ends_us);

  // A message that cannot be encoded or sent is a lost transmission: the next one is scheduled
  // above, and the exchange ends (MRC, MRD) as it would have without an answer.
  try {
    transport_.send(encode(exchange.message));
  } catch (const Error& error) {
    ++counters_.not_sent;
    observer_.message_dropped(std::string(to_string(exchange.message.type)) +
                              " not sent: " + error.what());
    return;
  }
  ++counters_.sent;
  observer_.message_sent(exchange.message.type, exchange.message.transaction_id);
}

void Client::exchange_timer(uint64_t now) {
  Exchange& exchange = *exchange_;
  if (now >= exchange.ends_us ||
      (exchange.timing.mrc != 0 && exchange.transmissions >= exchange.timing.mrc)) {
    exchange_failed(now);
    return;
  }
  // §18.2.1: at the end of the first RT, the best Advertise so far wins.
  if (exchange.message.type == MessageType::Solicit && exchange.transmissions == 1 && offer_) {
    const Offer offer = std::move(*offer_);
    begin_request(offer.server_id, offer.prefixes);
    return;
  }
  transmit(now);
}

void Client::exchange_failed(uint64_t now) {
  const Exchange exchange = std::move(*exchange_);
  exchange_.reset();
  switch (exchange.message.type) {
    case MessageType::Request:
      // Discovery starts over: what is held goes, as after a refusal (see refused()).
      lose_everything("the Request went unanswered: discovery starts over");
      return;
    case MessageType::Renew:
      begin_rebind(/*confirming=*/false);
      return;
    case MessageType::Rebind:
      if (exchange.confirming) {
        resume_schedule(now);
      } else {
        lose_everything("expired");  // the MRD was the last valid lifetime
      }
      return;
    default:  // Release: given up on an answer; Solicit never ends
      set_state(State::Idle);
      return;
  }
}

// No answer to the Rebind after a restart or link change: the lease stays good for its
// lifetimes, so the client uses it and goes on as if nothing had happened.
void Client::resume_schedule(uint64_t now) {
  if (!binding_) {
    begin_solicit();
    return;
  }
  std::vector<PrefixEvent> events;
  for (auto& held : binding_->prefixes) {
    if (held.announced) continue;
    held.announced = true;
    events.push_back({PrefixEvent::Kind::Added, held.prefix});
  }
  if (now >= binding_->rebind_at_mono_us) {
    begin_rebind(/*confirming=*/false);
  } else if (now >= binding_->renew_at_mono_us) {
    begin_renew();
  } else {
    set_state(State::Bound);
  }
  commit(events);
}

// ---- receiving ----

void Client::receive(std::span<const uint8_t> packet) {
  const ParseResult result = parse(packet);
  if (const auto* error = std::get_if<ParseError>(&result)) {
    ++counters_.dropped_malformed;
    observer_.message_dropped("malformed: " + error->reason);
    return;
  }
  const Parsed& parsed = std::get<Parsed>(result);
  const Message& message = parsed.message;
  if (!expects(message.type))
    return ignore(std::string(to_string(message.type)) + " not expected while " +
                  to_string(state_));
  const uint32_t ours = exchange_->message.transaction_id;
  if (message.transaction_id != ours)
    return ignore(std::string(to_string(message.type)) + " transaction id " +
                  hex(message.transaction_id, 6) + " does not match " + hex(ours, 6));
  if (!message.client_id)
    return ignore(std::string(to_string(message.type)) + " has no Client Identifier");
  if (*message.client_id != config_.client_id)
    return ignore(std::string(to_string(message.type)) + " Client Identifier is not ours");
  if (!message.server_id)
    return ignore(std::string(to_string(message.type)) + " has no Server Identifier");
  for (const auto& part : parsed.dropped)
    observer_.message_dropped(std::string(to_string(message.type)) + ": " + part);
  take_max_rt(message);
  if (message.type == MessageType::Advertise) {
    on_advertise(message);
  } else {
    on_reply(message);
  }
}

bool Client::expects(MessageType type) const {
  if (!exchange_) return false;
  switch (state_) {
    case State::Soliciting:
      return type == MessageType::Advertise || (type == MessageType::Reply && config_.rapid_commit);
    case State::Requesting:
    case State::Renewing:
    case State::Rebinding:
    case State::Releasing:
      return type == MessageType::Reply;
    default:
      return false;
  }
}

// §18.2.9/§18.2.10: taken from every Advertise and Reply meant for us, even one otherwise
// ignored, so that a server can slow down clients it will not serve.
void Client::take_max_rt(const Message& message) {
  const auto take = [&](const std::optional<uint32_t>& value, uint32_t& into, const char* name) {
    if (!value) return;
    if (*value < kMinMaxRt || *value > kMaxMaxRt) {
      observer_.message_dropped(std::string(name) + " " + std::to_string(*value) +
                                " outside 60..86400, ignored");
      return;
    }
    into = *value;
  };
  take(message.sol_max_rt, sol_max_rt_, "SOL_MAX_RT");
  take(message.inf_max_rt, inf_max_rt_, "INF_MAX_RT");
}

Client::IaVerdict Client::judge_ia(const Message& message) {
  IaVerdict verdict;
  for (const auto& ia : message.ia_pds) {
    const std::string name = "IA_PD " + hex(ia.iaid, 8);
    if (ia.iaid != config_.iaid) {
      observer_.message_dropped(name + " not ours");
      continue;
    }
    if (verdict.present) {
      observer_.message_dropped(name + " appears twice, the second is ignored");
      continue;
    }
    if (ia.t1 > ia.t2 && ia.t2 > 0) {  // §21.21
      observer_.message_dropped("T1 > T2 in " + name + " (" + std::to_string(ia.t1) + " > " +
                                std::to_string(ia.t2) + "), IA_PD ignored");
      continue;
    }
    verdict.present = true;
    verdict.t1 = ia.t1;
    verdict.t2 = ia.t2;
    if (ia.status && ia.status->code != status_code::kSuccess) {
      verdict.status = ia.status->code;
      continue;
    }
    std::set<IpPrefix> seen;
    for (const auto& prefix : ia.prefixes) {
      if (auto problem = prefix_problem(prefix)) {
        observer_.message_dropped(name + ": " + *problem + ", ignored");
        continue;
      }
      if (!seen.insert(prefix_of(prefix)).second) {
        observer_.message_dropped(name + ": prefix " + prefix_of(prefix).str() +
                                  " appears twice, the second is ignored");
        continue;
      }
      verdict.prefixes.push_back(prefix);
    }
    limit_delegations(verdict.prefixes, name);
  }
  return verdict;
}

// Keeps at most kMaxPrefixesPerIaPd delegated prefixes (valid lifetime > 0): those held first, so
// that new ones listed before them cannot push them out, then in the server's order. Withdrawals
// all stay: they only shrink what is held.
void Client::limit_delegations(std::vector<IaPrefix>& prefixes, const std::string& ia_name) {
  std::stable_partition(prefixes.begin(), prefixes.end(), [&](const IaPrefix& prefix) {
    return prefix.valid_lifetime == 0 || holds(prefix_of(prefix));
  });
  std::vector<IaPrefix> kept;
  size_t delegated = 0;
  std::vector<IpPrefix> refused;
  for (auto& prefix : prefixes) {
    if (prefix.valid_lifetime > 0 && ++delegated > kMaxPrefixesPerIaPd) {
      refused.push_back(prefix_of(prefix));
      continue;
    }
    kept.push_back(std::move(prefix));
  }
  prefixes = std::move(kept);
  if (!refused.empty())
    observer_.message_dropped(ia_name + ": " + std::to_string(refused.size()) +
                              " delegated prefixes refused (the first " + refused[0].str() +
                              "): at most " + std::to_string(kMaxPrefixesPerIaPd) +
                              " are taken from one IA_PD");
}

// A Renew's or Rebind's Reply adds to what is held (what it does not mention stays until it runs
// out), so new prefixes past kMaxPrefixesHeld are refused: a server cannot grow the binding, and
// each Renew with it, without end.
void Client::refuse_past_held_limit(IaVerdict& ia) {
  const auto withdrawn = [&](const HeldPrefix& held) {
    return std::ranges::any_of(ia.prefixes, [&](const IaPrefix& prefix) {
      return prefix.valid_lifetime == 0 && prefix_of(prefix) == held.prefix.prefix;
    });
  };
  size_t holding = binding_->prefixes.size() -
                   static_cast<size_t>(std::ranges::count_if(binding_->prefixes, withdrawn));
  size_t refused = 0;
  std::vector<IaPrefix> kept;
  for (auto& prefix : ia.prefixes) {
    if (prefix.valid_lifetime > 0 && !holds(prefix_of(prefix))) {
      if (holding == kMaxPrefixesHeld) {
        ++refused;
        continue;
      }
      ++holding;
    }
    kept.push_back(std::move(prefix));
  }
  ia.prefixes = std::move(kept);
  if (refused > 0)
    observer_.message_dropped(std::to_string(refused) + " new prefixes refused: already holding " +
                              std::to_string(kMaxPrefixesHeld) + ", the most the client holds");
}

bool Client::holds(const IpPrefix& prefix) {
  return binding_ && binding_->find(prefix) != binding_->prefixes.end();
}

std::vector<Client::HeldPrefix>::iterator Client::Binding::find(const IpPrefix& prefix) {
  return std::ranges::find_if(prefixes,
                              [&](const HeldPrefix& held) { return held.prefix.prefix == prefix; });
}

void Client::accept(const Message& message) {
  ++counters_.received;
  observer_.message_received(message.type, message.transaction_id);
}

void Client::ignore(const std::string& reason) {
  ++counters_.dropped_unexpected;
  observer_.message_dropped(reason);
}

void Client::on_advertise(const Message& message) {
  // §18.2.9: an Advertise without a prefix to delegate is ignored (after SOL_MAX_RT).
  if (message.status && message.status->code != status_code::kSuccess)
    return ignore("ADVERTISE ignored: status " + describe(*message.status));
  const IaVerdict ia = judge_ia(message);
  if (ia.present && ia.status != status_code::kSuccess)
    return ignore("ADVERTISE ignored: IA_PD status " + status_name(ia.status));
  if (!ia.grants()) return ignore("ADVERTISE ignored: no usable prefix offered");
  accept(message);

  std::vector<IaPrefix> offered;
  for (const auto& prefix : ia.prefixes)
    if (prefix.valid_lifetime > 0) offered.push_back(prefix);
  const uint8_t preference = message.preference.value_or(0);
  // §18.2.1: 255 is taken at once, as is any Advertise once the first RT is over; during the
  // first RT the highest preference wins, the first one received among equals.
  if (preference == 255 || exchange_->transmissions > 1) {
    begin_request(*message.server_id, offered);
  } else if (!offer_ || preference > offer_->preference) {
    offer_ = Offer{*message.server_id, std::move(offered), preference};
  }
}

void Client::on_reply(const Message& message) {
  if (state_ == State::Releasing) {
    // §18.2.10.2: the Release is done whatever the status.
    accept(message);
    exchange_.reset();
    set_state(State::Idle);
    return;
  }
  if (state_ == State::Soliciting && !message.rapid_commit)
    return ignore("REPLY to a SOLICIT without Rapid Commit");
  if (message.status) {
    switch (message.status->code) {
      case status_code::kUnspecFail:
      case status_code::kUseMulticast:
        // §18.2.10: as if no Reply had come; the retransmission schedule limits the rate.
        return ignore("REPLY status " + describe(*message.status) + ", treated as no answer");
      case status_code::kNotOnLink:
        if (state_ == State::Soliciting)
          return ignore("REPLY status " + describe(*message.status) + ", still soliciting");
        accept(message);
        if (state_ == State::Requesting) {
          refused();
        } else {
          lose_everything("the server says it is not on this link");
        }
        return;
      default:
        break;  // anything else is judged by what the IA_PD says
    }
  }
  const IaVerdict ia = judge_ia(message);
  switch (state_) {
    case State::Soliciting:
      if (!ia.grants()) return ignore("REPLY to a SOLICIT ignored: no usable prefix");
      accept(message);
      bind(message, ia, /*fresh=*/true);
      return;
    case State::Requesting:
      accept(message);
      if (ia.grants()) {
        bind(message, ia, /*fresh=*/true);
      } else {
        // NoPrefixAvail, or no prefix we can use, which is the same to us (§18.2.10.1).
        if (!ia.present) {
          observer_.message_dropped("REPLY to REQUEST without our IA_PD, counted as NoPrefixAvail");
        } else if (ia.status != status_code::kSuccess) {
          observer_.message_dropped("REPLY to REQUEST: IA_PD status " + status_name(ia.status));
        } else {
          observer_.message_dropped(
              "REPLY to REQUEST without a usable prefix, counted as "
              "NoPrefixAvail");
        }
        refused();
      }
      return;
    default:
      on_renew_or_rebind_reply(message, ia);
  }
}

void Client::on_renew_or_rebind_reply(const Message& message, IaVerdict ia) {
  if (!ia.present) {
    // §18.2.10.1: likely a server that does not do IA_PD; wait as if there had been no Reply.
    return ignore("REPLY without our IA_PD, treated as no answer");
  }
  accept(message);
  if (ia.status == status_code::kNoBinding) {
    // §18.2.10.1: the server lost the binding; Request it again, using the prefixes meanwhile.
    begin_request(*message.server_id, held_as_ia_prefixes());
    return;
  }
  refuse_past_held_limit(ia);
  if (ia.grants()) {
    bind(message, ia, /*fresh=*/false);
    return;
  }
  // NoPrefixAvail (or nothing renewed): keep the prefixes until they expire and the exchange
  // going on its schedule (§18.2.10.1). Withdrawn prefixes still go.
  if (ia.status != status_code::kSuccess)
    observer_.message_dropped("REPLY: IA_PD status " + status_name(ia.status) +
                              ", keeping the prefixes");
  std::vector<PrefixEvent> events;
  if (!apply_withdrawals(ia, events)) return;
  const bool nothing_left = binding_->prefixes.empty();
  if (nothing_left) binding_.reset();
  commit(events);
  if (nothing_left) begin_solicit();
}

// Removes the prefixes the server gave a valid lifetime of 0. Returns whether it removed any.
bool Client::apply_withdrawals(const IaVerdict& ia, std::vector<PrefixEvent>& events) {
  if (!binding_ || ia.status != status_code::kSuccess) return false;
  bool removed = false;
  for (const auto& prefix : ia.prefixes) {
    if (prefix.valid_lifetime != 0) continue;
    auto it = binding_->find(prefix_of(prefix));
    if (it == binding_->prefixes.end()) continue;
    if (it->announced)
      events.push_back({PrefixEvent::Kind::Lost, it->prefix, "withdrawn by the server"});
    binding_->prefixes.erase(it);
    removed = true;
  }
  return removed;
}

// A Reply that delegates at least one prefix: the binding becomes what it says.
void Client::bind(const Message& message, const IaVerdict& ia, bool fresh) {
  const uint64_t now_mono = clock_.monotonic_us();
  const uint64_t now_wall = clock_.wall_us();
  if (!binding_) binding_ = Binding{};  // not emplace(): clang 14 rejects it for a nested type
  std::vector<PrefixEvent> events;
  apply_withdrawals(ia, events);

  Binding& binding = *binding_;
  std::vector<IpPrefix> granted;
  uint32_t shortest_preferred = kInfinite;
  uint32_t shortest_valid = kInfinite;
  for (const auto& prefix : ia.prefixes) {
    if (prefix.valid_lifetime == 0) continue;
    granted.push_back(prefix_of(prefix));
    if (prefix.preferred_lifetime > 0)
      shortest_preferred = std::min(shortest_preferred, prefix.preferred_lifetime);
    shortest_valid = std::min(shortest_valid, prefix.valid_lifetime);
    const DelegatedPrefix delegated{{prefix_of(prefix),
                                     lifetime_end(now_wall, prefix.preferred_lifetime),
                                     lifetime_end(now_wall, prefix.valid_lifetime)},
                                    prefix.exclude};
    const uint64_t valid_mono = lifetime_end(now_mono, prefix.valid_lifetime);
    auto it = binding.find(prefix_of(prefix));
    if (it == binding.prefixes.end()) {
      binding.prefixes.push_back({delegated, valid_mono, true});
      events.push_back({PrefixEvent::Kind::Added, delegated});
      continue;
    }
    const bool changed = it->prefix != delegated;
    const bool announced = it->announced;
    *it = {delegated, valid_mono, true};
    if (!announced) {
      events.push_back({PrefixEvent::Kind::Added, delegated});
    } else if (changed) {
      events.push_back({PrefixEvent::Kind::Changed, delegated});
    }
  }
  // The prefixes the Reply does not mention: a new binding (Request) replaces them; a Renew or
  // Rebind leaves them to run out their lifetimes (§18.2.10.1).
  std::erase_if(binding.prefixes, [&](HeldPrefix& held) {
    if (std::ranges::find(granted, held.prefix.prefix) != granted.end()) return false;
    if (fresh) {
      if (held.announced)
        events.push_back(
            {PrefixEvent::Kind::Lost, held.prefix, "replaced by the server's new binding"});
      return true;
    }
    if (!held.announced) {
      held.announced = true;
      events.push_back({PrefixEvent::Kind::Added, held.prefix});
    }
    return false;
  });

  // §14.2/§21.21: T1 and T2 of 0 leave the times to the client: 0.5 and 0.8 of the shortest
  // preferred lifetime (the valid one when every prefix is already deprecated).
  const uint32_t base = shortest_preferred != kInfinite ? shortest_preferred : shortest_valid;
  const auto client_chosen = [&](uint64_t numerator) {
    return base == kInfinite ? kNever : uint64_t{base} * kSecond * numerator / 10;
  };
  const auto from_server = [](uint32_t seconds) {
    return seconds == kInfinite ? kNever : uint64_t{seconds} * kSecond;
  };
  uint64_t t1 = ia.t1 != 0 ? from_server(ia.t1) : client_chosen(5);
  uint64_t t2 = ia.t2 != 0 ? from_server(ia.t2) : client_chosen(8);
  if (ia.t1 == 0) t1 = std::min(t1, t2);
  if (ia.t2 == 0) t2 = std::max(t2, t1);
  binding.server_id = *message.server_id;
  binding.renew_at_mono_us = t1 == kNever ? kNever : add_saturating(now_mono, t1);
  binding.rebind_at_mono_us = t2 == kNever ? kNever : add_saturating(now_mono, t2);
  binding.renew_at_us = t1 == kNever ? kNever : add_saturating(now_wall, t1);
  binding.rebind_at_us = t2 == kNever ? kNever : add_saturating(now_wall, t2);
  binding.dns_servers = message.dns_servers;
  binding.domain_search = message.domain_search;

  refusals_ = 0;
  exchange_.reset();
  set_state(State::Bound);
  commit(events);
}

// A Request was refused: Solicit again, after a pause that doubles with every refusal in a row
// (as Solicit's RT does, up to SOL_MAX_RT), so that a server that Advertises what it then
// refuses cannot make the client loop quickly. §18.2.10.1: starting discovery over, the client
// stops using what it holds (after a NoBinding, the Request was for it), which the owner then
// deprecates on the LANs (RFC 9096); kept, it would stay announced but never be renewed.
void Client::refused() {
  stop_using_binding("the Request was refused: discovery starts over");
  refusals_ = std::min<uint32_t>(refusals_ + 1, 32);
  const uint64_t cap = uint64_t{sol_max_rt_} * kSecond;
  const uint64_t base = std::min(kSolTimeout << std::min<uint32_t>(refusals_ - 1, 20), cap);
  begin_delay(jittered(base));
}

// Every prefix is gone at once (expired, or refused by the server): Solicit for new ones.
void Client::lose_everything(const char* reason) {
  stop_using_binding(reason);
  begin_solicit();
}

// Reports the prefixes announced as lost, and forgets the binding.
void Client::stop_using_binding(const char* reason) {
  std::vector<PrefixEvent> events;
  if (binding_)
    for (const auto& held : binding_->prefixes)
      if (held.announced) events.push_back({PrefixEvent::Kind::Lost, held.prefix, reason});
  binding_.reset();
  commit(events);
}

void Client::expire_prefixes(uint64_t now) {
  if (!binding_) return;
  std::vector<PrefixEvent> events;
  std::erase_if(binding_->prefixes, [&](const HeldPrefix& held) {
    if (held.valid_until_mono_us > now) return false;
    if (held.announced) events.push_back({PrefixEvent::Kind::Lost, held.prefix, "expired"});
    return true;
  });
  const bool nothing_left = binding_->prefixes.empty();
  if (nothing_left) binding_.reset();
  commit(events);
  // Nothing left to Renew or Rebind; a Solicit or Request already under way goes on.
  if (nothing_left &&
      (state_ == State::Bound || state_ == State::Renewing || state_ == State::Rebinding))
    begin_solicit();
}

// Publishes the binding as lease_, then tells the observer: the lease first (so that it is on
// disk before anyone acts on a prefix), then each prefix.
void Client::commit(const std::vector<PrefixEvent>& events) {
  std::optional<Lease> lease;
  if (binding_) {
    const Binding& binding = *binding_;
    Lease next;
    next.iaid = config_.iaid;
    next.server_id = binding.server_id;
    next.renew_at_us = binding.renew_at_us;
    next.rebind_at_us = binding.rebind_at_us;
    for (const auto& held : binding.prefixes) next.prefixes.push_back(held.prefix);
    next.dns_servers = binding.dns_servers;
    next.domain_search = binding.domain_search;
    lease = std::move(next);
  }
  if (lease != lease_) {
    lease_ = std::move(lease);
    observer_.lease_changed(lease_);
  }
  for (const auto& event : events) {
    switch (event.kind) {
      case PrefixEvent::Kind::Added:
        observer_.prefix_added(event.prefix, *lease_);
        break;
      case PrefixEvent::Kind::Changed:
        observer_.prefix_changed(event.prefix, *lease_);
        break;
      case PrefixEvent::Kind::Lost:
        observer_.prefix_lost(event.prefix.prefix, event.reason);
        break;
    }
  }
}

// ---- randomness ----

// base + RAND*base, RAND uniform in [-0.1, 0.1]; in (0, 0.1] when strictly_above.
uint64_t Client::jittered(uint64_t base_us, bool strictly_above) {
  const double r = random_.next();
  const double rand =
      strictly_above ? 0.1 * ((r + 1) / 4294967296.0) : 0.2 * (r / 4294967295.0) - 0.1;
  const int64_t offset = std::llround(rand * static_cast<double>(base_us));
  const uint64_t result = base_us + static_cast<uint64_t>(offset);  // wraps back for offset < 0
  return strictly_above ? std::max(result, base_us + 1) : result;
}

// Uniform in [0, max_us].
uint64_t Client::uniform_us(uint64_t max_us) {
  const double unit = random_.next() / 4294967296.0;  // [0, 1)
  return std::min(max_us, static_cast<uint64_t>(unit * static_cast<double>(max_us + 1)));
}

}  // namespace l2wg::dhcp6
