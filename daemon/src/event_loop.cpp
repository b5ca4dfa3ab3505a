#include "l2wg/daemon/event_loop.h"

#include <sys/epoll.h>

#include <array>
#include <cerrno>

#include "l2wg/deadline_timer.h"
#include "l2wg/error.h"

namespace l2wg {

class EpollLoop::EpollTimer final : public EventLoop::Timer {
 public:
  EpollTimer(EpollLoop& loop, Handler on_deadline)
      : timer_("a deadline on the daemon's event loop"),
        registration_(loop.add(timer_.fd(), [this, handler = std::move(on_deadline)] {
          timer_.acknowledge();
          handler();
        })) {}
  void arm(std::optional<uint64_t> deadline_us) override { timer_.arm(deadline_us); }

 private:
  DeadlineTimer timer_;
  Registration registration_;  // after timer_: unregistered before its fd closes
};

EpollLoop::EpollLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) throw_errno("epoll_create1", errno, ErrorCode::Io);
}

EpollLoop::~EpollLoop() = default;

EventLoop::Registration EpollLoop::add(int fd, Handler on_readable) {
  const uint64_t id = next_id_++;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
    throw_errno("watching fd " + std::to_string(fd), errno, ErrorCode::Io);
  handlers_.emplace(id, std::make_shared<Handler>(std::move(on_readable)));
  return Registration([this, fd, id] {
    // Fails only if the fd was closed first, which unregistered it already.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(id);
  });
}

std::unique_ptr<EventLoop::Timer> EpollLoop::add_timer(Handler on_deadline) {
  return std::make_unique<EpollTimer>(*this, std::move(on_deadline));
}

void EpollLoop::dispatch() {
  std::array<epoll_event, 64> ready{};
  const int count = ::epoll_wait(epoll_.get(), ready.data(), static_cast<int>(ready.size()), 0);
  if (count < 0) {
    if (errno == EINTR) return;
    throw_errno("epoll_wait", errno, ErrorCode::Io);
  }
  for (int i = 0; i < count; ++i) {
    // A handler before this one may have dropped the registration (a tunnel deleted).
    const auto it = handlers_.find(ready[i].data.u64);
    if (it == handlers_.end()) continue;
    const auto handler = it->second;
    (*handler)();
  }
}

}  // namespace l2wg
