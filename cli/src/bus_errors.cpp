#include "l2wg/cli/bus_errors.h"

#include <algorithm>
#include <array>

#include "l2wg/cli/command_line.h"

namespace l2wg::cli {
namespace {

// Nobody owns the name, and the bus could not start anyone for it.
bool means_no_owner(std::string_view name) {
  return name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
         name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
         name.starts_with("org.freedesktop.DBus.Error.Spawn.");
}

bool means_no_answer(std::string_view name) {
  return name == "org.freedesktop.DBus.Error.NoReply" ||
         name == "org.freedesktop.DBus.Error.Timeout" ||
         name == "org.freedesktop.DBus.Error.TimedOut" || name == "System.Error.ETIMEDOUT";
}

// The bus itself is not there or went away. sd-bus names errno values without a D-Bus name
// "System.Error.E...".
bool means_no_bus(std::string_view name) {
  static constexpr std::array<std::string_view, 16> kNames{
      "org.freedesktop.DBus.Error.Disconnected",
      "org.freedesktop.DBus.Error.NoServer",
      "org.freedesktop.DBus.Error.FileNotFound",
      "org.freedesktop.DBus.Error.BadAddress",
      "org.freedesktop.DBus.Error.NoNetwork",
      "org.freedesktop.DBus.Error.AuthFailed",
      "System.Error.ECONNREFUSED",
      "System.Error.ECONNRESET",
      "System.Error.ECONNABORTED",
      "System.Error.ENOTCONN",
      "System.Error.ENOENT",
      "System.Error.EPIPE",
      "System.Error.ESHUTDOWN",
      "System.Error.EHOSTUNREACH",
      "System.Error.ENXIO",
      "System.Error.EADDRNOTAVAIL"};
  return std::find(kNames.begin(), kNames.end(), name) != kNames.end();
}

}  // namespace

bool means_unreachable(std::string_view name) {
  return means_no_owner(name) || means_no_answer(name) || means_no_bus(name);
}

int exit_status_for_error(std::string_view error_name) {
  return means_unreachable(error_name) ? kExitUnreachable : kExitDaemonError;
}

std::string unreachable_message(std::string_view error_name, std::string_view bus_address,
                                std::string_view detail) {
  const std::string service(kServiceName);
  if (means_no_owner(error_name))
    return "cannot reach l2wgd: nothing provides " + service +
           " on the system bus (is l2wgd running?)";
  if (means_no_answer(error_name))
    return "cannot reach l2wgd: " + service + " on the system bus did not answer (is l2wgd stuck?)";
  return connect_failure_message(bus_address, detail);
}

std::string refusal_message(std::string_view error_name, std::string_view message) {
  if (error_name == "org.freedesktop.DBus.Error.AccessDenied")
    return "permission denied: changing tunnels needs root or group l2wg";
  return std::string(message.empty() ? error_name : message);
}

std::string connect_failure_message(std::string_view bus_address, std::string_view detail) {
  std::string message =
      "cannot reach l2wgd: cannot connect to the system bus at " + std::string(bus_address);
  if (!detail.empty()) message += " (" + std::string(detail) + ")";
  return message;
}

}  // namespace l2wg::cli
