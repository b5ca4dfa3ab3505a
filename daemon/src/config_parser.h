// Internal to the config library: parse_tunnel plus where the keys were, for checks across files.
#pragma once

#include <string>
#include <string_view>

#include "l2wg/daemon/config.h"

namespace l2wg::config {

struct LocatedTunnel {
  Tunnel tunnel;
  int interface_line = 0;  // the Interface= line, 0 when the tap name is the default
};

LocatedTunnel parse_tunnel_located(std::string_view text, const std::string& file_name);

}  // namespace l2wg::config
