#include "l2wg/bridge/datapath.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "l2wg/bridge/gre.h"
#include "l2wg/bridge/mss_clamp.h"
#include "l2wg/bridge/offload.h"
#include "l2wg/error.h"
#include "l2wg/fd.h"

namespace l2wg::dp {
namespace {

constexpr size_t kBatch = 64;  // frames moved per readiness event and direction
// The largest IP packet, hence the largest TSO frame, with room for the vnet header, the
// Ethernet header and tags.
constexpr size_t kSlot = 65536 + 256;
constexpr size_t kMaxGreHeader = 8;  // base header and key
// GRE packets queued for one sendmmsg: a batch of TSO frames is cut into many more.
constexpr size_t kMaxMessages = 512;
constexpr unsigned kTapOffloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
constexpr int kSocketBuffer = 8 << 20;  // absorbs bursts while WireGuard encrypts
constexpr size_t kIpv4MinimumHeader = 20;

struct AtomicCounters {
  std::atomic<uint64_t> frames_out{0};
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> malformed_in{0};
  std::atomic<uint64_t> wrong_key_in{0};
  std::atomic<uint64_t> send_errors{0};
  std::atomic<uint64_t> mss_clamped{0};
  std::atomic<uint64_t> segmented_out{0};
  std::atomic<uint64_t> coalesced_in{0};
};

struct Tunnel;

// What an epoll event points at: one of a tunnel's two fds.
struct Handle {
  Tunnel* tunnel;
  bool is_tap;
};

struct Tunnel {
  // A persistent TAP outlives us: a later reader without IFF_VNET_HDR must not get TSO frames.
  ~Tunnel() {
    if (tap) ::ioctl(tap.get(), TUNSETOFFLOAD, 0u);
  }

  TunnelSpec spec;
  UniqueFd tap;
  UniqueFd socket;
  std::array<uint8_t, kMaxGreHeader> gre_header{};
  size_t gre_header_size = 0;
  AtomicCounters counters;
  bool broken = false;  // worker-only: the TAP went away, the fds are out of the epoll set
  Handle tap_handle{this, true};
  Handle socket_handle{this, false};
};

std::string describe(const TunnelSpec& spec) {
  return "tunnel " + spec.tap_name + " (" + spec.local.str() + " -> " + spec.remote.str() + " on " +
         spec.wireguard + ")";
}

void set_int_option(int fd, int level, int name, int value, const std::string& what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) throw_errno(what, errno);
}

// Root may exceed net.core.[rw]mem_max; others get what the sysctl allows.
void set_buffer(int fd, int force_name, int name, const std::string& what) {
  if (::setsockopt(fd, SOL_SOCKET, force_name, &kSocketBuffer, sizeof kSocketBuffer) == 0) return;
  set_int_option(fd, SOL_SOCKET, name, kSocketBuffer, what);
}

socklen_t to_sockaddr(const IpAddress& address, uint32_t scope_id, sockaddr_storage& out) {
  out = {};
  if (address.is_v4()) {
    auto& sin = reinterpret_cast<sockaddr_in&>(out);
    sin.sin_family = AF_INET;
    std::memcpy(&sin.sin_addr, address.data(), 4);
    return sizeof sin;
  }
  auto& sin6 = reinterpret_cast<sockaddr_in6&>(out);
  sin6.sin6_family = AF_INET6;
  std::memcpy(&sin6.sin6_addr, address.data(), 16);
  if (address.is_link_local()) sin6.sin6_scope_id = scope_id;
  return sizeof sin6;
}

// The TAP, created persistent when missing so that a restarted daemon attaches to the same one.
// `created` tells the caller whether a failure must remove it again.
UniqueFd open_tap(const std::string& name, bool& created) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    throw Error(ErrorCode::InvalidArgument, "TAP name '" + name + "' must have 1 to " +
                                                std::to_string(IFNAMSIZ - 1) + " characters");
  }
  created = ::if_nametoindex(name.c_str()) == 0;
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    throw_errno("cannot open /dev/net/tun for TAP " + name, errno,
                errno == ENOENT || errno == ENODEV ? ErrorCode::Unsupported : ErrorCode::Kernel);
  }
  ifreq request{};
  // Every frame comes with a virtio-net header (offload::VnetHeader), which lets the kernel hand
  // over TSO frames and leave checksums open: far fewer reads and writes than one per segment.
  request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::memcpy(request.ifr_name, name.data(), name.size());
  if (::ioctl(fd.get(), TUNSETIFF, &request) != 0) {
    const int err = errno;
    if (err == EBUSY) {
      throw Error(ErrorCode::Exists, "TAP " + name + " is already in use by another process");
    }
    if (err == EINVAL && !created) {
      throw Error(ErrorCode::Exists, "interface " + name + " exists and is not a TAP");
    }
    throw_errno("cannot create TAP " + name, err);
  }
  if (::ioctl(fd.get(), TUNSETPERSIST, 1) != 0) {
    const int err = errno;
    throw_errno("cannot make TAP " + name + " persistent", err);
  }
  if (::ioctl(fd.get(), TUNSETOFFLOAD, kTapOffloads) != 0) {
    // Then the kernel segments and checksums for us, as without a vnet header.
    spdlog::info("TAP {}: no TSO or checksum offload ({})", name, std::strerror(errno));
  }
  return fd;
}

UniqueFd open_gre_socket(const TunnelSpec& spec) {
  if (spec.local.family() != spec.remote.family()) {
    throw Error(ErrorCode::InvalidArgument, describe(spec) +
                                                ": the local and remote addresses must be of "
                                                "the same family");
  }
  const bool v4 = spec.remote.is_v4();
  UniqueFd fd(::socket(spec.remote.af(), SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_GRE));
  if (!fd) throw_errno("cannot open a raw GRE socket for " + describe(spec), errno);

  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, spec.wireguard.c_str(),
                   static_cast<socklen_t>(spec.wireguard.size())) != 0) {
    if (errno == ENODEV) {
      throw Error(ErrorCode::NotFound, "WireGuard interface " + spec.wireguard +
                                           " does not exist (" + describe(spec) + ")");
    }
    throw_errno("cannot bind the GRE socket to " + spec.wireguard, errno);
  }
  set_buffer(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF, "cannot size the GRE send buffer");
  set_buffer(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF, "cannot size the GRE receive buffer");
  // With fragmentation the kernel splits oversized outer packets itself (IPv4 with DF clear);
  // without, they fail with EMSGSIZE and are counted.
  if (v4) {
    set_int_option(fd.get(), IPPROTO_IP, IP_MTU_DISCOVER,
                   spec.fragment ? IP_PMTUDISC_DONT : IP_PMTUDISC_DO,
                   "cannot set path MTU discovery on the GRE socket");
  } else {
    set_int_option(fd.get(), IPPROTO_IPV6, IPV6_MTU_DISCOVER,
                   spec.fragment ? IPV6_PMTUDISC_DONT : IPV6_PMTUDISC_DO,
                   "cannot set path MTU discovery on the GRE socket");
    set_int_option(fd.get(), IPPROTO_IPV6, IPV6_DONTFRAG, spec.fragment ? 0 : 1,
                   "cannot set IPV6_DONTFRAG on the GRE socket");
  }

  const uint32_t scope_id = ::if_nametoindex(spec.wireguard.c_str());
  sockaddr_storage address;
  socklen_t length = to_sockaddr(spec.local, scope_id, address);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
    if (errno == EADDRNOTAVAIL) {
      throw Error(ErrorCode::InvalidArgument, "local address " + spec.local.str() +
                                                  " is not assigned on this host (" +
                                                  describe(spec) + ")");
    }
    throw_errno("cannot bind the GRE socket to " + spec.local.str(), errno);
  }
  // A connected raw socket only receives GRE from that peer.
  length = to_sockaddr(spec.remote, scope_id, address);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
    throw_errno("cannot connect the GRE socket to " + spec.remote.str(), errno);
  }
  return fd;
}

std::string tap_fd_name(const TunnelSpec& spec) {
  return "tap-" + spec.tap_name;
}
// The peer is in the name: a raw socket cannot tell whom it is connected to (getpeername says
// ENOTCONN), and one connected to a peer since changed must not be taken back. FDNAME allows no
// ':', so IPv6 addresses are written with '_'.
std::string socket_fd_name(const TunnelSpec& spec) {
  std::string remote = spec.remote.str();
  std::replace(remote.begin(), remote.end(), ':', '_');
  return "gre-" + spec.tap_name + "-" + remote;
}

// A TAP fd a previous run kept, if it is still this tunnel's: attached to the TAP of that name with
// the flags open_tap() sets. Offloads are set again (a stopping run clears them).
UniqueFd adopt_tap(UniqueFd fd, const TunnelSpec& spec) {
  ifreq request{};
  if (!fd || ::ioctl(fd.get(), TUNGETIFF, &request) != 0 || spec.tap_name != request.ifr_name ||
      (request.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) !=
          (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) {
    if (fd)
      spdlog::info("{}: the kept TAP fd is not its TAP any more; opening it afresh",
                   describe(spec));
    return {};
  }
  if (::ioctl(fd.get(), TUNSETOFFLOAD, kTapOffloads) != 0)
    spdlog::info("TAP {}: no TSO or checksum offload ({})", spec.tap_name, std::strerror(errno));
  return fd;
}

bool bound_to(int fd, const IpAddress& expected) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
  if (address.ss_family == AF_INET && expected.is_v4())
    return std::memcmp(&reinterpret_cast<sockaddr_in&>(address).sin_addr, expected.data(), 4) == 0;
  if (address.ss_family == AF_INET6 && !expected.is_v4())
    return std::memcmp(&reinterpret_cast<sockaddr_in6&>(address).sin6_addr, expected.data(), 16) ==
           0;
  return false;
}

// A GRE socket a previous run kept (under a name with the peer's address), if it is still bound to
// this tunnel's local address and WireGuard interface (one made again has another index: the
// socket is stale).
UniqueFd adopt_socket(UniqueFd fd, const TunnelSpec& spec) {
  if (!fd) return {};
  char device[IFNAMSIZ] = {};
  socklen_t length = sizeof device;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, device, &length) != 0 ||
      spec.wireguard != device || !bound_to(fd.get(), spec.local)) {
    spdlog::info("{}: the kept GRE socket is not its socket any more; opening one afresh",
                 describe(spec));
    return {};
  }
  return fd;
}

class Worker {
 public:
  explicit Worker(unsigned index)
      : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        wakeup_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
        tx_frames_(std::make_unique_for_overwrite<uint8_t[]>(kBatch * kSlot)),
        tx_headers_(std::make_unique_for_overwrite<uint8_t[]>(kMaxMessages * offload::kMaxHeader)),
        rx_packets_(std::make_unique_for_overwrite<uint8_t[]>(kBatch * kSlot)) {
    if (!epoll_) throw_errno("cannot create an epoll instance for a datapath worker", errno);
    if (!wakeup_) throw_errno("cannot create an eventfd for a datapath worker", errno);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = nullptr;  // the wakeup
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wakeup_.get(), &event) != 0) {
      throw_errno("cannot watch a datapath worker's eventfd", errno);
    }
    for (size_t i = 0; i < kBatch; ++i) rx_iov_[i] = {rx_packets_.get() + i * kSlot, kSlot};
    thread_ = std::thread([this, index] {
      const std::string name = "l2wg-dp" + std::to_string(index);
      ::pthread_setname_np(::pthread_self(), name.c_str());
      run();
    });
  }

  ~Worker() {
    stop_.store(true);
    wake();
    thread_.join();
  }

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void attach(Tunnel& tunnel) {
    watch(tunnel.tap.get(), &tunnel.tap_handle, "TAP " + tunnel.spec.tap_name);
    try {
      watch(tunnel.socket.get(), &tunnel.socket_handle,
            "the GRE socket of " + describe(tunnel.spec));
    } catch (...) {
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, tunnel.tap.get(), nullptr);
      throw;
    }
  }

  // Returns once the worker can no longer touch the tunnel, so its fds may be closed.
  void detach(Tunnel& tunnel) {
    // ENOENT: the worker already dropped a tunnel whose TAP went away.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, tunnel.tap.get(), nullptr);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, tunnel.socket.get(), nullptr);
    // Events already taken from epoll may still name the tunnel; the worker acknowledges only
    // after finishing its current batch, and later batches cannot contain removed fds.
    std::unique_lock lock(sync_mutex_);
    const uint64_t ticket = ++sync_requested_;
    wake();
    sync_done_cv_.wait(lock, [&] { return sync_done_ >= ticket; });
  }

 private:
  void watch(int fd, Handle* handle, const std::string& what) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = handle;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      throw_errno("cannot watch " + what, errno);
    }
  }

  void wake() {
    const uint64_t one = 1;
    // Only fails when the counter is saturated, in which case the worker is awake anyway.
    [[maybe_unused]] ssize_t written = ::write(wakeup_.get(), &one, sizeof one);
  }

  void run() {
    std::array<epoll_event, kBatch> events;
    while (!stop_.load()) {
      const int ready = ::epoll_wait(epoll_.get(), events.data(), events.size(), -1);
      if (ready < 0) continue;  // EINTR: nothing else can fail with a valid epoll fd and buffer
      bool woken = false;
      for (int i = 0; i < ready; ++i) {
        auto* handle = static_cast<Handle*>(events[i].data.ptr);
        if (!handle) {
          woken = true;
          continue;
        }
        Tunnel& tunnel = *handle->tunnel;
        if (tunnel.broken) continue;
        if (handle->is_tap) {
          forward_from_tap(tunnel);
        } else {
          forward_from_socket(tunnel);
        }
      }
      if (woken) acknowledge();
    }
  }

  void acknowledge() {
    uint64_t count;
    [[maybe_unused]] ssize_t drained = ::read(wakeup_.get(), &count, sizeof count);
    {
      std::lock_guard lock(sync_mutex_);
      sync_done_ = sync_requested_;
    }
    sync_done_cv_.notify_all();
  }

  // The TAP is gone (deleted underneath us): stop polling it rather than spin on its error.
  void drop_broken(Tunnel& tunnel, int err) {
    tunnel.broken = true;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, tunnel.tap.get(), nullptr);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, tunnel.socket.get(), nullptr);
    spdlog::warn("{}: TAP failed ({}), the tunnel stops forwarding", describe(tunnel.spec),
                 std::strerror(err));
  }

  // What one batch in either direction adds to a tunnel's counters.
  struct Tally {
    uint64_t frames = 0, bytes = 0, errors = 0, clamped = 0, offloaded = 0;
    uint64_t malformed = 0, wrong_key = 0;
  };

  void forward_from_tap(Tunnel& tunnel) {
    Tally tally;
    size_t queued = 0;
    for (size_t reads = 0; reads < kBatch;) {
      uint8_t* slot = tx_frames_.get() + reads * kSlot;
      const ssize_t length = ::read(tunnel.tap.get(), slot, kSlot);
      if (length < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) drop_broken(tunnel, errno);
        break;
      }
      ++reads;
      if (static_cast<size_t>(length) < offload::VnetHeader::kSize) {
        ++tally.errors;
        continue;
      }
      const auto vnet = offload::VnetHeader::parse(
          std::span<const uint8_t, offload::VnetHeader::kSize>(slot, offload::VnetHeader::kSize));
      const std::span<uint8_t> frame(slot + offload::VnetHeader::kSize,
                                     static_cast<size_t>(length) - offload::VnetHeader::kSize);
      if (vnet.gso_type != offload::VnetHeader::kGsoNone) {
        queued = queue_segments(tunnel, vnet, frame, queued, tally);
        continue;
      }
      // The kernel left the checksum to us; MSS clamping then updates a complete one.
      if (offload::complete_checksum(vnet, frame)) {
        ++tally.errors;
        continue;
      }
      if (tunnel.spec.mss_clamp_mtu &&
          mss::clamp(frame, *tunnel.spec.mss_clamp_mtu) == mss::Outcome::Clamped)
        ++tally.clamped;
      if (queued == kMaxMessages) queued = send_queued(tunnel, queued, tally);
      queue(tunnel, queued++, {}, frame);
    }
    send_queued(tunnel, queued, tally);
    add(tunnel.counters.frames_out, tally.frames);
    add(tunnel.counters.bytes_out, tally.bytes);
    add(tunnel.counters.send_errors, tally.errors);
    add(tunnel.counters.mss_clamped, tally.clamped);
    add(tunnel.counters.segmented_out, tally.offloaded);
  }

  // Queues the segments of a TSO frame, sending whenever the queue is full; returns its length.
  size_t queue_segments(Tunnel& tunnel, const offload::VnetHeader& vnet,
                        std::span<const uint8_t> frame, size_t queued, Tally& tally) {
    std::string_view why;
    const auto segmenter = offload::Segmenter::prepare(vnet, frame, &why);
    if (!segmenter) {
      // The kernel never sends such frames; should one come, it is counted, not sent.
      spdlog::debug("{}: a TSO frame from the TAP dropped: {}", describe(tunnel.spec), why);
      ++tally.errors;
      return queued;
    }
    ++tally.offloaded;
    for (size_t i = 0; i < segmenter->count(); ++i) {
      if (queued == kMaxMessages) queued = send_queued(tunnel, queued, tally);
      const std::span<uint8_t> header(tx_headers_.get() + queued * offload::kMaxHeader,
                                      segmenter->header_size());
      const auto payload = segmenter->segment(i, header);
      queue(tunnel, queued++, header, payload);
    }
    return queued;
  }

  // Message `index` carries the GRE header, then `head` (if any) and `body`: one frame.
  void queue(const Tunnel& tunnel, size_t index, std::span<const uint8_t> head,
             std::span<const uint8_t> body) {
    auto& iov = tx_iov_[index];
    iov[0] = {const_cast<uint8_t*>(tunnel.gre_header.data()), tunnel.gre_header_size};
    iov[1] = {const_cast<uint8_t*>(head.data()), head.size()};
    iov[2] = {const_cast<uint8_t*>(body.data()), body.size()};
    tx_messages_[index].msg_hdr = {};
    tx_messages_[index].msg_hdr.msg_iov = iov.data();
    tx_messages_[index].msg_hdr.msg_iovlen = iov.size();
  }

  // Sends the first `count` queued messages; returns 0, the queue's new length.
  size_t send_queued(Tunnel& tunnel, size_t count, Tally& tally) {
    size_t sent = 0;
    bool retried = false;
    while (sent < count) {
      const int result = ::sendmmsg(tunnel.socket.get(), &tx_messages_[sent],
                                    static_cast<unsigned>(count - sent), 0);
      if (result > 0) {
        for (int i = 0; i < result; ++i)
          tally.bytes += tx_iov_[sent + i][1].iov_len + tx_iov_[sent + i][2].iov_len;
        tally.frames += static_cast<uint64_t>(result);
        sent += static_cast<size_t>(result);
        retried = false;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN) {
        // The send buffer is full: drop the rest, as a full qdisc would, instead of stalling
        // every other tunnel of this worker.
        tally.errors += count - sent;
        break;
      } else if (!retried && errno != EMSGSIZE) {
        // An ICMP error about an earlier packet (e.g. the peer has no GRE endpoint yet) is
        // reported once, by failing the next send: that frame deserves a second try.
        retried = true;
      } else {
        // This frame itself cannot go (too big without fragmentation, no route, the
        // WireGuard device down): skip it.
        ++tally.errors;
        ++sent;
        retried = false;
      }
    }
    return 0;
  }

  void forward_from_socket(Tunnel& tunnel) {
    for (size_t i = 0; i < kBatch; ++i) {
      rx_messages_[i].msg_hdr = {};
      rx_messages_[i].msg_hdr.msg_iov = &rx_iov_[i];
      rx_messages_[i].msg_hdr.msg_iovlen = 1;
    }
    const int received = ::recvmmsg(tunnel.socket.get(), rx_messages_.data(), kBatch, 0, nullptr);
    // EAGAIN, EINTR, or a pending ICMP error now cleared: the next readiness event retries.
    if (received <= 0) return;

    const bool v4 = tunnel.spec.remote.is_v4();
    Tally tally;
    coalescer_.clear(std::min(tunnel.spec.tap_mtu, tunnel.spec.mss_clamp_mtu.value_or(UINT32_MAX)));
    for (int i = 0; i < received; ++i) {
      const mmsghdr& message = rx_messages_[i];
      std::span<uint8_t> packet(rx_packets_.get() + i * kSlot, message.msg_len);
      if (message.msg_hdr.msg_flags & MSG_TRUNC) {
        ++tally.malformed;
        continue;
      }
      if (v4) {  // IPv4 raw sockets deliver the IP header, IPv6 ones do not
        const size_t header = packet.empty() ? 0 : size_t{packet[0] & 0x0fu} * 4;
        if (header < kIpv4MinimumHeader || header > packet.size()) {
          ++tally.malformed;
          continue;
        }
        packet = packet.subspan(header);
      }
      const auto parsed = gre::parse_header(packet);
      if (!parsed || parsed->header.protocol != gre::kTransparentEthernetBridging ||
          packet.size() - parsed->payload_offset < gre::kEthernetHeader) {
        ++tally.malformed;
        continue;
      }
      if (parsed->header.key != tunnel.spec.key) {
        ++tally.wrong_key;
        continue;
      }
      const auto frame = packet.subspan(parsed->payload_offset);
      if (tunnel.spec.mss_clamp_mtu &&
          mss::clamp(frame, *tunnel.spec.mss_clamp_mtu) == mss::Outcome::Clamped)
        ++tally.clamped;
      coalescer_.add(frame);
    }
    std::array<iovec, kBatch + 1> iov;
    for (const auto& write : coalescer_.finish()) {
      std::array<uint8_t, offload::VnetHeader::kSize> vnet;
      write.vnet.write(vnet);
      iov[0] = {vnet.data(), vnet.size()};
      size_t bytes = 0;
      for (size_t p = 0; p < write.pieces.size(); ++p) {
        iov[p + 1] = {const_cast<uint8_t*>(write.pieces[p].data()), write.pieces[p].size()};
        bytes += write.pieces[p].size();
      }
      // The TAP never blocks (O_NONBLOCK); a frame it refuses is dropped.
      if (::writev(tunnel.tap.get(), iov.data(), static_cast<int>(write.pieces.size() + 1)) < 0) {
        tally.errors += write.frames;
        continue;
      }
      tally.frames += write.frames;
      // As received: every merged segment had the headers of the first.
      tally.bytes += bytes + (write.frames - 1) * write.vnet.header_length;
      if (write.frames > 1) tally.offloaded += write.frames;
    }
    add(tunnel.counters.frames_in, tally.frames);
    add(tunnel.counters.bytes_in, tally.bytes);
    add(tunnel.counters.malformed_in, tally.malformed);
    add(tunnel.counters.wrong_key_in, tally.wrong_key);
    add(tunnel.counters.send_errors, tally.errors);
    add(tunnel.counters.mss_clamped, tally.clamped);
    add(tunnel.counters.coalesced_in, tally.offloaded);
  }

  static void add(std::atomic<uint64_t>& counter, uint64_t value) {
    if (value) counter.fetch_add(value, std::memory_order_relaxed);
  }

  UniqueFd epoll_;
  UniqueFd wakeup_;
  std::atomic<bool> stop_{false};
  std::mutex sync_mutex_;
  std::condition_variable sync_done_cv_;
  uint64_t sync_requested_ = 0;
  uint64_t sync_done_ = 0;

  // Per-worker buffers, allocated once: the hot path never allocates.
  std::unique_ptr<uint8_t[]> tx_frames_;
  std::unique_ptr<uint8_t[]> tx_headers_;  // the headers of segments cut from TSO frames
  std::unique_ptr<uint8_t[]> rx_packets_;
  std::array<std::array<iovec, 3>, kMaxMessages> tx_iov_{};  // GRE header, segment header, rest
  std::array<mmsghdr, kMaxMessages> tx_messages_{};
  std::array<iovec, kBatch> rx_iov_{};
  std::array<mmsghdr, kBatch> rx_messages_{};
  offload::Coalescer coalescer_{kBatch};
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace

struct Datapath::Impl {
  struct Entry {
    std::shared_ptr<Tunnel> tunnel;
    size_t worker;
  };

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<size_t> load;  // tunnels per worker
  mutable std::mutex mutex;
  std::map<TunnelId, Entry> tunnels;
  TunnelId next_id = 1;
  FdKeeper* keeper = nullptr;
};

Datapath::Datapath(unsigned workers, FdKeeper* keeper) : impl_(std::make_unique<Impl>()) {
  impl_->keeper = keeper;
  const unsigned count = std::max(workers, 1u);
  for (unsigned i = 0; i < count; ++i) impl_->workers.push_back(std::make_unique<Worker>(i));
  impl_->load.assign(count, 0);
}

Datapath::~Datapath() {
  // Joining the workers first means nobody polls the fds the tunnels then close.
  impl_->workers.clear();
}

Datapath::TunnelId Datapath::add(const TunnelSpec& spec) {
  auto tunnel = std::make_shared<Tunnel>();
  tunnel->spec = spec;
  tunnel->gre_header_size = gre::write_header(gre::Header{.key = spec.key}, tunnel->gre_header);

  bool created = false;
  FdKeeper* keeper = impl_->keeper;
  if (keeper) tunnel->tap = adopt_tap(keeper->take(tap_fd_name(spec)), spec);
  const bool tap_adopted = bool(tunnel->tap);
  if (!tunnel->tap) tunnel->tap = open_tap(spec.tap_name, created);
  try {
    if (keeper) tunnel->socket = adopt_socket(keeper->take(socket_fd_name(spec)), spec);
    const bool socket_adopted = bool(tunnel->socket);
    if (!tunnel->socket) tunnel->socket = open_gre_socket(spec);
    if (keeper) {
      // A new fd replaces whatever stale one the keeper still holds under the name.
      for (const auto& [name, fd, adopted] :
           {std::tuple{tap_fd_name(spec), tunnel->tap.get(), tap_adopted},
            std::tuple{socket_fd_name(spec), tunnel->socket.get(), socket_adopted}}) {
        if (!adopted) {
          keeper->forget(name);
          keeper->keep(name, fd);
        }
      }
    }
    std::lock_guard lock(impl_->mutex);
    const size_t worker =
        std::min_element(impl_->load.begin(), impl_->load.end()) - impl_->load.begin();
    const TunnelId id = impl_->next_id++;
    impl_->tunnels.emplace(id, Impl::Entry{tunnel, worker});
    try {
      impl_->workers[worker]->attach(*tunnel);
    } catch (...) {
      impl_->tunnels.erase(id);
      throw;
    }
    ++impl_->load[worker];
    return id;
  } catch (...) {
    if (keeper) {
      keeper->forget(tap_fd_name(spec));
      keeper->forget(socket_fd_name(spec));
    }
    // A TAP that only exists because of this call goes away with its last fd once not persistent.
    if (created) ::ioctl(tunnel->tap.get(), TUNSETPERSIST, 0);
    throw;
  }
}

void Datapath::remove(TunnelId id) {
  Impl::Entry entry;
  {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->tunnels.find(id);
    if (it == impl_->tunnels.end()) {
      throw Error(ErrorCode::NotFound, "no datapath tunnel with id " + std::to_string(id));
    }
    entry = std::move(it->second);
    impl_->tunnels.erase(it);
    --impl_->load[entry.worker];
  }
  impl_->workers[entry.worker]->detach(*entry.tunnel);
  if (impl_->keeper) {
    impl_->keeper->forget(tap_fd_name(entry.tunnel->spec));
    impl_->keeper->forget(socket_fd_name(entry.tunnel->spec));
  }
  // `entry` goes out of scope here and closes the fds; the TAP persists.
}

Counters Datapath::counters(TunnelId id) const {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->tunnels.find(id);
  if (it == impl_->tunnels.end()) {
    throw Error(ErrorCode::NotFound, "no datapath tunnel with id " + std::to_string(id));
  }
  const AtomicCounters& c = it->second.tunnel->counters;
  constexpr auto relaxed = std::memory_order_relaxed;
  return Counters{.frames_out = c.frames_out.load(relaxed),
                  .frames_in = c.frames_in.load(relaxed),
                  .bytes_out = c.bytes_out.load(relaxed),
                  .bytes_in = c.bytes_in.load(relaxed),
                  .malformed_in = c.malformed_in.load(relaxed),
                  .wrong_key_in = c.wrong_key_in.load(relaxed),
                  .send_errors = c.send_errors.load(relaxed),
                  .mss_clamped = c.mss_clamped.load(relaxed),
                  .segmented_out = c.segmented_out.load(relaxed),
                  .coalesced_in = c.coalesced_in.load(relaxed)};
}

unsigned Datapath::workers() const {
  return static_cast<unsigned>(impl_->workers.size());
}

}  // namespace l2wg::dp
