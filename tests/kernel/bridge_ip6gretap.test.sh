#!/usr/bin/env bash
# In the VM: kernel WireGuard with IPv6 inner addresses and kernel ip6gretap forced on both sides.
# ip6gretap cannot fragment its outer packets over WireGuard, so the taps get the reduced MTU:
# WireGuard's 1420 minus 40 (IPv6) + 4 (GRE) + 14 (Ethernet) = 1362, and frames of that size cross.
export L2WG_KERNEL_WG=1 L2WG_INNER=6 L2WG_DATAPATH_LAB=kernel L2WG_DATAPATH_DORM=kernel
export L2WG_EXPECT_LAB=kernel L2WG_EXPECT_DORM=kernel L2WG_EXPECT_MTU=1362
exec bash "$(dirname "$0")/../netns/bridge_mode.test.sh"
