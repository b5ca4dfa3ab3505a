// What the journal learns of a log message beyond its text: the tunnel it is about, as the field
// L2WG_TUNNEL= (`journalctl -u l2wgd L2WG_TUNNEL=dorm`). Messages about a tunnel start with its
// name and ": "; the names of the tunnels this run has known tell them from other prefixes
// ("SIGHUP: …"). Thread-safe: the datapath's workers log too.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace l2wg::journal {

void tunnel_known(const std::string& name);
// The tunnel `message` is about, if it starts with a known tunnel's name and ": ".
std::optional<std::string> tunnel_of(std::string_view message);

}  // namespace l2wg::journal
