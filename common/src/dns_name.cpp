#include "l2wg/dns_name.h"

#include <algorithm>

#include "l2wg/error.h"

namespace l2wg {
namespace {

constexpr size_t kMaxLabelSize = 63;
constexpr size_t kMaxNameSize = 255;  // wire form, the root label included

[[noreturn]] void invalid(std::string reason) {
  throw Error(ErrorCode::InvalidArgument, std::move(reason));
}

}  // namespace

void append_dns_name(std::vector<uint8_t>& out, std::string_view name) {
  const size_t start = out.size();
  if (!name.empty()) {
    for (size_t begin = 0;;) {
      const size_t dot = std::min(name.find('.', begin), name.size());
      const size_t label = dot - begin;
      if (label == 0 || label > kMaxLabelSize) {
        out.resize(start);
        invalid("domain \"" + std::string(name) + "\" has a label of " + std::to_string(label) +
                " octets, must be 1..63");
      }
      out.push_back(static_cast<uint8_t>(label));
      out.insert(out.end(), name.begin() + begin, name.begin() + dot);
      if (dot == name.size()) break;
      begin = dot + 1;
    }
  }
  out.push_back(0);
  if (out.size() - start > kMaxNameSize) {
    out.resize(start);
    invalid("domain \"" + std::string(name) + "\" is longer than 255 octets in wire form");
  }
}

std::string read_dns_name(std::span<const uint8_t> data, size_t& pos) {
  std::string name;
  const size_t start = pos;
  for (;;) {
    if (pos >= data.size()) invalid("name not terminated by the root label");
    const uint8_t label = data[pos++];
    if (label == 0) break;
    if ((label & 0xc0) == 0xc0) invalid("compression pointer (not allowed)");
    if (label > kMaxLabelSize) invalid("label of " + std::to_string(label) + " octets, over 63");
    if (label > data.size() - pos) invalid("label runs past the end");
    const std::string_view text(reinterpret_cast<const char*>(data.data()) + pos, label);
    if (text.find('.') != std::string_view::npos) invalid("label contains a '.'");
    if (!name.empty()) name += '.';
    name += text;
    pos += label;
    if (pos - start >= kMaxNameSize) invalid("name longer than 255 octets");
  }
  return name;
}

}  // namespace l2wg
