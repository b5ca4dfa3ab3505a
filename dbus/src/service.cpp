#include "l2wg/dbus/service.h"

#include <grp.h>
#include <pwd.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include <map>
#include <sdbus-c++/sdbus-c++.h>
#include <spdlog/spdlog.h>

#include "l2wg/daemon/discovery.h"
#include "l2wg/daemon/manager.h"
#include "l2wg/dbus/adaptor.h"
#include "l2wg/dbus/error_names.h"
#include "l2wg/error.h"

namespace l2wg {
namespace {

constexpr const char* kBusName = "net.l2wg1";
constexpr const char* kManagerPath = "/net/l2wg1";
constexpr const char* kTunnelPrefix = "/net/l2wg1/tunnel";
constexpr const char* kAccessGroup = "l2wg";

std::string tunnel_path(const std::string& name) {
  char* path = nullptr;
  if (sd_bus_path_encode(kTunnelPrefix, name.c_str(), &path) < 0 || !path)
    throw std::bad_alloc();
  std::string out(path);
  free(path);
  return out;
}

// sdbus-c++ 1.2 turns only sdbus::Error into a D-Bus error reply; anything else escaping a
// handler would abort the daemon. Every handler runs through here.
template <typename F>
auto guarded(F&& handler) -> decltype(handler()) {
  try {
    return handler();
  } catch (const sdbus::Error&) {
    throw;
  } catch (const Error& e) {
    throw sdbus::Error(dbus_error_name(e.code()), e.what());
  } catch (const std::exception& e) {
    spdlog::error("internal error in a D-Bus call: {}", e.what());
    throw sdbus::Error("org.freedesktop.DBus.Error.Failed", e.what());
  }
}

// The policy file already restricts mutating calls; this is the second check it asks for.
void require_privileged(const sdbus::IObject& object) {
  const sdbus::Message* message = object.getCurrentlyProcessedMessage();
  if (!message) throw sdbus::Error("org.freedesktop.DBus.Error.AccessDenied", "no caller");
  const uid_t uid = message->getCredsUid();
  if (uid == 0) return;
  const group* access = getgrnam(kAccessGroup);
  const passwd* user = getpwuid(uid);
  if (access && user) {
    int count = 64;
    std::vector<gid_t> groups(static_cast<size_t>(count));
    if (getgrouplist(user->pw_name, user->pw_gid, groups.data(), &count) < 0) {
      groups.resize(static_cast<size_t>(count));
      getgrouplist(user->pw_name, user->pw_gid, groups.data(), &count);
    }
    groups.resize(static_cast<size_t>(count));
    for (gid_t gid : groups)
      if (gid == access->gr_gid) return;
  }
  throw sdbus::Error("org.freedesktop.DBus.Error.AccessDenied",
                     "only root and members of group l2wg may change tunnels");
}

// Who sent the call being handled, for the log: "uid 0 (:1.42)".
std::string caller(const sdbus::IObject& object) {
  const sdbus::Message* message = object.getCurrentlyProcessedMessage();
  if (!message) return "nobody";
  std::string who = "uid ";
  try {
    who += std::to_string(message->getCredsUid());
  } catch (const sdbus::Error&) {
    who += "?";
  }
  return who + " (" + message->getSender() + ")";
}

// A call that changes tunnels: the caller must be privileged, and the log says who asked for
// what, and why it was refused if it was. `what` names the request ("lab: Stop").
template <typename F>
auto on_behalf(const sdbus::IObject& object, const std::string& what, F&& change)
    -> decltype(change()) {
  const std::string who = caller(object);
  try {
    require_privileged(object);
    spdlog::info("{}: requested by {}", what, who);
    return change();
  } catch (const sdbus::Error& e) {
    spdlog::warn("{}: refused for {}: {}", what, who, e.getMessage());
    throw;
  } catch (const std::exception& e) {
    spdlog::warn("{}: refused for {}: {}", what, who, e.what());
    throw;
  }
}

// CreateTunnel's a{sv} as the config library's neutral settings; other types are named as wrong.
std::map<std::string, config::SettingValue> to_settings(
    const std::map<std::string, sdbus::Variant>& in) {
  std::map<std::string, config::SettingValue> out;
  for (const auto& [key, value] : in) {
    const std::string type = value.peekValueType();
    if (type == "s")
      out[key] = value.get<std::string>();
    else if (type == "b")
      out[key] = value.get<bool>();
    else if (type == "u")
      out[key] = value.get<uint32_t>();
    else if (type == "as")
      out[key] = value.get<std::vector<std::string>>();
    else
      throw Error(ErrorCode::InvalidArgument,
                  key + ": the value has D-Bus type " + type + ", which no setting takes");
  }
  return out;
}

}  // namespace

class TunnelObject final
    : public sdbus::AdaptorInterfaces<net::l2wg1::Tunnel_adaptor, sdbus::ManagedObject_adaptor,
                                      sdbus::Properties_adaptor> {
 public:
  TunnelObject(sdbus::IConnection& connection, TunnelManager& manager, const std::string& name)
      : AdaptorInterfaces(connection, tunnel_path(name)), manager_(manager), name_(name) {
    registerAdaptor();
    emitInterfacesAddedSignal({net::l2wg1::Tunnel_adaptor::INTERFACE_NAME});
  }
  ~TunnelObject() {
    try {
      if (announce_removal_) emitInterfacesRemovedSignal({net::l2wg1::Tunnel_adaptor::INTERFACE_NAME});
    } catch (const sdbus::Error& e) {  // the bus may be gone already
      spdlog::debug("InterfacesRemoved for {}: {}", name_, e.what());
    }
    unregisterAdaptor();
  }

  // l2wgd is exiting and the tunnel stays up: its object goes with the bus name, which
  // NameOwnerChanged says; an InterfacesRemoved would tell monitors the tunnel was deleted.
  void leave_silently() { announce_removal_ = false; }

  void changed(const std::vector<std::string>& properties) {
    emitPropertiesChangedSignal(net::l2wg1::Tunnel_adaptor::INTERFACE_NAME, properties);
  }
  void prefix_delegated(const IpPrefix& prefix) { emitPrefixDelegated(prefix.str()); }
  void prefix_lost(const IpPrefix& prefix, const std::string& reason) {
    emitPrefixLost(prefix.str(), reason);
  }

 private:
  const TunnelStatus& status() {
    const TunnelStatus* s = manager_.find(name_);
    if (!s) throw Error(ErrorCode::NotFound, "no tunnel named " + name_);
    return *s;
  }

  void Renew() override {
    guarded([&] { on_behalf(getObject(), name_ + ": Renew", [&] { manager_.renew(name_); }); });
  }
  void Release() override {
    guarded([&] { on_behalf(getObject(), name_ + ": Release", [&] { manager_.release(name_); }); });
  }
  void Restart() override {
    guarded([&] { on_behalf(getObject(), name_ + ": Restart", [&] { manager_.restart(name_); }); });
  }
  void Stop() override {
    guarded([&] { on_behalf(getObject(), name_ + ": Stop", [&] { manager_.stop(name_); }); });
  }
  void Start() override {
    guarded([&] { on_behalf(getObject(), name_ + ": Start", [&] { manager_.start(name_); }); });
  }
  std::string Describe() override {
    return guarded([&] { return describe_json(status(), manager_.probe_times(name_)); });
  }
  std::vector<sdbus::Struct<std::string, std::string, std::string, std::string>> Diagnose()
      override {
    return guarded([&] {
      std::vector<sdbus::Struct<std::string, std::string, std::string, std::string>> out;
      for (const auto& f : manager_.diagnose(name_))
        out.emplace_back(f.severity, f.code, f.diagnosis, f.fix);
      return out;
    });
  }
  std::map<std::string, uint64_t> GetStatistics() override {
    return guarded([&] {
      std::map<std::string, uint64_t> out;
      for (const auto& [counter, value] : manager_.statistics(name_)) out.emplace(counter, value);
      return out;
    });
  }

  std::string Name() override { return name_; }
  std::string State() override { return guarded([&] { return to_string(status().state); }); }
  std::string StateReason() override { return guarded([&] { return status().state_reason; }); }
  std::string WireGuard() override { return guarded([&] { return status().wireguard; }); }
  std::string PeerPublicKey() override { return guarded([&] { return status().peer_public_key; }); }
  std::string LocalAddress() override { return guarded([&] { return status().local_address; }); }
  std::string RemoteAddress() override { return guarded([&] { return status().remote_address; }); }
  std::string Interface() override { return guarded([&] { return status().interface; }); }
  std::string Bridge() override { return guarded([&] { return status().bridge; }); }
  std::string Datapath() override { return guarded([&] { return status().datapath; }); }
  uint32_t MTU() override { return guarded([&] { return status().mtu; }); }
  std::string PeerEndpoint() override { return guarded([&] { return status().peer_endpoint; }); }
  uint64_t LastHandshake() override { return guarded([&] { return status().last_handshake_us; }); }
  std::vector<sdbus::Struct<std::string, uint64_t, uint64_t>> DelegatedPrefixes() override {
    return guarded([&] {
      std::vector<sdbus::Struct<std::string, uint64_t, uint64_t>> out;
      for (const auto& p : status().delegated_prefixes)
        out.emplace_back(p.prefix.str(), p.preferred_until_us, p.valid_until_us);
      return out;
    });
  }
  std::vector<sdbus::Struct<std::string, std::string>> LANPrefixes() override {
    return guarded([&] {
      std::vector<sdbus::Struct<std::string, std::string>> out;
      for (const auto& l : status().lan_prefixes) out.emplace_back(l.lan, l.prefix.str());
      return out;
    });
  }
  std::string UpstreamRouter() override { return guarded([&] { return status().upstream_router; }); }
  bool Persistent() override { return guarded([&] { return status().persistent; }); }
  std::string GREKey() override { return guarded([&] { return status().gre_key; }); }
  std::string MACAddress() override { return guarded([&] { return status().mac_address; }); }
  uint32_t MSSClamp() override { return guarded([&] { return status().mss_clamp; }); }
  std::string Path() override { return guarded([&] { return status().path; }); }
  std::string PeerMACAddress() override {
    return guarded([&] { return status().peer_mac_address; });
  }
  uint64_t LastProbeAnswer() override {
    return guarded([&] { return manager_.probe_times(name_).last_answer_us; });
  }
  uint32_t ProbeRoundTrip() override {
    return guarded([&] { return manager_.probe_times(name_).round_trip_us; });
  }

  TunnelManager& manager_;
  std::string name_;
  bool announce_removal_ = true;
};

class ManagerObject final
    : public sdbus::AdaptorInterfaces<net::l2wg1::Manager_adaptor, sdbus::ObjectManager_adaptor> {
 public:
  ManagerObject(sdbus::IConnection& connection, TunnelManager& manager, std::string version)
      : AdaptorInterfaces(connection, kManagerPath), manager_(manager), version_(std::move(version)) {
    registerAdaptor();
  }
  ~ManagerObject() { unregisterAdaptor(); }

 private:
  sdbus::ObjectPath CreateTunnel(const std::string& name,
                                 const std::map<std::string, sdbus::Variant>& settings,
                                 const bool& persist) override {
    return guarded([&] {
      return on_behalf(getObject(), name + ": CreateTunnel" + (persist ? " (persist)" : ""), [&] {
        const auto tunnel = config::tunnel_from_settings(name, to_settings(settings));
        manager_.create(tunnel, persist);
        return sdbus::ObjectPath(tunnel_path(name));
      });
    });
  }
  void DeleteTunnel(const std::string& name) override {
    guarded([&] { on_behalf(getObject(), name + ": DeleteTunnel", [&] { manager_.remove(name); }); });
  }
  std::vector<sdbus::Struct<std::string, sdbus::ObjectPath>> ListTunnels() override {
    return guarded([&] {
      std::vector<sdbus::Struct<std::string, sdbus::ObjectPath>> out;
      for (const auto& t : manager_.list())
        out.emplace_back(t.name, sdbus::ObjectPath(tunnel_path(t.name)));
      return out;
    });
  }
  sdbus::ObjectPath GetTunnel(const std::string& name) override {
    return guarded([&] {
      if (!manager_.find(name)) throw Error(ErrorCode::NotFound, "no tunnel named " + name);
      return sdbus::ObjectPath(tunnel_path(name));
    });
  }
  void Reload() override {
    guarded([&] {
      const auto errors = on_behalf(getObject(), "Reload", [&] {
        auto all = manager_.reload();
        if (discovery_) {
          const auto more = discovery_->reload();
          all.insert(all.end(), more.begin(), more.end());
        }
        return all;
      });
      if (errors.empty()) return;
      std::string message = "the other files were applied, but:";
      for (const auto& e : errors) message += " " + e + ";";
      message.pop_back();
      throw Error(ErrorCode::InvalidArgument, message);
    });
  }
  void SetDiscovery(const std::string& wireguard,
                    const std::map<std::string, sdbus::Variant>& settings) override {
    guarded([&] {
      on_behalf(getObject(), wireguard + ": SetDiscovery",
                [&] { discovery().set(wireguard, to_settings(settings)); });
    });
  }
  void RemoveDiscovery(const std::string& wireguard) override {
    guarded([&] {
      on_behalf(getObject(), wireguard + ": RemoveDiscovery",
                [&] { discovery().remove(wireguard); });
    });
  }
  std::string DescribeDiscovery() override {
    return guarded([&] { return discovery().describe(); });
  }
  std::string Version() override { return version_; }

  DiscoveryService& discovery() {
    if (!discovery_) throw Error(ErrorCode::Unsupported, "this l2wgd runs no endpoint discovery");
    return *discovery_;
  }

 public:
  DiscoveryService* discovery_ = nullptr;

 private:
  TunnelManager& manager_;
  std::string version_;
};

struct BusService::Impl final : ManagerObserver {
  Impl(TunnelManager& m, std::string version)
      : manager(m), connection(sdbus::createSystemBusConnection()),
        manager_object(*connection, m, std::move(version)) {
    for (const auto& t : m.list()) tunnels.emplace(t.name, std::make_unique<TunnelObject>(*connection, m, t.name));
    m.set_observer(this);
  }
  ~Impl() override {
    manager.set_observer(nullptr);
    for (auto& [name, tunnel] : tunnels) tunnel->leave_silently();
  }

  void tunnel_added(const TunnelStatus& status) override {
    tunnels[status.name] = std::make_unique<TunnelObject>(*connection, manager, status.name);
  }
  // Tunnel.Stop() of a tunnel without a file removes it from inside its own object's handler:
  // the object goes once the call is answered.
  void tunnel_removed(const std::string& name) override {
    auto it = tunnels.find(name);
    if (it == tunnels.end()) return;
    removed.push_back(std::move(it->second));
    tunnels.erase(it);
  }
  void tunnel_changed(const TunnelStatus& status,
                      const std::vector<std::string>& properties) override {
    auto it = tunnels.find(status.name);
    if (it != tunnels.end()) it->second->changed(properties);
  }
  void prefix_delegated(const TunnelStatus& status, const IpPrefix& prefix) override {
    auto it = tunnels.find(status.name);
    if (it != tunnels.end()) it->second->prefix_delegated(prefix);
  }
  void prefix_lost(const TunnelStatus& status, const IpPrefix& prefix,
                   const std::string& reason) override {
    auto it = tunnels.find(status.name);
    if (it != tunnels.end()) it->second->prefix_lost(prefix, reason);
  }

  TunnelManager& manager;
  std::unique_ptr<sdbus::IConnection> connection;
  ManagerObject manager_object;
  std::map<std::string, std::unique_ptr<TunnelObject>> tunnels;
  std::vector<std::unique_ptr<TunnelObject>> removed;  // gone, still answering their last call
};

BusService::BusService(TunnelManager& manager, std::string version)
    : impl_(std::make_unique<Impl>(manager, std::move(version))) {}

BusService::~BusService() = default;

void BusService::set_discovery(DiscoveryService* discovery) {
  impl_->manager_object.discovery_ = discovery;
}

void BusService::request_name() {
  try {
    impl_->connection->requestName(kBusName);
  } catch (const sdbus::Error& e) {
    throw Error(ErrorCode::Exists, std::string("cannot own ") + kBusName +
                                       " on the system bus (is another l2wgd running?): " +
                                       e.getMessage());
  }
}

BusPollData BusService::poll_data() const {
  const auto data = impl_->connection->getEventLoopPollData();
  BusPollData out{data.fd, data.events, -1};
  if (data.timeout_usec != UINT64_MAX) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const uint64_t now_us = static_cast<uint64_t>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
    out.timeout_ms = data.timeout_usec <= now_us
                         ? 0
                         : static_cast<int>(std::min<uint64_t>((data.timeout_usec - now_us + 999) / 1000, INT32_MAX));
  }
  return out;
}

void BusService::process() {
  impl_->removed.clear();
  while (impl_->connection->processPendingRequest()) {
    impl_->removed.clear();
  }
}

}  // namespace l2wg
