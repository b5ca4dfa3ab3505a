// Fakes of routed mode's seams (l2wg/daemon/routed.h): DHCPv6 clients, LAN Router Advertisement
// endpoints and the tap's upstream listener, each logging what it was asked in a record the test
// keeps after the fake is gone.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "l2wg/daemon/routed.h"
#include "l2wg/error.h"

namespace l2wg::testing {

// What one tunnel's client was asked, kept after the client is gone.
struct PdLog {
  dhcp6::SessionOptions options;
  std::vector<std::string> calls;
  dhcp6::Observer* observer = nullptr;  // null once the client is destroyed
  int fd = 0;
  // What the client reports the next time its fd is handled: as a real client does for a packet.
  std::vector<std::function<void(dhcp6::Observer&)>> pending;
};

class FakePdClient final : public routed::PdClient {
 public:
  explicit FakePdClient(std::shared_ptr<PdLog> log) : log_(std::move(log)) {}
  ~FakePdClient() override {
    log_->calls.push_back("destroyed");
    log_->observer = nullptr;
  }
  std::vector<int> fds() const override { return {log_->fd}; }
  void handle(int fd) override {
    EXPECT_EQ(fd, log_->fd);
    for (const auto& report : std::exchange(log_->pending, {})) report(*log_->observer);
  }
  void start() override { log_->calls.push_back("start"); }
  void stop() override { log_->calls.push_back("stop"); }
  void renew() override { log_->calls.push_back("renew"); }
  void release() override { log_->calls.push_back("release"); }
  void link_changed() override { log_->calls.push_back("link_changed"); }

 private:
  std::shared_ptr<PdLog> log_;
};

struct FakePdFactory final : routed::PrefixDelegationFactory {
  std::map<std::string, std::shared_ptr<PdLog>> clients;  // by tunnel name, the latest
  int next_fd = 200;                                      // never polled: only compared
  std::unique_ptr<routed::PdClient> create(const dhcp6::SessionOptions& options,
                                           dhcp6::Observer& observer) override {
    auto log = std::make_shared<PdLog>(PdLog{options, {}, &observer, next_fd++, {}});
    clients[options.name] = log;
    return std::make_unique<FakePdClient>(log);
  }
};

struct RaLog {
  std::vector<lan::Announcement> announced;
  bool stopped = false;
  bool alive = true;
};

class FakeRaEndpoint final : public routed::RaEndpoint {
 public:
  explicit FakeRaEndpoint(std::shared_ptr<RaLog> log) : log_(std::move(log)) {}
  ~FakeRaEndpoint() override { log_->alive = false; }
  std::vector<int> fds() const override { return {}; }
  void handle(int) override {}
  void announce(const lan::Announcement& a) override { log_->announced.push_back(a); }
  void stop() override { log_->stopped = true; }
  bool finished() const override { return log_->stopped; }  // the finals go out at once

 private:
  std::shared_ptr<RaLog> log_;
};

// What the tap's listener will report the next time its fd is handled.
struct UpstreamLog {
  int fd = 0;
  std::vector<lan::UpstreamRouter> pending;
  std::optional<bool> reachable;  // reported once, with the next handle()
  std::vector<std::optional<IpAddress>> watched;
  int link_changes = 0;
};

class FakeUpstream final : public routed::UpstreamListener {
 public:
  explicit FakeUpstream(std::shared_ptr<UpstreamLog> log) : log_(std::move(log)) {}
  std::vector<int> fds() const override { return {log_->fd}; }
  routed::UpstreamNews handle(int fd) override {
    EXPECT_EQ(fd, log_->fd);
    return {std::exchange(log_->pending, {}), std::exchange(log_->reachable, std::nullopt)};
  }
  void link_changed() override { ++log_->link_changes; }
  void watch(std::optional<IpAddress> router) override { log_->watched.push_back(router); }

 private:
  std::shared_ptr<UpstreamLog> log_;
};

struct FakeRaFactory final : routed::RaEndpointFactory {
  std::map<std::string, std::shared_ptr<RaLog>> endpoints;        // by LAN, the latest
  std::map<std::string, std::shared_ptr<UpstreamLog>> upstreams;  // by tap, the latest
  int next_fd = 100;                                              // never polled: only compared
  std::string refuse;  // a LAN whose endpoint cannot be made (not Ethernet, say)
  std::unique_ptr<routed::RaEndpoint> create(const std::string& lan) override {
    if (lan == refuse) throw Error(ErrorCode::InvalidArgument, lan + " is not Ethernet");
    auto log = std::make_shared<RaLog>();
    endpoints[lan] = log;
    return std::make_unique<FakeRaEndpoint>(log);
  }
  std::unique_ptr<routed::UpstreamListener> listen_upstream(const std::string& tap) override {
    auto log = std::make_shared<UpstreamLog>();
    log->fd = next_fd++;
    upstreams[tap] = log;
    return std::make_unique<FakeUpstream>(log);
  }
};

}  // namespace l2wg::testing
