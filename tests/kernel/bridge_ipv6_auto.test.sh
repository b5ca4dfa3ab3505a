#!/usr/bin/env bash
# In the VM: kernel WireGuard with IPv6 inner addresses and Datapath=auto. The kernel has
# ip6gretap, but it would cap the tap below 1500, so auto picks the userspace datapath, which
# fragments the outer IPv6 packets itself: 1500-byte frames cross (the contract's MTU note).
export L2WG_KERNEL_WG=1 L2WG_INNER=6 L2WG_EXPECT_LAB=userspace L2WG_EXPECT_DORM=userspace
exec bash "$(dirname "$0")/../netns/bridge_mode.test.sh"
