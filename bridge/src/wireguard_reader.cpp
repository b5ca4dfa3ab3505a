// WireGuardReader: a userspace implementation's UAPI socket first, then kernel generic netlink.
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "l2wg/bridge/wireguard.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"
#include "wireguard_genl.h"

namespace l2wg::wg {
namespace {

// Long enough for a busy daemon, short enough that a hung one cannot stall the caller.
constexpr timeval kUapiTimeout{.tv_sec = 2, .tv_usec = 0};
// A sanity cap: a reply this large is not a WireGuard device, it is a runaway server.
constexpr size_t kMaxUapiReply = 16 * 1024 * 1024;

// The reply carries the private key: buffers holding it are zeroed when they go away.
struct WipedString {
  std::string text;
  WipedString() = default;
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString() { explicit_bzero(text.data(), text.size()); }
};
struct WipedChunk {
  char data[4096];
  WipedChunk() = default;
  WipedChunk(const WipedChunk&) = delete;
  WipedChunk& operator=(const WipedChunk&) = delete;
  ~WipedChunk() { explicit_bzero(data, sizeof data); }
};

bool valid_ifname(const std::string& name) {
  return !name.empty() && name.size() < IFNAMSIZ && name != "." && name != ".." &&
         name.find_first_of("/ \t\n\r:") == std::string::npos;
}

// Sends "get=1" to the UAPI socket at `path` and reads the reply into `reply`. Returns false when
// nothing serves that path (no socket file, or a stale one left by a dead daemon).
bool query_uapi(const std::string& path, const std::string& ifname, WipedString& reply,
                std::string_view request = "get=1\n\n") {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path)
    throw Error(ErrorCode::InvalidArgument, "UAPI socket path " + path + " is too long");
  path.copy(address.sun_path, path.size());

  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("creating a unix socket for " + path, errno, ErrorCode::Io);
  for (const int option : {SO_RCVTIMEO, SO_SNDTIMEO})
    if (setsockopt(fd.get(), SOL_SOCKET, option, &kUapiTimeout, sizeof kUapiTimeout) < 0)
      throw_errno("setting a timeout on the UAPI socket " + path, errno, ErrorCode::Io);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) return false;
    throw_errno("connecting to the UAPI socket " + path + " of " + ifname, errno, ErrorCode::Io);
  }

  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("sending a request to the UAPI socket " + path, errno, ErrorCode::Io);
    sent += static_cast<size_t>(n);
  }

  WipedChunk chunk;
  reply.text.reserve(64 * 1024);  // growing copies the key into memory nobody wipes; rarely now
  // The reply ends with a blank line; a reply that is only "\n" is malformed but still ended.
  auto complete = [&] {
    return reply.text == "\n" ||
           (reply.text.size() >= 2 && reply.text.compare(reply.text.size() - 2, 2, "\n\n") == 0);
  };
  while (!complete()) {
    const ssize_t n = recv(fd.get(), chunk.data, sizeof chunk.data, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      throw Error(ErrorCode::Io, "the WireGuard implementation serving " + ifname + " at " + path +
                                     " did not answer within 2 s");
    if (n < 0) throw_errno("reading the UAPI socket " + path, errno, ErrorCode::Io);
    if (n == 0) break;  // the parser reports the truncation
    reply.text.append(chunk.data, static_cast<size_t>(n));
    if (reply.text.size() > kMaxUapiReply)
      throw Error(ErrorCode::Io, "the UAPI reply for " + ifname + " at " + path +
                                     " exceeds 16 MiB; is it a WireGuard implementation?");
  }
  return true;
}

// The UAPI socket path of `ifname`, once the name is valid (it becomes part of a filesystem path:
// no traversal out of the UAPI directory) and the interface exists in this namespace:
// /var/run/wireguard is shared by every network namespace, so a socket there may serve an
// interface of another namespace. Error(NotFound) says where its socket may be.
std::string require_interface(const std::string& ifname, const std::string& uapi_dir) {
  if (!valid_ifname(ifname))
    throw Error(ErrorCode::InvalidArgument, "\"" + ifname + "\" is not a valid interface name");
  auto path = uapi_socket_path(ifname, uapi_dir);
  if (if_nametoindex(ifname.c_str()) == 0) {
    const bool foreign_socket = access(path.c_str(), F_OK) == 0;
    throw Error(ErrorCode::NotFound,
                "no WireGuard interface named " + ifname +
                    (foreign_socket ? " in this network namespace (the UAPI socket at " + path +
                                          " must serve one in another namespace)"
                                    : " (no kernel device and no UAPI socket at " + path + ")"));
  }
  return path;
}

class SystemWireGuardWriter : public WireGuardWriter {
 public:
  explicit SystemWireGuardWriter(std::string uapi_dir) : uapi_dir_(std::move(uapi_dir)) {}

  void update_peers(const std::string& ifname, const std::vector<PeerUpdate>& updates) override {
    const auto path = require_interface(ifname, uapi_dir_);
    if (updates.empty()) return;
    WipedString reply;
    if (query_uapi(path, ifname, reply, encode_uapi_set(updates))) {
      // "errno=N" and a blank line.
      const auto& text = reply.text;
      if (text.rfind("errno=", 0) != 0)
        throw Error(ErrorCode::Io, "the UAPI reply of " + ifname + " to a set is not errno=N");
      const int err = std::atoi(text.c_str() + 6);
      if (err != 0)
        throw_errno("the WireGuard implementation of " + ifname + " refused the peers' update",
                    err);
      return;
    }
    if (!set_genl_peers(ifname, updates))
      throw Error(ErrorCode::NotFound, ifname + " is not a WireGuard interface");
  }

 private:
  std::string uapi_dir_;
};

class SystemWireGuardReader : public WireGuardReader {
 public:
  explicit SystemWireGuardReader(std::string uapi_dir) : uapi_dir_(std::move(uapi_dir)) {}

  Device read_device(const std::string& ifname) override {
    const auto path = require_interface(ifname, uapi_dir_);
    {
      WipedString reply;
      if (query_uapi(path, ifname, reply)) return parse_uapi_get(reply.text, ifname);
    }
    if (const auto dump = dump_genl_device(ifname))
      return parse_genl_get_device(dump->bytes, dump->family_id);
    throw Error(ErrorCode::InvalidArgument,
                ifname +
                    " is not a WireGuard interface (the kernel does not know it as one and "
                    "no UAPI socket is at " +
                    path + ")");
  }

 private:
  std::string uapi_dir_;
};

}  // namespace

std::unique_ptr<WireGuardReader> make_wireguard_reader(const std::string& uapi_dir) {
  return std::make_unique<SystemWireGuardReader>(uapi_dir);
}

std::unique_ptr<WireGuardWriter> make_wireguard_writer(const std::string& uapi_dir) {
  return std::make_unique<SystemWireGuardWriter>(uapi_dir);
}

}  // namespace l2wg::wg
