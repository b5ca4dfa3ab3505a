// An EventLoop the tests drive by hand: fire(fd) runs what is registered for a (fake) fd, and
// run_due() runs the timers whose deadline the FakeClock has reached.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "fake_clock.h"
#include "l2wg/daemon/event_loop.h"

namespace l2wg::testing {

class FakeEventLoop final : public EventLoop {
 public:
  explicit FakeEventLoop(FakeClock& clock) : clock_(clock) {}

  Registration add(int fd, Handler on_readable) override {
    const uint64_t id = next_id_++;
    watches_[id] = {fd, std::make_shared<Handler>(std::move(on_readable))};
    return Registration([this, id] { watches_.erase(id); });
  }

  std::unique_ptr<Timer> add_timer(Handler on_deadline) override {
    const uint64_t id = next_id_++;
    timers_[id] = {std::nullopt, std::make_shared<Handler>(std::move(on_deadline))};
    return std::make_unique<FakeTimer>(*this, id);
  }

  // Runs the handlers registered for `fd`, as the real loop does when it is readable.
  void fire(int fd) {
    std::vector<std::shared_ptr<Handler>> due;
    for (const auto& [id, watch] : watches_)
      if (watch.fd == fd) due.push_back(watch.handler);
    for (const auto& handler : due) (*handler)();
  }
  bool watched(int fd) const {
    return std::any_of(watches_.begin(), watches_.end(),
                       [&](const auto& w) { return w.second.fd == fd; });
  }
  size_t watches() const { return watches_.size(); }

  // Runs, in deadline order, every timer due at the clock's monotonic time.
  void run_due() {
    for (;;) {
      const uint64_t now = clock_.monotonic_us();
      auto next = timers_.end();
      for (auto it = timers_.begin(); it != timers_.end(); ++it)
        if (it->second.deadline && *it->second.deadline <= now &&
            (next == timers_.end() || *it->second.deadline < *next->second.deadline))
          next = it;
      if (next == timers_.end()) return;
      next->second.deadline.reset();
      const auto handler = next->second.handler;
      (*handler)();
    }
  }
  // The earliest deadline armed, if any.
  std::optional<uint64_t> next_deadline() const {
    std::optional<uint64_t> next;
    for (const auto& [id, timer] : timers_)
      if (timer.deadline && (!next || *timer.deadline < *next)) next = timer.deadline;
    return next;
  }

 private:
  struct Watch {
    int fd = -1;
    std::shared_ptr<Handler> handler;
  };
  struct TimerState {
    std::optional<uint64_t> deadline;
    std::shared_ptr<Handler> handler;
  };
  class FakeTimer final : public Timer {
   public:
    FakeTimer(FakeEventLoop& loop, uint64_t id) : loop_(loop), id_(id) {}
    ~FakeTimer() override { loop_.timers_.erase(id_); }
    void arm(std::optional<uint64_t> deadline_us) override {
      loop_.timers_.at(id_).deadline = deadline_us;
    }

   private:
    FakeEventLoop& loop_;
    uint64_t id_;
  };

  FakeClock& clock_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Watch> watches_;
  std::map<uint64_t, TimerState> timers_;
};

}  // namespace l2wg::testing
