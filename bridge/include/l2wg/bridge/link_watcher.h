// Kernel link and address changes as events: the WireGuard interface appearing, disappearing,
// changing address or MTU; a tap vanishing. The watcher exposes an fd for the daemon's poll loop.
#pragma once

#include <memory>
#include <span>
#include <variant>
#include <vector>

#include "l2wg/bridge/netlink.h"

namespace l2wg::nl {

struct LinkAdded {
  Link link;
  bool operator==(const LinkAdded&) const = default;
};
struct LinkChanged {
  Link before;
  Link after;
  bool operator==(const LinkChanged&) const = default;
};
struct LinkRemoved {
  Link link;
  bool operator==(const LinkRemoved&) const = default;
};
struct AddressAdded {
  Address address;
  bool operator==(const AddressAdded&) const = default;
};
struct AddressRemoved {
  Address address;
  bool operator==(const AddressRemoved&) const = default;
};
using Event = std::variant<LinkAdded, LinkChanged, LinkRemoved, AddressAdded, AddressRemoved>;

// One rtnetlink notification decoded (RTM_NEWLINK/DELLINK/NEWADDR/DELADDR); nullopt for other
// types or malformed messages. Pure: no state, no I/O.
struct LinkMessage {
  bool removed = false;
  Link link;
  bool operator==(const LinkMessage&) const = default;
};
struct AddressMessage {
  bool removed = false;
  Address address;
  bool operator==(const AddressMessage&) const = default;
};
using Message = std::variant<LinkMessage, AddressMessage>;
std::vector<Message> parse_messages(std::span<const uint8_t> datagram);

// Turns messages into events against what it knew before, so a RTM_NEWLINK is told apart as an
// addition or a change and duplicate notifications produce nothing.
class LinkTable {
 public:
  void reset(std::vector<Link> links, std::vector<Address> addresses,
             std::vector<Event>* events);  // a full re-dump: emits the difference
  void apply(const Message& message, std::vector<Event>* events);
  const std::vector<Link>& links() const { return links_; }

 private:
  std::vector<Link> links_;
  std::vector<Address> addresses_;
};

class LinkWatcher {
 public:
  // Subscribes to RTNLGRP_LINK and the IPv4/IPv6 address groups and takes a first snapshot.
  // A bigger receive buffer makes a re-dump (after the kernel dropped notifications) rarer.
  explicit LinkWatcher(Netlink& netlink, int receive_buffer_bytes = 1 << 20);
  ~LinkWatcher();
  int fd() const;
  // Reads what is pending (non-blocking). After ENOBUFS (the kernel dropped notifications) it
  // re-dumps everything and emits the difference, so no change is ever lost.
  std::vector<Event> read_events();
  const std::vector<Link>& links() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2wg::nl
