// The userspace gretap datapath, for kernels without GRE (containers that cannot modprobe, this
// project's CI host): a persistent TAP per tunnel and a raw GRE socket (IPv4 or IPv6) bound to the
// WireGuard device, wire-compatible with kernel gretap. A fixed pool of worker threads moves
// frames with batched I/O however many tunnels exist; the control thread only adds and removes.
// The TAP runs with TSO and checksum offloads (offload.h): the kernel hands over TCP frames of up
// to 64 KiB, which leave as ordinary segments, and TCP segments received in one batch reach the
// TAP merged.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "l2wg/fd.h"
#include "l2wg/ip.h"

namespace l2wg::dp {

struct TunnelSpec {
  std::string tap_name;   // created as a persistent TAP if missing, attached to if present
  std::string wireguard;  // the raw socket is bound to this device (SO_BINDTODEVICE)
  IpAddress local;
  IpAddress remote;
  std::optional<uint32_t> key;
  bool fragment = true;  // oversized encapsulated frames leave as fragmented outer packets
  // Clamp the MSS of TCP SYNs in both directions to what fits an IP packet of this size (see
  // mss::clamp), so that full TCP segments need no fragmentation; nullopt: no clamping.
  std::optional<uint32_t> mss_clamp_mtu;
  // The tap's MTU. With mss_clamp_mtu, the most a TCP segment from the peer carries: segments the
  // kernel merged before the datapath got them go up to the TAP to be cut to that size again.
  uint32_t tap_mtu = 1500;
};

struct Counters {
  uint64_t frames_out = 0;  // tap → GRE: GRE packets sent (a TSO frame sends several)
  uint64_t frames_in = 0;   // GRE → tap: GRE packets delivered (merged or not)
  uint64_t bytes_out = 0;   // of the Ethernet frames in those packets
  uint64_t bytes_in = 0;
  uint64_t malformed_in = 0;   // GRE packets dropped: bad header, wrong protocol
  uint64_t wrong_key_in = 0;   // GRE packets for another key
  uint64_t send_errors = 0;    // e.g. EMSGSIZE with fragmentation forbidden
  uint64_t mss_clamped = 0;    // TCP SYNs (either direction) whose MSS was lowered
  uint64_t segmented_out = 0;  // TSO frames from the TAP cut into segments
  uint64_t coalesced_in = 0;   // GRE packets that reached the TAP merged with others

  bool operator==(const Counters&) const = default;
};

// Where a tunnel's TAP and GRE socket outlive l2wgd from one run to the next (systemd's file
// descriptor store), so that frames queue in the kernel while no l2wgd runs instead of being
// dropped: a TAP nobody holds drops what is sent to it. Names: "tap-TAP" and "gre-TAP-PEER" (the
// peer's inner address, ':' written '_').
class FdKeeper {
 public:
  virtual ~FdKeeper() = default;
  // The fd a previous run kept under `name`, handed over once; an empty UniqueFd if none.
  virtual UniqueFd take(const std::string& name) = 0;
  // Keeps `fd` (not taken over: the keeper holds its own reference) under `name`.
  virtual void keep(const std::string& name, int fd) = 0;
  virtual void forget(const std::string& name) = 0;
};

class Datapath {
 public:
  // Starts `workers` threads (at least 1). With a keeper, add() takes the fds a previous run
  // kept and keeps those it uses; remove() forgets them; the destructor leaves them kept.
  explicit Datapath(unsigned workers = 2, FdKeeper* keeper = nullptr);
  ~Datapath();  // detaches every tunnel (the TAPs stay: they are persistent) and joins the workers
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  using TunnelId = uint64_t;
  // Creates or attaches the TAP and the socket and hands them to a worker. Throws l2wg::Error
  // (nothing left behind: a TAP it created is destroyed again).
  TunnelId add(const TunnelSpec& spec);
  // Stops forwarding and closes the fds. The persistent TAP remains; delete it with netlink.
  void remove(TunnelId id);
  Counters counters(TunnelId id) const;
  unsigned workers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2wg::dp
