#include "l2wg/daemon/journal.h"

#include <mutex>
#include <set>

namespace l2wg::journal {
namespace {

std::mutex mutex;
std::set<std::string, std::less<>> names;

}  // namespace

void tunnel_known(const std::string& name) {
  std::lock_guard lock(mutex);
  names.insert(name);
}

std::optional<std::string> tunnel_of(std::string_view message) {
  const auto colon = message.find(": ");
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const auto prefix = message.substr(0, colon);
  std::lock_guard lock(mutex);
  if (names.find(prefix) == names.end()) return std::nullopt;
  return std::string(prefix);
}

}  // namespace l2wg::journal
