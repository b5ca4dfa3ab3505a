// EpollLoop on real fds: handlers run for what is readable, registrations end with their RAII
// handle (also from inside a handler), and timers fire at their monotonic deadline.
#include "l2wg/daemon/event_loop.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>

#include "l2wg/clock.h"

namespace l2wg {
namespace {

struct Pipe {
  Pipe() {
    std::array<int, 2> fds{};
    EXPECT_EQ(::pipe2(fds.data(), O_NONBLOCK | O_CLOEXEC), 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
  void signal() { EXPECT_EQ(::write(write_end.get(), "x", 1), 1); }
  UniqueFd read_end;
  UniqueFd write_end;
};

// Waits (briefly) for the loop's fd, then dispatches: what the daemon's main loop does.
void wait_and_dispatch(EpollLoop& loop, int timeout_ms = 200) {
  pollfd fd{loop.fd(), POLLIN, 0};
  ::poll(&fd, 1, timeout_ms);
  loop.dispatch();
}

TEST(EpollLoopTest, RunsTheHandlerOfAReadableFdUntilItsRegistrationGoes) {
  EpollLoop loop;
  Pipe pipe;
  int calls = 0;
  auto registration = loop.add(pipe.read_end.get(), [&] {
    char byte;
    while (::read(pipe.read_end.get(), &byte, 1) == 1) ++calls;
  });
  loop.dispatch();
  EXPECT_EQ(calls, 0) << "nothing readable yet";
  pipe.signal();
  wait_and_dispatch(loop);
  EXPECT_EQ(calls, 1);
  registration.reset();
  EXPECT_EQ(loop.registrations(), 0u);
  pipe.signal();
  wait_and_dispatch(loop, 20);
  EXPECT_EQ(calls, 1);
}

TEST(EpollLoopTest, AHandlerMayDropItsOwnRegistrationAndOneReadyAfterIt) {
  EpollLoop loop;
  Pipe first, second;
  int first_calls = 0, second_calls = 0;
  EventLoop::Registration a, b;
  // Whichever runs first drops both: the other, ready in the same batch, must not run.
  a = loop.add(first.read_end.get(), [&] {
    ++first_calls;
    a.reset();
    b.reset();
  });
  b = loop.add(second.read_end.get(), [&] {
    ++second_calls;
    a.reset();
    b.reset();
  });
  first.signal();
  second.signal();
  ::usleep(1000);
  loop.dispatch();
  EXPECT_EQ(first_calls + second_calls, 1);
  EXPECT_EQ(loop.registrations(), 0u);
}

TEST(EpollLoopTest, ATimerFiresAtItsDeadlineOnceAndCanBeMovedOrDisarmed) {
  EpollLoop loop;
  auto clock = make_system_clock();
  int fired = 0;
  auto timer = loop.add_timer([&] { ++fired; });
  wait_and_dispatch(loop, 20);
  EXPECT_EQ(fired, 0) << "not armed";
  timer->arm(clock->monotonic_us() + 5'000);
  wait_and_dispatch(loop);
  EXPECT_EQ(fired, 1);
  wait_and_dispatch(loop, 20);
  EXPECT_EQ(fired, 1) << "once per arming";
  timer->arm(clock->monotonic_us() + 3'600'000'000);
  timer->arm(0);  // moved into the past: due at once
  wait_and_dispatch(loop);
  EXPECT_EQ(fired, 2);
  timer->arm(clock->monotonic_us() + 5'000);
  timer->arm(std::nullopt);
  wait_and_dispatch(loop, 30);
  EXPECT_EQ(fired, 2) << "disarmed";
  timer.reset();
  EXPECT_EQ(loop.registrations(), 0u);
}

}  // namespace
}  // namespace l2wg
