#include "l2wg/dhcp6/session.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>

#include "l2wg/deadline_timer.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"
#include "l2wg/socket.h"
#include "link_local.h"

namespace l2wg::dhcp6 {

namespace {

constexpr uint16_t kClientPort = 546;
constexpr uint16_t kServerPort = 547;
// Datagrams read per handle(): a flood on the socket must not starve the timer and the other
// fds of the owner's loop (poll reports the socket readable again).
constexpr int kMaxDatagramsPerHandle = 64;

// The name becomes a file name in the state dir.
const std::string& checked_name(const std::string& name) {
  if (name.empty() || name.starts_with('.') || name.find('/') != std::string::npos)
    throw Error(
        ErrorCode::InvalidArgument,
        "DHCPv6 session name \"" + name + "\": must be non-empty, without '/' or a leading '.'");
  return name;
}

// UDP [::]:546 bound to the interface. The device is bound before the port, so each tunnel's
// session can have port 546 on its own interface.
UniqueFd open_client_socket(const std::string& interface, int ifindex) {
  UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd) throw_errno("DHCPv6 socket", errno, ErrorCode::Io);
  set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "DHCPv6 socket: IPV6_V6ONLY");
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, interface.data(),
                   static_cast<socklen_t>(interface.size())) != 0) {
    if (errno == ENODEV) throw Error(ErrorCode::NotFound, "no interface " + interface);
    throw_errno("DHCPv6 socket: binding to " + interface, errno, ErrorCode::Io);
  }
  set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex,
                    "DHCPv6 socket: IPV6_MULTICAST_IF");
  set_socket_option(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1,
                    "DHCPv6 socket: IPV6_MULTICAST_HOPS");
  sockaddr_in6 local{};
  local.sin6_family = AF_INET6;
  local.sin6_addr = in6addr_any;
  local.sin6_port = htons(kClientPort);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    if (errno == EADDRINUSE)
      throw Error(ErrorCode::Io, "UDP port 546 on " + interface +
                                     " is in use (another DHCPv6 client on that interface?)");
    throw_errno("binding UDP port 546 on " + interface, errno, ErrorCode::Io);
  }
  return fd;
}

class SocketTransport : public Transport {
 public:
  SocketTransport(int fd, int ifindex) : fd_(fd), ifindex_(ifindex) {}

  void send(std::span<const uint8_t> packet) override {
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    to.sin6_port = htons(kServerPort);
    ::inet_pton(AF_INET6, "ff02::1:2", &to.sin6_addr);  // All_DHCP_Relay_Agents_and_Servers
    to.sin6_scope_id = static_cast<uint32_t>(ifindex_);
    if (::sendto(fd_, packet.data(), packet.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to) < 0)
      throw_errno("sendto ff02::1:2", errno, ErrorCode::Io);
  }

 private:
  int fd_;
  int ifindex_;
};

}  // namespace

// The Impl is the client's observer: it writes the lease file before passing lease_changed on,
// and passes everything else on as it comes.
struct Session::Impl : Observer {
  Impl(SessionOptions session_options, Observer& owner_observer)
      : options(std::move(session_options)),
        owner(owner_observer),
        ifindex(interface_index(options.interface)),
        lease_file(lease_path(options.state_dir, checked_name(options.name))),
        socket(open_client_socket(options.interface, ifindex)),
        timer("the DHCPv6 client on " + options.interface),
        link_local(ifindex),
        clock(make_system_clock()),
        random(make_system_random()),
        transport(socket.get(), ifindex),
        client(ClientConfig{.client_id = load_or_create_duid(options.state_dir),
                            .iaid = iaid_for(options.name),
                            .prefix_length_hint = options.prefix_length_hint,
                            .rapid_commit = options.rapid_commit,
                            .initial_delay = options.initial_delay},
               load_lease(lease_file), *clock, transport, *random, *this) {}

  // What start() or link_changed() left for when the link-local address is usable.
  enum class Deferred { None, Start, LinkChanged };

  // Every call into the client goes through here: the timer follows the client's next deadline,
  // and a lease file that could not be written is reported once the client is done.
  template <typename Call>
  void drive(Call&& call) {
    try {
      call();
    } catch (...) {
      arm_timer();
      throw;
    }
    arm_timer();
    if (write_error) {
      const Error error = *write_error;
      write_error.reset();
      throw error;
    }
  }

  void arm_timer() { timer.arm(client.next_deadline_us()); }

  void run_deferred() {
    const Deferred action = std::exchange(deferred, Deferred::None);
    if (action == Deferred::Start) drive([&] { client.start(); });
    if (action == Deferred::LinkChanged) drive([&] { client.link_changed(); });
  }

  void receive() {
    for (int i = 0; i < kMaxDatagramsPerHandle; ++i) {
      alignas(8) uint8_t buffer[65536];  // any UDP payload
      sockaddr_in6 from{};
      socklen_t from_length = sizeof from;
      const ssize_t n = ::recvfrom(socket.get(), buffer, sizeof buffer, 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) throw_errno("receiving DHCPv6 on " + options.interface, errno, ErrorCode::Io);
      // Servers and relay agents answer from port 547; anything else is not DHCPv6 for us.
      if (from.sin6_family != AF_INET6 || ntohs(from.sin6_port) != kServerPort) {
        message_dropped("from UDP port " + std::to_string(ntohs(from.sin6_port)) + ", not 547");
        continue;
      }
      drive([&] { client.receive({buffer, static_cast<size_t>(n)}); });
    }
  }

  void on_timer() {
    timer.acknowledge();
    drive([&] { client.on_timer(); });
  }

  // Observer
  void prefix_added(const DelegatedPrefix& prefix, const Lease& lease) override {
    owner.prefix_added(prefix, lease);
  }
  void prefix_changed(const DelegatedPrefix& prefix, const Lease& lease) override {
    owner.prefix_changed(prefix, lease);
  }
  void prefix_lost(const IpPrefix& prefix, std::string_view reason) override {
    owner.prefix_lost(prefix, reason);
  }
  void lease_changed(const std::optional<Lease>& lease) override {
    // Not thrown from here: that would unwind through the client in the middle of a change.
    try {
      save_lease(lease_file, lease);
    } catch (const Error& e) {
      write_error = e;
    }
    owner.lease_changed(lease);
  }
  void state_changed(State state) override { owner.state_changed(state); }
  void message_sent(MessageType type, uint32_t transaction_id) override {
    owner.message_sent(type, transaction_id);
  }
  void message_received(MessageType type, uint32_t transaction_id) override {
    owner.message_received(type, transaction_id);
  }
  void message_dropped(std::string_view reason) override { owner.message_dropped(reason); }

  SessionOptions options;
  Observer& owner;
  int ifindex;
  std::filesystem::path lease_file;
  UniqueFd socket;
  DeadlineTimer timer;
  LinkLocalWatcher link_local;
  std::unique_ptr<Clock> clock;
  std::unique_ptr<Random> random;
  SocketTransport transport;
  Client client;
  Deferred deferred = Deferred::None;
  std::optional<Error> write_error;
};

Session::Session(SessionOptions options, Observer& observer)
    : impl_(std::make_unique<Impl>(std::move(options), observer)) {}

Session::~Session() {
  try {
    impl_->client.stop();
  } catch (...) {  // a destructor must not throw; stop() keeps the lease, nothing to write
  }
}

std::vector<int> Session::fds() const {
  return {impl_->socket.get(), impl_->timer.fd(), impl_->link_local.fd()};
}

void Session::handle(int fd) {
  if (fd == impl_->socket.get()) {
    impl_->receive();
  } else if (fd == impl_->timer.fd()) {
    impl_->on_timer();
  } else if (fd == impl_->link_local.fd()) {
    impl_->link_local.handle();
    if (impl_->link_local.ready()) impl_->run_deferred();
  } else {
    throw Error(ErrorCode::InvalidArgument, "fd " + std::to_string(fd) + " is not the session's");
  }
}

// start() and link_changed() wait for a usable link-local address: sent from a tentative one, the
// first Solicit or Rebind would fail and only go out again a whole retransmission time later.
void Session::start() {
  impl_->link_local.handle();  // what the kernel already queued: the owner may be ahead of us
  if (impl_->link_local.ready())
    impl_->drive([&] { impl_->client.start(); });
  else
    impl_->deferred = Impl::Deferred::Start;
}

void Session::stop() {
  impl_->deferred = Impl::Deferred::None;
  impl_->drive([&] { impl_->client.stop(); });
}

void Session::renew() {
  if (impl_->deferred != Impl::Deferred::None) return;  // it runs as soon as the link allows
  impl_->drive([&] { impl_->client.renew(); });
}

void Session::release() {
  impl_->deferred = Impl::Deferred::None;
  impl_->drive([&] { impl_->client.release(); });
}

void Session::link_changed() {
  if (impl_->deferred == Impl::Deferred::Start) return;  // not started yet: start() covers it
  impl_->link_local.handle();  // e.g. the old address's removal, if the owner saw the link first
  if (impl_->link_local.ready())
    impl_->drive([&] { impl_->client.link_changed(); });
  else
    impl_->deferred = Impl::Deferred::LinkChanged;
}

bool Session::waiting_for_link_local() const {
  return impl_->deferred != Impl::Deferred::None;
}

const Client& Session::client() const {
  return impl_->client;
}

}  // namespace l2wg::dhcp6
