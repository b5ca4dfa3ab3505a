// l2wgd under systemd (Type=notify): readiness, status and watchdog notifications, and the file
// descriptor store that keeps the userspace datapath's TAPs and sockets across a restart. Outside
// systemd (no NOTIFY_SOCKET, no LISTEN_FDS) every call does nothing, as sd_notify(3) does.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/bridge/datapath.h"

namespace l2wg::systemd {

// sd_notify(3) with `state` ("READY=1\nSTATUS=…"); false when nobody listens.
bool notify(const std::string& state);

// WATCHDOG_USEC for this process, when systemd watches it: feed it at half that interval.
std::optional<uint64_t> watchdog_interval_us();

// The one-line STATUS= summary: "3 tunnels: 2 up, 1 degraded" ("no tunnels").
std::string status_line(const std::vector<std::string>& states);

// The file descriptor store (FDSTORE=1 with FDNAME=, handed back in LISTEN_FDS/LISTEN_FDNAMES).
class FdStore final : public dp::FdKeeper {
 public:
  FdStore();  // takes over what a previous run kept (sd_listen_fds_with_names)
  UniqueFd take(const std::string& name) override;
  void keep(const std::string& name, int fd) override;
  void forget(const std::string& name) override;
  // Closes and forgets what no tunnel took: the fds of tunnels gone while l2wgd was down.
  // Returns their names.
  std::vector<std::string> release_unclaimed();
  size_t inherited() const { return inherited_count_; }

 private:
  std::map<std::string, UniqueFd> inherited_;
  size_t inherited_count_ = 0;
};

}  // namespace l2wg::systemd
