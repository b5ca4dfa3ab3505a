#include "l2wg/bridge/offload.h"

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "l2wg/bytes.h"
#include "tcp_frame.h"

namespace l2wg::offload {
namespace {

using namespace l2wg::test;

// tap_offload.txt (tap_offload_capture.py): frames a kernel handed to a TAP with offloads on, and
// what the same kernel made of each when it had to segment it or fill in its checksum.
struct Capture {
  Bytes vnet;
  Bytes frame;
  std::vector<Bytes> out;
};

std::map<std::string, Capture> load_captures() {
  std::ifstream in(std::string(L2WG_TEST_DATA_DIR) + "/tap_offload.txt");
  std::map<std::string, Capture> captures;
  Capture* current = nullptr;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string kind, value;
    fields >> kind >> value;
    if (kind == "case") {
      current = &captures[value];
      continue;
    }
    const Bytes bytes = *from_hex(value);
    if (kind == "vnet") current->vnet = bytes;
    if (kind == "frame") current->frame = bytes;
    if (kind == "out") current->out.push_back(bytes);
  }
  return captures;
}

const Capture& capture(const std::string& name) {
  static const auto captures = load_captures();
  return captures.at(name);
}

VnetHeader vnet_of(const Bytes& bytes) {
  return VnetHeader::parse(std::span<const uint8_t, VnetHeader::kSize>(bytes.data(), bytes.size()));
}

// Every segment the Segmenter cuts from `frame`, each as a whole frame.
std::vector<Bytes> segment_all(const VnetHeader& vnet, const Bytes& frame) {
  std::string_view why;
  const auto segmenter = Segmenter::prepare(vnet, frame, &why);
  EXPECT_TRUE(segmenter) << why;
  if (!segmenter) return {};
  std::vector<Bytes> out;
  std::array<uint8_t, kMaxHeader> header{};
  for (size_t i = 0; i < segmenter->count(); ++i) {
    const auto payload = segmenter->segment(i, header);
    Bytes segment(header.begin(), header.begin() + static_cast<long>(segmenter->header_size()));
    segment.insert(segment.end(), payload.begin(), payload.end());
    out.push_back(std::move(segment));
  }
  return out;
}

Bytes joined(const Coalescer::Write& write) {
  Bytes out;
  for (const auto& piece : write.pieces) out.insert(out.end(), piece.begin(), piece.end());
  return out;
}

// The writes a batch of frames (copied, since coalescing rewrites in place) comes out as.
struct Batch {
  std::vector<Bytes> frames;
  Coalescer coalescer{64};
  std::vector<Coalescer::Write> writes;

  explicit Batch(std::vector<Bytes> input) : frames(std::move(input)) {
    coalescer.clear(1500);
    for (auto& frame : frames) coalescer.add(frame);
    const auto result = coalescer.finish();
    writes.assign(result.begin(), result.end());
  }
  std::vector<size_t> sizes() const {
    std::vector<size_t> out;
    for (const auto& write : writes) out.push_back(write.frames);
    return out;
  }
};

Bytes with_tag(Bytes frame, uint16_t tpid, uint16_t tci) {
  const Bytes tag = {static_cast<uint8_t>(tpid >> 8), static_cast<uint8_t>(tpid),
                     static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci)};
  frame.insert(frame.begin() + 12, tag.begin(), tag.end());
  return frame;
}

TEST(VnetHeader, ReadsAndWritesTheKernelsBytes) {
  const Bytes& bytes = capture("tcp4").vnet;
  const VnetHeader vnet = vnet_of(bytes);
  EXPECT_EQ(vnet, (VnetHeader{.flags = VnetHeader::kNeedsChecksum,
                              .gso_type = VnetHeader::kGsoTcpV4,
                              .header_length = 66,
                              .gso_size = 1448,
                              .checksum_start = 34,
                              .checksum_offset = 16}));
  std::array<uint8_t, VnetHeader::kSize> out{};
  vnet.write(out);
  EXPECT_EQ(Bytes(out.begin(), out.end()), bytes);
  EXPECT_EQ(vnet_of(capture("tcp6").vnet).gso_type, VnetHeader::kGsoTcpV6);
}

TEST(Segmenter, CutsTsoFramesAsTheKernelDoes) {
  for (const char* name : {"tcp4", "tcp6"}) {
    const Capture& c = capture(name);
    const auto segments = segment_all(vnet_of(c.vnet), c.frame);
    ASSERT_EQ(segments.size(), c.out.size()) << name;
    for (size_t i = 0; i < segments.size(); ++i)
      EXPECT_EQ(to_hex(segments[i]), to_hex(c.out[i])) << name << " segment " << i;
  }
}

// What the kernel hands a TAP for a tagged TSO skb: the tag in the frame, the checksum start
// moved by its length. Its segments are the untagged ones, tagged.
TEST(Segmenter, CutsTaggedFramesAsUntaggedOnesTagged) {
  const Capture& c = capture("tcp4");
  for (const std::vector<uint16_t>& tpids :
       {std::vector<uint16_t>{0x8100}, std::vector<uint16_t>{0x88a8, 0x8100}}) {
    VnetHeader vnet = vnet_of(c.vnet);
    Bytes frame = c.frame;
    std::vector<Bytes> expected = c.out;
    for (auto it = tpids.rbegin(); it != tpids.rend(); ++it) {
      frame = with_tag(frame, *it, 10);
      for (auto& segment : expected) segment = with_tag(segment, *it, 10);
      vnet.checksum_start += 4;
      vnet.header_length += 4;
    }
    EXPECT_EQ(segment_all(vnet, frame), expected) << tpids.size() << " tags";
  }
}

// A TSO frame built by hand: `payload` bytes cut by `gso_size`.
struct TsoFrame {
  Frame frame;
  VnetHeader vnet;
};

TsoFrame tso_frame(Spec spec, size_t payload, uint16_t gso_size) {
  spec.payload.resize(payload);
  for (size_t i = 0; i < payload; ++i) spec.payload[i] = static_cast<uint8_t>(i * 7);
  TsoFrame t{build(spec), {}};
  t.vnet = {.flags = VnetHeader::kNeedsChecksum,
            .gso_type = spec.family == Family::V4 ? VnetHeader::kGsoTcpV4 : VnetHeader::kGsoTcpV6,
            .header_length =
                static_cast<uint16_t>(t.frame.tcp + (t.frame.bytes[t.frame.tcp + 12] >> 4) * 4),
            .gso_size = gso_size,
            .checksum_start = static_cast<uint16_t>(t.frame.tcp),
            .checksum_offset = 16};
  return t;
}

// `segment` seen through the offsets of `like` (same headers).
Frame as_frame(const Bytes& segment, const Frame& like) {
  Frame f = like;
  f.bytes = segment;
  f.tcp_length = segment.size() - like.tcp;
  return f;
}

TEST(Segmenter, SetsSequenceIdLengthsFlagsAndChecksumsPerSegment) {
  for (Family family : {Family::V4, Family::V6}) {
    const Spec spec{.family = family,
                    .flags = 0x80 | 0x10 | 0x08 | 0x01,  // CWR ACK PSH FIN
                    .options = kTimestamps,
                    .sequence = 0xfffffc00,  // the third segment's wraps around
                    .ip_id = 0xffff};
    const TsoFrame t = tso_frame(spec, 2500, 1000);
    const auto segments = segment_all(t.vnet, t.frame.bytes);
    ASSERT_EQ(segments.size(), 3u);
    const uint8_t expected_flags[] = {0x90, 0x10, 0x19};
    for (size_t i = 0; i < 3; ++i) {
      const Frame f = as_frame(segments[i], t.frame);
      const size_t payload = i < 2 ? 1000 : 500;
      ASSERT_EQ(f.tcp_length, 32 + payload);
      EXPECT_EQ(get32(f.bytes, f.tcp + 4), uint32_t(0xfffffc00 + i * 1000)) << i;
      EXPECT_EQ(f.bytes[f.tcp + 13], expected_flags[i]) << i;
      EXPECT_EQ(f.checksum(), f.full_checksum()) << i;
      if (family == Family::V4) {
        EXPECT_EQ(get16(f.bytes, f.ip + 2), 20 + 32 + payload);
        EXPECT_EQ(get16(f.bytes, f.ip + 4), uint16_t(0xffff + i));
        EXPECT_EQ(fold(sum16(&f.bytes[f.ip], 20)), 0xffff) << "IPv4 header checksum " << i;
      } else {
        EXPECT_EQ(get16(f.bytes, f.ip + 4), 32 + payload);
      }
      // Everything else is the frame's.
      Bytes rest = segments[i];
      Bytes original(t.frame.bytes.begin(), t.frame.bytes.begin() + static_cast<long>(f.tcp));
      for (size_t at : family == Family::V4 ? std::vector<size_t>{2, 3, 4, 5, 10, 11}
                                            : std::vector<size_t>{4, 5})
        rest[f.ip + at] = original[f.ip + at];
      EXPECT_TRUE(std::equal(original.begin(), original.end(), rest.begin())) << i;
      EXPECT_TRUE(std::equal(segments[i].begin() + static_cast<long>(f.tcp + 32), segments[i].end(),
                             t.frame.bytes.begin() + static_cast<long>(f.tcp + 32 + i * 1000)));
    }
  }
}

TEST(Segmenter, HandlesIpv4OptionsAndIpv6DestinationOptions) {
  const Spec v4{.flags = 0x10, .options = {}, .ip_options = {1, 1, 1, 0}};
  // Destination options: next header TCP, length 0 (8 bytes), PadN.
  const Spec v6{.family = Family::V6,
                .flags = 0x10,
                .options = {},
                .extension_headers = {6, 0, 1, 4, 0, 0, 0, 0},
                .first_next_header = 60};
  for (const Spec& spec : {v4, v6}) {
    const TsoFrame t = tso_frame(spec, 3000, 1200);
    const auto segments = segment_all(t.vnet, t.frame.bytes);
    ASSERT_EQ(segments.size(), 3u);
    for (const auto& segment : segments) {
      const Frame f = as_frame(segment, t.frame);
      EXPECT_EQ(f.checksum(), f.full_checksum());
    }
    EXPECT_EQ(segments[2].size(), t.frame.tcp + 20 + 600);
  }
}

TEST(Segmenter, RefusesWhatTcpGsoNeverHandsOver) {
  const TsoFrame v4 = tso_frame({.flags = 0x10, .options = {}}, 3000, 1000);
  const TsoFrame v6 = tso_frame({.family = Family::V6, .flags = 0x10, .options = {}}, 3000, 1000);
  struct Case {
    const char* why;
    TsoFrame t;
  };
  std::vector<Case> cases;
  auto add = [&](const char* why, const TsoFrame& base, auto change) {
    TsoFrame t = base;
    change(t.vnet, t.frame.bytes);
    cases.push_back({why, t});
  };
  add("a GSO type other than TCP", v4, [](VnetHeader& v, Bytes&) { v.gso_type = 3; });
  add("a GSO size of 0", v4, [](VnetHeader& v, Bytes&) { v.gso_size = 0; });
  add("TCP GSO of the other IP version", v4,
      [](VnetHeader& v, Bytes&) { v.gso_type = VnetHeader::kGsoTcpV6; });
  add("a frame that is not IPv4 or IPv6", v4, [](VnetHeader&, Bytes& b) { b[12] = 0x88; });
  add("TCP GSO on a packet that is not TCP behind IP (and IPv6 options)", v4,
      [](VnetHeader&, Bytes& b) { b[23] = 17; });
  add("an IPv4 fragment", v4, [](VnetHeader&, Bytes& b) { b[20] |= 0x20; });
  add("a truncated or malformed IPv4 header", v4, [](VnetHeader&, Bytes& b) { b[14] = 0x44; });
  add("TCP GSO on a packet that is not TCP behind IP (and IPv6 options)", v6,
      [](VnetHeader&, Bytes& b) { b[20] = 43; });  // a routing header
  add("a truncated IPv6 extension header", v6, [](VnetHeader&, Bytes& b) {
    b[20] = 60;  // destination options, of which only 4 bytes are there
    b.resize(58);
  });
  add("checksum offsets that are not the TCP header's", v4,
      [](VnetHeader& v, Bytes&) { v.checksum_offset = 6; });
  add("a truncated or malformed TCP header", v4, [](VnetHeader&, Bytes& b) { b[46] = 0x40; });
  add("TCP GSO without payload", v4, [](VnetHeader&, Bytes& b) { b.resize(54); });
  add("a frame longer than an IP packet", v4, [](VnetHeader&, Bytes& b) { b.resize(14 + 65536); });
  for (const Case& c : cases) {
    std::string_view why;
    EXPECT_FALSE(Segmenter::prepare(c.t.vnet, c.t.frame.bytes, &why)) << c.why;
    EXPECT_EQ(why, std::string_view(c.why));
  }
  // The ECN flag only says CWR may be set: the frame is cut as any other.
  TsoFrame ecn = v4;
  ecn.vnet.gso_type |= VnetHeader::kGsoEcn;
  EXPECT_EQ(segment_all(ecn.vnet, ecn.frame.bytes), segment_all(v4.vnet, v4.frame.bytes));
}

TEST(CompleteChecksum, FillsInWhatTheKernelWould) {
  for (const char* name : {"udp4-partial", "udp6-partial"}) {
    const Capture& c = capture(name);
    Bytes frame = c.frame;
    EXPECT_EQ(complete_checksum(vnet_of(c.vnet), frame), std::nullopt) << name;
    ASSERT_EQ(c.out.size(), 1u);
    EXPECT_EQ(to_hex(frame), to_hex(c.out[0])) << name;
  }
}

TEST(CompleteChecksum, LeavesFramesAloneUnlessAskedAndInRange) {
  const Capture& c = capture("udp4-partial");
  Bytes frame = c.frame;
  VnetHeader vnet = vnet_of(c.vnet);
  vnet.flags = 0;
  EXPECT_EQ(complete_checksum(vnet, frame), std::nullopt);
  EXPECT_EQ(frame, c.frame);
  vnet.flags = VnetHeader::kNeedsChecksum;
  vnet.checksum_offset = static_cast<uint16_t>(frame.size() - vnet.checksum_start - 1);
  EXPECT_EQ(complete_checksum(vnet, frame), "the checksum to fill in lies beyond the frame");
  EXPECT_EQ(frame, c.frame);
}

TEST(CompleteChecksum, SendsZeroAsAllOnes) {
  // The field and one word summing to 0xffff: the complement is 0.
  Bytes frame(14, 0);
  frame.insert(frame.end(), {0x00, 0x00, 0xff, 0xff});
  const VnetHeader vnet{.flags = VnetHeader::kNeedsChecksum, .checksum_start = 14};
  EXPECT_EQ(complete_checksum(vnet, frame), std::nullopt);
  EXPECT_EQ(get16(frame, 14), 0xffff);
}

TEST(Coalescer, MergesTheKernelsSegmentsBackIntoItsTsoFrame) {
  for (const char* name : {"tcp4", "tcp6"}) {
    const Capture& c = capture(name);
    Batch batch(c.out);
    ASSERT_EQ(batch.sizes(), std::vector<size_t>{c.out.size()}) << name;
    EXPECT_EQ(batch.writes[0].vnet, vnet_of(c.vnet)) << name;
    EXPECT_EQ(to_hex(joined(batch.writes[0])), to_hex(c.frame)) << name;
  }
}

// Four full segments of one flow from `spec`, consecutive in sequence and IPv4 ID.
std::vector<Spec> flow(Spec spec, size_t count = 4, size_t payload = 1000) {
  spec.payload.assign(payload, 0x5a);
  std::vector<Spec> specs;
  for (size_t i = 0; i < count; ++i) {
    specs.push_back(spec);
    spec.sequence += static_cast<uint32_t>(payload);
    ++spec.ip_id;
  }
  return specs;
}

std::vector<Bytes> built(const std::vector<Spec>& specs) {
  std::vector<Bytes> frames;
  for (const auto& spec : specs) frames.push_back(build(spec).bytes);
  return frames;
}

const Spec kData{.flags = 0x10, .options = kTimestamps};

// A TSO frame as the kernel hands it over is just what GRO makes of its segments: open_checksum
// must describe it as the kernel did, given the tap's MTU.
TEST(OpenChecksum, DescribesWhatTheKernelLeftOpenAsTheKernelDid) {
  for (const char* name : {"tcp4", "tcp6", "udp4-partial", "udp6-partial"}) {
    const Capture& c = capture(name);
    EXPECT_EQ(open_checksum(c.frame, 1500), vnet_of(c.vnet)) << name;
  }
}

TEST(OpenChecksum, FindsNothingInFramesWithTheirChecksums) {
  for (const char* name : {"tcp4", "tcp6", "udp4-partial", "udp6-partial"})
    for (const auto& frame : capture(name).out) EXPECT_EQ(open_checksum(frame, 1500), std::nullopt);
  EXPECT_EQ(open_checksum(build(kData).bytes, 1500), std::nullopt);
}

// Checksum field of `frame` (TCP at `tcp`) replaced by the pseudo-header's sum, as Linux leaves it.
Bytes left_open(Bytes frame, const Frame& layout) {
  Bytes pseudo;
  if (layout.family == Family::V4) {
    pseudo.assign(frame.begin() + static_cast<long>(layout.ip + 12),
                  frame.begin() + static_cast<long>(layout.ip + 20));
  } else {
    pseudo.assign(frame.begin() + static_cast<long>(layout.ip + 8),
                  frame.begin() + static_cast<long>(layout.ip + 40));
  }
  const size_t length = frame.size() - layout.tcp;
  pseudo.insert(pseudo.end(),
                {0, 6, static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)});
  put16(frame, layout.tcp + 16, fold(sum16(pseudo.data(), pseudo.size())));
  return frame;
}

TEST(OpenChecksum, ALoneSegmentIsCompletedBackToWhatItWas) {
  for (const Spec& spec : {Spec{.flags = 0x10, .options = kTimestamps, .ip_options = {1, 1, 1, 0}},
                           Spec{.family = Family::V6,
                           .flags = 0x18,
                           .options = {},
                           .vlan_types = {0x8100},
                           .extension_headers = {6, 0, 1, 4, 0, 0, 0, 0},
                           .first_next_header = 60}}) {
    Spec with_payload = spec;
    with_payload.payload.assign(700, 0x33);
    const Frame frame = build(with_payload);
    Bytes open = left_open(frame.bytes, frame);
    const auto vnet = open_checksum(open, 1500);
    ASSERT_TRUE(vnet);
    EXPECT_EQ(*vnet, (VnetHeader{.flags = VnetHeader::kNeedsChecksum,
                                 .checksum_start = static_cast<uint16_t>(frame.tcp),
                                 .checksum_offset = 16}));
    EXPECT_EQ(complete_checksum(*vnet, open), std::nullopt);
    EXPECT_EQ(open, frame.bytes);
  }
}

TEST(OpenChecksum, CutsMergedSegmentsToFitTheSegmentMtu) {
  const Capture& c = capture("tcp4");  // 5 x 1448 bytes with 32 bytes of TCP header
  const auto vnet = open_checksum(c.frame, 1400);
  ASSERT_TRUE(vnet);
  EXPECT_EQ(vnet->gso_size, 1400 - 20 - 32);
  // A tag crosses the tunnel too: the segments carry 4 bytes less.
  VnetHeader tagged_vnet = *open_checksum(with_tag(c.frame, 0x8100, 10), 1500);
  EXPECT_EQ(tagged_vnet.gso_size, 1448 - 4);
  EXPECT_EQ(tagged_vnet.checksum_start, 34 + 4);
  // Payload that fits one segment needs no GSO.
  EXPECT_EQ(open_checksum(c.frame, 20 + 32 + 7240)->gso_type, VnetHeader::kGsoNone);
}

TEST(OpenChecksum, LeavesPaddedFramesAndOtherProtocolsAlone) {
  const Frame frame = build(kData);
  Bytes padded = left_open(frame.bytes, frame);
  padded.push_back(0);
  EXPECT_EQ(open_checksum(padded, 1500), std::nullopt);
  Bytes icmp = left_open(frame.bytes, frame);
  icmp[23] = 1;
  EXPECT_EQ(open_checksum(icmp, 1500), std::nullopt);
}

TEST(Coalescer, PassesAFrameWithItsChecksumOpenAsItIsInTheFlowsOrder) {
  std::vector<Bytes> frames = built(flow(kData));
  frames[2] = left_open(frames[2], build(kData));
  Batch batch(frames);
  ASSERT_EQ(batch.sizes(), (std::vector<size_t>{2, 1, 1}));
  EXPECT_EQ(batch.writes[1].vnet, *open_checksum(frames[2], 1500));
  EXPECT_EQ(joined(batch.writes[1]), frames[2]);
}

TEST(Coalescer, PassesLoneAndForeignFramesAsTheyAre) {
  Spec lone = kData;
  lone.payload.assign(100, 1);
  const Bytes segment = build(lone).bytes;
  Bytes not_tcp = segment;
  not_tcp[23] = 17;  // IPv4 protocol UDP
  Batch batch({segment, not_tcp});
  ASSERT_EQ(batch.sizes(), (std::vector<size_t>{1, 1}));
  EXPECT_EQ(batch.writes[0].vnet, VnetHeader{.flags = VnetHeader::kDataValid});
  EXPECT_EQ(joined(batch.writes[0]), segment);
  EXPECT_EQ(batch.writes[1].vnet, VnetHeader{});
  EXPECT_EQ(joined(batch.writes[1]), not_tcp);
}

TEST(Coalescer, MergesOnlyWhatCuttingAgainWouldGiveBack) {
  struct Case {
    const char* what;
    std::vector<Spec> specs;
    std::vector<size_t> sizes;
  };
  auto changed = [](size_t at, auto change, std::vector<Spec> specs = flow(kData)) {
    change(specs[at]);
    return specs;
  };
  std::vector<Case> cases = {
      {"one flow", flow(kData), {4}},
      {"IPv6", flow(Spec{.family = Family::V6, .flags = 0x10, .options = kTimestamps}), {4}},
      {"another ACK number", changed(2, [](Spec& s) { s.ack_number = 7; }), {2, 1, 1}},
      {"a sequence gap", changed(2, [](Spec& s) { s.sequence += 1; }), {2, 1, 1}},
      {"an IPv4 ID out of step", changed(2, [](Spec& s) { s.ip_id += 5; }), {2, 1, 1}},
      {"PSH ends the frame", changed(1, [](Spec& s) { s.flags |= 0x08; }), {2, 2}},
      {"a short segment ends the frame",
       changed(1, [](Spec& s) { s.payload.resize(999); }),
       {2, 2}},
      {"FIN", changed(2, [](Spec& s) { s.flags |= 0x01; }), {2, 1, 1}},
      {"another TTL", changed(2, [](Spec& s) { s.hop_limit = 63; }), {2, 1, 1}},
      {"another TOS", changed(2, [](Spec& s) { s.traffic_class = 2; }), {2, 1, 1}},
      {"another window", changed(2, [](Spec& s) { s.window = 100; }), {2, 1, 1}},
      {"other TCP options",
       changed(2,
               [](Spec& s) {
                 s.options = {1, 1, 1, 1};
               }),
       {2, 1, 1}},
      {"Ethernet padding", changed(2, [](Spec& s) { s.padding = 2; }), {2, 1, 1}},
      {"VLAN tags", flow(Spec{.flags = 0x10, .options = {}, .vlan_types = {0x8100}}), {1, 1, 1, 1}},
      {"IPv4 options",
       flow(Spec{.flags = 0x10, .options = {}, .ip_options = {1, 1, 1, 0}}),
       {1, 1, 1, 1}},
      {"another IPv6 traffic class",
       changed(
           2, [](Spec& s) { s.traffic_class = 0x10; },
           flow(Spec{.family = Family::V6, .flags = 0x10, .options = {}})),
       {2, 1, 1}},
  };
  for (const Case& c : cases) EXPECT_EQ(Batch(built(c.specs)).sizes(), c.sizes) << c.what;
}

TEST(Coalescer, DropsNothingWithABadChecksumIntoAMergedFrame) {
  for (size_t field : {size_t{14 + 10}, size_t{14 + 20 + 16}}) {  // IPv4 header, TCP
    std::vector<Bytes> frames = built(flow(kData));
    frames[2][field] ^= 0x40;
    const Bytes damaged = frames[2];
    Batch batch(frames);
    ASSERT_EQ(batch.sizes(), (std::vector<size_t>{2, 1, 1})) << field;
    EXPECT_EQ(batch.writes[1].vnet, VnetHeader{}) << "left for the kernel to drop";
    EXPECT_EQ(joined(batch.writes[1]), damaged);
  }
}

TEST(Coalescer, KeepsEachFlowInOrder) {
  Spec other = kData;
  other.source_port = 1234;
  const auto a = flow(kData), b = flow(other);
  Spec same_flow_ack = kData;  // a pure ACK of flow A, between its segments
  same_flow_ack.sequence = a[2].sequence;
  Spec other_flow_ack = kData;  // need not wait
  other_flow_ack.source_port = 80;
  Batch interleaved(built({a[0], b[0], a[1], b[1], a[2], b[2]}));
  EXPECT_EQ(interleaved.sizes(), (std::vector<size_t>{3, 3}));
  EXPECT_EQ(interleaved.writes[0].pieces[0].data(), interleaved.frames[0].data());
  EXPECT_EQ(interleaved.writes[1].pieces[0].data(), interleaved.frames[1].data());
  EXPECT_EQ(Batch(built({a[0], a[1], same_flow_ack, a[2], a[3]})).sizes(),
            (std::vector<size_t>{2, 1, 2}));
  EXPECT_EQ(Batch(built({a[0], a[1], other_flow_ack, a[2], a[3]})).sizes(),
            (std::vector<size_t>{4, 1}));
}

TEST(Coalescer, StopsAtTheLargestIpPacket) {
  Spec spec = kData;
  spec.options = {};
  // (65535 - 20 - 20) / 1448 = 45 segments fit one IPv4 packet.
  EXPECT_EQ(Batch(built(flow(spec, 46, 1448))).sizes(), (std::vector<size_t>{45, 1}));
}

// Whatever a batch is, each merged write cut again gives back exactly the frames merged into it,
// and every flow's frames come out in the order they went in.
TEST(Coalescer, MergedFramesCutAgainGiveBackTheBatch) {
  std::mt19937 random(1234);
  size_t merged = 0;
  for (int round = 0; round < 300; ++round) {
    const size_t flows = 1 + random() % 3;
    std::vector<std::vector<Bytes>> per_flow(flows);
    for (size_t f = 0; f < flows; ++f) {
      Spec spec{.family = random() % 2 ? Family::V4 : Family::V6,
                .flags = 0x10,
                .options = random() % 2 ? kTimestamps : Bytes{},
                .sequence = static_cast<uint32_t>(random()),
                .ip_id = static_cast<uint16_t>(random()),
                .source_port = static_cast<uint16_t>(1000 + f)};
      const size_t full = 100 + random() % 1400;
      for (size_t n = 1 + random() % 12; n > 0; --n) {
        Spec s = spec;
        s.payload.assign(random() % 8 == 0 ? 1 + random() % full : full,
                         static_cast<uint8_t>(random()));
        if (random() % 10 == 0) s.flags |= 0x08;
        if (random() % 15 == 0) s.payload.clear();  // a pure ACK
        if (random() % 15 == 0) s.window = static_cast<uint16_t>(random());
        if (random() % 20 == 0) s.sequence += 1;
        per_flow[f].push_back(build(s).bytes);
        spec.sequence = s.sequence + static_cast<uint32_t>(s.payload.size());
        spec.ip_id = static_cast<uint16_t>(s.ip_id + 1);
      }
    }
    // Interleave the flows, each in order.
    size_t total = 0;
    for (const auto& frames : per_flow) total += frames.size();
    std::vector<Bytes> input;
    std::vector<size_t> next(flows, 0);
    while (input.size() < std::min<size_t>(total, 64)) {
      size_t f = random() % flows;
      while (next[f] == per_flow[f].size()) f = (f + 1) % flows;
      input.push_back(per_flow[f][next[f]++]);
    }

    Batch batch(input);
    std::vector<Bytes> output;
    for (const auto& write : batch.writes) {
      if (write.frames == 1) {
        output.push_back(joined(write));
        continue;
      }
      ASSERT_EQ(write.vnet.flags, VnetHeader::kNeedsChecksum);
      merged += write.frames;
      const auto segments = segment_all(write.vnet, joined(write));
      ASSERT_EQ(segments.size(), write.frames);
      output.insert(output.end(), segments.begin(), segments.end());
    }
    ASSERT_EQ(output.size(), input.size()) << round;
    // Per flow (told apart by source port), the same frames in the same order.
    auto port = [](const Bytes& frame) {
      const size_t tcp = frame[12] == 0x08 ? 34 : 54;
      return get16(frame, tcp);
    };
    std::map<uint16_t, std::vector<Bytes>> in_by_flow, out_by_flow;
    for (const auto& frame : input) in_by_flow[port(frame)].push_back(frame);
    for (const auto& frame : output) out_by_flow[port(frame)].push_back(frame);
    ASSERT_EQ(in_by_flow, out_by_flow) << "round " << round;
  }
  EXPECT_GT(merged, 1000u) << "the batches must exercise merging";
}

}  // namespace
}  // namespace l2wg::offload
