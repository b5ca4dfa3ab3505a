#include "l2wg/dbus/error_names.h"

namespace l2wg {

const char* dbus_error_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "org.freedesktop.DBus.Error.InvalidArgs";
    case ErrorCode::NotFound: return "net.l2wg1.Error.NotFound";
    case ErrorCode::Exists: return "net.l2wg1.Error.Exists";
    case ErrorCode::Unsupported: return "net.l2wg1.Error.NotSupported";
    case ErrorCode::Kernel: return "net.l2wg1.Error.Kernel";
    case ErrorCode::Io: return "org.freedesktop.DBus.Error.Failed";
  }
  return "org.freedesktop.DBus.Error.Failed";
}

}  // namespace l2wg
