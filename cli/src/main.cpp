// l2wg: the command-line client of l2wgd. Parsing, settings, rendering and diagnosis are pure
// (l2wg_cli_core); this file is the D-Bus side: calls, signals, and the exit status contract.
#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "l2wg/cli/bus_errors.h"
#include "l2wg/cli/command_line.h"
#include "l2wg/cli/discovery_view.h"
#include "l2wg/cli/doctor.h"
#include "l2wg/cli/monitor_events.h"
#include "l2wg/cli/tunnel_info.h"
#include "l2wg/dbus/proxy.h"
#include "l2wg/fd.h"

namespace {

using namespace l2wg::cli;

constexpr const char* kManagerPath = "/net/l2wg1";
constexpr const char* kTunnelInterface = "net.l2wg1.Tunnel";

uint64_t now_us() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string system_bus_address() {
  const char* address = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
  return address != nullptr && *address != '\0' ? address : kDefaultSystemBusAddress;
}

// The daemon cannot be reached: exit 3 with this sentence.
class Unreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ManagerProxy final : public sdbus::ProxyInterfaces<net::l2wg1::Manager_proxy> {
 public:
  explicit ManagerProxy(sdbus::IConnection& connection)
      : ProxyInterfaces(connection, kServiceName, kManagerPath) {}
};

// Used for method calls only, so it never registers: that would add bus match rules for signals
// nobody listens to (monitor takes every signal through one namespace match instead).
class TunnelProxy final : public sdbus::ProxyInterfaces<net::l2wg1::Tunnel_proxy> {
 public:
  TunnelProxy(sdbus::IConnection& connection, const std::string& path)
      : ProxyInterfaces(connection, kServiceName, path) {}

 private:
  void onPrefixDelegated(const std::string&) override {}
  void onPrefixLost(const std::string&, const std::string&) override {}
};

std::unique_ptr<sdbus::IConnection> connect_system_bus() {
  try {
    return sdbus::createSystemBusConnection();
  } catch (const sdbus::Error& error) {
    throw Unreachable(connect_failure_message(system_bus_address(), error.getMessage()));
  }
}

std::map<std::string, sdbus::Variant> to_dbus(const Settings& settings) {
  std::map<std::string, sdbus::Variant> out;
  for (const auto& [key, value] : settings)
    std::visit([&, &k = key](const auto& v) { out.emplace(k, sdbus::Variant(v)); }, value);
  return out;
}

nlohmann::json describe(sdbus::IConnection& connection, const std::string& path) {
  TunnelProxy tunnel(connection, path);
  const std::string text = tunnel.Describe();
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    throw std::runtime_error("l2wgd sent a description of " + path + " that is not a JSON object");
  return j;
}

// Every tunnel's Describe(), in ListTunnels order; a tunnel deleted meanwhile is skipped.
std::vector<nlohmann::json> describe_all(sdbus::IConnection& connection) {
  ManagerProxy manager(connection);
  std::vector<nlohmann::json> tunnels;
  for (const auto& entry : manager.ListTunnels()) {
    try {
      tunnels.push_back(describe(connection, entry.get<1>()));
    } catch (const sdbus::Error& error) {
      if (error.getName() != "org.freedesktop.DBus.Error.UnknownObject" &&
          error.getName() != "org.freedesktop.DBus.Error.UnknownMethod")
        throw;
    }
  }
  return tunnels;
}

int run_list(sdbus::IConnection& connection, bool json) {
  const auto tunnels = describe_all(connection);
  if (json) {
    std::cout << nlohmann::json(tunnels).dump(2) << '\n';
    return kExitOk;
  }
  std::vector<TunnelInfo> infos;
  for (const auto& j : tunnels) infos.push_back(tunnel_info_from_json(j));
  std::cout << render_tunnel_table(infos, now_us());
  return kExitOk;
}

// Manager.DescribeDiscovery(), or an empty array from a daemon without endpoint discovery.
nlohmann::json describe_discovery(sdbus::IConnection& connection) {
  try {
    auto j = nlohmann::json::parse(ManagerProxy(connection).DescribeDiscovery(), nullptr, false);
    return j.is_array() ? j : nlohmann::json::array();
  } catch (const sdbus::Error& error) {
    if (error.getName() != "org.freedesktop.DBus.Error.UnknownMethod" &&
        error.getName() != "net.l2wg1.Error.NotSupported")
      throw;
  }
  return nlohmann::json::array();
}

int show_path(sdbus::IConnection& connection, const std::string& path, bool json) {
  auto j = describe(connection, path);
  // Counters are read when asked, not properties: show adds them under "Statistics".
  j["Statistics"] = TunnelProxy(connection, path).GetStatistics();
  auto info = tunnel_info_from_json(j);
  info.discovery = discovery_line(describe_discovery(connection), info.wireguard,
                                  info.peer_public_key, now_us());
  if (!info.discovery.empty()) j["Discovery"] = info.discovery;
  if (json)
    std::cout << j.dump(2) << '\n';
  else
    std::cout << render_tunnel(info, now_us());
  return kExitOk;
}

int run_discovery(sdbus::IConnection& connection, const Command& command) {
  ManagerProxy manager(connection);
  if (command.verb != Verb::Discovery) {
    if (command.discovery.off)
      manager.RemoveDiscovery(command.name);
    else
      manager.SetDiscovery(command.name, to_dbus(build_discovery_settings(command)));
  }
  const auto all = describe_discovery(connection);
  if (command.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& entry : all)
      if (command.name.empty() || entry.value("Interface", "") == command.name)
        out.push_back(entry);
    std::cout << out.dump(2) << '\n';
    return kExitOk;
  }
  if (command.verb == Verb::Discovery && !command.name.empty() &&
      render_discovery(all, command.name, now_us()).empty())
    throw std::runtime_error("no endpoint discovery on " + command.name);
  std::cout << render_discovery(all, command.name, now_us());
  return kExitOk;
}

// CreateTunnel, its refusal worded in the flags the user typed rather than the daemon's keys.
sdbus::ObjectPath create_tunnel(ManagerProxy& manager, const Command& command) {
  try {
    return manager.CreateTunnel(command.name, to_dbus(build_settings(command.up)),
                                command.up.persist);
  } catch (const sdbus::Error& error) {
    throw sdbus::Error(error.getName(), with_flag_names(error.getMessage()));
  }
}

int run_up(sdbus::IConnection& connection, const Command& command) {
  ManagerProxy manager(connection);
  const auto path = create_tunnel(manager, command);
  return show_path(connection, path, false);
}

int run_down(sdbus::IConnection& connection, const Command& command) {
  ManagerProxy manager(connection);
  if (!command.all) {
    TunnelProxy(connection, manager.GetTunnel(command.name)).Stop();
    return kExitOk;
  }
  int status = kExitOk;
  for (const auto& entry : manager.ListTunnels()) {
    try {
      TunnelProxy(connection, entry.get<1>()).Stop();
    } catch (const sdbus::Error& error) {
      if (means_unreachable(error.getName())) throw;
      // Keep going: one tunnel that refuses must not keep the others up.
      std::cerr << "l2wg: " << entry.get<0>() << ": " << refusal_message(error.getName(), error.getMessage()) << '\n';
      status = kExitDaemonError;
    }
  }
  return status;
}

// What l2wgd finds on the host for a tunnel (Tunnel.Diagnose): sysctls, routes, bridges, which an
// unprivileged doctor may not read itself. A daemon without the method has nothing to add.
std::vector<Finding> host_findings(sdbus::IConnection& connection, const std::string& name) {
  std::vector<Finding> out;
  try {
    ManagerProxy manager(connection);
    TunnelProxy tunnel(connection, manager.GetTunnel(name));
    for (const auto& f : tunnel.Diagnose())
      out.push_back({f.get<0>() == "error" ? Severity::Error : Severity::Warning, f.get<1>(),
                     f.get<2>(), f.get<3>()});
  } catch (const sdbus::Error& error) {
    if (error.getName() != "org.freedesktop.DBus.Error.UnknownMethod" &&
        error.getName() != "net.l2wg1.Error.NotFound")
      throw;
  }
  return out;
}

int run_doctor(sdbus::IConnection& connection, const Command& command) {
  std::vector<nlohmann::json> tunnels;
  if (command.name.empty()) {
    tunnels = describe_all(connection);
  } else {
    ManagerProxy manager(connection);
    tunnels.push_back(describe(connection, manager.GetTunnel(command.name)));
  }
  const uint64_t now = now_us();
  const auto discovery = describe_discovery(connection);
  std::vector<TunnelDiagnosis> diagnoses;
  for (const auto& j : tunnels) {
    TunnelInfo info = tunnel_info_from_json(j);
    auto findings = diagnose(info, now);
    for (auto& finding : host_findings(connection, info.name)) findings.push_back(std::move(finding));
    for (auto& finding : discovery_findings(discovery, info.wireguard, info.peer_public_key))
      findings.push_back(std::move(finding));
    diagnoses.push_back({std::move(info), std::move(findings)});
  }
  if (command.json)
    std::cout << diagnoses_to_json(diagnoses).dump(2) << '\n';
  else
    std::cout << render_diagnoses(diagnoses);
  return has_error(diagnoses) ? kExitDaemonError : kExitOk;
}

int run_version() {
  std::cout << "l2wg  " << L2WG_VERSION << std::endl;
  auto connection = connect_system_bus();
  ManagerProxy manager(*connection);
  const std::string daemon_version = manager.Version();
  std::cout << "l2wgd " << daemon_version << '\n';
  return kExitOk;
}

// --- monitor ---

std::optional<PropertyValue> to_property_value(const sdbus::Variant& v) {
  using Delegated = std::vector<sdbus::Struct<std::string, uint64_t, uint64_t>>;
  using Lan = std::vector<sdbus::Struct<std::string, std::string>>;
  if (v.containsValueOfType<std::string>()) return v.get<std::string>();
  if (v.containsValueOfType<bool>()) return v.get<bool>();
  if (v.containsValueOfType<uint32_t>()) return v.get<uint32_t>();
  if (v.containsValueOfType<uint64_t>()) return v.get<uint64_t>();
  if (v.containsValueOfType<Delegated>()) {
    std::vector<DelegatedPrefixInfo> out;
    for (const auto& p : v.get<Delegated>()) out.push_back({p.get<0>(), p.get<1>(), p.get<2>()});
    return out;
  }
  if (v.containsValueOfType<Lan>()) {
    std::vector<LanPrefixInfo> out;
    for (const auto& p : v.get<Lan>()) out.push_back({p.get<0>(), p.get<1>()});
    return out;
  }
  return std::nullopt;
}

std::vector<MonitorEvent> events_of(sdbus::Message& message) {
  const std::string interface = message.getInterfaceName();
  const std::string member = message.getMemberName();
  const std::string path = message.getPath();
  std::vector<MonitorEvent> events;
  if (interface == "org.freedesktop.DBus.ObjectManager" && member == "InterfacesAdded") {
    sdbus::ObjectPath object;
    std::map<std::string, std::map<std::string, sdbus::Variant>> interfaces;
    message >> object >> interfaces;
    const auto tunnel = interfaces.find(kTunnelInterface);
    const auto name = tunnel_name_from_path(object);
    if (tunnel == interfaces.end() || !name) return events;
    MonitorEvent added{MonitorEvent::Kind::TunnelAdded, *name, "", "", "", {}};
    if (const auto state = tunnel->second.find("State");
        state != tunnel->second.end() && state->second.containsValueOfType<std::string>())
      added.value = state->second.get<std::string>();
    events.push_back(added);
  } else if (interface == "org.freedesktop.DBus.ObjectManager" && member == "InterfacesRemoved") {
    sdbus::ObjectPath object;
    std::vector<std::string> interfaces;
    message >> object >> interfaces;
    const auto name = tunnel_name_from_path(object);
    if (name &&
        std::find(interfaces.begin(), interfaces.end(), kTunnelInterface) != interfaces.end())
      events.push_back({MonitorEvent::Kind::TunnelRemoved, *name, "", "", "", {}});
  } else if (interface == "org.freedesktop.DBus.Properties" && member == "PropertiesChanged") {
    std::string changed_interface;
    std::map<std::string, sdbus::Variant> changed;
    std::vector<std::string> invalidated;
    message >> changed_interface >> changed >> invalidated;
    const auto name = tunnel_name_from_path(path);
    if (changed_interface != kTunnelInterface || !name) return events;
    std::map<std::string, PropertyValue> values;
    for (const auto& [property, value] : changed)
      if (auto converted = to_property_value(value)) values.emplace(property, *converted);
    events = events_from_properties_changed(*name, values, invalidated);
  } else if (interface == kTunnelInterface && member == "PrefixDelegated") {
    std::string prefix;
    message >> prefix;
    events.push_back({MonitorEvent::Kind::PrefixDelegated,
                      tunnel_name_from_path(path).value_or(path),
                      "",
                      prefix,
                      "",
                      {}});
  } else if (interface == kTunnelInterface && member == "PrefixLost") {
    std::string prefix, reason;
    message >> prefix >> reason;
    events.push_back({MonitorEvent::Kind::PrefixLost,
                      tunnel_name_from_path(path).value_or(path),
                      "",
                      prefix,
                      reason,
                      {}});
  }
  return events;
}

void print_event(const MonitorEvent& event, bool json) {
  const uint64_t now = now_us();
  if (json) {
    std::cout << event_to_json(event, now).dump() << std::endl;
    return;
  }
  const std::time_t seconds = static_cast<std::time_t>(now / 1000000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char stamp[16];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
  std::cout << stamp << ' ' << render_event_line(event) << std::endl;
}

int run_monitor(sdbus::IConnection& connection, bool json) {
  // SIGINT/SIGTERM arrive through a signalfd, so stopping is an ordinary poll event.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &stop_signals, nullptr) != 0)
    throw std::runtime_error("cannot block SIGINT/SIGTERM");
  const l2wg::UniqueFd stop_fd(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (!stop_fd) throw std::runtime_error("cannot create a signalfd");

  auto on_tunnel_signal = [json](sdbus::Message& message) {
    for (const auto& event : events_of(message)) print_event(event, json);
  };
  auto on_owner_changed = [json](sdbus::Message& message) {
    std::string name, old_owner, new_owner;
    message >> name >> old_owner >> new_owner;
    if (new_owner.empty())
      print_event({MonitorEvent::Kind::DaemonGone, "", "", "", "", {}}, json);
    else if (old_owner.empty())
      print_event({MonitorEvent::Kind::DaemonBack, "", "", "", "", {}}, json);
  };
  // Subscribe first, then make sure the daemon is there: nothing falls between the two.
  auto tunnel_slot = connection.addMatch(std::string("type='signal',sender='") + kServiceName +
                                             "',path_namespace='" + kManagerPath + "'",
                                         on_tunnel_signal);
  auto owner_slot = connection.addMatch(
      std::string("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                  "member='NameOwnerChanged',arg0='") +
          kServiceName + "'",
      on_owner_changed);
  ManagerProxy(connection).ListTunnels();

  for (;;) {
    while (connection.processPendingRequest()) {
    }
    const auto bus = connection.getEventLoopPollData();
    pollfd fds[2] = {{bus.fd, bus.events, 0}, {stop_fd.get(), POLLIN, 0}};
    int timeout_ms = -1;
    if (bus.timeout_usec != UINT64_MAX) {
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      const uint64_t now_mono = static_cast<uint64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
      timeout_ms = bus.timeout_usec <= now_mono
                       ? 0
                       : static_cast<int>(
                             std::min<uint64_t>((bus.timeout_usec - now_mono) / 1000 + 1, 60000));
    }
    if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR)
      throw std::runtime_error("poll on the bus connection failed");
    if (fds[1].revents & POLLIN) return kExitOk;
  }
}

int run(const Command& command) {
  if (command.verb == Verb::Version) return run_version();
  auto connection = connect_system_bus();
  switch (command.verb) {
    case Verb::List:
      return run_list(*connection, command.json);
    case Verb::Show: {
      ManagerProxy manager(*connection);
      return show_path(*connection, manager.GetTunnel(command.name), command.json);
    }
    case Verb::Up:
      return run_up(*connection, command);
    case Verb::Start: {
      ManagerProxy manager(*connection);
      const auto path = manager.GetTunnel(command.name);
      TunnelProxy(*connection, path).Start();
      return show_path(*connection, path, false);
    }
    case Verb::Down:
      return run_down(*connection, command);
    case Verb::Delete: {
      ManagerProxy manager(*connection);
      manager.DeleteTunnel(command.name);
      return kExitOk;
    }
    case Verb::Renew: {
      ManagerProxy manager(*connection);
      TunnelProxy(*connection, manager.GetTunnel(command.name)).Renew();
      return kExitOk;
    }
    case Verb::Release: {
      ManagerProxy manager(*connection);
      TunnelProxy(*connection, manager.GetTunnel(command.name)).Release();
      return kExitOk;
    }
    case Verb::Restart: {
      ManagerProxy manager(*connection);
      TunnelProxy(*connection, manager.GetTunnel(command.name)).Restart();
      return kExitOk;
    }
    case Verb::Reload:
      ManagerProxy(*connection).Reload();
      return kExitOk;
    case Verb::Monitor:
      return run_monitor(*connection, command.json);
    case Verb::Doctor:
      return run_doctor(*connection, command);
    case Verb::Registry:
    case Verb::Discover:
    case Verb::Discovery:
      return run_discovery(*connection, command);
    case Verb::Version:
      break;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const ParseResult parsed = parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
    std::cout << parsed.out;
    std::cerr << parsed.err;
    if (!parsed.command) return parsed.exit_status;
    return run(*parsed.command);
  } catch (const Unreachable& error) {
    std::cerr << "l2wg: " << error.what() << '\n';
    return kExitUnreachable;
  } catch (const sdbus::Error& error) {
    if (means_unreachable(error.getName())) {
      std::cerr << "l2wg: "
                << unreachable_message(error.getName(), system_bus_address(), error.getMessage())
                << '\n';
      return kExitUnreachable;
    }
    std::cerr << "l2wg: " << refusal_message(error.getName(), error.getMessage()) << '\n';
    return kExitDaemonError;
  } catch (const std::exception& error) {
    std::cerr << "l2wg: " << error.what() << '\n';
    return kExitDaemonError;
  } catch (...) {
    std::cerr << "l2wg: unexpected error\n";
    return kExitDaemonError;
  }
}
