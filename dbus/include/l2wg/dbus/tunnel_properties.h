// net.l2wg1.Tunnel's properties as one record for both ends of the bus, each field described once
// with its D-Bus property name, which is also its key in Describe()'s JSON. The daemon
// (TunnelStatus) holds the state and prefixes in its own types, the CLI (cli::TunnelInfo) as the
// text Describe() writes, so that a state it does not know yet still shows.
//
// Adding a property: its member and its line in `fields` here, the property in net.l2wg1.xml (a
// unit test holds the two in step) and its getter in dbus/src/service.cpp (the adaptor asks for
// it). Change notification, Describe() and the CLI's reading of it follow from `fields`; `l2wg
// monitor` reports its changes once cli/src/monitor_events.cpp has words for it.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "l2wg/described.h"
#include "l2wg/timed_prefix.h"

namespace l2wg {

// One entry of DelegatedPrefixes, a(stt).
template <typename Prefix>
using DelegatedPrefixOf = TimedPrefixOf<Prefix>;

// One entry of LANPrefixes, a(ss): the LAN interface and the /64 announced on it.
template <typename Prefix>
struct LanPrefixOf {
  std::string lan;
  Prefix prefix;

  static constexpr auto fields =
      std::tuple{field("LAN", &LanPrefixOf::lan), field("Prefix", &LanPrefixOf::prefix)};
  bool operator==(const LanPrefixOf&) const = default;
};

template <typename State, typename Prefix>
struct TunnelProperties {
  std::string name;
  State state{};
  std::string state_reason;
  std::string wireguard;
  std::string peer_public_key;
  std::string local_address;
  std::string remote_address;
  std::string interface;
  std::string bridge;
  std::string datapath;  // "kernel", "userspace", or "" before the tap exists
  uint32_t mtu = 0;
  std::string peer_endpoint;
  uint64_t last_handshake_us = 0;  // µs since the epoch, 0 = never
  std::vector<DelegatedPrefixOf<Prefix>> delegated_prefixes;
  std::vector<LanPrefixOf<Prefix>> lan_prefixes;
  std::string upstream_router;
  bool persistent = false;
  std::string gre_key;      // decimal, "" without a key
  std::string mac_address;  // the tap's
  uint32_t mss_clamp = 0;   // TCP SYNs' MSS is lowered to fit IP packets of this size; 0: never
  // The GRE path probe (l2wg/bridge/path_probe.h): "verified", "unverified" (the far end never
  // answered: not l2wg, or not yet), "outbound-lost", "inbound-lost"; "" while nothing is built.
  std::string path;
  std::string peer_mac_address;  // the far tap's, from its probes; "" until heard

  // In net.l2wg1.xml's order, which PropertiesChanged follows.
  static constexpr auto fields = std::tuple{
      field("Name", &TunnelProperties::name),
      field("State", &TunnelProperties::state),
      field("StateReason", &TunnelProperties::state_reason),
      field("WireGuard", &TunnelProperties::wireguard),
      field("PeerPublicKey", &TunnelProperties::peer_public_key),
      field("LocalAddress", &TunnelProperties::local_address),
      field("RemoteAddress", &TunnelProperties::remote_address),
      field("Interface", &TunnelProperties::interface),
      field("Bridge", &TunnelProperties::bridge),
      field("Datapath", &TunnelProperties::datapath),
      field("MTU", &TunnelProperties::mtu),
      field("PeerEndpoint", &TunnelProperties::peer_endpoint),
      field("LastHandshake", &TunnelProperties::last_handshake_us),
      field("DelegatedPrefixes", &TunnelProperties::delegated_prefixes),
      field("LANPrefixes", &TunnelProperties::lan_prefixes),
      field("UpstreamRouter", &TunnelProperties::upstream_router),
      field("Persistent", &TunnelProperties::persistent),
      field("GREKey", &TunnelProperties::gre_key),
      field("MACAddress", &TunnelProperties::mac_address),
      field("MSSClamp", &TunnelProperties::mss_clamp),
      field("Path", &TunnelProperties::path),
      field("PeerMACAddress", &TunnelProperties::peer_mac_address),
  };
  bool operator==(const TunnelProperties&) const = default;
};

}  // namespace l2wg
