// The nftables rulesets captured from libnftables for the unit tests (tests/unit/data/nft, made
// by its capture.sh), parsed.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "l2wg/daemon/firewall.h"

namespace l2wg::testing {

inline firewall::Ruleset captured_ruleset(const std::string& name) {
  std::ifstream in(std::string(L2WG_TEST_DATA_DIR) + "/nft/" + name + ".json");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << name;
  return firewall::Ruleset::parse(text.str());
}

}  // namespace l2wg::testing
