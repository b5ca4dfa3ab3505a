// The prefix-delegation client on a real interface: what the daemon uses. It owns the UDP socket
// (port 546, bound to the interface), a timerfd for the client's deadlines, the DUID and the lease
// file, and drives a Client with the system clock. Single-threaded: the owner polls fds() and
// calls handle() for each readable one, on the thread that calls everything else.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "l2wg/dhcp6/client.h"

namespace l2wg::dhcp6 {

struct SessionOptions {
  std::string name;       // the tunnel's name: gives the IAID and the lease file's name
  std::string interface;  // where DHCPv6 runs (the tap)
  std::filesystem::path state_dir = "/var/lib/l2wg";
  uint8_t prefix_length_hint = 0;
  bool rapid_commit = false;
  bool initial_delay = true;
};

// The host's DUID: a DUID-UUID (RFC 6355) made once from getrandom() and kept in
// STATE_DIR/dhcp6/duid, so it survives restarts and tunnels being recreated (unlike a DUID from a
// MAC). Throws l2wg::Error(Io) when the state dir cannot be read or written.
Duid load_or_create_duid(const std::filesystem::path& state_dir);

// The IAID for a tunnel name: stable across restarts and independent of any MAC (FNV-1a of the
// name).
uint32_t iaid_for(std::string_view name);

// STATE_DIR/dhcp6/NAME.lease (JSON). save() writes atomically (a crash leaves the old or the new
// file, never half of one); nullopt removes the file. load() returns nullopt for a missing file and
// throws l2wg::Error(InvalidArgument) naming the file for one that cannot be parsed.
std::filesystem::path lease_path(const std::filesystem::path& state_dir, std::string_view name);
std::optional<Lease> load_lease(const std::filesystem::path& path);
void save_lease(const std::filesystem::path& path, const std::optional<Lease>& lease);
std::string lease_to_json(const Lease& lease);
Lease lease_from_json(std::string_view json);  // throws l2wg::Error(InvalidArgument)

class Session {
 public:
  // Opens the socket and timerfd and loads the DUID and the stored lease; does not send anything
  // until start(). Throws l2wg::Error naming the problem (no such interface, port 546 in use...).
  // `observer` also sees lease_changed after the session has written the lease file.
  Session(SessionOptions options, Observer& observer);
  ~Session();  // stops; keeps the lease file
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::vector<int> fds() const;
  void handle(int fd);  // one of fds() is readable

  void start();
  void stop();
  void renew();
  void release();
  void link_changed();

  const Client& client() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2wg::dhcp6
