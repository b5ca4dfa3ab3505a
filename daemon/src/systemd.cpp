#include "l2wg/daemon/systemd.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

namespace l2wg::systemd {

bool notify(const std::string& state) {
  return sd_notify(0, state.c_str()) > 0;
}

std::optional<uint64_t> watchdog_interval_us() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return usec;
  return std::nullopt;
}

std::string status_line(const std::vector<std::string>& states) {
  if (states.empty()) return "no tunnels";
  std::map<std::string, size_t> counts;
  for (const auto& state : states) ++counts[state];
  std::string line =
      std::to_string(states.size()) + (states.size() == 1 ? " tunnel: " : " tunnels: ");
  bool first = true;
  // The states that need attention first, in the order an operator reads them.
  for (const char* state : {"up", "degraded", "failed", "waiting-for-peer", "stopped"}) {
    const auto it = counts.find(state);
    if (it == counts.end()) continue;
    line += (first ? "" : ", ") + std::to_string(it->second) + " " + state;
    first = false;
    counts.erase(it);
  }
  for (const auto& [state, count] : counts) {
    line += (first ? "" : ", ") + std::to_string(count) + " " + state;
    first = false;
  }
  return line;
}

FdStore::FdStore() {
  char** names = nullptr;
  const int count = sd_listen_fds_with_names(1, &names);
  if (count < 0) {
    spdlog::warn("cannot take the file descriptors systemd kept: {}", std::strerror(-count));
    return;
  }
  for (int i = 0; i < count; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    const std::string name = names && names[i] ? names[i] : "";
    inherited_[name] = UniqueFd(fd);
  }
  inherited_count_ = static_cast<size_t>(count);
  if (names) {
    for (int i = 0; i < count; ++i) std::free(names[i]);
    std::free(names);
  }
  if (count > 0)
    spdlog::info("took {} file descriptor(s) systemd kept from the previous run", count);
}

UniqueFd FdStore::take(const std::string& name) {
  const auto it = inherited_.find(name);
  if (it == inherited_.end()) return {};
  UniqueFd fd = std::move(it->second);
  inherited_.erase(it);
  return fd;
}

void FdStore::keep(const std::string& name, int fd) {
  // systemd ignores an fd it already holds, so keeping one again after a restart costs nothing.
  const std::string state = "FDSTORE=1\nFDNAME=" + name;
  const int r = sd_pid_notify_with_fds(0, 0, state.c_str(), &fd, 1);
  if (r < 0)
    spdlog::warn("cannot keep {} in systemd's file descriptor store: {}", name, std::strerror(-r));
}

void FdStore::forget(const std::string& name) {
  sd_notify(0, ("FDSTOREREMOVE=1\nFDNAME=" + name).c_str());
}

std::vector<std::string> FdStore::release_unclaimed() {
  std::vector<std::string> names;
  for (auto& [name, fd] : inherited_) {
    forget(name);
    names.push_back(name);
  }
  inherited_.clear();
  return names;
}

}  // namespace l2wg::systemd
