#include "rtnl_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "l2wg/error.h"

namespace l2wg::nl {

SocketPtr open_route_socket(std::initializer_list<int> groups) {
  SocketPtr sock(nl_socket_alloc());
  if (!sock) throw std::bad_alloc();
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0)
    throw Error(ErrorCode::Kernel, std::string("cannot open rtnetlink: ") + nl_geterror(err));
  const int fd = nl_socket_get_fd(sock.get());
  const int on = 1;
  // Extended acks carry the kernel's own explanation ("Unknown device type", ...).
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  for (int group : groups) {
    if (int err = nl_socket_add_membership(sock.get(), group); err < 0)
      throw Error(ErrorCode::Kernel, std::string("cannot subscribe to rtnetlink: ") + nl_geterror(err));
  }
  return sock;
}

RtnlSocket::RtnlSocket() : sock_(open_route_socket()) {
  // Lets the kernel honour the filters in dump requests (e.g. one link's addresses) instead of
  // returning everything; kernels without it ignore the option and callers filter anyway.
  const int on = 1;
  setsockopt(nl_socket_get_fd(sock_.get()), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof on);
  // Replies are matched by sequence number below; libnl's auto-ack bookkeeping is not used.
  nl_socket_disable_auto_ack(sock_.get());
}

void RtnlSocket::request(nl_msg* msg, const std::string& what, int absent_errno) {
  nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
  std::string kernel_message;
  if (int err = exchange(msg, nullptr, &kernel_message); err != 0) {
    const std::string text = kernel_message.empty() ? std::strerror(err) : kernel_message;
    ErrorCode code = ErrorCode::Kernel;
    if (err == EOPNOTSUPP) code = ErrorCode::Unsupported;
    if (err == ENODEV || (absent_errno != 0 && err == absent_errno)) code = ErrorCode::NotFound;
    if (err == EEXIST) code = ErrorCode::Exists;
    throw Error(code, what + ": " + text);
  }
}

int RtnlSocket::query(nl_msg* msg,
                      const std::function<void(std::span<const uint8_t>)>& on_datagram,
                      const std::string& what) {
  std::string kernel_message;
  const int err = exchange(msg, &on_datagram, &kernel_message);
  if (err != 0 && err != ENODEV && err != ENOENT && err != EINTR) {
    throw Error(ErrorCode::Kernel,
                what + ": " + (kernel_message.empty() ? std::strerror(err) : kernel_message));
  }
  return err;
}

// The NLMSGERR_ATTR_MSG of an extended ack, if any.
static std::string extended_ack_message(const nlmsghdr* hdr) {
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  // With NETLINK_CAP_ACK the echoed request is only its header, so the TLVs follow nlmsgerr.
  const size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (hdr->nlmsg_len < offset) return {};
  auto* attrs = reinterpret_cast<nlattr*>(reinterpret_cast<uintptr_t>(hdr) + offset);
  nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, static_cast<int>(hdr->nlmsg_len - offset), nullptr) < 0)
    return {};
  if (!tb[NLMSGERR_ATTR_MSG] || nla_len(tb[NLMSGERR_ATTR_MSG]) < 1) return {};
  const char* text = static_cast<const char*>(nla_data(tb[NLMSGERR_ATTR_MSG]));
  return std::string(text, strnlen(text, nla_len(tb[NLMSGERR_ATTR_MSG])));
}

int RtnlSocket::exchange(nl_msg* msg,
                         const std::function<void(std::span<const uint8_t>)>* on_datagram,
                         std::string* kernel_message) {
  if (int err = nl_send_auto(sock_.get(), msg); err < 0)
    throw Error(ErrorCode::Kernel, std::string("rtnetlink send failed: ") + nl_geterror(err));
  const uint32_t seq = nlmsg_hdr(msg)->nlmsg_seq;
  const int fd = nl_socket_get_fd(sock_.get());
  std::vector<uint8_t> buffer(64 * 1024);
  bool interrupted = false;
  for (;;) {
    const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("rtnetlink receive failed", errno);
    }
    auto* hdr = reinterpret_cast<nlmsghdr*>(buffer.data());
    int remaining = static_cast<int>(n);
    bool delivered = false;
    for (; NLMSG_OK(hdr, remaining); hdr = NLMSG_NEXT(hdr, remaining)) {
      if (hdr->nlmsg_seq != seq) continue;  // a late answer to an abandoned request
      // The table changed while the kernel dumped it: entries may have been skipped.
      if (hdr->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (hdr->nlmsg_type == NLMSG_DONE) return interrupted ? EINTR : 0;
      if (hdr->nlmsg_type == NLMSG_ERROR) {
        if (hdr->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EPROTO;
        const int error = -static_cast<const nlmsgerr*>(NLMSG_DATA(hdr))->error;
        if (error != 0) *kernel_message = extended_ack_message(hdr);
        return error;
      }
      if (on_datagram && !delivered) {
        (*on_datagram)(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
        delivered = true;
      }
      // A non-dump get answers with exactly one message and no NLMSG_DONE.
      if (!(hdr->nlmsg_flags & NLM_F_MULTI)) return 0;
    }
  }
}

}  // namespace l2wg::nl
