#include "l2wg/lan/ra_socket.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "l2wg/error.h"
#include "l2wg/socket.h"

namespace l2wg::lan {
namespace {

constexpr uint8_t kNdHopLimit = 255;  // RFC 4861: every ND message, so off-link senders show
// Packets read per read(): a flood must not starve the owner's timer and other fds (poll reports
// the socket readable again).
constexpr int kMaxPacketsPerRead = 64;
constexpr size_t kMaxPacket = 65536;  // any IPv6 payload short of a jumbogram

const char* kAllNodes = "ff02::1";
const char* kAllRouters = "ff02::2";
constexpr std::array<uint8_t, 6> kAllRoutersMac = {0x33, 0x33, 0, 0, 0, 2};  // RFC 2464 §7

in6_addr v6(const char* text) {
  in6_addr address{};
  ::inet_pton(AF_INET6, text, &address);
  return address;
}

sockaddr_in6 link_scoped(const char* group, int ifindex) {
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_addr = v6(group);
  to.sin6_scope_id = static_cast<uint32_t>(ifindex);
  return to;
}

// A raw ICMPv6 socket on `interface` that receives only the ICMPv6 types `accepted` and sends with
// the hop limit Neighbor Discovery requires.
UniqueFd open_nd_socket(const std::string& interface, int ifindex,
                        std::initializer_list<uint8_t> accepted) {
  const std::string what = "ICMPv6 socket on " + interface;
  UniqueFd fd(::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6));
  if (!fd) throw_errno("raw " + what, errno, ErrorCode::Io);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, interface.data(),
                   static_cast<socklen_t>(interface.size())) != 0) {
    if (errno == ENODEV) throw Error(ErrorCode::NotFound, "no interface " + interface);
    throw_errno(what + ": binding to the interface", errno, ErrorCode::Io);
  }
  icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  for (const uint8_t type : accepted) ICMP6_FILTER_SETPASS(type, &filter);
  set_socket_option(fd.get(), IPPROTO_ICMPV6, ICMP6_FILTER, filter, what + ": ICMP6_FILTER");
  set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, int{kNdHopLimit},
                    what + ": IPV6_MULTICAST_HOPS");
  set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, int{kNdHopLimit},
                    what + ": IPV6_UNICAST_HOPS");
  set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex,
                    what + ": IPV6_MULTICAST_IF");
  set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, what + ": IPV6_MULTICAST_LOOP");
  set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, what + ": IPV6_RECVHOPLIMIT");
  // Whatever arrived before the filter and the device binding were in place.
  uint8_t discard[1];
  while (::recv(fd.get(), discard, sizeof discard, MSG_TRUNC) >= 0) {
  }
  return fd;
}

// The interface's Ethernet address; nullopt for a link without one.
std::optional<MacAddress> ethernet_address(int fd, const std::string& interface) {
  ifreq request{};
  if (interface.size() >= sizeof request.ifr_name)
    throw Error(ErrorCode::InvalidArgument, "interface name " + interface + " is too long");
  std::memcpy(request.ifr_name, interface.data(), interface.size());
  if (::ioctl(fd, SIOCGIFHWADDR, &request) != 0)
    throw_errno("reading the link-layer address of " + interface, errno, ErrorCode::Io);
  if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) return std::nullopt;
  MacAddress mac;
  std::memcpy(mac.bytes.data(), request.ifr_hwaddr.sa_data, mac.bytes.size());
  return mac;
}

struct Received {
  std::span<const uint8_t> icmp;
  IpAddress source;
  uint8_t hop_limit = 0;  // 0 if the kernel did not say, which no check lets through
};

// The next pending packet, nullopt when there is none.
std::optional<Received> receive(int fd, std::span<uint8_t> buffer, const std::string& what) {
  for (;;) {
    sockaddr_in6 from{};
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int))];
    iovec iov{buffer.data(), buffer.size()};
    msghdr message{};
    message.msg_name = &from;
    message.msg_namelen = sizeof from;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &message, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
    if (n < 0) throw_errno(what, errno, ErrorCode::Io);
    Received packet{buffer.first(static_cast<size_t>(n)), IpAddress::from(from.sin6_addr)};
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level != IPPROTO_IPV6 || c->cmsg_type != IPV6_HOPLIMIT) continue;
      int hop_limit;
      std::memcpy(&hop_limit, CMSG_DATA(c), sizeof hop_limit);
      packet.hop_limit = static_cast<uint8_t>(hop_limit);
    }
    return packet;
  }
}

std::string hop_limit_problem(uint8_t hop_limit) {
  return "hop limit " + std::to_string(hop_limit) + ", not 255: it did not start on this link";
}

// RFC 1071's one's-complement sum, over 16-bit words.
uint32_t add_words(uint32_t sum, std::span<const uint8_t> bytes) {
  for (size_t i = 0; i < bytes.size(); i += 2)
    sum += uint32_t{bytes[i]} << 8 | (i + 1 < bytes.size() ? bytes[i + 1] : 0);
  return sum;
}

// RFC 4861 §6.3.7 lets a host without a usable address yet (its link-local still in duplicate
// address detection) solicit from ::. The kernel never sends from :: on an IP socket, so that
// solicitation leaves through a packet socket with its IPv6 header and checksum written here.
// Returns 0 or an errno.
int send_from_unspecified(int ifindex, std::span<const uint8_t> icmp) {
  constexpr size_t kIpv6Header = 40;
  std::vector<uint8_t> packet(kIpv6Header);
  packet[0] = 0x60;  // version 6
  packet[4] = static_cast<uint8_t>(icmp.size() >> 8);
  packet[5] = static_cast<uint8_t>(icmp.size());
  packet[6] = IPPROTO_ICMPV6;
  packet[7] = kNdHopLimit;
  const in6_addr destination = v6(kAllRouters);  // source :: is all zeros already
  std::memcpy(packet.data() + 24, &destination, sizeof destination);
  packet.insert(packet.end(), icmp.begin(), icmp.end());  // its checksum field still 0
  // The checksum covers a pseudo-header (RFC 8200 §8.1): addresses, length, next header.
  uint32_t sum = add_words(0, std::span(packet).subspan(8, 32));
  sum += static_cast<uint32_t>(icmp.size()) + IPPROTO_ICMPV6;
  sum = add_words(sum, std::span(packet).subspan(kIpv6Header));
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const auto checksum = static_cast<uint16_t>(~sum);
  packet[kIpv6Header + 2] = static_cast<uint8_t>(checksum >> 8);
  packet[kIpv6Header + 3] = static_cast<uint8_t>(checksum);

  // Protocol 0: the socket only sends, it never receives a copy of the link's traffic.
  const UniqueFd fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_IPV6);
  to.sll_ifindex = ifindex;
  to.sll_halen = kAllRoutersMac.size();
  std::copy(kAllRoutersMac.begin(), kAllRoutersMac.end(), to.sll_addr);
  if (::sendto(fd.get(), packet.data(), packet.size(), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof to) < 0)
    return errno;
  return 0;
}

}  // namespace

std::variant<RouterSolicitation, ParseError> validate_solicitation(std::span<const uint8_t> icmp,
                                                                   const IpAddress& source,
                                                                   uint8_t hop_limit) {
  if (hop_limit != kNdHopLimit) return ParseError{hop_limit_problem(hop_limit)};
  auto parsed = parse_router_solicitation(icmp);
  if (const auto* rs = std::get_if<RouterSolicitation>(&parsed);
      rs && rs->source_link_layer && source == IpAddress::v6({}))
    return ParseError{"a source link-layer address option on a solicitation from ::"};
  return parsed;
}

std::variant<RouterAdvertisement, ParseError> validate_advertisement(std::span<const uint8_t> icmp,
                                                                     const IpAddress& source,
                                                                     uint8_t hop_limit) {
  if (hop_limit != kNdHopLimit) return ParseError{hop_limit_problem(hop_limit)};
  if (!source.is_v6() || !source.is_link_local())
    return ParseError{"source " + source.str() + " is not link-local"};
  return parse_router_advertisement(icmp);
}

// ---- LanRaSocket ----

LanRaSocket::LanRaSocket(std::string interface, SocketObserver& observer)
    : interface_(std::move(interface)),
      ifindex_(interface_index(interface_)),
      observer_(observer),
      socket_(open_nd_socket(interface_, ifindex_, {kRouterSolicitation})) {
  const auto mac = ethernet_address(socket_.get(), interface_);
  if (!mac) throw Error(ErrorCode::InvalidArgument, interface_ + " is not an Ethernet interface");
  mac_ = *mac;
  // Solicitations go to all-routers; a host whose forwarding is off has not joined it.
  ipv6_mreq group{v6(kAllRouters), static_cast<unsigned>(ifindex_)};
  set_socket_option(socket_.get(), IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, group,
                    "ICMPv6 socket on " + interface_ + ": joining ff02::2");
}

uint32_t LanRaSocket::read() {
  uint32_t solicitations = 0;
  std::vector<uint8_t> buffer(kMaxPacket);
  for (int i = 0; i < kMaxPacketsPerRead; ++i) {
    const auto packet = receive(socket_.get(), buffer, "receiving on " + interface_);
    if (!packet) break;
    const auto result = validate_solicitation(packet->icmp, packet->source, packet->hop_limit);
    if (const auto* error = std::get_if<ParseError>(&result)) {
      ++dropped_;
      observer_.dropped("router solicitation from " + packet->source.str() + " on " + interface_ +
                        ": " + error->reason);
      continue;
    }
    ++solicitations;
  }
  return solicitations;
}

void LanRaSocket::send(std::span<const uint8_t> icmp) {
  const sockaddr_in6 to = link_scoped(kAllNodes, ifindex_);
  if (::sendto(socket_.get(), icmp.data(), icmp.size(), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof to) < 0)
    observer_.send_failed("sending a router advertisement on " + interface_ + ": " +
                          std::strerror(errno));
}

// ---- UpstreamRouterListener ----

UpstreamRouterListener::UpstreamRouterListener(std::string interface, Clock& clock,
                                               SocketObserver& observer)
    : interface_(std::move(interface)),
      ifindex_(interface_index(interface_)),
      observer_(observer),
      socket_(open_nd_socket(interface_, ifindex_, {kRouterAdvertisement, kNeighborAdvertisement})),
      mac_(ethernet_address(socket_.get(), interface_)),
      solicitor_(clock),
      probe_(clock) {
  solicitor_.start();
}

std::vector<UpstreamRouter> UpstreamRouterListener::read() {
  std::vector<UpstreamRouter> heard;
  std::vector<uint8_t> buffer(kMaxPacket);
  for (int i = 0; i < kMaxPacketsPerRead; ++i) {
    const auto packet = receive(socket_.get(), buffer, "receiving on " + interface_);
    if (!packet) break;
    if (!packet->icmp.empty() && packet->icmp[0] == kNeighborAdvertisement) {
      heard_neighbor(packet->icmp, packet->source, packet->hop_limit);
      continue;
    }
    const auto result = validate_advertisement(packet->icmp, packet->source, packet->hop_limit);
    if (const auto* error = std::get_if<ParseError>(&result)) {
      ++dropped_;
      observer_.dropped("router advertisement from " + packet->source.str() + " on " + interface_ +
                        ": " + error->reason);
      continue;
    }
    const auto& ra = std::get<RouterAdvertisement>(result);
    UpstreamRouter router{packet->source, ra.router_lifetime, ra.mtu};
    // Below IPv6's minimum link MTU (RFC 8200 §5) it cannot be right; hosts ignore it too.
    if (router.mtu && *router.mtu < 1280) router.mtu.reset();
    if (router.router_lifetime != 0) solicitor_.advertisement_heard();
    routers_[router.link_local] = router;
    const auto same = std::find_if(heard.begin(), heard.end(), [&](const UpstreamRouter& r) {
      return r.link_local == router.link_local;
    });
    if (same != heard.end())
      *same = router;
    else
      heard.push_back(router);
  }
  return heard;
}

// RFC 4861 §7.1.2's checks; only the watched router's solicited answers count.
void UpstreamRouterListener::heard_neighbor(std::span<const uint8_t> icmp, const IpAddress& source,
                                            uint8_t hop_limit) {
  const auto result = parse_neighbor_advertisement(icmp);
  std::string problem;
  if (const auto* error = std::get_if<ParseError>(&result))
    problem = error->reason;
  else if (hop_limit != kNdHopLimit)
    problem = "hop limit " + std::to_string(hop_limit) + " instead of 255";
  if (!problem.empty()) {
    ++dropped_;
    observer_.dropped("neighbor advertisement from " + source.str() + " on " + interface_ + ": " +
                      problem);
    return;
  }
  const auto& na = std::get<NeighborAdvertisement>(result);
  if (na.solicited && probe_.target() == na.target) probe_.answered(na.target);
}

std::optional<uint64_t> UpstreamRouterListener::next_deadline_us() const {
  const auto solicit = solicitor_.next_deadline_us();
  const auto probe = probe_.next_deadline_us();
  if (solicit && probe) return std::min(*solicit, *probe);
  return solicit ? solicit : probe;
}

void UpstreamRouterListener::on_timer() {
  if (solicitor_.on_timer()) send_solicitation();
  if (probe_.on_timer()) send_probe();
}

void UpstreamRouterListener::send_probe() {
  const auto probe = encode(NeighborSolicitation{*probe_.target(), mac_});
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  std::memcpy(&to.sin6_addr, probe_.target()->data(), 16);
  to.sin6_scope_id = static_cast<uint32_t>(ifindex_);
  // A failure is an unanswered probe: the tap without a usable address cannot carry traffic either.
  if (::sendto(socket_.get(), probe.data(), probe.size(), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof to) < 0)
    observer_.send_failed("probing the upstream router " + probe_.target()->str() + " on " +
                          interface_ + ": " + std::strerror(errno));
}

void UpstreamRouterListener::send_solicitation() {
  const auto with_address = encode(RouterSolicitation{mac_});
  const sockaddr_in6 to = link_scoped(kAllRouters, ifindex_);
  int error = 0;
  if (::sendto(socket_.get(), with_address.data(), with_address.size(), 0,
               reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0)
    error = errno;
  // No usable source address yet: from ::, and so without our link-layer address (§4.1).
  if (error == EADDRNOTAVAIL) error = send_from_unspecified(ifindex_, encode(RouterSolicitation{}));
  if (error != 0)
    observer_.send_failed("sending a router solicitation on " + interface_ + ": " +
                          std::strerror(error));
}

}  // namespace l2wg::lan
