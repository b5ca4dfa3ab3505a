// Whether an interface has a link-local IPv6 address the kernel lets us send from: not tentative
// (duplicate address detection still running) and not failed DAD. Until it has, a DHCPv6 send
// fails with EADDRNOTAVAIL and the first Solicit would be lost for a whole retransmission time.
// Learnt from rtnetlink (RTNLGRP_IPV6_IFADDR), so the session can wait for it without polling.
#pragma once

#include <set>

#include "l2wg/fd.h"
#include "l2wg/ip.h"

namespace l2wg::dhcp6 {

class LinkLocalWatcher {
 public:
  // Subscribes, then reads the interface's current addresses. Throws Error(Kernel).
  explicit LinkLocalWatcher(int ifindex);

  int fd() const { return socket_.get(); }
  // The fd is readable: reads every pending notification (re-reading all addresses if the
  // kernel dropped some).
  void handle();
  bool ready() const { return !usable_.empty(); }

 private:
  void dump();
  void apply(const void* buffer, size_t length);

  int ifindex_;
  UniqueFd socket_;
  std::set<IpAddress> usable_;
};

}  // namespace l2wg::dhcp6
