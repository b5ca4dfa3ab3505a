#include "l2wg/bridge/link_watcher.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "l2wg/error.h"
#include "rtnl_socket.h"

namespace l2wg::nl {

void LinkTable::reset(std::vector<Link> links, std::vector<Address> addresses,
                      std::vector<Event>* events) {
  for (const auto& old : links_) {
    auto same = [&](const Link& l) { return l.ifindex == old.ifindex; };
    if (std::none_of(links.begin(), links.end(), same)) events->push_back(LinkRemoved{old});
  }
  for (const auto& now : links) {
    auto it = std::find_if(links_.begin(), links_.end(),
                           [&](const Link& l) { return l.ifindex == now.ifindex; });
    if (it == links_.end())
      events->push_back(LinkAdded{now});
    else if (!(*it == now))
      events->push_back(LinkChanged{*it, now});
  }
  for (const auto& old : addresses_)
    if (std::find(addresses.begin(), addresses.end(), old) == addresses.end())
      events->push_back(AddressRemoved{old});
  for (const auto& now : addresses)
    if (std::find(addresses_.begin(), addresses_.end(), now) == addresses_.end())
      events->push_back(AddressAdded{now});
  links_ = std::move(links);
  addresses_ = std::move(addresses);
}

void LinkTable::apply(const Message& message, std::vector<Event>* events) {
  if (const auto* m = std::get_if<LinkMessage>(&message)) {
    auto it = std::find_if(links_.begin(), links_.end(),
                           [&](const Link& l) { return l.ifindex == m->link.ifindex; });
    if (m->removed) {
      if (it == links_.end()) return;
      events->push_back(LinkRemoved{*it});
      // The kernel drops a vanished link's addresses without announcing each one.
      std::erase_if(addresses_, [&](const Address& a) { return a.ifindex == it->ifindex; });
      links_.erase(it);
    } else if (it == links_.end()) {
      links_.push_back(m->link);
      events->push_back(LinkAdded{m->link});
    } else if (!(*it == m->link)) {
      events->push_back(LinkChanged{*it, m->link});
      *it = m->link;
    }
    return;
  }
  const auto& m = std::get<AddressMessage>(message);
  auto it = std::find(addresses_.begin(), addresses_.end(), m.address);
  if (m.removed && it != addresses_.end()) {
    addresses_.erase(it);
    events->push_back(AddressRemoved{m.address});
  } else if (!m.removed && it == addresses_.end()) {
    addresses_.push_back(m.address);
    events->push_back(AddressAdded{m.address});
  }
}

struct LinkWatcher::Impl {
  Netlink& netlink;
  SocketPtr sock;
  LinkTable table;

  void resync(std::vector<Event>* events) {
    table.reset(netlink.links(), netlink.addresses(0), events);
  }
};

LinkWatcher::LinkWatcher(Netlink& netlink, int receive_buffer_bytes)
    : impl_(new Impl{netlink,
                     open_route_socket({RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR}),
                     {}}) {
  nl_socket_set_nonblocking(impl_->sock.get());
  // FORCE lets root exceed net.core.rmem_max; without the privilege the capped size is fine.
  if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes,
                 sizeof receive_buffer_bytes) < 0)
    setsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
  // Subscribed before the snapshot, so nothing that happens in between is missed.
  std::vector<Event> initial;
  impl_->resync(&initial);
}

LinkWatcher::~LinkWatcher() = default;

int LinkWatcher::fd() const { return nl_socket_get_fd(impl_->sock.get()); }

const std::vector<Link>& LinkWatcher::links() const { return impl_->table.links(); }

std::vector<Event> LinkWatcher::read_events() {
  std::vector<Event> events;
  std::vector<uint8_t> buffer(64 * 1024);
  bool overflowed = false;
  for (;;) {
    const ssize_t n = recv(fd(), buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // the kernel dropped notifications: keep draining, then re-dump
        overflowed = true;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      throw_errno("reading link notifications", errno);
    }
    if (overflowed) continue;  // stale: the re-dump below supersedes it
    for (const auto& message : parse_messages({buffer.data(), static_cast<size_t>(n)}))
      impl_->table.apply(message, &events);
  }
  if (overflowed) {
    spdlog::warn("link notifications overflowed the socket buffer; re-reading every link");
    impl_->resync(&events);
  }
  return events;
}

}  // namespace l2wg::nl
