#include "l2wg/discovery/dns.h"

#include <algorithm>
#include <map>

#include "l2wg/bytes.h"
#include "l2wg/error.h"

namespace l2wg::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxLabel = 63;
constexpr size_t kMaxName = 255;  // wire form, root label included
constexpr uint16_t kCname = 5;

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, "malformed DNS message: " + what);
}
[[noreturn]] void unencodable(const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, "cannot encode DNS message: " + what);
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Types whose rdata is a single domain name that may be compressed (RFC 1035, RFC 3597 §4).
bool single_name_type(uint16_t t) {
  return t == type::PTR || t == type::NS || t == kCname;
}

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  size_t pos() const { return pos_; }
  size_t left() const { return data_.size() - pos_; }
  void need(size_t n, const char* what) {
    if (n > left()) malformed(std::string(what) + " runs past the end");
  }
  uint8_t u8(const char* what) {
    need(1, what);
    return data_[pos_++];
  }
  uint16_t u16(const char* what) {
    need(2, what);
    const uint16_t v = get_be16(data_.data() + pos_);
    pos_ += 2;
    return v;
  }
  uint32_t u32(const char* what) {
    need(4, what);
    const uint32_t v = get_be32(data_.data() + pos_);
    pos_ += 4;
    return v;
  }
  std::span<const uint8_t> bytes(size_t n, const char* what) {
    need(n, what);
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  // A name at pos_, following pointers. Each pointer must point before the label that holds it,
  // so the walk always ends; the expanded name is bounded by 255 octets.
  std::string name(const char* what) {
    std::string out;
    size_t at = pos_;
    size_t wire_size = 1;  // the root label
    bool jumped = false;
    for (;;) {
      if (at >= data_.size()) malformed(std::string(what) + ": name runs past the end");
      const uint8_t len = data_[at];
      if ((len & 0xc0) == 0xc0) {
        if (at + 1 >= data_.size()) malformed(std::string(what) + ": name pointer cut short");
        const size_t target = static_cast<size_t>(get_be16(data_.data() + at) & 0x3fff);
        if (target >= at) malformed(std::string(what) + ": name pointer does not point back");
        if (!jumped) pos_ = at + 2;
        jumped = true;
        at = target;
        continue;
      }
      if (len & 0xc0) malformed(std::string(what) + ": unknown label type");
      ++at;
      if (len == 0) break;
      if (len > data_.size() - at) malformed(std::string(what) + ": label runs past the end");
      const std::string_view label(reinterpret_cast<const char*>(data_.data()) + at, len);
      if (label.find('.') != std::string_view::npos)
        malformed(std::string(what) + ": label contains a '.'");
      wire_size += 1 + len;
      if (wire_size > kMaxName) malformed(std::string(what) + ": name longer than 255 octets");
      if (!out.empty()) out += '.';
      out += label;
      at += len;
    }
    if (!jumped) pos_ = at;
    return out;
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

Rdata read_rdata(Reader& r, uint16_t t, size_t length) {
  const size_t end = r.pos() + length;
  r.need(length, "rdata");
  auto check_end = [&](const char* what) {
    if (r.pos() != end) malformed(std::string(what) + " does not fill its rdata exactly");
  };
  switch (t) {
    case type::A: {
      if (length != 4) malformed("A rdata of " + std::to_string(length) + " octets, not 4");
      auto b = r.bytes(4, "A");
      return IpAddress::v4({b[0], b[1], b[2], b[3]});
    }
    case type::AAAA: {
      if (length != 16) malformed("AAAA rdata of " + std::to_string(length) + " octets, not 16");
      std::array<uint8_t, 16> a{};
      std::ranges::copy(r.bytes(16, "AAAA"), a.begin());
      return IpAddress::v6(a);
    }
    case type::SRV: {
      Srv srv;
      srv.priority = r.u16("SRV");
      srv.weight = r.u16("SRV");
      srv.port = r.u16("SRV");
      srv.target = r.name("SRV target");
      check_end("SRV");
      return srv;
    }
    case type::SOA: {
      Soa soa;
      soa.mname = r.name("SOA mname");
      soa.rname = r.name("SOA rname");
      if (r.pos() > end) malformed("SOA names run past the rdata");
      soa.serial = r.u32("SOA");
      soa.refresh = r.u32("SOA");
      soa.retry = r.u32("SOA");
      soa.expire = r.u32("SOA");
      soa.minimum = r.u32("SOA");
      check_end("SOA");
      return soa;
    }
    case type::TXT: {
      Txt txt;
      while (r.pos() < end) {
        const uint8_t len = r.u8("TXT");
        if (r.pos() + len > end) malformed("TXT string runs past the rdata");
        auto b = r.bytes(len, "TXT");
        txt.strings.emplace_back(b.begin(), b.end());
      }
      return txt;
    }
    default:
      if (single_name_type(t)) {
        Ptr ptr{r.name("rdata name")};
        check_end("rdata name");
        return ptr;
      }
      auto b = r.bytes(length, "rdata");
      return Opaque{{b.begin(), b.end()}};
  }
}

Record read_record(Reader& r, const char* section) {
  Record rec;
  rec.name = r.name(section);
  rec.type = r.u16(section);
  rec.klass = r.u16(section);
  rec.ttl = r.u32(section);
  const uint16_t length = r.u16(section);
  rec.data = read_rdata(r, rec.type, length);
  return rec;
}

class Writer {
 public:
  explicit Writer(bool compress) : compress_(compress) {}

  std::vector<uint8_t> out;

  void name(std::string_view name, bool compress = true) {
    std::vector<std::string_view> labels;
    size_t wire = 1;
    if (!name.empty()) {
      for (size_t begin = 0;;) {
        const size_t dot = std::min(name.find('.', begin), name.size());
        const auto label = name.substr(begin, dot - begin);
        if (label.empty() || label.size() > kMaxLabel)
          unencodable("name \"" + std::string(name) + "\" has a label of " +
                      std::to_string(label.size()) + " octets, must be 1..63");
        labels.push_back(label);
        wire += 1 + label.size();
        if (dot == name.size()) break;
        begin = dot + 1;
      }
    }
    if (wire > kMaxName) unencodable("name \"" + std::string(name) + "\" is over 255 octets");
    for (size_t i = 0; i < labels.size(); ++i) {
      // The suffix from label i on, as written (case-sensitive: a round trip keeps every name).
      const auto suffix = std::string(name.substr(labels[i].data() - name.data()));
      if (compress && compress_) {
        if (auto it = offsets_.find(suffix); it != offsets_.end()) {
          put_be16(out, static_cast<uint16_t>(0xc000 | it->second));
          return;
        }
      }
      if (out.size() < 0x4000) offsets_.emplace(suffix, static_cast<uint16_t>(out.size()));
      out.push_back(static_cast<uint8_t>(labels[i].size()));
      out.insert(out.end(), labels[i].begin(), labels[i].end());
    }
    out.push_back(0);
  }

  // Forgets what was written from `size` on.
  void rollback(size_t size) {
    out.resize(size);
    std::erase_if(offsets_, [&](const auto& entry) { return entry.second >= size; });
  }

  void record(const Record& rec) {
    name(rec.name);
    put_be16(out, rec.type);
    put_be16(out, rec.klass);
    put_be32(out, rec.ttl);
    const size_t length_at = out.size();
    put_be16(out, 0);
    rdata(rec);
    const size_t length = out.size() - length_at - 2;
    if (length > 0xffff) unencodable("rdata over 65535 octets");
    store_be16(out.data() + length_at, static_cast<uint16_t>(length));
  }

 private:
  void rdata(const Record& rec) {
    std::visit(
        [&](const auto& d) {
          using T = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<T, IpAddress>) {
            if ((rec.type == type::A && !d.is_v4()) || (rec.type == type::AAAA && !d.is_v6()) ||
                (rec.type != type::A && rec.type != type::AAAA))
              unencodable("address " + d.str() + " in a record of type " +
                          std::to_string(rec.type));
            out.insert(out.end(), d.data(), d.data() + d.size());
          } else if constexpr (std::is_same_v<T, Ptr>) {
            name(d.target, single_name_type(rec.type));
          } else if constexpr (std::is_same_v<T, Srv>) {
            put_be16(out, d.priority);
            put_be16(out, d.weight);
            put_be16(out, d.port);
            name(d.target);  // compressed, as dnspython and BIND write it
          } else if constexpr (std::is_same_v<T, Soa>) {
            name(d.mname);
            name(d.rname);
            for (uint32_t v : {d.serial, d.refresh, d.retry, d.expire, d.minimum}) put_be32(out, v);
          } else if constexpr (std::is_same_v<T, Txt>) {
            for (const auto& s : d.strings) {
              if (s.size() > 255) unencodable("TXT string over 255 octets");
              out.push_back(static_cast<uint8_t>(s.size()));
              out.insert(out.end(), s.begin(), s.end());
            }
          } else {
            out.insert(out.end(), d.bytes.begin(), d.bytes.end());
          }
        },
        rec.data);
  }

  bool compress_;
  std::map<std::string, uint16_t> offsets_;
};

}  // namespace

Message parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize)
    malformed(std::to_string(bytes.size()) + " octets, shorter than the 12-octet header");
  Reader r(bytes);
  Message m;
  m.id = r.u16("header");
  m.flags = r.u16("header");
  const uint16_t qd = r.u16("header"), an = r.u16("header"), ns = r.u16("header"),
                 ar = r.u16("header");
  // Each question takes at least 5 octets and each record 11: a count the rest cannot hold is
  // refused before anything is reserved for it.
  if (size_t{qd} * 5 + (size_t{an} + ns + ar) * 11 > r.left())
    malformed("the header counts more entries than the message can hold");
  for (uint16_t i = 0; i < qd; ++i) {
    Question q;
    q.name = r.name("question");
    q.type = r.u16("question");
    q.klass = r.u16("question");
    m.questions.push_back(std::move(q));
  }
  for (uint16_t i = 0; i < an; ++i) m.answers.push_back(read_record(r, "answer"));
  for (uint16_t i = 0; i < ns; ++i) m.authority.push_back(read_record(r, "authority"));
  for (uint16_t i = 0; i < ar; ++i) m.additional.push_back(read_record(r, "additional"));
  if (r.left() != 0) malformed(std::to_string(r.left()) + " octets after the last record");
  return m;
}

std::vector<uint8_t> encode(const Message& message, size_t max_size) {
  Writer w(true);
  put_be16(w.out, message.id);
  put_be16(w.out, message.flags);
  for (int i = 0; i < 4; ++i) put_be16(w.out, 0);
  if (message.questions.size() > 0xffff) unencodable("too many questions");
  for (const auto& q : message.questions) {
    w.name(q.name);
    put_be16(w.out, q.type);
    put_be16(w.out, q.klass);
  }
  if (w.out.size() > max_size)
    unencodable("the question alone exceeds " + std::to_string(max_size) + " octets");
  uint16_t counts[4] = {static_cast<uint16_t>(message.questions.size()), 0, 0, 0};
  bool truncated = false;
  const std::vector<Record>* sections[3] = {&message.answers, &message.authority,
                                            &message.additional};
  for (int s = 0; s < 3; ++s) {
    for (const auto& rec : *sections[s]) {
      // Once answers had to go, only the OPT is still worth its room (RFC 6891 §7).
      if (truncated && rec.type != type::OPT) continue;
      const size_t before = w.out.size();
      w.record(rec);
      if (w.out.size() > max_size || counts[s + 1] == 0xffff) {
        w.rollback(before);
        // Leaving out additional records needs no TC (RFC 2181 §9), and a later, smaller one
        // (the OPT, last as resolvers write it) may still fit; anything else does.
        if (s < 2) truncated = true;
        if (s < 2) break;
        continue;
      }
      ++counts[s + 1];
    }
  }
  uint16_t flags = message.flags;
  if (truncated) flags |= flag::TC;
  store_be16(w.out.data() + 2, flags);
  for (int i = 0; i < 4; ++i) store_be16(w.out.data() + 4 + 2 * i, counts[i]);
  return w.out;
}

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool in_zone(std::string_view name, std::string_view zone) {
  if (zone.empty()) return true;
  if (name.size() < zone.size()) return false;
  if (!same_name(name.substr(name.size() - zone.size()), zone)) return false;
  return name.size() == zone.size() || name[name.size() - zone.size() - 1] == '.';
}

std::string base32(std::span<const uint8_t> bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  while (out.size() % 8) out += '=';
  return out;
}

std::optional<std::vector<uint8_t>> from_base32(std::string_view text) {
  if (text.empty()) return std::vector<uint8_t>{};
  if (text.size() % 8) return std::nullopt;
  const size_t data_chars = text.find_last_not_of('=') + 1;
  const size_t padding = text.size() - data_chars;
  // Valid paddings for 1..5 octets in the last group: 6, 4, 3, 1, 0.
  if (padding != 0 && padding != 1 && padding != 3 && padding != 4 && padding != 6)
    return std::nullopt;
  std::vector<uint8_t> out;
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < data_chars; ++i) {
    const char c = lower(text[i]);
    int v;
    if (c >= 'a' && c <= 'z')
      v = c - 'a';
    else if (c >= '2' && c <= '7')
      v = c - '2' + 26;
    else
      return std::nullopt;
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-zero pad bits
  return out;
}

std::string base64(std::span<const uint8_t> bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = uint32_t{bytes[i]} << 16 | uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (const size_t rest = bytes.size() - i; rest) {
    uint32_t v = uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= uint32_t{bytes[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace l2wg::dns
