#include "device_snapshots.h"

#include <algorithm>

namespace l2wg {

const wg::Device& DeviceSnapshots::device(const std::string& ifname) {
  const uint64_t now = clock_.monotonic_us();
  auto it = snapshots_.find(ifname);
  if (it == snapshots_.end() || now - std::min(now, it->second.read_at_us) > kMaxAgeUs)
    it = snapshots_.insert_or_assign(ifname, Snapshot{reader_.read_device(ifname), now}).first;
  return it->second.device;
}

}  // namespace l2wg
