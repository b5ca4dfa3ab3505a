// The D-Bus error name each l2wg::ErrorCode is answered with (net.l2wg1.xml lists them).
#pragma once

#include "l2wg/error.h"

namespace l2wg {

const char* dbus_error_name(ErrorCode code);

}  // namespace l2wg
