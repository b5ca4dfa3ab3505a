#include "l2wg/daemon/routed.h"

#include <spdlog/spdlog.h>

#include "l2wg/deadline_timer.h"
#include "l2wg/lan/advertiser.h"
#include "l2wg/lan/ra_socket.h"

namespace l2wg::routed {
namespace {

class SessionClient final : public PdClient {
 public:
  SessionClient(const dhcp6::SessionOptions& options, dhcp6::Observer& observer)
      : session_(options, observer) {}
  std::vector<int> fds() const override { return session_.fds(); }
  void handle(int fd) override { session_.handle(fd); }
  void start() override { session_.start(); }
  void stop() override { session_.stop(); }
  void renew() override { session_.renew(); }
  void release() override { session_.release(); }
  void link_changed() override { session_.link_changed(); }

 private:
  dhcp6::Session session_;
};

class SessionFactory final : public PrefixDelegationFactory {
 public:
  std::unique_ptr<PdClient> create(const dhcp6::SessionOptions& options,
                                   dhcp6::Observer& observer) override {
    return std::make_unique<SessionClient>(options, observer);
  }
};

class LoggingSocketObserver final : public lan::SocketObserver {
 public:
  explicit LoggingSocketObserver(std::string lan) : lan_(std::move(lan)) {}
  void dropped(std::string_view reason) override {
    spdlog::debug("{}: Router Discovery packet dropped: {}", lan_, reason);
  }
  void send_failed(std::string_view error) override {
    spdlog::warn("{}: cannot send a Router Discovery packet: {}", lan_, error);
  }

 private:
  std::string lan_;
};

// LanRaSocket + Advertiser + a DeadlineTimer for the Advertiser's deadlines.
class LanRaEndpoint final : public RaEndpoint {
 public:
  LanRaEndpoint(const std::string& lan, Clock& clock, Random& random)
      : observer_(lan),
        socket_(lan, observer_),
        advertiser_(lan::RouterSettings{.mac = socket_.mac()}, clock, random, socket_),
        timer_("the Router Advertisements on " + lan) {}

  std::vector<int> fds() const override { return {socket_.fd(), timer_.fd()}; }
  void handle(int fd) override {
    if (fd == socket_.fd()) {
      for (uint32_t n = socket_.read(); n > 0; --n) advertiser_.solicited();
    } else if (fd == timer_.fd()) {
      timer_.acknowledge();
      advertiser_.on_timer();
    }
    arm_timer();
  }
  void announce(const lan::Announcement& announcement) override {
    advertiser_.update(announcement);
    arm_timer();
  }
  void stop() override {
    advertiser_.stop();
    arm_timer();
  }
  bool finished() const override { return advertiser_.finished(); }

 private:
  void arm_timer() { timer_.arm(advertiser_.next_deadline_us()); }

  LoggingSocketObserver observer_;
  lan::LanRaSocket socket_;
  lan::Advertiser advertiser_;
  DeadlineTimer timer_;
};

// UpstreamRouterListener + a DeadlineTimer for its solicitations.
class TapUpstreamListener final : public UpstreamListener {
 public:
  TapUpstreamListener(const std::string& tap, Clock& clock)
      : observer_(tap),
        listener_(tap, clock, observer_),
        timer_("the Router Solicitations on " + tap) {
    arm_timer();
  }

  std::vector<int> fds() const override { return {listener_.fd(), timer_.fd()}; }
  UpstreamNews handle(int fd) override {
    UpstreamNews news;
    const bool reachable = listener_.reachable();
    if (fd == listener_.fd()) {
      news.heard = listener_.read();
    } else if (fd == timer_.fd()) {
      timer_.acknowledge();
      listener_.on_timer();
    }
    if (listener_.reachable() != reachable) news.reachable = listener_.reachable();
    arm_timer();
    return news;
  }
  void link_changed() override {
    listener_.solicit();
    arm_timer();
  }
  void watch(std::optional<IpAddress> router) override {
    listener_.watch(std::move(router));
    arm_timer();
  }

 private:
  void arm_timer() { timer_.arm(listener_.next_deadline_us()); }

  LoggingSocketObserver observer_;
  lan::UpstreamRouterListener listener_;
  DeadlineTimer timer_;
};

class LanRaFactory final : public RaEndpointFactory {
 public:
  LanRaFactory(Clock& clock, Random& random) : clock_(clock), random_(random) {}
  std::unique_ptr<RaEndpoint> create(const std::string& lan) override {
    return std::make_unique<LanRaEndpoint>(lan, clock_, random_);
  }
  std::unique_ptr<UpstreamListener> listen_upstream(const std::string& tap) override {
    return std::make_unique<TapUpstreamListener>(tap, clock_);
  }

 private:
  Clock& clock_;
  Random& random_;
};

}  // namespace

std::unique_ptr<PrefixDelegationFactory> make_session_factory() {
  return std::make_unique<SessionFactory>();
}

std::unique_ptr<RaEndpointFactory> make_lan_ra_factory(Clock& clock, Random& random) {
  return std::make_unique<LanRaFactory>(clock, random);
}

}  // namespace l2wg::routed
