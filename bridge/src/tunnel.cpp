#include "l2wg/bridge/tunnel.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "l2wg/bridge/mss_clamp.h"
#include "l2wg/error.h"

namespace l2wg {
namespace {

// Undo steps recorded as setup proceeds; run in reverse unless the setup commits.
class Rollback {
 public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      try {
        (*it)();
      } catch (const std::exception& e) {
        spdlog::warn("rollback step failed: {}", e.what());
      }
    }
  }
  void add(std::function<void()> step) { steps_.push_back(std::move(step)); }
  void commit() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

void require_ifname(const std::string& name, const char* what) {
  if (nl::valid_ifname(name)) return;
  if (name.size() >= 16)
    throw Error(ErrorCode::InvalidArgument, std::string(what) + " name '" + name + "' is " +
                                                std::to_string(name.size()) +
                                                " bytes long; Linux allows at most 15");
  throw Error(ErrorCode::InvalidArgument,
              std::string(what) + " name '" + name +
                  "' is not a valid interface name (1-15 bytes, no '/', ':' or spaces)");
}

std::string a_kind(const nl::Link& link) {
  return link.kind.empty() ? "a plain device" : "a " + link.kind;
}

// Kernel WireGuard reports kind "wireguard"; userspace implementations sit on a TUN device.
void require_wireguard_kind(const nl::Link& link) {
  if (link.kind == "wireguard" || link.kind == "tun") return;
  throw Error(ErrorCode::InvalidArgument,
              link.name + " is " + a_kind(link) + ", not a WireGuard interface");
}

// What the userspace datapath needs of a tunnel; the MSS clamp it applies is said once here.
dp::TunnelSpec userspace_spec(const TunnelSpec& spec, const TunnelPlumbing& out, uint32_t wg_mtu) {
  if (const auto mtu = out.plan.mss_clamp_mtu) {
    spdlog::info(
        "{}: TCP MSS clamped to {} (IPv4) / {} (IPv6) in both directions, so that full "
        "segments cross {} (MTU {}) unfragmented",
        spec.tap_name, mss::mss_for(IpAddress::Family::V4, *mtu),
        mss::mss_for(IpAddress::Family::V6, *mtu), spec.wireguard, wg_mtu);
  }
  return {.tap_name = spec.tap_name,
          .wireguard = spec.wireguard,
          .local = out.local,
          .remote = out.remote,
          .key = spec.key,
          .fragment = out.plan.fragment,
          .mss_clamp_mtu = out.plan.mss_clamp_mtu,
          .tap_mtu = out.plan.tap_mtu};
}

}  // namespace

struct TunnelBuilder::Checked {
  nl::Link wireguard;
  wg::PeerSelection selection;
  std::optional<nl::Link> bridge;  // nullopt: none wanted, or to be created
  TunnelPlumbing plumbing;         // everything decided, no ifindex yet
};

TunnelBuilder::TunnelBuilder(nl::Netlink& netlink, wg::WireGuardReader& wireguard,
                             dp::Datapath& datapath, nft::Nftables* nftables)
    : netlink_(netlink), wireguard_(wireguard), datapath_(datapath), nftables_(nftables) {}

// Kernel gretap's MSS clamp. Without nftables the tunnel still works, unclamped, and its plan
// (hence MSSClamp and StateReason) says so.
void TunnelBuilder::clamp_kernel_mss(TunnelPlumbing& out) {
  if (out.plan.datapath != gre::DatapathKind::Kernel || !out.plan.mss_clamp_mtu) return;
  const uint32_t ip_mtu = *out.plan.mss_clamp_mtu;
  out.plan.mss_clamp_mtu.reset();
  if (!nftables_) return;
  try {
    nftables_->apply(nft::install_commands({out.tap_name, !out.bridge.empty(), ip_mtu}));
    out.plan.mss_clamp_mtu = ip_mtu;
    spdlog::info("{}: TCP MSS clamped to {} (IPv4) / {} (IPv6) by nftables table {}", out.tap_name,
                 mss::mss_for(IpAddress::Family::V4, ip_mtu),
                 mss::mss_for(IpAddress::Family::V6, ip_mtu), nft::table_name(out.tap_name));
  } catch (const Error& e) {
    spdlog::warn("{}: TCP MSS not clamped: {}", out.tap_name, e.what());
    out.plan.note += (out.plan.note.empty() ? "" : "; ") +
                     std::string(
                         "TCP's MSS is not clamped, so full TCP segments are fragmented "
                         "inside WireGuard (") +
                     e.what() + ")";
  }
}

TunnelBuilder::Checked TunnelBuilder::check(const TunnelSpec& spec) {
  require_ifname(spec.wireguard, "WireGuard interface");
  require_ifname(spec.tap_name, "tap");
  if (spec.bridge) require_ifname(spec.bridge->name, "bridge");

  Checked c;
  auto wg_link = netlink_.link(spec.wireguard);
  if (!wg_link) throw Error(ErrorCode::NotFound, "no interface named " + spec.wireguard);
  require_wireguard_kind(*wg_link);
  c.wireguard = *wg_link;
  const wg::Device device = wireguard_.read_device(spec.wireguard);

  std::vector<IpAddress> wg_addresses;
  for (const auto& a : netlink_.addresses(wg_link->ifindex))
    wg_addresses.push_back(a.prefix.address);
  c.selection = wg::select_peer(device, spec.peer, wg_addresses, spec.local);

  if (spec.bridge) {
    c.bridge = netlink_.link(spec.bridge->name);
    if (c.bridge && c.bridge->kind != "bridge")
      throw Error(ErrorCode::InvalidArgument,
                  spec.bridge->name + " is " + a_kind(*c.bridge) + ", not a bridge");
    if (!c.bridge && !spec.bridge->create)
      throw Error(ErrorCode::NotFound,
                  "no bridge named " + spec.bridge->name + " (CreateBridge=yes creates it)");
  }

  auto& out = c.plumbing;
  out.wireguard = spec.wireguard;
  out.wireguard_ifindex = wg_link->ifindex;
  out.peer_key = c.selection.peer.public_key;
  out.local = c.selection.local;
  out.remote = c.selection.remote;
  out.tap_name = spec.tap_name;
  out.mac = spec.mac.value_or(
      gre::derive_mac(c.selection.peer.public_key, device.public_key, {spec.key, spec.tap_name}));
  out.plan = gre::plan(spec.datapath, spec.mtu, c.selection.remote.family(), spec.key.has_value(),
                       wg_link->mtu, /*kernel_gre=*/true);
  if (spec.bridge) out.bridge = spec.bridge->name;
  return c;
}

// Enslaves the tap, keeping the bridge's MTU, and configures the port.
static void attach_to_bridge(nl::Netlink& netlink, const BridgeSpec& spec, const nl::Link& bridge,
                             int tap_ifindex) {
  // A bridge whose MAC was never set takes the lowest MAC among its ports: our tap could change
  // the MAC of a lab router's WAN bridge under its neighbours' feet. Setting the MAC it already
  // has marks it as set (the kernel does so even for the same value), so it stays.
  if (bridge.mac != MacAddress{}) netlink.set_mac(bridge.ifindex, bridge.mac);
  netlink.set_master(tap_ifindex, bridge.ifindex);
  // A bridge takes the smallest MTU of its ports unless its MTU was set explicitly. Setting it
  // back pins it, so a smaller tap never shrinks it (a lab router's WAN bridge must keep 1500).
  // The kernel ignores a "change" to the current value, so pinning beforehand is impossible.
  if (auto now = netlink.link(bridge.ifindex); now && now->mtu != bridge.mtu)
    netlink.set_mtu(bridge.ifindex, bridge.mtu);
  netlink.set_bridge_port(tap_ifindex,
                          {.multicast_router_permanent = true, .isolated = spec.isolated});
}

void TunnelBuilder::rejoin_bridge(TunnelPlumbing& plumbing, const TunnelSpec& spec) {
  if (!spec.bridge) return;
  const auto bridge = netlink_.link(spec.bridge->name);
  if (!bridge) throw Error(ErrorCode::NotFound, "no bridge named " + spec.bridge->name);
  if (bridge->kind != "bridge")
    throw Error(ErrorCode::InvalidArgument,
                spec.bridge->name + " is " + a_kind(*bridge) + ", not a bridge");
  attach_to_bridge(netlink_, *spec.bridge, *bridge, plumbing.tap_ifindex);
  // A bridge made anew by someone else is theirs: teardown leaves it.
  if (bridge->ifindex != plumbing.bridge_ifindex) plumbing.created_bridge = false;
  plumbing.bridge_ifindex = bridge->ifindex;
}

TunnelPlumbing TunnelBuilder::setup(const TunnelSpec& spec) {
  Checked c = check(spec);
  TunnelPlumbing& out = c.plumbing;
  if (netlink_.link(spec.tap_name))
    throw Error(ErrorCode::Exists, "an interface named " + spec.tap_name + " already exists");

  Rollback rollback;
  if (out.plan.datapath == gre::DatapathKind::Kernel) {
    try {
      out.tap_ifindex = netlink_.create_gretap(
          {spec.tap_name,
           {out.local, out.remote, c.wireguard.ifindex, spec.key, out.plan.fragment},
           out.mac,
           out.plan.tap_mtu});
      rollback.add([this, i = out.tap_ifindex] { netlink_.delete_link(i); });
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Unsupported || spec.datapath != gre::DatapathChoice::Auto) throw;
      spdlog::info("kernel gretap unavailable ({}); using the userspace datapath", e.what());
      out.plan = gre::plan(spec.datapath, spec.mtu, out.remote.family(), spec.key.has_value(),
                           c.wireguard.mtu, /*kernel_gre=*/false);
    }
  }
  if (out.plan.datapath == gre::DatapathKind::Userspace) {
    out.userspace_id = datapath_.add(userspace_spec(spec, out, c.wireguard.mtu));
    auto tap = netlink_.link(spec.tap_name);
    if (!tap) {
      datapath_.remove(*out.userspace_id);
      throw Error(ErrorCode::Kernel, "the TAP " + spec.tap_name + " vanished");
    }
    out.tap_ifindex = tap->ifindex;
    // Undone in reverse: the worker lets go of the TAP's fds first, then the TAP is deleted.
    rollback.add([this, i = out.tap_ifindex] { netlink_.delete_link(i); });
    rollback.add([this, id = *out.userspace_id] { datapath_.remove(id); });
    netlink_.set_mac(out.tap_ifindex, out.mac);
    netlink_.set_mtu(out.tap_ifindex, out.plan.tap_mtu);
  }

  if (spec.bridge) {
    if (!c.bridge) {
      const int ifindex = netlink_.create_bridge(spec.bridge->name);
      out.created_bridge = true;
      rollback.add([this, ifindex] { netlink_.delete_link(ifindex); });
      c.bridge = netlink_.link(ifindex);
      if (!c.bridge)
        throw Error(ErrorCode::Kernel, "the bridge " + spec.bridge->name + " vanished");
    }
    out.bridge_ifindex = c.bridge->ifindex;
    netlink_.disable_ipv6_addresses(out.tap_ifindex);
    attach_to_bridge(netlink_, *spec.bridge, *c.bridge, out.tap_ifindex);
    if (out.created_bridge) netlink_.set_up(c.bridge->ifindex, true);
  }
  for (const auto& [key, value] : spec.ipv6_conf)
    netlink_.set_ipv6_conf(out.tap_ifindex, key, value);
  netlink_.set_up(out.tap_ifindex, true);
  clamp_kernel_mss(out);
  rollback.commit();

  return out;
}

std::optional<TunnelPlumbing> TunnelBuilder::adopt(const TunnelSpec& spec, bool created_bridge) {
  // Nothing to adopt is the common case (every new tunnel): skip the check that setup() repeats.
  const auto tap = netlink_.link(spec.tap_name);
  if (!tap) return std::nullopt;
  Checked c = check(spec);
  TunnelPlumbing& out = c.plumbing;
  auto mismatch = [&](const std::string& what) {
    return Error(ErrorCode::Exists, "an interface named " + spec.tap_name +
                                        " exists but is not this tunnel's: " + what);
  };

  Rollback rollback;
  if (tap->kind == "gretap" || tap->kind == "ip6gretap") {
    const nl::GreLink expected{out.local, out.remote, c.wireguard.ifindex, spec.key,
                               out.plan.fragment};
    if (!tap->gre || !(*tap->gre == expected))
      throw mismatch("its GRE parameters differ (endpoints, key, device or fragmentation)");
    out.plan.datapath = gre::DatapathKind::Kernel;
  } else if (tap->kind == "tun") {
    if (out.plan.datapath == gre::DatapathKind::Kernel) {
      // Saved as userspace by a run whose kernel had no gretap: still so, presumably.
      out.plan = gre::plan(spec.datapath, spec.mtu, out.remote.family(), spec.key.has_value(),
                           c.wireguard.mtu, /*kernel_gre=*/false);
    }
    out.userspace_id = datapath_.add(userspace_spec(spec, out, c.wireguard.mtu));
    rollback.add([this, id = *out.userspace_id] { datapath_.remove(id); });
  } else {
    throw mismatch("it is " + a_kind(*tap));
  }
  out.tap_ifindex = tap->ifindex;
  if (tap->mac != out.mac) netlink_.set_mac(tap->ifindex, out.mac);
  if (tap->mtu != out.plan.tap_mtu) netlink_.set_mtu(tap->ifindex, out.plan.tap_mtu);
  if (spec.bridge) {
    out.created_bridge = created_bridge;
    if (!c.bridge) {  // check() allowed this: CreateBridge=yes
      const int ifindex = netlink_.create_bridge(spec.bridge->name);
      out.created_bridge = true;
      rollback.add([this, ifindex] { netlink_.delete_link(ifindex); });
      netlink_.set_up(ifindex, true);
      c.bridge = netlink_.link(ifindex);
      if (!c.bridge)
        throw Error(ErrorCode::Kernel, "the bridge " + spec.bridge->name + " vanished");
    }
    out.bridge_ifindex = c.bridge->ifindex;
    if (tap->master_ifindex != c.bridge->ifindex)
      attach_to_bridge(netlink_, *spec.bridge, *c.bridge, tap->ifindex);
  }
  for (const auto& [key, value] : spec.ipv6_conf) netlink_.set_ipv6_conf(tap->ifindex, key, value);
  if (!tap->up) netlink_.set_up(tap->ifindex, true);
  clamp_kernel_mss(out);
  rollback.commit();
  return out;
}

void TunnelBuilder::teardown(const TunnelPlumbing& plumbing) {
  auto delete_if_present = [this](int ifindex, const std::string& name) {
    auto link = netlink_.link(ifindex);
    // An index can be reused by a new link after ours vanished: check the name too.
    if (link && link->name == name) netlink_.delete_link(ifindex);
  };
  if (plumbing.userspace_id) datapath_.remove(*plumbing.userspace_id);
  if (nftables_ && !plumbing.userspace_id && plumbing.plan.mss_clamp_mtu) {
    try {
      nftables_->apply(nft::remove_commands(plumbing.tap_name));
    } catch (const Error& e) {
      spdlog::warn("{}: cannot remove nftables table {}: {}", plumbing.tap_name,
                   nft::table_name(plumbing.tap_name), e.what());
    }
  }
  delete_if_present(plumbing.tap_ifindex, plumbing.tap_name);
  if (plumbing.created_bridge) {
    // Made for this tunnel, but other ports may have joined it since: then it is theirs too.
    const auto links = netlink_.links();
    const bool other_ports = std::any_of(links.begin(), links.end(), [&](const nl::Link& link) {
      return link.master_ifindex == plumbing.bridge_ifindex;
    });
    if (other_ports)
      spdlog::info("{}: the bridge {} it created has other ports now, so it stays",
                   plumbing.tap_name, plumbing.bridge);
    else
      delete_if_present(plumbing.bridge_ifindex, plumbing.bridge);
  }
}

Statistics TunnelBuilder::statistics(const TunnelPlumbing& plumbing) {
  const nl::LinkStats tap = netlink_.link_stats(plumbing.tap_ifindex);
  if (!plumbing.userspace_id) {
    // gretap's own view: it sends what the bridge or the host hands it into GRE.
    return {{"FramesOut", tap.tx_packets},  {"BytesOut", tap.tx_bytes},
            {"FramesIn", tap.rx_packets},   {"BytesIn", tap.rx_bytes},
            {"DroppedOut", tap.tx_dropped}, {"DroppedIn", tap.rx_dropped},
            {"ErrorsOut", tap.tx_errors},   {"ErrorsIn", tap.rx_errors}};
  }
  // A TAP is the other way round: what it transmits goes to the datapath, what it receives came
  // from GRE. Its drops are the frames lost between the kernel and the datapath.
  const dp::Counters c = datapath_.counters(*plumbing.userspace_id);
  return {{"FramesOut", c.frames_out},
          {"BytesOut", c.bytes_out},
          {"FramesIn", c.frames_in},
          {"BytesIn", c.bytes_in},
          {"DroppedOut", tap.tx_dropped},
          {"DroppedIn", tap.rx_dropped},
          {"DroppedMalformed", c.malformed_in},
          {"DroppedWrongKey", c.wrong_key_in},
          {"SendErrors", c.send_errors},
          {"MSSClamped", c.mss_clamped},
          {"SegmentedOut", c.segmented_out},
          {"CoalescedIn", c.coalesced_in}};
}

}  // namespace l2wg
