// The C++ side of net.l2wg1.xml: every l2wg::ErrorCode's D-Bus error name.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "l2wg/dbus/error_names.h"

namespace l2wg {
namespace {

std::string api_xml() {
  std::ifstream in(L2WG_DBUS_XML);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(DbusErrorNames, EveryErrorCode) {
  const std::pair<ErrorCode, std::string> expected[] = {
      {ErrorCode::InvalidArgument, "org.freedesktop.DBus.Error.InvalidArgs"},
      {ErrorCode::NotFound, "net.l2wg1.Error.NotFound"},
      {ErrorCode::Exists, "net.l2wg1.Error.Exists"},
      {ErrorCode::Unsupported, "net.l2wg1.Error.NotSupported"},
      {ErrorCode::Kernel, "net.l2wg1.Error.Kernel"},
      {ErrorCode::Io, "org.freedesktop.DBus.Error.Failed"},
  };
  const std::string xml = api_xml();
  for (const auto& [code, name] : expected) {
    EXPECT_EQ(dbus_error_name(code), name) << to_string(code);
    if (name.starts_with("net.l2wg1.")) {
      EXPECT_NE(xml.find(name), std::string::npos) << name << " is not documented in the XML";
    }
  }
}

}  // namespace
}  // namespace l2wg
