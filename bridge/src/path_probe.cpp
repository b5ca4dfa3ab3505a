#include "l2wg/bridge/path_probe.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "l2wg/bytes.h"
#include "l2wg/error.h"

namespace l2wg::probe {
namespace {

constexpr uint8_t kMagic[4] = {'l', '2', 'w', 'g'};
constexpr uint8_t kVersion = 1;
constexpr size_t kEthernetHeader = 14;
constexpr size_t kPayload = 4 + 1 + 1 + 2 + 4 + 8;  // magic, version, kind, flags, sequence, time

}  // namespace

std::vector<uint8_t> encode(const Probe& probe) {
  std::vector<uint8_t> frame(kDestination.bytes.begin(), kDestination.bytes.end());
  frame.insert(frame.end(), probe.source.bytes.begin(), probe.source.bytes.end());
  put_be16(frame, kEtherType);
  frame.insert(frame.end(), std::begin(kMagic), std::end(kMagic));
  frame.push_back(kVersion);
  frame.push_back(static_cast<uint8_t>(probe.kind));
  put_be16(frame, 0);  // flags
  put_be32(frame, probe.sequence);
  put_be32(frame, static_cast<uint32_t>(probe.timestamp_us >> 32));
  put_be32(frame, static_cast<uint32_t>(probe.timestamp_us));
  frame.resize(kFrameSize, 0);
  return frame;
}

std::optional<Probe> parse(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeader + kPayload) return std::nullopt;
  if (!std::equal(kDestination.bytes.begin(), kDestination.bytes.end(), frame.begin()))
    return std::nullopt;
  if (get_be16(frame.data() + 12) != kEtherType) return std::nullopt;
  const uint8_t* p = frame.data() + kEthernetHeader;
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0 || p[4] != kVersion) return std::nullopt;
  Probe probe;
  if (p[5] == static_cast<uint8_t>(Probe::Kind::Request))
    probe.kind = Probe::Kind::Request;
  else if (p[5] == static_cast<uint8_t>(Probe::Kind::Reply))
    probe.kind = Probe::Kind::Reply;
  else
    return std::nullopt;
  std::copy(frame.begin() + 6, frame.begin() + 12, probe.source.bytes.begin());
  probe.sequence = get_be32(p + 8);
  probe.timestamp_us = uint64_t{get_be32(p + 12)} << 32 | get_be32(p + 16);
  return probe;
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::Unverified: return "unverified";
    case Verdict::Verified: return "verified";
    case Verdict::OutboundLost: return "outbound-lost";
    case Verdict::InboundLost: return "inbound-lost";
  }
  return "unverified";
}

Prober::Prober(Clock& clock, Transport& transport, MacAddress own_mac)
    : clock_(clock), transport_(transport), own_mac_(own_mac),
      started_us_(clock.monotonic_us()), next_request_us_(started_us_) {}

void Prober::on_timer() {
  const uint64_t now = clock_.monotonic_us();
  if (now < next_request_us_) return;
  transport_.send(encode({Probe::Kind::Request, own_mac_, ++sequence_, now}));
  next_request_us_ = now + kIntervalUs;
}

void Prober::on_frame(std::span<const uint8_t> frame) {
  const auto probe = parse(frame);
  // Our own frames, should the socket ever see them, say nothing about the far end.
  if (!probe || probe->source == own_mac_ || probe->source.is_multicast()) return;
  const uint64_t now = clock_.monotonic_us();
  if (probe->kind == Probe::Kind::Request) {
    last_request_us_ = now;
    peer_mac_ = probe->source;
    reply_to(*probe);
    return;
  }
  // A reply echoes our timestamp: one from the future, or to a request older than anything
  // still outstanding, is not an answer to us.
  if (probe->timestamp_us > now || now - probe->timestamp_us > kStaleUs ||
      probe->sequence > sequence_)
    return;
  last_reply_us_ = now;
  last_reply_wall_us_ = clock_.wall_us();
  round_trip_us_ = static_cast<uint32_t>(std::min<uint64_t>(now - probe->timestamp_us, UINT32_MAX));
  peer_mac_ = probe->source;
}

void Prober::reply_to(const Probe& request) {
  // However many requests arrive, the replies stay few: a probe must not become a flood.
  const uint64_t now = clock_.monotonic_us();
  if (now - reply_window_us_ >= 1'000'000) {
    reply_window_us_ = now;
    replies_in_window_ = 0;
  }
  if (replies_in_window_ >= kRepliesPerSecond) return;
  ++replies_in_window_;
  transport_.send(encode({Probe::Kind::Reply, own_mac_, request.sequence, request.timestamp_us}));
}

Verdict Prober::verdict() const {
  const uint64_t now = clock_.monotonic_us();
  const auto recent = [&](const std::optional<uint64_t>& when) {
    return when && now - *when <= kStaleUs;
  };
  if (recent(last_reply_us_)) return Verdict::Verified;
  if (!last_reply_us_ && !last_request_us_) return Verdict::Unverified;
  // Our requests get kStaleUs to be answered from the start too: the far end's first request
  // often arrives before the reply to ours.
  if (!last_reply_us_ && now - started_us_ <= kStaleUs) return Verdict::Unverified;
  if (recent(last_request_us_)) return Verdict::OutboundLost;
  return Verdict::InboundLost;
}

PacketSocket::PacketSocket(int tap_ifindex)
    : fd_(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(kEtherType))) {
  if (!fd_) throw_errno("cannot open a packet socket for the path probe", errno);
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(kEtherType);
  address.sll_ifindex = tap_ifindex;
  if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    throw_errno("cannot bind the path probe to interface #" + std::to_string(tap_ifindex), errno);
}

void PacketSocket::send(std::span<const uint8_t> frame) {
  // A tap that is down or a full queue loses one probe; the next one follows.
  [[maybe_unused]] const ssize_t sent = ::send(fd_.get(), frame.data(), frame.size(), 0);
}

std::optional<size_t> PacketSocket::receive(std::vector<uint8_t>& buffer) {
  for (;;) {
    const ssize_t size = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_TRUNC);
    if (size >= 0) return std::min(static_cast<size_t>(size), buffer.size());
    if (errno == EINTR) continue;
    return std::nullopt;  // EAGAIN, or the tap went away: the link watcher tells
  }
}

}  // namespace l2wg::probe
