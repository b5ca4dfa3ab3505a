// The journal's L2WG_TUNNEL= field: a message is about a tunnel when it starts with the name of one
// this run has known and ": ".
#include "l2wg/daemon/journal.h"

#include <gtest/gtest.h>

namespace l2wg::journal {
namespace {

TEST(Journal, MessagesAboutAKnownTunnelNameIt) {
  EXPECT_EQ(tunnel_of("dorm: up"), std::nullopt) << "not known yet";
  tunnel_known("dorm");
  EXPECT_EQ(tunnel_of("dorm: DHCPv6 bound"), "dorm");
  EXPECT_EQ(tunnel_of("dorm: CreateTunnel: requested by uid 0"), "dorm");
  EXPECT_EQ(tunnel_of("dormitory: up"), std::nullopt);
  EXPECT_EQ(tunnel_of("SIGHUP: re-reading /etc/l2wg"), std::nullopt);
  EXPECT_EQ(tunnel_of("dorm"), std::nullopt);
  EXPECT_EQ(tunnel_of(": dorm"), std::nullopt);
  EXPECT_EQ(tunnel_of(""), std::nullopt);
}

}  // namespace
}  // namespace l2wg::journal
