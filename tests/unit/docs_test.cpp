// The documentation against the code it describes: l2wg.conf(5) documents exactly the keys of
// the config parser's table, each in its section, and every example file (examples/conf/ and the
// examples in l2wg.conf(5)) is read without error by the daemon's own parser.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "l2wg/daemon/config.h"
#include "l2wg/daemon/discovery.h"

namespace l2wg::config {
namespace {

namespace fs = std::filesystem;
using ::testing::IsEmpty;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

const fs::path kConfPage = fs::path(L2WG_DOC_DIR) / "l2wg.conf.5.scd";

// section -> the keys documented in it: "*Key=*" alone on a line under "# [Section] SECTION".
std::map<std::string, std::vector<std::string>> documented_keys() {
  std::map<std::string, std::vector<std::string>> keys;
  const std::regex heading(R"(^# \[(\w+)\] SECTION$)");
  const std::regex key(R"(^\*(\w+)=\*$)");
  std::string section;
  for (const std::string& line : lines_of(read_text(kConfPage))) {
    std::smatch match;
    if (line.starts_with("# ")) {
      section = std::regex_match(line, match, heading) ? match[1].str() : "";
    } else if (std::regex_match(line, match, key)) {
      keys[section].push_back(match[1].str());
    }
  }
  return keys;
}

// The tunnel files' keys, then those of WGIF.discovery ([Registry], [Client]).
std::vector<KeyInfo> all_keys() {
  auto keys = known_keys();
  for (const auto& key : discovery_keys()) keys.push_back(key);
  return keys;
}

TEST(ConfManPage, DocumentsEveryKeyOfTheParserInItsSection) {
  const auto documented = documented_keys();
  std::map<std::string, std::vector<std::string>> known;
  for (const KeyInfo& key : all_keys())
    known[std::string(key.section)].push_back(std::string(key.name));
  ASSERT_FALSE(known.empty());
  // Same sections, same keys, same order: the page follows the parser's table.
  EXPECT_EQ(documented, known) << kConfPage << " and daemon/src/config.cpp's kRules differ";
}

TEST(ConfManPage, RepeatableKeysSayRepeatable) {
  const std::string page = read_text(kConfPage);
  for (const KeyInfo& key : all_keys()) {
    // A key name may be in two sections (Peer=, Port=, Zone=): its entry in its own section.
    const size_t section = page.find("# [" + std::string(key.section) + "] SECTION\n");
    ASSERT_NE(section, std::string::npos) << key.section;
    const std::string term = "*" + std::string(key.name) + "=*\n\t";
    const size_t at = page.find(term, section);
    ASSERT_NE(at, std::string::npos) << key.name;
    const std::string description = page.substr(at + term.size(), page.find("\n\n", at) - at);
    EXPECT_EQ(description.find("epeatable") != std::string::npos, key.repeatable)
        << key.name << "=: " << description;
  }
}

// The ``` blocks of l2wg.conf(5) that are files: "[Tunnel]" first, after "# /etc/l2wg/NAME.conf"
// comments that give the name.
TEST(ConfManPage, ExamplesParse) {
  std::vector<std::string> blocks;
  bool inside = false;
  std::string block;
  for (const std::string& line : lines_of(read_text(kConfPage))) {
    if (line == "```") {
      if (inside) blocks.push_back(block);
      inside = !inside;
      block.clear();
    } else if (inside) {
      block += line + "\n";
    }
  }
  int files = 0;
  for (const std::string& text : blocks) {
    if (text.find("[Tunnel]") == std::string::npos) continue;
    std::smatch match;
    const std::regex named(R"(^# /etc/l2wg/([\w-]+\.conf)\n)");
    const std::string file =
        std::regex_search(text, match, named) ? match[1].str() : "example.conf";
    EXPECT_NO_THROW(parse_tunnel(text, file)) << text;
    ++files;
  }
  EXPECT_GE(files, 3);
}

// The ``` blocks of WGIF.discovery files parse with the daemon's own parser.
TEST(ConfManPage, DiscoveryExamplesParse) {
  int files = 0;
  bool inside = false;
  std::string block;
  for (const std::string& line : lines_of(read_text(kConfPage))) {
    if (line == "```") {
      if (inside && block.find(".discovery") != std::string::npos) {
        const auto parsed = parse_discovery(block, "wg0.discovery");
        EXPECT_THAT(parsed.errors, IsEmpty()) << block;
        ++files;
      }
      inside = !inside;
      block.clear();
    } else if (inside) {
      block += line + "\n";
    }
  }
  EXPECT_EQ(files, 2);
}

struct ExampleHost {
  std::string dir;
  std::vector<std::string> tunnels;
};

// examples/conf/HOST/ is what one host's /etc/l2wg would hold.
TEST(ExampleConfs, EachDirectoryLoadsWithoutErrors) {
  const fs::path root = L2WG_EXAMPLES_CONF_DIR;
  std::set<std::string> dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) dirs.insert(entry.path().filename().string());
  EXPECT_EQ(dirs, (std::set<std::string>{"dorm", "hub", "lab"}));
  for (const std::string& dir : dirs) {
    const LoadedDirectory loaded = load_directory(root / dir);
    std::vector<std::string> errors;
    for (const ConfigError& error : loaded.errors) errors.push_back(error.what());
    EXPECT_THAT(errors, IsEmpty()) << dir;
    size_t files = 0;
    for (const auto& entry : fs::directory_iterator(root / dir))
      files += entry.path().extension() == ".conf";
    EXPECT_EQ(loaded.tunnels.size(), files) << dir;
  }
}

TEST(ExampleConfs, ModesAreWhatTheReadmeSays) {
  const fs::path root = L2WG_EXAMPLES_CONF_DIR;
  const auto lab = load_directory(root / "lab");
  ASSERT_EQ(lab.tunnels.size(), 1u);
  ASSERT_TRUE(lab.tunnels[0].spec.bridge);
  EXPECT_EQ(lab.tunnels[0].spec.bridge->name, "br-wan");
  EXPECT_FALSE(lab.tunnels[0].prefix_delegation);

  const auto dorm = load_directory(root / "dorm");
  ASSERT_EQ(dorm.tunnels.size(), 1u);
  ASSERT_TRUE(dorm.tunnels[0].prefix_delegation);
  EXPECT_FALSE(dorm.tunnels[0].spec.bridge);
  EXPECT_EQ(dorm.tunnels[0].prefix_delegation->lans,
            (std::vector<std::string>{"br-lan", "br-guest"}));

  const auto hub = load_directory(root / "hub");
  ASSERT_GE(hub.tunnels.size(), 3u);
  for (const Tunnel& tunnel : hub.tunnels) {
    ASSERT_TRUE(tunnel.spec.bridge) << tunnel.name;
    EXPECT_EQ(tunnel.spec.wireguard, "wg-hub") << tunnel.name;
    EXPECT_EQ(tunnel.spec.bridge->name, "br-hub") << tunnel.name;
    EXPECT_TRUE(tunnel.spec.bridge->isolated) << tunnel.name;
    // A shared bridge must not be one a tunnel deletes when it goes down.
    EXPECT_FALSE(tunnel.spec.bridge->create) << tunnel.name;
  }
}

}  // namespace
}  // namespace l2wg::config
