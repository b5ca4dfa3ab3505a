#include "l2wg/socket.h"

#include <net/if.h>

namespace l2wg {

int interface_index(const std::string& name) {
  const unsigned ifindex = ::if_nametoindex(name.c_str());
  if (ifindex == 0) throw Error(ErrorCode::NotFound, "no interface " + name);
  return static_cast<int>(ifindex);
}

}  // namespace l2wg
