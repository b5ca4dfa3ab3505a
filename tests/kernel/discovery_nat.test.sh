#!/usr/bin/env bash
# In the VM: endpoint discovery through a registry with kernel WireGuard, so the client sets the
# dorms' endpoints and keepalives over genetlink (WG_CMD_SET_DEVICE) rather than wireguard-go's
# UAPI socket; everything the netns tier checks must still hold.
export L2WG_KERNEL_WG=1
exec bash "$(dirname "$0")/../netns/discovery_nat.test.sh"
