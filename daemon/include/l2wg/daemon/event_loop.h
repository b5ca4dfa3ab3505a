// The daemon's one event loop, as its parts see it: a part registers each fd it owns with a
// handler, and each deadline with a timer, and keeps the registration as long as it wants to be
// called (RAII). Nobody rebuilds fd lists or scans owners to find whose fd is readable.
// TunnelManager and RoutedTunnel take the interface, so the tests drive them with a fake loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "l2wg/fd.h"

namespace l2wg {

class EventLoop {
 public:
  // Called while registered; a handler may drop its own registration, or any other.
  using Handler = std::function<void()>;

  // Unregisters on destruction. Move-only.
  class Registration {
   public:
    Registration() = default;
    explicit Registration(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
    Registration(Registration&& other) noexcept : cancel_(std::exchange(other.cancel_, {})) {}
    Registration& operator=(Registration&& other) noexcept {
      if (this != &other) {
        reset();
        cancel_ = std::exchange(other.cancel_, {});
      }
      return *this;
    }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration() { reset(); }
    void reset() {
      if (auto cancel = std::exchange(cancel_, {})) cancel();
    }

   private:
    std::function<void()> cancel_;
  };

  // A deadline on the monotonic clock (Clock::monotonic_us). Unregisters on destruction.
  class Timer {
   public:
    virtual ~Timer() = default;
    // Calls the handler once at `deadline_us`, or never (nullopt); re-arming moves the deadline.
    virtual void arm(std::optional<uint64_t> deadline_us) = 0;
  };

  virtual ~EventLoop() = default;
  // `on_readable` runs whenever `fd` is readable, until the registration goes. The fd must outlive
  // the registration.
  [[nodiscard]] virtual Registration add(int fd, Handler on_readable) = 0;
  [[nodiscard]] virtual std::unique_ptr<Timer> add_timer(Handler on_deadline) = 0;
};

// The real one: epoll, with a timerfd per timer. Its own fd becomes readable when a handler is
// due, so the daemon's main loop polls it beside the bus and then calls dispatch().
class EpollLoop final : public EventLoop {
 public:
  EpollLoop();  // throws l2wg::Error(Io)
  ~EpollLoop() override;

  Registration add(int fd, Handler on_readable) override;
  std::unique_ptr<Timer> add_timer(Handler on_deadline) override;

  int fd() const { return epoll_.get(); }
  // Runs the handlers of what is ready now, without waiting.
  void dispatch();
  size_t registrations() const { return handlers_.size(); }

 private:
  class EpollTimer;
  UniqueFd epoll_;
  uint64_t next_id_ = 1;  // never reused: an event for a dropped registration finds nothing
  // Shared, so that a handler that drops its own registration finishes running.
  std::unordered_map<uint64_t, std::shared_ptr<Handler>> handlers_;
};

}  // namespace l2wg
