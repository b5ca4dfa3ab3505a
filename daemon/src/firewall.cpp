#include "l2wg/daemon/firewall.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "l2wg/error.h"

namespace l2wg::firewall {
namespace {

using nlohmann::json;

// A match's outcome: decided either way, or beyond what doctor can know.
enum class Truth { False, True, Unknown };

Truth truth(bool b) {
  return b ? Truth::True : Truth::False;
}

struct Chain {
  std::string family, table, name;
  std::optional<Hook> hook;
  std::string type;
  int priority = 0;
  bool policy_drop = false;
  std::vector<json> rules;  // each {"handle", "comment", "expr"}
};

std::optional<Hook> hook_named(const std::string& name) {
  if (name == "prerouting") return Hook::Prerouting;
  if (name == "input") return Hook::Input;
  if (name == "forward") return Hook::Forward;
  if (name == "output") return Hook::Output;
  if (name == "postrouting") return Hook::Postrouting;
  return std::nullopt;  // ingress, egress: bound to a device nftables' JSON does not name
}

// nftables prints well-known numbers by name; these are the names its JSON uses.
std::optional<uint32_t> protocol_number(const std::string& name) {
  static const std::map<std::string, uint32_t> names = {
      {"icmp", 1}, {"igmp", 2},       {"tcp", 6},     {"udp", 17},   {"gre", 47},     {"esp", 50},
      {"ah", 51},  {"ipv6-icmp", 58}, {"icmpv6", 58}, {"sctp", 132}, {"udplite", 136}};
  const auto it = names.find(name);
  return it == names.end() ? std::nullopt : std::optional<uint32_t>(it->second);
}

std::optional<uint32_t> icmpv6_type_number(const std::string& name) {
  static const std::map<std::string, uint32_t> names = {
      {"destination-unreachable", 1},  {"packet-too-big", 2},         {"time-exceeded", 3},
      {"parameter-problem", 4},        {"echo-request", 128},         {"echo-reply", 129},
      {"mld-listener-query", 130},     {"mld-listener-report", 131},  {"mld-listener-done", 132},
      {"mld-listener-reduction", 132}, {"nd-router-solicit", 133},    {"nd-router-advert", 134},
      {"nd-neighbor-solicit", 135},    {"nd-neighbor-advert", 136},   {"nd-redirect", 137},
      {"router-renumbering", 138},     {"ind-neighbor-solicit", 141}, {"ind-neighbor-advert", 142},
      {"mld2-listener-report", 143}};
  const auto it = names.find(name);
  return it == names.end() ? std::nullopt : std::optional<uint32_t>(it->second);
}

std::optional<uint32_t> icmpv6_code_number(const std::string& name) {
  static const std::map<std::string, uint32_t> names = {
      {"no-route", 0},         {"admin-prohibited", 1}, {"addr-unreachable", 3},
      {"port-unreachable", 4}, {"policy-fail", 5},      {"reject-route", 6}};
  const auto it = names.find(name);
  return it == names.end() ? std::nullopt : std::optional<uint32_t>(it->second);
}

// One field of the packet, as a rule's left-hand side asks for it.
struct Field {
  enum class Kind { Name, Number, Address, State, Flags, Unknown, Absent } kind = Kind::Unknown;
  std::string name;                                                // Name, State
  uint32_t number = 0;                                             // Number
  std::optional<IpAddress> address;                                // Address
  std::vector<std::string> flags;                                  // Flags
  std::optional<uint32_t> (*names)(const std::string&) = nullptr;  // how a Number is spelt
};

Field of_kind(Field::Kind kind) {
  Field f;
  f.kind = kind;
  return f;
}
Field text_field(Field::Kind kind, const std::string& s) {
  Field f = of_kind(kind);
  f.name = s;
  return f;
}
Field name_field(const std::string& s) {
  return text_field(Field::Kind::Name, s);
}
Field number_field(uint32_t n, std::optional<uint32_t> (*names)(const std::string&) = nullptr) {
  Field f = of_kind(Field::Kind::Number);
  f.number = n;
  f.names = names;
  return f;
}
Field unknown() {
  return {};
}
// The packet has no such header: a match on it fails (nftables' implicit protocol dependency).
Field absent() {
  return of_kind(Field::Kind::Absent);
}

class Evaluator {
 public:
  // For one base chain: jumps stay in its table, whose named sets are the ones it sees.
  Evaluator(const std::map<std::string, std::vector<json>>& sets,
            const std::map<std::string, const Chain*>& chains, const Packet& packet,
            const Chain& base)
      : current_family_(base.family),
        current_table_(base.table),
        sets_(sets),
        chains_(chains),
        packet_(packet) {}

  enum class Outcome { Accept, Drop, Return };

  Outcome run(const Chain& chain, int depth) {
    if (depth > 16) return Outcome::Return;  // nftables refuses loops; a hostile dump is cut short
    for (const auto& rule : chain.rules) {
      std::optional<Outcome> outcome;
      try {
        outcome = run_rule(chain, rule, depth);
      } catch (const json::exception&) {  // a shape libnftables does not write: beyond us
        undecided_before = true;
      }
      if (outcome) return *outcome;
    }
    return Outcome::Return;
  }

  Verdict verdict;
  bool undecided_before = false;  // an undecided rule might have accepted before the drop

 private:
  std::optional<Outcome> run_rule(const Chain& chain, const json& rule, int depth) {
    bool undecided = false;
    std::vector<std::string> named;  // the interfaces this rule matched on so far
    const json& exprs = rule.at("expr");
    for (const auto& expr : exprs) {
      if (!expr.is_object() || expr.empty()) continue;
      const std::string kind = expr.begin().key();
      const json& body = expr.begin().value();
      if (kind == "match") {
        const Truth t = match(body);
        if (t == Truth::False) return std::nullopt;
        if (t == Truth::Unknown) undecided = true;
        if (t == Truth::True) note_interfaces(body, named);
        continue;
      }
      if (kind == "vmap") {
        const auto chosen = vmap(body);
        if (!chosen) {  // the key is beyond us
          undecided_before = true;
          return std::nullopt;
        }
        if (chosen->is_null()) return std::nullopt;  // no element: the rule does nothing
        return verdict_of(chain, rule, *chosen, undecided, named, depth);
      }
      if (is_verdict(kind)) return verdict_of(chain, rule, expr, undecided, named, depth);
      // counter, log, limit (at the rates doctor imagines, never reached), meta/ct set, mangle,
      // notrack, flow offload, nat: statements that let the packet go on.
    }
    return std::nullopt;
  }

  static bool is_verdict(const std::string& kind) {
    return kind == "accept" || kind == "drop" || kind == "reject" || kind == "jump" ||
           kind == "goto" || kind == "return" || kind == "continue" || kind == "queue";
  }

  std::optional<Outcome> verdict_of(const Chain& chain, const json& rule, const json& expr,
                                    bool undecided, const std::vector<std::string>& named,
                                    int depth) {
    const std::string kind = expr.begin().key();
    if (kind == "continue") return std::nullopt;
    if (undecided) {
      // A drop we cannot be sure of is not claimed; anything else might have let it through.
      if (kind != "drop" && kind != "reject") undecided_before = true;
      return std::nullopt;
    }
    if (kind == "accept" || kind == "queue") return Outcome::Accept;
    if (kind == "drop" || kind == "reject") {
      verdict.dropped = true;
      verdict.family = chain.family;
      verdict.table = chain.table;
      verdict.chain = chain.name;
      verdict.handle = rule.value("handle", uint64_t{0});
      verdict.comment = rule.value("comment", std::string());
      verdict.named_interfaces = matched_interfaces_;
      verdict.named_interfaces.insert(verdict.named_interfaces.end(), named.begin(), named.end());
      return Outcome::Drop;
    }
    if (kind == "return") return Outcome::Return;
    // jump and goto
    const auto target = expr.begin().value().value("target", std::string());
    const auto it = chains_.find(chain.family + " " + chain.table + " " + target);
    if (it == chains_.end()) return std::nullopt;
    const auto saved = matched_interfaces_;
    matched_interfaces_.insert(matched_interfaces_.end(), named.begin(), named.end());
    const Outcome outcome = run(*it->second, depth + 1);
    matched_interfaces_ = saved;
    if (kind == "goto") return outcome;
    return outcome == Outcome::Return ? std::nullopt : std::optional<Outcome>(outcome);
  }

  void note_interfaces(const json& match, std::vector<std::string>& named) const {
    const json& left = match.at("left");
    if (!left.is_object() || !left.contains("meta") || match.value("op", std::string()) == "!=")
      return;
    const auto key = left["meta"].value("key", std::string());
    if (key == "iifname" || key == "iif") named.push_back(packet_.iif);
    if (key == "oifname" || key == "oif") named.push_back(packet_.oif);
  }

  Field field(const json& left) const {
    if (left.contains("meta")) return meta(left["meta"].value("key", std::string()));
    if (left.contains("payload")) return payload(left["payload"]);
    if (left.contains("ct")) {
      if (left["ct"].value("key", std::string()) != "state") return unknown();
      return text_field(Field::Kind::State, packet_.ct_state);
    }
    if (left.contains("&")) return bitwise(left["&"]);
    return unknown();  // fib, socket, rt, osf, numgen, hash, …
  }

  Field meta(const std::string& key) const {
    const bool v6 = packet_.ip == IpAddress::Family::V6;
    if (key == "iifname" || key == "iif") return name_field(packet_.iif);
    if (key == "oifname" || key == "oif") return name_field(packet_.oif);
    if (key == "nfproto") return name_field(v6 ? "ipv6" : "ipv4");
    if (key == "protocol") return name_field(v6 ? "ip6" : "ip");
    if (key == "l4proto") return number_field(packet_.l4proto, protocol_number);
    return unknown();
  }

  Field payload(const json& p) const {
    const auto protocol = p.value("protocol", std::string());
    const auto name = p.value("field", std::string());
    const bool v6 = packet_.ip == IpAddress::Family::V6;
    if (protocol == "ether") {
      if (name == "type" && packet_.bridged) return name_field(v6 ? "ip6" : "ip");
      return unknown();
    }
    if (protocol == "ip" || protocol == "ip6") {
      if ((protocol == "ip6") != v6) return absent();
      if (name == "saddr" || name == "daddr") {
        const auto& a = name == "saddr" ? packet_.saddr : packet_.daddr;
        if (!a) return unknown();
        Field f = of_kind(Field::Kind::Address);
        f.address = a;
        return f;
      }
      if (name == "protocol" || name == "nexthdr")
        return number_field(packet_.l4proto, protocol_number);
      return unknown();
    }
    if (protocol == "tcp" || protocol == "udp" || protocol == "th") {
      if (protocol == "tcp" && packet_.l4proto != kTcp) return absent();
      if (protocol == "udp" && packet_.l4proto != kUdp) return absent();
      if (protocol == "th" && packet_.l4proto != kTcp && packet_.l4proto != kUdp) return absent();
      const auto& port = name == "dport"   ? packet_.dport
                         : name == "sport" ? packet_.sport
                                           : std::nullopt;
      if (port) return number_field(*port);
      if (protocol == "tcp" && name == "flags") {
        Field f = of_kind(Field::Kind::Flags);
        f.flags = packet_.tcp_flags;
        return f;
      }
      return unknown();
    }
    if (protocol == "icmpv6" || protocol == "icmp") {
      if ((protocol == "icmpv6") != (packet_.l4proto == kIcmpv6) ||
          (protocol == "icmp" && packet_.l4proto != 1))
        return absent();
      if (name == "type" && packet_.icmp_type)
        return number_field(*packet_.icmp_type, icmpv6_type_number);
      if (name == "code" && packet_.icmp_code)
        return number_field(*packet_.icmp_code, icmpv6_code_number);
      return unknown();
    }
    return unknown();
  }

  // tcp flags & (fin | syn | rst | ack) == syn
  Field bitwise(const json& operands) const {
    if (!operands.is_array() || operands.size() != 2) return unknown();
    const Field left = field(operands[0]);
    if (left.kind == Field::Kind::Absent) return left;
    if (left.kind != Field::Kind::Flags || !operands[1].is_array()) return unknown();
    Field f = of_kind(Field::Kind::Flags);
    for (const auto& mask : operands[1])
      if (mask.is_string() &&
          std::count(left.flags.begin(), left.flags.end(), mask.get<std::string>()))
        f.flags.push_back(mask.get<std::string>());
    return f;
  }

  // Does the packet's value equal (or fall in) one element on the right?
  Truth element_matches(const Field& f, const json& value) const {
    if (value.is_object() && value.contains("range") && value["range"].is_array() &&
        value["range"].size() == 2) {
      if (f.kind == Field::Kind::Number) {
        const auto low = number_of(f, value["range"][0]), high = number_of(f, value["range"][1]);
        if (!low || !high) return Truth::Unknown;
        return truth(f.number >= *low && f.number <= *high);
      }
      if (f.kind == Field::Kind::Address && value["range"][0].is_string() &&
          value["range"][1].is_string()) {
        const auto low = IpAddress::parse(value["range"][0].get<std::string>());
        const auto high = IpAddress::parse(value["range"][1].get<std::string>());
        if (!low || !high || low->family() != f.address->family()) return Truth::Unknown;
        return truth(*f.address >= *low && *f.address <= *high);
      }
      return Truth::Unknown;
    }
    if (value.is_object() && value.contains("prefix")) {
      if (f.kind != Field::Kind::Address) return Truth::Unknown;
      const auto& p = value["prefix"];
      const auto prefix =
          IpPrefix::parse(p.value("addr", std::string()) + "/" + std::to_string(p.value("len", 0)));
      if (!prefix) return Truth::Unknown;
      if (prefix->address.family() != f.address->family()) return Truth::False;
      return truth(prefix->contains(*f.address));
    }
    switch (f.kind) {
      case Field::Kind::Name:
      case Field::Kind::State: {
        if (!value.is_string()) return Truth::Unknown;
        const auto s = value.get<std::string>();
        if (f.kind == Field::Kind::Name && !s.empty() && s.back() == '*')  // "wg*"
          return truth(f.name.compare(0, s.size() - 1, s, 0, s.size() - 1) == 0);
        return truth(f.name == s);
      }
      case Field::Kind::Number: {
        const auto n = number_of(f, value);
        return n ? truth(f.number == *n) : Truth::Unknown;
      }
      case Field::Kind::Address: {
        if (!value.is_string()) return Truth::Unknown;
        const auto a = IpAddress::parse(value.get<std::string>());
        if (!a) return Truth::Unknown;
        return truth(*a == *f.address);
      }
      case Field::Kind::Flags: {  // a single flag or a list: exactly these flags
        std::vector<std::string> wanted;
        if (value.is_string())
          wanted.push_back(value.get<std::string>());
        else if (value.is_array())
          for (const auto& v : value)
            if (v.is_string()) wanted.push_back(v.get<std::string>());
        auto have = f.flags;
        std::sort(have.begin(), have.end());
        std::sort(wanted.begin(), wanted.end());
        return truth(have == wanted);
      }
      default:
        return Truth::Unknown;
    }
  }

  static std::optional<uint32_t> number_of(const Field& f, const json& value) {
    if (value.is_number_unsigned()) return value.get<uint32_t>();
    if (value.is_string() && f.names) return f.names(value.get<std::string>());
    return std::nullopt;
  }

  // The elements a right-hand side stands for: a set, a named set, or one value.
  std::optional<std::vector<json>> elements(const json& right, const std::string& family,
                                            const std::string& table) const {
    if (right.is_object() && right.contains("set")) {
      const auto& s = right["set"];
      if (s.is_array()) return std::vector<json>(s.begin(), s.end());
      return std::vector<json>{s};
    }
    if (right.is_string() && !right.get<std::string>().empty() &&
        right.get<std::string>()[0] == '@') {
      const auto it = sets_.find(family + " " + table + " " + right.get<std::string>().substr(1));
      if (it == sets_.end()) return std::nullopt;
      return it->second;
    }
    return std::nullopt;
  }

  Truth any_matches(const Field& f, const std::vector<json>& values) const {
    Truth result = Truth::False;
    for (const auto& value : values) {
      const json& element =
          value.is_object() && value.contains("elem") ? value["elem"].value("val", json()) : value;
      const Truth t = element_matches(f, element);
      if (t == Truth::True) return Truth::True;
      if (t == Truth::Unknown) result = Truth::Unknown;
    }
    return result;
  }

  Truth concat_matches(const json& left, const json& right) const {
    std::vector<Field> fields;
    for (const auto& part : left) fields.push_back(field(part));
    for (const auto& f : fields) {
      if (f.kind == Field::Kind::Absent) return Truth::False;
      if (f.kind == Field::Kind::Unknown) return Truth::Unknown;
    }
    const auto values = elements(right, current_family_, current_table_);
    if (!values) return Truth::Unknown;
    Truth result = Truth::False;
    for (const auto& value : *values) {
      if (!value.is_object() || !value.contains("concat") ||
          value["concat"].size() != fields.size()) {
        result = Truth::Unknown;
        continue;
      }
      Truth all = Truth::True;
      for (size_t i = 0; i < fields.size(); ++i) {
        const Truth t = element_matches(fields[i], value["concat"][i]);
        if (t == Truth::False) {
          all = Truth::False;
          break;
        }
        if (t == Truth::Unknown) all = Truth::Unknown;
      }
      if (all == Truth::True) return Truth::True;
      if (all == Truth::Unknown) result = Truth::Unknown;
    }
    return result;
  }

  Truth match(const json& m) const {
    const auto op = m.value("op", std::string("=="));
    const json& left = m.at("left");
    const json& right = m.at("right");
    Truth t;
    if (left.is_object() && left.contains("concat")) {
      t = concat_matches(left["concat"], right);
    } else {
      const Field f = field(left);
      if (f.kind == Field::Kind::Absent) return Truth::False;
      if (f.kind == Field::Kind::Unknown) return Truth::Unknown;
      if (f.kind == Field::Kind::Number && (op == "<" || op == ">" || op == "<=" || op == ">=")) {
        const auto n = number_of(f, right);
        if (!n) return Truth::Unknown;
        if (op == "<") return truth(f.number < *n);
        if (op == ">") return truth(f.number > *n);
        if (op == "<=") return truth(f.number <= *n);
        return truth(f.number >= *n);
      }
      if (f.kind == Field::Kind::State && right.is_array()) {  // ct state established,related
        t = Truth::False;
        for (const auto& state : right)
          if (state.is_string() && state.get<std::string>() == f.name) t = Truth::True;
      } else if (f.kind == Field::Kind::Flags && op == "in") {  // tcp flags syn: any of them
        t = Truth::False;
        const auto wanted = right.is_array() ? right : json::array({right});
        for (const auto& flag : wanted)
          if (flag.is_string() &&
              std::count(f.flags.begin(), f.flags.end(), flag.get<std::string>()))
            t = Truth::True;
      } else if (const auto values = elements(right, current_family_, current_table_)) {
        t = any_matches(f, *values);
      } else if (right.is_string() && !right.get<std::string>().empty() &&
                 right.get<std::string>()[0] == '@') {
        return Truth::Unknown;  // a set we were not shown
      } else {
        t = element_matches(f, right);
      }
    }
    if (op == "!=" && t != Truth::Unknown) return t == Truth::True ? Truth::False : Truth::True;
    if (op != "==" && op != "!=" && op != "in") return Truth::Unknown;
    return t;
  }

  // vmap { established : accept, … }: the verdict chosen, null for none, nullopt when undecided.
  std::optional<json> vmap(const json& body) const {
    const Field f = field(body.at("key"));
    if (f.kind == Field::Kind::Unknown) return std::nullopt;
    if (f.kind == Field::Kind::Absent) return json();
    const auto values = elements(body.at("data"), current_family_, current_table_);
    if (!values) return std::nullopt;
    for (const auto& pair : *values) {
      if (!pair.is_array() || pair.size() != 2) return std::nullopt;
      const Truth t = element_matches(f, pair[0]);
      if (t == Truth::Unknown) return std::nullopt;
      if (t == Truth::True) return pair[1];
    }
    return json();
  }

  const std::string current_family_, current_table_;
  const std::map<std::string, std::vector<json>>& sets_;
  const std::map<std::string, const Chain*>& chains_;
  const Packet& packet_;
  std::vector<std::string> matched_interfaces_;
};

}  // namespace

struct Ruleset::Model {
  std::vector<Chain> chains;
  std::map<std::string, std::vector<json>> sets;  // "family table name" -> elements
  std::map<std::string, const Chain*> by_name;    // "family table name"
};

Ruleset::Ruleset() : model_(std::make_unique<Model>()) {}
Ruleset::Ruleset(Ruleset&&) noexcept = default;
Ruleset& Ruleset::operator=(Ruleset&&) noexcept = default;
Ruleset::~Ruleset() = default;

Ruleset Ruleset::parse(std::string_view text) {
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    throw Error(ErrorCode::InvalidArgument, "the nftables ruleset is not JSON");
  if (!doc.is_object() || !doc.contains("nftables") || !doc["nftables"].is_array())
    throw Error(ErrorCode::InvalidArgument, "the nftables ruleset has no \"nftables\" array");
  Ruleset ruleset;
  Model& m = *ruleset.model_;
  std::map<std::string, size_t> index;
  try {
    for (const auto& item : doc["nftables"]) {
      if (item.contains("chain")) {
        const auto& c = item["chain"];
        Chain chain;
        chain.family = c.at("family").get<std::string>();
        chain.table = c.at("table").get<std::string>();
        chain.name = c.at("name").get<std::string>();
        if (c.contains("hook")) chain.hook = hook_named(c["hook"].get<std::string>());
        chain.type = c.value("type", std::string());
        chain.priority = c.value("prio", 0);
        chain.policy_drop = c.value("policy", std::string("accept")) == "drop";
        index[chain.family + " " + chain.table + " " + chain.name] = m.chains.size();
        m.chains.push_back(std::move(chain));
      } else if (item.contains("rule")) {
        const auto& r = item["rule"];
        const auto key = r.at("family").get<std::string>() + " " +
                         r.at("table").get<std::string>() + " " + r.at("chain").get<std::string>();
        const auto it = index.find(key);
        if (it == index.end())
          throw Error(ErrorCode::InvalidArgument,
                      "an nftables rule names a chain not listed: " + key);
        if (!r.contains("expr") || !r["expr"].is_array())
          throw Error(ErrorCode::InvalidArgument,
                      "an nftables rule in " + key + " has no expressions");
        m.chains[it->second].rules.push_back(r);
      } else if (item.contains("set") || item.contains("map")) {
        const auto& s = item.contains("set") ? item["set"] : item["map"];
        const auto key = s.at("family").get<std::string>() + " " +
                         s.at("table").get<std::string>() + " " + s.at("name").get<std::string>();
        const bool dynamic =
            s.contains("flags") && s["flags"].dump().find("dynamic") != std::string::npos;
        if (dynamic) continue;  // filled from the packet path: not knowable here
        std::vector<json> elements;
        if (s.contains("elem")) elements.assign(s["elem"].begin(), s["elem"].end());
        m.sets[key] = std::move(elements);
      }
    }
  } catch (const json::exception& e) {
    throw Error(ErrorCode::InvalidArgument,
                std::string("the nftables ruleset is malformed: ") + e.what());
  }
  for (const auto& chain : m.chains)
    m.by_name[chain.family + " " + chain.table + " " + chain.name] = &chain;
  return ruleset;
}

bool Ruleset::empty() const {
  return std::none_of(model_->chains.begin(), model_->chains.end(),
                      [](const Chain& c) { return c.hook.has_value(); });
}

Verdict Ruleset::evaluate(const Packet& packet) const {
  Verdict none;
  bool undecided = false;
  for (const Hook hook : packet.hooks) {
    std::vector<const Chain*> base;
    for (const auto& chain : model_->chains) {
      if (chain.hook != hook || chain.type == "nat") continue;
      const bool sees =
          packet.bridged ? chain.family == "bridge"
                         : chain.family == "inet" ||
                               chain.family == (packet.ip == IpAddress::Family::V6 ? "ip6" : "ip");
      if (sees) base.push_back(&chain);
    }
    std::stable_sort(base.begin(), base.end(),
                     [](const Chain* a, const Chain* b) { return a->priority < b->priority; });
    for (const Chain* chain : base) {
      Evaluator evaluator(model_->sets, model_->by_name, packet, *chain);
      const auto outcome = evaluator.run(*chain, 0);
      undecided = undecided || evaluator.undecided_before;
      if (outcome == Evaluator::Outcome::Accept) continue;
      if (outcome == Evaluator::Outcome::Drop || chain->policy_drop) {
        Verdict v = evaluator.verdict;
        if (outcome != Evaluator::Outcome::Drop) {  // fell off the end: the policy
          v = Verdict{};
          v.dropped = true;
          v.family = chain->family;
          v.table = chain->table;
          v.chain = chain->name;
        }
        v.certain = !undecided;
        return v;
      }
    }
  }
  return none;
}

std::string Verdict::where() const {
  std::string s = handle ? "rule " + std::to_string(*handle) : std::string("the policy");
  if (!comment.empty()) s += " (\"" + comment + "\")";
  return s + " of " + family + " " + table + " " + chain;
}

}  // namespace l2wg::firewall
