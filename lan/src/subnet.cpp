#include "l2wg/lan/subnet.h"

#include <array>
#include <set>

namespace l2wg::lan {
namespace {

bool overlaps(const IpPrefix& a, const IpPrefix& b) {
  return a.contains(b.address) || b.contains(a.address);
}

}  // namespace

std::optional<IpPrefix> subnet_of(const IpPrefix& delegated, uint64_t subnet_id) {
  if (!delegated.address.is_v6() || delegated.length > 64) return std::nullopt;
  const unsigned bits = 64 - delegated.length;
  if (bits < 64 && subnet_id >> bits != 0) return std::nullopt;
  std::array<uint8_t, 16> bytes{};
  const IpAddress base = delegated.address.masked(delegated.length);
  for (size_t i = 0; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(base.data()[i] | static_cast<uint8_t>(subnet_id >> (56 - 8 * i)));
  return IpPrefix{IpAddress::v6(bytes), 64};
}

SubnetPlan plan_subnets(const IpPrefix& delegated, const std::optional<IpPrefix>& excluded,
                        const std::vector<std::string>& lans,
                        const std::map<std::string, uint64_t>& configured,
                        const std::map<std::string, uint64_t>& remembered) {
  SubnetPlan plan;
  if (!subnet_of(delegated, 0)) {
    for (const auto& lan : lans)
      plan.problems.push_back(lan + ": the delegated prefix " + delegated.str() +
                              " has no /64 to give (it must be IPv6, /64 or shorter)");
    return plan;
  }
  std::set<uint64_t> taken;
  // Why `id` cannot be used for a LAN, or "" when it can.
  auto unusable = [&](uint64_t id) -> std::string {
    const auto subnet = subnet_of(delegated, id);
    if (!subnet)
      return "subnet id " + std::to_string(id) + " does not fit in " + delegated.str();
    if (taken.count(id)) return "subnet id " + std::to_string(id) + " is already used by another LAN";
    if (excluded && overlaps(*subnet, *excluded))
      return subnet->str() + " overlaps the excluded prefix " + excluded->str();
    return "";
  };
  auto assign = [&](const std::string& lan, uint64_t id) {
    taken.insert(id);
    plan.ids[lan] = id;
    plan.subnets[lan] = *subnet_of(delegated, id);
  };

  // Configured ids first, so that a remembered or automatic id never takes one a user chose.
  for (const auto& lan : lans) {
    const auto it = configured.find(lan);
    if (it == configured.end()) continue;
    if (const auto why = unusable(it->second); why.empty())
      assign(lan, it->second);
    else
      plan.problems.push_back(lan + ": " + why);
  }
  for (const auto& lan : lans) {
    if (configured.count(lan)) continue;
    const auto it = remembered.find(lan);
    if (it != remembered.end() && unusable(it->second).empty()) assign(lan, it->second);
  }
  uint64_t next = 0;
  for (const auto& lan : lans) {
    if (configured.count(lan) || plan.ids.count(lan)) continue;
    while (subnet_of(delegated, next) && !unusable(next).empty()) ++next;
    if (!subnet_of(delegated, next)) {
      plan.problems.push_back(lan + ": no free /64 left in " + delegated.str());
      continue;
    }
    assign(lan, next);
  }
  return plan;
}

}  // namespace l2wg::lan
