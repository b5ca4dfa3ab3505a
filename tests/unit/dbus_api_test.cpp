// The C++ side of net.l2wg1.xml: every l2wg::ErrorCode's D-Bus error name, and the Tunnel
// interface's properties as tunnel_properties.h describes them (names, order and types).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "l2wg/cli/tunnel_info.h"
#include "l2wg/dbus/error_names.h"
#include "l2wg/dbus/tunnel_properties.h"

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

// The D-Bus signature of a field's type, as the CLI holds it (the types on the wire).
std::string signature(const std::string&) {
  return "s";
}
std::string signature(uint32_t) {
  return "u";
}
std::string signature(uint64_t) {
  return "t";
}
std::string signature(bool) {
  return "b";
}
template <Described Record>
std::string signature(const std::vector<Record>&) {
  const Record record;
  std::string members;
  for_each_field<Record>([&](const auto& each) { members += signature(record.*each.member); });
  return "a(" + members + ")";
}

TEST(TunnelProperties, AreTheXmlsTunnelPropertiesInOrder) {
  const std::string xml = api_xml();
  const auto begin = xml.find("<interface name=\"net.l2wg1.Tunnel\">");
  ASSERT_NE(begin, std::string::npos);
  const std::string tunnel = xml.substr(begin, xml.find("</interface>", begin) - begin);
  // The described properties announce their changes (or never change); the others are read
  // live, annotated EmitsChangedSignal=false.
  const std::regex property(
      R"re(<property name="([^"]+)" type="([^"]+)" access="read"(/>|>\s*<annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="(\w+)"/>))re");
  std::vector<std::string> in_xml, live_in_xml;
  for (auto it = std::sregex_iterator(tunnel.begin(), tunnel.end(), property);
       it != std::sregex_iterator(); ++it)
    ((*it)[4] == "false" ? live_in_xml : in_xml).push_back((*it)[1].str() + " " + (*it)[2].str());

  const cli::TunnelInfo info;
  std::vector<std::string> described;
  for_each_field<cli::TunnelInfo>([&](const auto& each) {
    described.push_back(std::string(each.name) + " " + signature(info.*each.member));
  });
  EXPECT_EQ(described, in_xml);
  EXPECT_EQ(live_in_xml, (std::vector<std::string>{"LastProbeAnswer t", "ProbeRoundTrip u"}));
  const std::regex any_property("<property ");
  EXPECT_EQ(std::distance(std::sregex_iterator(tunnel.begin(), tunnel.end(), any_property),
                          std::sregex_iterator()),
            static_cast<long>(in_xml.size() + live_in_xml.size()))
      << "a Tunnel property neither described nor read live";
}

}  // namespace
}  // namespace l2wg
