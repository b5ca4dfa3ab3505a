// libFuzzer target for the TAP offloads (bridge/'s offload.h), whose Coalescer reads frames from
// the network and whose Segmenter reads what the kernel hands over. Input: a mode byte, then
// - mode even: a segment MTU (16-bit big-endian) and a batch for the Coalescer, frames as (16-bit
//   big-endian length, bytes), at most 64. Every write of a merged frame, cut again by the
//   Segmenter, must give back frames of the batch whose checksums hold; a frame whose checksum was
//   left open must be one the Segmenter or complete_checksum takes; lone frames must come out
//   untouched; nothing may be lost or invented.
// - mode odd: a vnet header (10 bytes) and a frame for the Segmenter and complete_checksum. What
//   the Segmenter accepts it must cut into segments whose payloads make up the frame's, each
//   within gso_size and carrying valid IPv4 and TCP checksums.
// A violation aborts with the input: it is a bug, not noise.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "l2wg/bridge/checksum.h"
#include "l2wg/bridge/offload.h"

namespace {

using Bytes = std::vector<uint8_t>;
using l2wg::offload::Coalescer;
using l2wg::offload::Segmenter;
using l2wg::offload::VnetHeader;

constexpr size_t kMaxBatch = 64;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "offload_fuzz: %s\n", what);
  std::abort();
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// The TCP checksum of a segment the Segmenter made (IPv4 or IPv6, `tcp` from the frame's start)
// and, for IPv4, the header checksum: both must hold.
bool checksums_hold(const Bytes& frame, size_t network, size_t tcp, bool ipv6) {
  const std::span<const uint8_t> bytes(frame);
  const auto ip = bytes.subspan(network, tcp - network);
  if (!ipv6 && !l2wg::checksum::valid(ip)) return false;
  const size_t length = frame.size() - tcp;
  const auto addresses = ipv6 ? ip.subspan(8, 32) : ip.subspan(12, 8);
  const uint64_t pseudo = l2wg::checksum::add(addresses) + 6 + (length >> 16) + (length & 0xffff);
  return l2wg::checksum::fold(l2wg::checksum::add(bytes.subspan(tcp), pseudo)) == 0xffff;
}

// Cuts `frame` and checks every segment; returns them.
std::vector<Bytes> cut(const VnetHeader& vnet, const Bytes& frame, const Segmenter& segmenter) {
  std::vector<Bytes> segments;
  std::array<uint8_t, l2wg::offload::kMaxHeader> header{};
  const size_t header_size = segmenter.header_size();
  if (header_size > frame.size() || header_size > header.size()) finding("header beyond the frame");
  Bytes payloads;
  const bool ipv6 = (vnet.gso_type & ~VnetHeader::kGsoEcn) == VnetHeader::kGsoTcpV6;
  for (size_t i = 0; i < segmenter.count(); ++i) {
    const auto payload = segmenter.segment(i, header);
    if (payload.empty() || payload.size() > vnet.gso_size) finding("a segment's payload size");
    Bytes segment(header.begin(), header.begin() + static_cast<long>(header_size));
    segment.insert(segment.end(), payload.begin(), payload.end());
    if (!checksums_hold(segment, segmenter.network_offset(), segmenter.tcp_offset(), ipv6))
      finding("a segment with a wrong checksum");
    payloads.insert(payloads.end(), payload.begin(), payload.end());
    segments.push_back(std::move(segment));
  }
  if (!std::equal(payloads.begin(), payloads.end(), frame.begin() + static_cast<long>(header_size),
                  frame.end()))
    finding("the segments' payloads are not the frame's");
  return segments;
}

void fuzz_coalescer(std::span<const uint8_t> input) {
  if (input.size() < 2) return;
  const uint32_t segment_mtu = be16(input.data());
  input = input.subspan(2);
  std::vector<Bytes> frames;
  while (input.size() >= 2 && frames.size() < kMaxBatch) {
    const size_t length = std::min<size_t>(be16(input.data()), input.size() - 2);
    frames.emplace_back(input.begin() + 2, input.begin() + 2 + static_cast<long>(length));
    input = input.subspan(2 + length);
  }
  const std::vector<Bytes> original = frames;
  Coalescer coalescer(kMaxBatch);
  coalescer.clear(segment_mtu);
  for (auto& frame : frames) coalescer.add(frame);
  std::vector<Bytes> out;
  for (const auto& write : coalescer.finish()) {
    Bytes joined;
    for (const auto& piece : write.pieces) joined.insert(joined.end(), piece.begin(), piece.end());
    if (write.frames != write.pieces.size()) finding("a write's frame count");
    if (write.frames == 1) {
      if (write.vnet.gso_type != VnetHeader::kGsoNone) {
        const auto segmenter = Segmenter::prepare(write.vnet, joined);
        if (!segmenter) finding("the Segmenter refuses a frame left open");
        cut(write.vnet, joined, *segmenter);
      } else if (write.vnet.flags & VnetHeader::kNeedsChecksum) {
        Bytes completed = joined;
        if (l2wg::offload::complete_checksum(write.vnet, completed))
          finding("a frame left open whose checksum cannot be completed");
      }
      out.push_back(joined);
      continue;
    }
    if (write.vnet.flags != VnetHeader::kNeedsChecksum) finding("a merged write's flags");
    const auto segmenter = Segmenter::prepare(write.vnet, joined);
    if (!segmenter) finding("the Segmenter refuses a merged write");
    if (segmenter->count() != write.frames) finding("a merged write cuts into another count");
    const auto segments = cut(write.vnet, joined, *segmenter);
    out.insert(out.end(), segments.begin(), segments.end());
  }
  // Merged frames were rewritten in place: compare against the copies taken before.
  std::vector<Bytes> sorted_in = original, sorted_out = out;
  std::sort(sorted_in.begin(), sorted_in.end());
  std::sort(sorted_out.begin(), sorted_out.end());
  if (sorted_in != sorted_out) finding("the writes do not give back the batch");
}

void fuzz_segmenter(std::span<const uint8_t> input) {
  if (input.size() < VnetHeader::kSize) return;
  const auto vnet = VnetHeader::parse(
      std::span<const uint8_t, VnetHeader::kSize>(input.data(), VnetHeader::kSize));
  Bytes frame(input.begin() + VnetHeader::kSize, input.end());
  if (const auto segmenter = Segmenter::prepare(vnet, frame)) cut(vnet, frame, *segmenter);
  l2wg::offload::complete_checksum(vnet, frame);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> input(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    fuzz_coalescer(input);
  } else {
    fuzz_segmenter(input);
  }
  return 0;
}
