#include "l2wg/bridge/tunnel.h"

#include <spdlog/spdlog.h>

#include <functional>
#include <vector>

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
    throw Error(ErrorCode::InvalidArgument,
                std::string(what) + " name '" + name + "' is " + std::to_string(name.size()) +
                    " bytes long; Linux allows at most 15");
  throw Error(ErrorCode::InvalidArgument,
              std::string(what) + " name '" + name +
                  "' is not a valid interface name (1-15 bytes, no '/', ':' or spaces)");
}

// Kernel WireGuard reports kind "wireguard"; userspace implementations sit on a TUN device.
void require_wireguard_kind(const nl::Link& link) {
  if (link.kind == "wireguard" || link.kind == "tun") return;
  throw Error(ErrorCode::InvalidArgument,
              link.name + " is " + (link.kind.empty() ? "a plain device" : "a " + link.kind) +
                  ", not a WireGuard interface");
}

}  // namespace

TunnelBuilder::TunnelBuilder(nl::Netlink& netlink, wg::WireGuardReader& wireguard,
                             dp::Datapath& datapath)
    : netlink_(netlink), wireguard_(wireguard), datapath_(datapath) {}

TunnelPlumbing TunnelBuilder::setup(const TunnelSpec& spec) {
  require_ifname(spec.wireguard, "WireGuard interface");
  require_ifname(spec.tap_name, "tap");
  if (spec.bridge) require_ifname(spec.bridge->name, "bridge");

  auto wg_link = netlink_.link(spec.wireguard);
  if (!wg_link)
    throw Error(ErrorCode::NotFound, "no interface named " + spec.wireguard);
  require_wireguard_kind(*wg_link);
  const wg::Device device = wireguard_.read_device(spec.wireguard);

  std::vector<IpAddress> wg_addresses;
  for (const auto& a : netlink_.addresses(wg_link->ifindex)) wg_addresses.push_back(a.prefix.address);
  const wg::PeerSelection selection = wg::select_peer(device, spec.peer, wg_addresses, spec.local);

  if (netlink_.link(spec.tap_name))
    throw Error(ErrorCode::Exists, "an interface named " + spec.tap_name + " already exists");

  std::optional<nl::Link> bridge;
  if (spec.bridge) {
    bridge = netlink_.link(spec.bridge->name);
    if (bridge && bridge->kind != "bridge")
      throw Error(ErrorCode::InvalidArgument,
                  spec.bridge->name + " is " +
                      (bridge->kind.empty() ? "a plain device" : "a " + bridge->kind) +
                      ", not a bridge");
    if (!bridge && !spec.bridge->create)
      throw Error(ErrorCode::NotFound,
                  "no bridge named " + spec.bridge->name + " (CreateBridge=yes creates it)");
  }

  TunnelPlumbing out;
  out.wireguard = spec.wireguard;
  out.wireguard_ifindex = wg_link->ifindex;
  out.peer_key = selection.peer.public_key;
  out.local = selection.local;
  out.remote = selection.remote;
  out.tap_name = spec.tap_name;
  out.mac = spec.mac.value_or(gre::derive_mac(selection.peer.public_key, device.public_key));
  const bool has_key = spec.key.has_value();
  out.plan = gre::plan(spec.datapath, spec.mtu, selection.remote.family(), has_key, wg_link->mtu,
                       /*kernel_gre=*/true);

  Rollback rollback;
  if (out.plan.datapath == gre::DatapathKind::Kernel) {
    try {
      out.tap_ifindex = netlink_.create_gretap(
          {spec.tap_name,
           {selection.local, selection.remote, wg_link->ifindex, spec.key, out.plan.fragment},
           out.mac,
           out.plan.tap_mtu});
      rollback.add([this, i = out.tap_ifindex] { netlink_.delete_link(i); });
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Unsupported || spec.datapath != gre::DatapathChoice::Auto) throw;
      spdlog::info("kernel gretap unavailable ({}); using the userspace datapath", e.what());
      out.plan = gre::plan(spec.datapath, spec.mtu, selection.remote.family(), has_key,
                           wg_link->mtu, /*kernel_gre=*/false);
    }
  }
  if (out.plan.datapath == gre::DatapathKind::Userspace) {
    out.userspace_id = datapath_.add(
        {spec.tap_name, spec.wireguard, selection.local, selection.remote, spec.key,
         out.plan.fragment});
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
    out.bridge = spec.bridge->name;
    if (!bridge) {
      out.bridge_ifindex = netlink_.create_bridge(spec.bridge->name);
      out.created_bridge = true;
      rollback.add([this, i = out.bridge_ifindex] { netlink_.delete_link(i); });
      bridge = netlink_.link(out.bridge_ifindex);
      if (!bridge) throw Error(ErrorCode::Kernel, "the bridge " + spec.bridge->name + " vanished");
    }
    out.bridge_ifindex = bridge->ifindex;
    netlink_.set_master(out.tap_ifindex, bridge->ifindex);
    // A bridge takes the smallest MTU of its ports unless its MTU was set explicitly. Setting it
    // back pins it, so a smaller tap never shrinks it (a lab router's WAN bridge must keep 1500).
    // The kernel ignores a "change" to the current value, so pinning beforehand is impossible.
    if (auto now = netlink_.link(bridge->ifindex); now && now->mtu != bridge->mtu)
      netlink_.set_mtu(bridge->ifindex, bridge->mtu);
    netlink_.set_bridge_port(out.tap_ifindex, {.multicast_router_permanent = true,
                                               .isolated = spec.bridge->isolated});
    if (out.created_bridge) netlink_.set_up(bridge->ifindex, true);
  }
  netlink_.set_up(out.tap_ifindex, true);
  rollback.commit();

  if (!out.plan.note.empty()) spdlog::warn("{}: {}", spec.tap_name, out.plan.note);
  return out;
}

void TunnelBuilder::teardown(const TunnelPlumbing& plumbing) {
  auto delete_if_present = [this](int ifindex, const std::string& name) {
    auto link = netlink_.link(ifindex);
    // An index can be reused by a new link after ours vanished: check the name too.
    if (link && link->name == name) netlink_.delete_link(ifindex);
  };
  if (plumbing.userspace_id) datapath_.remove(*plumbing.userspace_id);
  delete_if_present(plumbing.tap_ifindex, plumbing.tap_name);
  if (plumbing.created_bridge) delete_if_present(plumbing.bridge_ifindex, plumbing.bridge);
}

}  // namespace l2wg
