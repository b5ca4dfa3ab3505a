// StateStore: each record read back as written, and a record that is not what l2wgd wrote
// (truncated, edited by hand) read as the safe default with a log line naming the file.
#include "state_store.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

#include "l2wg/error.h"
#include "test_dir.h"

namespace l2wg {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = testing::fresh_test_dir("l2wg-state-store-test");
    previous_logger = spdlog::default_logger();
    log = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", log));
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_logger);
    std::filesystem::remove_all(dir);
  }
  void write(const std::string& relative, const std::string& text) {
    std::filesystem::create_directories((dir / relative).parent_path());
    std::ofstream(dir / relative) << text;
  }
  std::string logged() const {
    std::string all;
    for (const auto& line : log->last_formatted()) all += line;
    return all;
  }

  static RoutedRecord full_routed_record() {
    RoutedRecord r;
    r.table = 0x1abcd;
    r.subnet_ids = {{"lan0", 0}, {"lan1", 7}};
    r.deprecated = {{"lan0", *IpPrefix::parse("2001:db8:1::/64"), 1'800'000'123'000'000}};
    r.applied.addresses = {{4, *IpPrefix::parse("2001:db8:2::1/64")}};
    r.applied.routes = {
        {0x1abcd, *IpPrefix::parse("::/0"), RouteType::Unicast, IpAddress::parse("fe80::1"), 3,
         std::nullopt},
        {0x1abcd, *IpPrefix::parse("2001:db8:2::/56"), RouteType::Unreachable, std::nullopt, 0,
         1024}};
    r.applied.rules = {{32000, *IpPrefix::parse("2001:db8:2::/56"), 0x1abcd}};
    r.upstream = RecordedUpstream{*IpAddress::parse("fe80::1"), 1'800'000'456'000'000, 1400};
    return r;
  }

  std::filesystem::path dir;
  std::shared_ptr<spdlog::logger> previous_logger;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log;
};

TEST_F(StateStoreTest, TunnelRecordsRoundTrip) {
  StateStore store(dir);
  EXPECT_TRUE(store.recorded_tunnels().empty()) << "first start: no state dir at all";
  EXPECT_EQ(store.load_tunnel("lab"), std::nullopt);
  const TunnelRecord from_file{true, std::nullopt};
  const TunnelRecord over_dbus{false, "[Tunnel]\nWireGuard=wg0\n"};
  store.save_tunnel("lab", from_file);
  store.save_tunnel("dorm", over_dbus);
  EXPECT_EQ(store.load_tunnel("lab"), from_file);
  EXPECT_EQ(store.load_tunnel("dorm"), over_dbus);
  auto names = store.recorded_tunnels();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"dorm", "lab"}));
  store.remove_tunnel("lab");
  EXPECT_EQ(store.load_tunnel("lab"), std::nullopt);
  EXPECT_EQ(store.recorded_tunnels(), std::vector<std::string>{"dorm"});
}

TEST_F(StateStoreTest, RoutedRecordsRoundTrip) {
  StateStore store(dir);
  EXPECT_EQ(store.load_routed("dorm"), RoutedRecord{}) << "none yet: the default";
  const auto record = full_routed_record();
  store.save_routed("dorm", record);
  EXPECT_EQ(store.load_routed("dorm"), record);
  EXPECT_TRUE(logged().empty()) << logged();
  store.remove_routed("dorm");
  EXPECT_EQ(store.load_routed("dorm"), RoutedRecord{});
}

TEST_F(StateStoreTest, ATruncatedRecordIsTheDefaultAndSaysWhichFile) {
  StateStore store(dir);
  store.save_routed("dorm", full_routed_record());
  std::ifstream in(dir / "routed" / "dorm.json");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  for (size_t length : {size_t{0}, size_t{1}, text.size() / 2, text.size() - 3}) {
    write("routed/dorm.json", text.substr(0, length));
    write("tunnels/lab.json", "{\"created_bridge\": tr");
    EXPECT_EQ(store.load_routed("dorm"), RoutedRecord{}) << length;
    EXPECT_EQ(store.load_tunnel("lab"), std::nullopt) << length;
    EXPECT_NE(logged().find((dir / "routed" / "dorm.json").string()), std::string::npos);
    EXPECT_NE(logged().find((dir / "tunnels" / "lab.json").string()), std::string::npos);
  }
}

TEST_F(StateStoreTest, AHandEditedFieldIsLeftOutAndTheRestKept) {
  StateStore store(dir);
  write("routed/dorm.json", R"({"table": -1,
    "subnet_ids": {"lan0": "zero"},
    "deprecated": [{"lan": "lan0", "subnet": "not a prefix", "valid_until_us": 5},
                   {"lan": "lan1", "subnet": "2001:db8:1::/64", "valid_until_us": 9}],
    "applied": {"addresses": [{"ifindex": 4, "prefix": "2001:db8:2::1/64"}, {"ifindex": "x"}],
                "routes": "none", "rules": []},
    "upstream": {"link_local": "fe80::1"}})");
  RoutedRecord expected;
  expected.deprecated = {{"lan1", *IpPrefix::parse("2001:db8:1::/64"), 9}};
  expected.applied.addresses = {{4, *IpPrefix::parse("2001:db8:2::1/64")}};
  EXPECT_EQ(store.load_routed("dorm"), expected);
  for (const char* named : {"\"table\"", "\"subnet_ids\"", "deprecated prefix", "applied addresses",
                            "upstream router"})
    EXPECT_NE(logged().find(named), std::string::npos) << named << " in: " << logged();

  write("tunnels/lab.json", R"({"created_bridge": "yes", "config": 12})");
  EXPECT_EQ(store.load_tunnel("lab"), TunnelRecord{}) << "both fields left out";
}

TEST_F(StateStoreTest, AWriteThatFailsIsAnIoErrorNamingThePath) {
  write("routed", "a file where the directory should be");
  StateStore store(dir);
  try {
    store.save_routed("dorm", full_routed_record());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Io);
    EXPECT_NE(std::string(e.what()).find((dir / "routed").string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace l2wg
