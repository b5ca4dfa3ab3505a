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
// MAC). Throws l2wg::Error(Io) when the state dir cannot be read or written, and
// Error(InvalidArgument) naming the file when it holds no DUID (it is never overwritten: servers
// know this host by it).
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
  // One of fds() is readable. A lease file that could not be written is an Error(Io) thrown
  // from here (and from the calls below) once the client has finished acting: the session keeps
  // running on its in-memory lease and the next change of the lease writes the file again.
  void handle(int fd);

  // start() and link_changed() wait for the interface to have a usable link-local address (not
  // tentative: duplicate address detection over) before the client acts, since a packet sent
  // from a tentative address is lost and would only be sent again a whole retransmission time
  // later; a renew() meanwhile adds nothing to what is pending, stop() and release() cancel it.
  // link_changed() is for the same interface going down and up; a recreated interface needs a
  // new Session.
  void start();
  void stop();
  void renew();
  void release();
  void link_changed();
  // True while start() or link_changed() waits for the link-local address: worth a log line.
  bool waiting_for_link_local() const;

  const Client& client() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2wg::dhcp6
