// The client role: for one WireGuard interface, ask a registry (an l2wg registry or wgsd) for the
// endpoints of the peers that need one and set them on the device, keeping persistent-keepalive on
// so that both NATs' mappings stay open. A state machine on an injected clock, transport and
// device: the daemon feeds it device snapshots, datagrams and its deadline.
//
// Which endpoint it may set: a peer without one; one it set itself (or found already equal to the
// registry's answer, e.g. after a restart); any peer with `override_endpoints`. An endpoint the
// administrator set by hand is never touched otherwise (reported as such). It sets an endpoint
// when the peer has none, or when the peer is stale: no handshake within `stale_us`, or nothing
// received for three keepalive intervals (the far end's keepalives stopped arriving: a NAT mapping
// changed). A peer that works is left alone even if the registry says otherwise: WireGuard roams.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "l2wg/clock.h"
#include "l2wg/discovery/registry.h"
#include "l2wg/ip.h"

namespace l2wg::discovery {

struct ClientConfig {
  Endpoint registry;       // the registry's inner address and DNS port
  std::string zone;        // without a trailing dot
  std::vector<Key> peers;  // empty: every peer but the registry's
  bool override_endpoints = false;
  uint16_t keepalive_s = 25;
  uint64_t interval_us = 60'000'000;  // re-resolve a working peer this often
  uint64_t retry_us = 5'000'000;      // and a peer without a working endpoint this often
  uint64_t stale_us = 135'000'000;    // no handshake for this long: stale
  uint64_t timeout_us = 2'000'000;    // a query unanswered for this long is lost

  bool operator==(const ClientConfig&) const = default;
};

// What the client reads from the device.
struct DevicePeer {
  Key key{};
  std::optional<Endpoint> endpoint;
  std::vector<IpPrefix> allowed_ips;
  uint64_t last_handshake_wall_us = 0;  // 0: never
  uint64_t rx_bytes = 0;
  uint16_t keepalive_s = 0;
};

// One peer as the client sees it, for D-Bus, `l2wg show` and `doctor`.
struct PeerStatus {
  enum class State {
    Waiting,        // not asked yet, or no answer yet
    Resolved,       // the registry's endpoint is on the device
    NotRegistered,  // the registry does not know it (NXDOMAIN): it never reached the registry
    AdminEndpoint,  // an endpoint set by hand that we may not replace (Override= is off)
    Unreachable,    // the registry did not answer in time
  };
  Key key{};
  State state = State::Waiting;
  std::optional<Endpoint> learnt;  // the registry's last answer
  uint64_t learnt_wall_us = 0;     // when it came
  uint64_t set_wall_us = 0;        // when we last set it on the device; 0: never
  bool owned = false;              // the endpoint on the device is ours to replace

  bool operator==(const PeerStatus&) const = default;
};
const char* to_string(PeerStatus::State state);  // "waiting", "resolved", "not-registered", ...

struct ClientCounters {
  uint64_t queries = 0;
  uint64_t answers = 0;
  uint64_t timeouts = 0;
  uint64_t bad_answers = 0;  // malformed, unexpected id or question
  uint64_t endpoints_set = 0;

  bool operator==(const ClientCounters&) const = default;
};

class Resolver {
 public:
  class Transport {
   public:
    virtual ~Transport() = default;
    virtual void send(std::span<const uint8_t> datagram) = 0;  // to the registry; failures ignored
  };
  class Device {
   public:
    virtual ~Device() = default;
    // Sets `endpoint` (when given) and the persistent keepalive of peer `key`. Throws l2wg::Error.
    virtual void set_peer(const Key& key, std::optional<Endpoint> endpoint,
                          uint16_t keepalive_s) = 0;
  };

  Resolver(Clock& clock, Random& random, Transport& transport, Device& device, ClientConfig config);

  // The device as read now. Peers that turned stale are asked for at once.
  void on_device(const std::vector<DevicePeer>& peers);
  void on_datagram(std::span<const uint8_t> datagram);
  void on_timer();
  std::optional<uint64_t> next_deadline_us() const;

  const ClientConfig& config() const { return config_; }
  std::vector<PeerStatus> peers() const;
  const ClientCounters& counters() const { return counters_; }
  // The registry's own peer (allowed IPs containing its address), once the device was read.
  std::optional<Key> registry_peer() const { return registry_peer_; }
  // The last error setting the device, for `doctor`; empty when the last attempt worked.
  const std::string& last_error() const { return last_error_; }

 private:
  struct Peer {
    PeerStatus status;
    DevicePeer device;
    bool present = false;
    uint64_t next_query_us = 0;       // monotonic
    uint64_t rx_changed_us = 0;       // monotonic: when rx_bytes last grew
    std::optional<uint16_t> pending;  // the id of the query in flight
    uint64_t sent_us = 0;
  };
  bool stale(const Peer& peer) const;
  bool managed(const Key& key) const;
  void ask(Peer& peer);
  void apply(Peer& peer, const Endpoint& endpoint);
  void set(const Key& key, std::optional<Endpoint> endpoint);

  Clock& clock_;
  Random& random_;
  Transport& transport_;
  Device& device_;
  ClientConfig config_;
  std::map<Key, Peer> peers_;
  std::optional<Key> registry_peer_;
  ClientCounters counters_;
  std::string last_error_;
};

}  // namespace l2wg::discovery
