#include "link_local.h"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "l2wg/error.h"

namespace l2wg::dhcp6 {

namespace {

UniqueFd netlink_socket(int type_flags, uint32_t groups) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | type_flags, NETLINK_ROUTE));
  if (!fd) throw_errno("rtnetlink socket", errno);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = groups;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0)
    throw_errno("binding an rtnetlink socket", errno);
  return fd;
}

// Dumps and notifications fit: the kernel sizes its messages to a page, at most 32 KiB.
constexpr size_t kBufferSize = 64 * 1024;

}  // namespace

LinkLocalWatcher::LinkLocalWatcher(int ifindex)
    : ifindex_(ifindex), socket_(netlink_socket(SOCK_NONBLOCK, RTMGRP_IPV6_IFADDR)) {
  dump();  // after subscribing: no change between the dump and the first notification is lost
}

void LinkLocalWatcher::handle() {
  alignas(nlmsghdr) char buffer[kBufferSize];
  bool lost_notifications = false;
  for (;;) {
    sockaddr_nl from{};
    socklen_t from_length = sizeof from;
    const ssize_t n = ::recvfrom(socket_.get(), buffer, sizeof buffer, 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {  // the socket overflowed: what we know may be stale
      lost_notifications = true;
      continue;
    }
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) throw_errno("reading rtnetlink notifications", errno);
    if (from.nl_pid == 0) apply(buffer, static_cast<size_t>(n));  // from the kernel only
  }
  if (lost_notifications) {
    usable_.clear();
    dump();
  }
}

void LinkLocalWatcher::dump() {
  for (;;) {
    // A socket of its own, blocking: the answer comes at once and is not mixed with
    // notifications.
    const UniqueFd fd = netlink_socket(0, 0);
    struct {
      nlmsghdr header;
      ifaddrmsg message;
    } request{};
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = RTM_GETADDR;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = 1;
    request.message.ifa_family = AF_INET6;
    if (::send(fd.get(), &request, sizeof request, 0) < 0)
      throw_errno("asking the kernel for IPv6 addresses", errno);

    alignas(nlmsghdr) char buffer[kBufferSize];
    bool interrupted = false;  // the addresses changed during the dump: ask again
    for (bool done = false; !done;) {
      const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("reading the kernel's IPv6 addresses", errno);
      size_t length = static_cast<size_t>(n);
      for (auto* header = reinterpret_cast<const nlmsghdr*>(buffer); NLMSG_OK(header, length);
           header = NLMSG_NEXT(header, length)) {
        if (header->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        if (header->nlmsg_type == NLMSG_DONE) done = true;
        if (header->nlmsg_type == NLMSG_ERROR) {
          const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
          throw_errno("reading the kernel's IPv6 addresses", -error->error);
        }
      }
      apply(buffer, static_cast<size_t>(n));
    }
    if (!interrupted) return;
    usable_.clear();
  }
}

void LinkLocalWatcher::apply(const void* data, size_t length) {
  for (auto* header = static_cast<const nlmsghdr*>(data); NLMSG_OK(header, length);
       header = NLMSG_NEXT(header, length)) {
    if (header->nlmsg_type != RTM_NEWADDR && header->nlmsg_type != RTM_DELADDR) continue;
    if (header->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) continue;
    const auto* message = static_cast<const ifaddrmsg*>(NLMSG_DATA(header));
    if (message->ifa_family != AF_INET6 || static_cast<int>(message->ifa_index) != ifindex_)
      continue;
    uint32_t flags = message->ifa_flags;
    std::optional<IpAddress> address;
    size_t attributes_length = IFA_PAYLOAD(header);
    for (auto* attribute = IFA_RTA(message); RTA_OK(attribute, attributes_length);
         attribute = RTA_NEXT(attribute, attributes_length)) {
      if (attribute->rta_type == IFA_ADDRESS && RTA_PAYLOAD(attribute) == sizeof(in6_addr)) {
        in6_addr bytes;
        std::memcpy(&bytes, RTA_DATA(attribute), sizeof bytes);
        address = IpAddress::from(bytes);
      } else if (attribute->rta_type == IFA_FLAGS && RTA_PAYLOAD(attribute) == sizeof(uint32_t)) {
        std::memcpy(&flags, RTA_DATA(attribute), sizeof flags);  // the full 32-bit flags
      }
    }
    if (!address || !address->is_link_local()) continue;
    // An optimistic address (RFC 4429) is tentative but may already be a source address.
    const bool usable = header->nlmsg_type == RTM_NEWADDR && !(flags & IFA_F_DADFAILED) &&
                        (!(flags & IFA_F_TENTATIVE) || (flags & IFA_F_OPTIMISTIC));
    if (usable)
      usable_.insert(*address);
    else
      usable_.erase(*address);
  }
}

}  // namespace l2wg::dhcp6
