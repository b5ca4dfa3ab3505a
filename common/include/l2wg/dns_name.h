// Domain names in DNS wire form (RFC 1035 §3.1), uncompressed, as DHCPv6 (RFC 8415 §10) and the
// DNSSL option of Router Advertisements (RFC 8106 §5.2) carry them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace l2wg {

// Appends "example.com" as its labels and the root label ("" is the root alone). Throws
// l2wg::Error(InvalidArgument) naming the problem: an empty or over-63-octet label, a name over
// 255 octets in wire form.
void append_dns_name(std::vector<uint8_t>& out, std::string_view name);

// Reads the name that starts at data[pos] and moves pos past its root label. Throws
// l2wg::Error(InvalidArgument) for a name that is not terminated, uses compression, has a label
// over 63 octets or containing a '.', or is over 255 octets.
std::string read_dns_name(std::span<const uint8_t> data, size_t& pos);

}  // namespace l2wg
