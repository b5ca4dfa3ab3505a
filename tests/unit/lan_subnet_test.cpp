#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "l2wg/lan/subnet.h"

namespace l2wg::lan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

IpPrefix prefix(const char* text) {
  return *IpPrefix::parse(text, true);
}

TEST(LanSubnet, SubnetOfPlacesTheIdAfterThePrefixBits) {
  EXPECT_EQ(subnet_of(prefix("2001:db8:100::/56"), 0), prefix("2001:db8:100::/64"));
  EXPECT_EQ(subnet_of(prefix("2001:db8:100::/56"), 0x2a), prefix("2001:db8:100:2a::/64"));
  EXPECT_EQ(subnet_of(prefix("2001:db8:100::/56"), 0xff), prefix("2001:db8:100:ff::/64"));
  EXPECT_EQ(subnet_of(prefix("2001:db8:1234::/48"), 0xbeef), prefix("2001:db8:1234:beef::/64"));
  EXPECT_EQ(subnet_of(prefix("2001:db8:1:2::/64"), 0), prefix("2001:db8:1:2::/64"));
  EXPECT_EQ(subnet_of(prefix("2001:db8:1:4::/62"), 3), prefix("2001:db8:1:7::/64"));
}

TEST(LanSubnet, SubnetOfRefusesWhatDoesNotFit) {
  EXPECT_EQ(subnet_of(prefix("2001:db8:100::/56"), 0x100), std::nullopt);
  EXPECT_EQ(subnet_of(prefix("2001:db8:1:2::/64"), 1), std::nullopt);
  EXPECT_EQ(subnet_of(prefix("2001:db8:1:2::/80"), 0), std::nullopt);
  EXPECT_EQ(subnet_of(prefix("192.0.2.0/24"), 0), std::nullopt);
}

TEST(LanSubnet, AutomaticIdsFollowLanOrder) {
  const auto plan = plan_subnets(prefix("2001:db8:100::/56"), std::nullopt, {"br-lan", "br-guest"}, {}, {});
  EXPECT_THAT(plan.ids, ElementsAre(Pair("br-guest", 1), Pair("br-lan", 0)));
  EXPECT_EQ(plan.subnets.at("br-guest"), prefix("2001:db8:100:1::/64"));
  EXPECT_THAT(plan.problems, IsEmpty());
}

TEST(LanSubnet, ConfiguredIdsWinAndAutomaticOnesAvoidThem) {
  const auto plan = plan_subnets(prefix("2001:db8:100::/56"), std::nullopt, {"a", "b", "c"},
                                 {{"b", 0}}, {});
  EXPECT_THAT(plan.ids, ElementsAre(Pair("a", 1), Pair("b", 0), Pair("c", 2)));
}

TEST(LanSubnet, RememberedIdsSurviveAPrefixChange) {
  const auto first = plan_subnets(prefix("2001:db8:100::/56"), std::nullopt, {"a", "b"}, {}, {});
  // "a" went away and came back after "b": each keeps its id under the new prefix.
  const auto second =
      plan_subnets(prefix("2001:db8:200::/56"), std::nullopt, {"b", "a"}, {}, first.ids);
  EXPECT_EQ(second.ids, first.ids);
  EXPECT_EQ(second.subnets.at("b"), prefix("2001:db8:200:1::/64"));
}

TEST(LanSubnet, ExcludedPrefixIsNeverGivenToALan) {
  const auto plan = plan_subnets(prefix("2001:db8:100::/56"), prefix("2001:db8:100::/64"),
                                 {"a", "b"}, {}, {{"a", 0}});
  EXPECT_THAT(plan.ids, ElementsAre(Pair("a", 1), Pair("b", 2)));
  const auto configured = plan_subnets(prefix("2001:db8:100::/56"), prefix("2001:db8:100::/64"),
                                       {"a"}, {{"a", 0}}, {});
  EXPECT_THAT(configured.ids, IsEmpty());
  EXPECT_THAT(configured.problems, ElementsAre(HasSubstr("overlaps the excluded prefix")));
}

TEST(LanSubnet, ProblemsNameTheLanAndTheReason) {
  const auto plan = plan_subnets(prefix("2001:db8:1:4::/63"), std::nullopt, {"a", "b", "c", "d"},
                                 {{"a", 2}, {"d", 1}}, {});
  EXPECT_THAT(plan.ids, ElementsAre(Pair("b", 0), Pair("d", 1)));
  EXPECT_THAT(plan.problems, ElementsAre("a: subnet id 2 does not fit in 2001:db8:1:4::/63",
                                         "c: no free /64 left in 2001:db8:1:4::/63"));
  const auto too_long = plan_subnets(prefix("2001:db8:1:2:3::/80"), std::nullopt, {"a"}, {}, {});
  EXPECT_THAT(too_long.problems, ElementsAre(HasSubstr("has no /64 to give")));
}

TEST(LanSubnet, TwoLansConfiguredWithOneIdGetOneProblem) {
  const auto plan = plan_subnets(prefix("2001:db8:100::/56"), std::nullopt, {"a", "b"},
                                 {{"a", 5}, {"b", 5}}, {});
  EXPECT_THAT(plan.ids, ElementsAre(Pair("a", 5)));
  EXPECT_THAT(plan.problems, ElementsAre("b: subnet id 5 is already used by another LAN"));
}

}  // namespace
}  // namespace l2wg::lan
