#!/usr/bin/env bash
# In the VM: wire compatibility. The lab side runs kernel gretap, the dorm side l2wg's userspace
# datapath, over kernel WireGuard; everything the netns tier checks must still hold.
export L2WG_KERNEL_WG=1 L2WG_INNER=4 L2WG_DATAPATH_DORM=userspace
export L2WG_EXPECT_LAB=kernel L2WG_EXPECT_DORM=userspace
exec bash "$(dirname "$0")/../netns/bridge_mode.test.sh"
