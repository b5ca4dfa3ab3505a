// Internal to the config library: parse_tunnel plus where the keys were, for checks across files,
// and every error of the file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "l2wg/daemon/config.h"

namespace l2wg::config {

struct LocatedTunnel {
  Tunnel tunnel;           // usable only without errors
  int interface_line = 0;  // the Interface= line, 0 when the tap name is the default
  // Each line's in order, then those of the whole (a missing key, keys that conflict).
  std::vector<ConfigError> errors;
};

LocatedTunnel parse_tunnel_located(std::string_view text, const std::string& file_name);

}  // namespace l2wg::config
