// The GRE path probe: a small Ethernet frame that l2wgd sends through a tunnel's tap every few
// seconds and that the l2wgd at the far end answers, so each end knows the whole path (WireGuard,
// GRE, both taps, both datapaths, the firewalls between) carries frames, and learns the far tap's
// MAC. The traffic also keeps WireGuard handshaking while the tunnel is otherwise idle.
//
// The frame never reaches a bridge's other ports or a LAN: it goes to 01:80:c2:00:00:02, an IEEE
// 802.1D reserved group address that a Linux bridge never forwards (whatever group_fwd_mask
// says), with EtherType 0x88b5 (IEEE local experimental), which no stack handles. A far end that
// is not l2wg (an OpenWrt gretap) drops it and never answers.
//
//   dst 01:80:c2:00:00:02 | src: the sending tap's MAC | 0x88b5 |
//   "l2wg" | version 1 | kind (1 request, 2 reply) | 0x0000 | sequence (32 bit) |
//   timestamp (64 bit, µs, the requester's clock, echoed by the reply) | zeros to 60 bytes
//
// All numbers are big-endian.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "l2wg/clock.h"
#include "l2wg/fd.h"
#include "l2wg/mac.h"

namespace l2wg::probe {

inline constexpr uint16_t kEtherType = 0x88b5;
inline constexpr MacAddress kDestination{{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02}};
inline constexpr size_t kFrameSize = 60;  // the Ethernet minimum, without FCS

struct Probe {
  enum class Kind : uint8_t { Request = 1, Reply = 2 };
  Kind kind = Kind::Request;
  MacAddress source;  // the sending tap's MAC
  uint32_t sequence = 0;
  uint64_t timestamp_us = 0;

  bool operator==(const Probe&) const = default;
};

std::vector<uint8_t> encode(const Probe& probe);
// nullopt for anything that is not a probe of version 1 to kDestination (too short, another
// EtherType or magic, an unknown kind).
std::optional<Probe> parse(std::span<const uint8_t> frame);

// What one end knows of the path, and what it makes of it.
enum class Verdict {
  Unverified,    // nothing ever heard from the far end: not l2wg, or not yet
  Verified,      // a reply arrived recently
  OutboundLost,  // the far end's requests arrive, its replies to ours do not: ours get lost
  InboundLost,   // heard from before, nothing arrives any more
};
const char* to_string(Verdict verdict);  // "unverified", "verified", ...

// The probing of one tunnel, on an injected clock and transport: send() requests every
// kInterval, answer requests (at most kRepliesPerSecond), read replies.
class Prober {
 public:
  static constexpr uint64_t kIntervalUs = 3'000'000;
  // No reply for this long: the path is taken for broken (three requests unanswered).
  static constexpr uint64_t kStaleUs = 3 * kIntervalUs + 1'000'000;
  static constexpr unsigned kRepliesPerSecond = 10;

  class Transport {
   public:
    virtual ~Transport() = default;
    virtual void send(std::span<const uint8_t> frame) = 0;  // failures are the transport's
  };

  Prober(Clock& clock, Transport& transport, MacAddress own_mac);

  // Sends a request when one is due; call at next_deadline_us().
  void on_timer();
  uint64_t next_deadline_us() const { return next_request_us_; }
  void on_frame(std::span<const uint8_t> frame);

  Verdict verdict() const;
  std::optional<MacAddress> peer_mac() const { return peer_mac_; }
  uint64_t last_reply_wall_us() const { return last_reply_wall_us_; }  // 0: never
  uint32_t round_trip_us() const { return round_trip_us_; }              // of the last reply

 private:
  void reply_to(const Probe& request);

  Clock& clock_;
  Transport& transport_;
  MacAddress own_mac_;
  uint32_t sequence_ = 0;
  uint64_t started_us_;  // monotonic
  uint64_t next_request_us_;
  std::optional<uint64_t> last_reply_us_;    // monotonic
  std::optional<uint64_t> last_request_us_;  // the far end's, monotonic
  uint64_t last_reply_wall_us_ = 0;
  uint32_t round_trip_us_ = 0;
  std::optional<MacAddress> peer_mac_;
  uint64_t reply_window_us_ = 0;  // the second replies are counted in
  unsigned replies_in_window_ = 0;
};

// The real transport: an AF_PACKET socket on the tap for EtherType kEtherType only, so neither
// the tunnel's other traffic nor the frames it sends itself wake it.
class PacketSocket final : public Prober::Transport {
 public:
  explicit PacketSocket(int tap_ifindex);  // throws l2wg::Error
  int fd() const { return fd_.get(); }
  void send(std::span<const uint8_t> frame) override;
  // Every frame waiting, handed to `on_frame`; returns at EAGAIN.
  template <typename OnFrame>
  void drain(OnFrame&& on_frame) {
    std::vector<uint8_t> buffer(256);
    while (auto size = receive(buffer)) on_frame(std::span<const uint8_t>(buffer.data(), *size));
  }

 private:
  std::optional<size_t> receive(std::vector<uint8_t>& buffer);
  UniqueFd fd_;
};

}  // namespace l2wg::probe
