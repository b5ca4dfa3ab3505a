#!/usr/bin/env bash
# In the VM: kernel WireGuard and kernel gretap (IPv4 inner addresses) on both sides; the same
# acceptance as the netns tier (tests/netns/bridge_mode.test.sh), with Datapath=auto choosing
# the kernel.
export L2WG_KERNEL_WG=1 L2WG_INNER=4 L2WG_EXPECT_LAB=kernel L2WG_EXPECT_DORM=kernel
exec bash "$(dirname "$0")/../netns/bridge_mode.test.sh"
