// What a D-Bus error means to the user of l2wg: the daemon refused (exit 1) or could not be
// reached at all (exit 3), and the plain sentence for the latter.
#pragma once

#include <string>
#include <string_view>

namespace l2wg::cli {

inline constexpr const char* kServiceName = "net.l2wg1";
inline constexpr const char* kDefaultSystemBusAddress = "unix:path=/run/dbus/system_bus_socket";

// True for errors that mean nobody answered: no owner of the name, no reply, a broken or
// refused connection.
bool means_unreachable(std::string_view error_name);

// kExitUnreachable or kExitDaemonError: every error of the API itself (net.l2wg1.Error.*,
// InvalidArgs, AccessDenied) is a refusal, printed as the daemon's message.
int exit_status_for_error(std::string_view error_name);

// The line after "l2wg: " for an unreachable daemon, e.g. "cannot reach l2wgd: nothing provides
// net.l2wg1 on the system bus (is l2wgd running?)". `bus_address` is the system bus address in
// use (DBUS_SYSTEM_BUS_ADDRESS or the default); `detail` is the D-Bus error message.
std::string unreachable_message(std::string_view error_name, std::string_view bus_address,
                                std::string_view detail);

// The line after "l2wg: " for an error the daemon, or the bus on its behalf, answered: the daemon's
// own sentence (the error's name if it has none), except that being denied is said plainly,
// whoever denied it: the bus policy's text is about match rules.
std::string refusal_message(std::string_view error_name, std::string_view message);

// The line for a failure to connect to the bus at all.
std::string connect_failure_message(std::string_view bus_address, std::string_view detail);

}  // namespace l2wg::cli
