// l2wgd's side of systemd's notification protocol: the STATUS= line and the file descriptor store's
// messages (FDSTORE=1 with the fd attached, FDSTOREREMOVE=1), read from a NOTIFY_SOCKET of the
// test's.
#include "l2wg/daemon/systemd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "test_dir.h"

namespace l2wg::systemd {
namespace {

TEST(Systemd, StatusLineCountsTheStatesAttentionFirst) {
  EXPECT_EQ(status_line({}), "no tunnels");
  EXPECT_EQ(status_line({"up"}), "1 tunnel: 1 up");
  EXPECT_EQ(status_line({"stopped", "up", "degraded", "up", "configuring"}),
            "5 tunnels: 2 up, 1 degraded, 1 stopped, 1 configuring");
}

class NotifySocket : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_test_dir("l2wg-notify");
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "notify").string();
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path_.copy(address.sun_path, sizeof address.sun_path - 1);
    ASSERT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    timeval timeout{2, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    std::filesystem::remove_all(dir_);
  }
  // The next message and the fd that came with it (-1 for none).
  std::pair<std::string, int> receive() {
    char text[512] = {};
    iovec iov{text, sizeof text - 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_.get(), &msg, 0);
    if (n < 0) return {"", -1};
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return {std::string(text, static_cast<size_t>(n)), fd};
  }

  std::filesystem::path dir_;
  std::string path_;
  UniqueFd fd_;
};

TEST_F(NotifySocket, NotifyReachesTheServiceManager) {
  EXPECT_TRUE(notify("READY=1\nSTATUS=no tunnels"));
  EXPECT_EQ(receive().first, "READY=1\nSTATUS=no tunnels");
}

TEST_F(NotifySocket, TheStoreKeepsAndForgetsByName) {
  FdStore store;  // no LISTEN_FDS: nothing handed over
  EXPECT_EQ(store.inherited(), 0u);
  EXPECT_FALSE(store.take("tap-l2-lab"));
  UniqueFd kept(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  store.keep("tap-l2-lab", kept.get());
  const auto [text, fd] = receive();
  EXPECT_EQ(text, "FDSTORE=1\nFDNAME=tap-l2-lab");
  ASSERT_GE(fd, 0) << "the fd travels with the message";
  struct stat a {
  }, b{};
  ::fstat(fd, &a);
  ::fstat(kept.get(), &b);
  EXPECT_EQ(a.st_ino, b.st_ino);
  ::close(fd);
  store.forget("tap-l2-lab");
  EXPECT_EQ(receive().first, "FDSTOREREMOVE=1\nFDNAME=tap-l2-lab");
  EXPECT_TRUE(store.release_unclaimed().empty());
}

TEST(Systemd, OutsideSystemdNothingHappens) {
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_FALSE(notify("READY=1"));
  EXPECT_FALSE(watchdog_interval_us());
  FdStore store;
  store.keep("tap-x", 0);  // no socket: a no-op, no error
  EXPECT_EQ(store.inherited(), 0u);
}

}  // namespace
}  // namespace l2wg::systemd
