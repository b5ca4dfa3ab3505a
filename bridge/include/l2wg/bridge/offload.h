// TAP offloads for the userspace datapath. A TAP opened with IFF_VNET_HDR puts a virtio-net
// header before every frame, and with TUNSETOFFLOAD the kernel hands over TCP frames of up to
// 64 KiB (TSO) and frames whose checksum it left for "hardware" to fill in. GRE must carry what a
// wire would, as kernel gretap does, so the datapath cuts the former into segments and completes
// the latter; in the other direction it merges consecutive segments of a TCP flow into one frame
// for the TAP, as GRO does for a NIC. This saves a syscall and a trip through the stack per
// segment, and the receiver sends fewer ACKs. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace l2wg::offload {

// struct virtio_net_hdr (linux/virtio_net.h), in the host's byte order (legacy virtio, as a TAP
// without TUNSETVNETLE/BE uses it on the host itself).
struct VnetHeader {
  static constexpr size_t kSize = 10;
  static constexpr uint8_t kNeedsChecksum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
  static constexpr uint8_t kDataValid = 2;      // VIRTIO_NET_HDR_F_DATA_VALID
  static constexpr uint8_t kGsoNone = 0;
  static constexpr uint8_t kGsoTcpV4 = 1;
  static constexpr uint8_t kGsoTcpV6 = 4;
  static constexpr uint8_t kGsoEcn = 0x80;

  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t header_length = 0;    // Ethernet through TCP, for GSO
  uint16_t gso_size = 0;         // payload bytes per segment
  uint16_t checksum_start = 0;   // from the start of the Ethernet frame
  uint16_t checksum_offset = 0;  // of the checksum field, from checksum_start

  static VnetHeader parse(std::span<const uint8_t, kSize> bytes);
  void write(std::span<uint8_t, kSize> out) const;

  bool operator==(const VnetHeader&) const = default;
};

// The largest header (Ethernet with two tags, IPv4 with options or IPv6 with extension headers,
// TCP with options) a segmented or merged frame may have.
inline constexpr size_t kMaxHeader = 256;

// Fills in the checksum a frame marked kNeedsChecksum left open: the field at checksum_start +
// checksum_offset holds the pseudo-header's sum, and the checksum covers everything from
// checksum_start to the end of the frame (0 is sent as 0xffff, as the kernel does). Returns the
// reason when the offsets fall outside the frame (nothing written); frames not so marked are
// left alone.
std::optional<std::string_view> complete_checksum(const VnetHeader& vnet, std::span<uint8_t> frame);

// What Linux leaves in a TCP or UDP checksum it expects "hardware" to fill in is the
// pseudo-header's sum, and GRO leaves the same after merging segments. Both reach the datapath
// from GRE: a kernel gretap peer sends its own stack's packets so, since kernel WireGuard trusts
// every checksum of what it decrypts, and kernel WireGuard here merges GRE-encapsulated segments
// before the raw socket sees them. Such a frame (up to two VLAN tags, IPv4 with options or IPv6
// with hop-by-hop and destination options, not a fragment, no padding) is described as the
// kernel would describe it to a TAP: kNeedsChecksum, and TCP GSO when its payload exceeds what one
// segment in an IP packet of `segment_mtu` bytes carries. nullopt for every other frame.
std::optional<VnetHeader> open_checksum(std::span<const uint8_t> frame, uint32_t segment_mtu);

// A TSO frame (kGsoTcpV4 or kGsoTcpV6) cut as the kernel's tcp_gso_segment would: segments of
// gso_size payload bytes, each with the headers of the frame but the IP length, the IPv4 ID
// (counting up) and checksum, the TCP sequence number, FIN and PSH (last segment only), CWR
// (first only) and the TCP checksum, computed in full.
class Segmenter {
 public:
  // nullopt (and `why`) for what the kernel never hands over with TCP GSO: another protocol, a
  // fragment, an IPv6 routing header, offsets or lengths that do not add up.
  static std::optional<Segmenter> prepare(const VnetHeader& vnet, std::span<const uint8_t> frame,
                                          std::string_view* why = nullptr);

  size_t count() const { return count_; }
  size_t header_size() const { return header_size_; }
  size_t network_offset() const { return network_offset_; }  // the IP header's, in the frame
  size_t tcp_offset() const { return tcp_offset_; }
  // Writes segment `index`'s headers into `header` (header_size() bytes) and returns its payload,
  // a part of the frame: the segment is the two together.
  std::span<const uint8_t> segment(size_t index, std::span<uint8_t> header) const;

 private:
  Segmenter() = default;

  std::span<const uint8_t> frame_;
  size_t network_offset_ = 0;
  size_t tcp_offset_ = 0;
  size_t header_size_ = 0;
  size_t gso_size_ = 0;
  size_t count_ = 0;
  bool ipv6_ = false;
};

// Merges the frames of one batch received from GRE, as GRO does: consecutive TCP segments of a
// flow (untagged IPv4 without options or IPv6 without extension headers) whose checksums are
// right and whose headers agree but for what segmentation changes, each full-sized but the last,
// none with flags beyond ACK but PSH on the last. A merged frame's checksum is left for the
// kernel (kNeedsChecksum, TCP GSO), so that cutting it again gives back the segments exactly; a
// lone segment whose checksum was verified is passed as kDataValid, one whose checksum was left
// open as open_checksum() says. Everything else passes as it is. Frames of a flow keep their
// order; different flows may be reordered, as GRO does too.
class Coalescer {
 public:
  // Memory for `capacity` frames a batch, allocated once.
  explicit Coalescer(size_t capacity);
  ~Coalescer();
  Coalescer(const Coalescer&) = delete;
  Coalescer& operator=(const Coalescer&) = delete;

  // Starts a batch from a tunnel whose TCP segments come in IP packets of up to `segment_mtu`
  // bytes (see open_checksum).
  void clear(uint32_t segment_mtu);
  // Offers the next frame (at most `capacity` a batch). The frame must stay in place until the
  // batch's writes are done: a merged frame is made from its first segment, rewritten in place.
  void add(std::span<uint8_t> frame);

  struct Write {
    VnetHeader vnet;
    std::span<const std::span<const uint8_t>> pieces;  // the whole first frame, then payloads
    size_t frames = 1;                                 // how many were merged into it
  };
  // The TAP writes for the batch, valid until the next clear() or add().
  std::span<const Write> finish();

 private:
  struct Group;

  std::vector<std::span<uint8_t>> frames_;
  std::vector<Group> groups_;
  std::vector<size_t> next_;  // the next frame of a group, by frame index; npos ends it
  std::vector<std::span<const uint8_t>> pieces_;
  std::vector<Write> writes_;
  uint32_t segment_mtu_ = 0;
};

}  // namespace l2wg::offload
