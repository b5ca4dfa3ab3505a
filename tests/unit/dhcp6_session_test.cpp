// The session's files (DUID, lease), its IAIDs, and what a Session refuses before opening
// anything. The socket side runs in tests/netns/dhcp6_session.test.sh.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "l2wg/dhcp6/session.h"
#include "l2wg/error.h"

namespace l2wg::dhcp6 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

IpPrefix prefix(const char* text) {
  return IpPrefix::parse(text, true).value();
}
IpAddress address(const char* text) {
  return IpAddress::parse(text).value();
}

Lease full_lease() {
  Lease lease;
  lease.iaid = 0xfedcba98;
  lease.server_id = Duid{{0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}};
  lease.renew_at_us = 1'700'000'001'000'000;
  lease.rebind_at_us = 1'700'000'002'000'000;
  lease.prefixes = {
      {prefix("2001:db8:100::/56"), 1'700'000'003'000'000, 1'700'000'004'000'000,
       prefix("2001:db8:100::/64")},
      {prefix("2001:db8:200::/48"), kNever, kNever, std::nullopt},
  };
  lease.dns_servers = {address("2001:db8::53"), address("2001:db8::54")};
  lease.domain_search = {"example.com", "lab.example.org"};
  return lease;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class Dhcp6SessionFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/l2wg-dhcp6-session-test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

// --- lease JSON ---

TEST(Dhcp6SessionLeaseJson, RoundTripsEveryField) {
  const Lease lease = full_lease();
  const std::string json = lease_to_json(lease);
  EXPECT_EQ(lease_from_json(json), lease);

  // The file is for people too: prefixes and addresses as text, DUIDs as hex, times as integers.
  EXPECT_THAT(json, HasSubstr("\"prefix\": \"2001:db8:100::/56\""));
  EXPECT_THAT(json, HasSubstr("\"exclude\": \"2001:db8:100::/64\""));
  EXPECT_THAT(json, HasSubstr("\"exclude\": null"));
  EXPECT_THAT(json, HasSubstr("\"server_id\": \"0003000102005e100002\""));
  EXPECT_THAT(json, HasSubstr("\"iaid\": 4275878552"));
  EXPECT_THAT(json, HasSubstr("\"renew_at_us\": 1700000001000000"));
  EXPECT_THAT(json, HasSubstr("\"valid_until_us\": 18446744073709551615"));
  EXPECT_THAT(json, HasSubstr("\"2001:db8::53\""));
  EXPECT_THAT(json, HasSubstr("\"lab.example.org\""));
}

TEST(Dhcp6SessionLeaseJson, RoundTripsALeaseWithoutPrefixesOrDns) {
  Lease lease;
  lease.iaid = 1;
  lease.server_id = Duid{{0x00, 0x04, 0xaa}};
  EXPECT_EQ(lease_from_json(lease_to_json(lease)), lease);
}

TEST(Dhcp6SessionLeaseJson, IgnoresKeysItDoesNotKnow) {
  std::string json = lease_to_json(full_lease());
  json.insert(json.find('{') + 1, "\"written_by\": \"a later l2wg\", ");
  EXPECT_EQ(lease_from_json(json), full_lease());
}

// Replaces the first occurrence of `from` (which must be there) in the full lease's JSON.
std::string full_lease_json_with(const std::string& from, const std::string& to) {
  std::string json = lease_to_json(full_lease());
  const size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? json : json.replace(at, from.size(), to);
}

struct BadLease {
  std::string from;
  std::string to;
  std::string expected;  // in the error message
};

TEST(Dhcp6SessionLeaseJson, RefusesWrongTypesMissingKeysAndBadValuesNamingTheKey) {
  const std::vector<BadLease> cases = {
      {"\"iaid\": 4275878552,", "", "key \"iaid\": missing"},
      {"4275878552", "\"4275878552\"", "key \"iaid\": not an integer in 0..4294967295"},
      {"4275878552", "-1", "key \"iaid\": not an integer"},
      {"4275878552", "4294967296", "key \"iaid\": not an integer in 0..4294967295"},
      {"4275878552", "1.5", "key \"iaid\": not an integer"},
      {"\"0003000102005e100002\"", "\"0003zz\"", "key \"server_id\": not a DUID"},
      {"\"0003000102005e100002\"", "\"\"", "key \"server_id\": not a DUID"},
      {"\"0003000102005e100002\"", "3", "key \"server_id\": not a string"},
      {"\"renew_at_us\": 1700000001000000,", "", "key \"renew_at_us\": missing"},
      {"1700000002000000", "true", "key \"rebind_at_us\": not an integer"},
      {"\"2001:db8:100::/56\"", "\"2001:db8:100::1/56\"",
       "key \"prefixes[0].prefix\": not an IPv6 prefix"},
      {"\"2001:db8:100::/56\"", "\"10.0.0.0/8\"", "key \"prefixes[0].prefix\": not an IPv6 prefix"},
      {"\"2001:db8:100::/56\"", "\"2001:db8:100::\"",
       "key \"prefixes[0].prefix\": not an IPv6 prefix"},
      {"\"2001:db8:100::/56\"", "56", "key \"prefixes[0].prefix\": not a string"},
      {"1700000003000000", "\"soon\"", "key \"prefixes[0].preferred_until_us\": not an integer"},
      {"\"valid_until_us\": 1700000004000000", "\"valid_until\": 1700000004000000",
       "key \"prefixes[0].valid_until_us\": missing"},
      {"\"exclude\": null", "\"exclude\": 64", "key \"prefixes[1].exclude\": not a string"},
      {"\"exclude\": null", "\"x\": null", "key \"prefixes[1].exclude\": missing"},
      {"\"prefixes\": [", "\"prefixes\": [ 7, ", "key \"prefixes[0]\": not an object"},
      {"\"dns_servers\": [", "\"dns_servers\": {\"a\": 1}, \"x\": [",
       "key \"dns_servers\": not an array"},
      {"\"2001:db8::53\"", "\"192.0.2.53\"", "key \"dns_servers[0]\": not an IPv6 address"},
      {"\"lab.example.org\"", "null", "key \"domain_search[1]\": not a string"},
      {"\"domain_search\": [", "\"domain\": [", "key \"domain_search\": missing"},
  };
  for (const BadLease& c : cases) {
    const std::string json = full_lease_json_with(c.from, c.to);
    try {
      lease_from_json(json);
      ADD_FAILURE() << "accepted: " << json;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(c.expected)) << json;
    }
  }
}

TEST(Dhcp6SessionLeaseJson, RefusesWhatIsNotAJsonObject) {
  for (const std::string json : {"", "{", "[1, 2]", "\"lease\"", "{\"iaid\": 1} trailing"}) {
    try {
      lease_from_json(json);
      ADD_FAILURE() << "accepted: " << json;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
      EXPECT_THAT(e.what(),
                  ::testing::AnyOf(HasSubstr("not JSON"), HasSubstr("not a JSON object")));
    }
  }
}

// --- lease files ---

TEST_F(Dhcp6SessionFiles, LeasePathIsTheNameInTheDhcp6Directory) {
  EXPECT_EQ(lease_path("/var/lib/l2wg", "lab"), fs::path("/var/lib/l2wg/dhcp6/lab.lease"));
}

TEST_F(Dhcp6SessionFiles, SaveLoadAndRemoveALease) {
  const fs::path path = lease_path(dir_ / "state", "lab");
  EXPECT_EQ(load_lease(path), std::nullopt);  // nothing stored yet

  save_lease(path, full_lease());
  EXPECT_EQ(load_lease(path), full_lease());
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(path.parent_path()), 0700u);

  Lease changed = full_lease();
  changed.prefixes.pop_back();
  save_lease(path, changed);
  EXPECT_EQ(load_lease(path), changed);
  // Only the lease: no temporary left behind by the atomic write.
  EXPECT_EQ(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator()), 1);

  save_lease(path, std::nullopt);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(load_lease(path), std::nullopt);
  save_lease(path, std::nullopt);  // already gone: nothing to do
}

TEST_F(Dhcp6SessionFiles, ACorruptLeaseFileIsAnErrorNamingTheFileAndTheKey) {
  const fs::path path = lease_path(dir_, "lab");
  save_lease(path, full_lease());
  write(path, full_lease_json_with("\"2001:db8:100::/56\"", "\"nonsense\""));
  try {
    load_lease(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr(path.string() + ": key \"prefixes[0].prefix\""));
  }
  write(path, "{\"iaid\": 1");
  try {
    load_lease(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string() + ": not JSON"));
  }
}

TEST_F(Dhcp6SessionFiles, SavingWhereNoDirectoryCanBeMadeIsAnIoErrorNamingIt) {
  write(dir_ / "file", "in the way");
  try {
    save_lease(lease_path(dir_ / "file", "lab"), full_lease());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Io);
    EXPECT_THAT(e.what(), HasSubstr((dir_ / "file").string()));
  }
}

// --- DUID ---

TEST_F(Dhcp6SessionFiles, TheDuidIsADuidUuidCreatedOnceAndReused) {
  const Duid duid = load_or_create_duid(dir_ / "state");
  ASSERT_EQ(duid.bytes.size(), 18u);
  EXPECT_EQ(duid.bytes[0], 0);
  EXPECT_EQ(duid.bytes[1], 4);                // DUID-UUID, RFC 6355
  EXPECT_EQ(duid.bytes[2 + 6] >> 4, 4);       // a random (version 4) UUID
  EXPECT_EQ(duid.bytes[2 + 8] & 0xc0, 0x80);  // of the RFC 4122 variant

  const fs::path file = dir_ / "state" / "dhcp6" / "duid";
  const std::string text = read(file);
  EXPECT_EQ(text.size(), 37u) << text;  // 36 hex digits and a newline
  EXPECT_EQ(text.substr(0, 4), "0004");
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(mode_of(file.parent_path()), 0700u);

  EXPECT_EQ(load_or_create_duid(dir_ / "state"), duid);  // reused, not made again
  EXPECT_EQ(read(file), text);
  EXPECT_EQ(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator()), 1);

  // Another host (state dir) gets its own.
  EXPECT_NE(load_or_create_duid(dir_ / "other"), duid);
}

TEST_F(Dhcp6SessionFiles, ADuidPutInPlaceByHandIsUsed) {
  fs::create_directories(dir_ / "dhcp6");
  write(dir_ / "dhcp6" / "duid", "00030001020000000001\n");  // a DUID-LL
  EXPECT_EQ(load_or_create_duid(dir_),
            (Duid{{0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01}}));
}

TEST_F(Dhcp6SessionFiles, ACorruptDuidFileIsAnErrorNamingIt) {
  fs::create_directories(dir_ / "dhcp6");
  const fs::path file = dir_ / "dhcp6" / "duid";
  for (const std::string& text :
       std::vector<std::string>{"", "0004zz\n", "00041\n", "0004\n", std::string(262, 'a')}) {
    write(file, text);
    try {
      load_or_create_duid(dir_);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_THAT(e.what(), HasSubstr(file.string() + ": not a DUID"));
    }
    EXPECT_EQ(read(file), text);  // never overwritten: the server knows us by it
  }
}

// --- IAID ---

TEST(Dhcp6SessionIaid, IsFnv1aOfTheName) {
  // Reference values of 32-bit FNV-1a.
  EXPECT_EQ(iaid_for(""), 0x811c9dc5u);
  EXPECT_EQ(iaid_for("a"), 0xe40c292cu);
  EXPECT_EQ(iaid_for("foobar"), 0xbf9cf968u);
  EXPECT_EQ(iaid_for("lab"), iaid_for(std::string("lab")));
}

TEST(Dhcp6SessionIaid, DiffersForTypicalTunnelNames) {
  const std::vector<std::string> names = {"lab", "lab2", "lab3", "dorm",   "dorm-a", "dorm-b",
                                          "wg0", "wg1",  "wg10", "l2-lab", "home",   "office",
                                          "a",   "b",    "ab",   "ba",     "uplink", "uplink_2"};
  std::set<uint32_t> iaids;
  for (const std::string& name : names) iaids.insert(iaid_for(name));
  EXPECT_EQ(iaids.size(), names.size());
}

// --- what a Session refuses before opening anything ---

TEST_F(Dhcp6SessionFiles, ASessionOnAMissingInterfaceIsNotFound) {
  Observer observer;
  try {
    Session session(SessionOptions{.name = "lab", .interface = "l2wg-none0", .state_dir = dir_},
                    observer);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
    EXPECT_STREQ(e.what(), "no interface l2wg-none0");
  }
  EXPECT_FALSE(fs::exists(dir_ / "dhcp6"));  // nothing written
}

TEST_F(Dhcp6SessionFiles, ASessionNameThatIsNoFileNameIsRefused) {
  Observer observer;
  for (const std::string name : {"", ".hidden", "a/b"}) {
    try {
      Session session(SessionOptions{.name = name, .interface = "lo", .state_dir = dir_}, observer);
      ADD_FAILURE() << "accepted: " << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_THAT(e.what(), HasSubstr("\"" + name + "\""));
    }
  }
}

}  // namespace
}  // namespace l2wg::dhcp6
