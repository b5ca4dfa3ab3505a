// A request/response rtnetlink socket: sends a libnl-built message and collects the answer,
// turning NLMSG_ERROR into l2wg::Error with the kernel's extended-ack text when it gives one.
#pragma once

#include <netlink/msg.h>
#include <netlink/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace l2wg::nl {

struct SocketDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct MessageDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using SocketPtr = std::unique_ptr<nl_sock, SocketDeleter>;
using MessagePtr = std::unique_ptr<nl_msg, MessageDeleter>;

// A message with `header` (ifinfomsg, ifaddrmsg, ...) as its fixed payload.
template <typename Header>
MessagePtr make_message(int type, int flags, const Header& header) {
  MessagePtr msg(nlmsg_alloc_simple(type, flags));
  if (!msg || nlmsg_append(msg.get(), const_cast<Header*>(&header), sizeof header, NLMSG_ALIGNTO) < 0)
    throw std::bad_alloc();
  return msg;
}

// Connected NETLINK_ROUTE socket, optionally subscribed to multicast groups.
SocketPtr open_route_socket(std::initializer_list<int> groups = {});

class RtnlSocket {
 public:
  RtnlSocket();

  // Sends `msg` and waits for the kernel's acknowledgement. `what` prefixes any error message.
  // ENODEV, and `absent_errno` (how the kernel says that the route, rule or address to delete is
  // not there: ESRCH, ENOENT, EADDRNOTAVAIL), become Error(NotFound); EEXIST becomes Exists.
  void request(nl_msg* msg, const std::string& what, int absent_errno = 0);
  // Sends a request (a dump, or a get) and hands every reply datagram to `on_datagram`.
  // Returns the kernel's errno (0 on success) so callers can treat ENODEV as "absent", or EINTR
  // when a dump was interrupted by a change (NLM_F_DUMP_INTR) and must be redone.
  int query(nl_msg* msg, const std::function<void(std::span<const uint8_t>)>& on_datagram,
            const std::string& what);

 private:
  int exchange(nl_msg* msg, const std::function<void(std::span<const uint8_t>)>* on_datagram,
               std::string* kernel_message);

  SocketPtr sock_;
};

}  // namespace l2wg::nl
