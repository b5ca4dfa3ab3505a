// wg-capture IFNAME: dumps a kernel WireGuard device exactly as WireGuardReader does and prints
// the raw netlink bytes as hex, to record real dumps as unit-test data (tests/unit/data/wg_*.hex).
// The private key is already zeroed by dump_genl_device.
#include <cstdio>
#include <exception>

#include "l2wg/error.h"
#include "wireguard_genl.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s IFNAME\n", argv[0]);
    return 2;
  }
  try {
    const auto dump = l2wg::wg::dump_genl_device(argv[1]);
    if (!dump) {
      std::fprintf(stderr, "no kernel WireGuard device named %s\n", argv[1]);
      return 1;
    }
    std::printf("# wg-capture %s: WG_CMD_GET_DEVICE dump, private key zeroed\n", argv[1]);
    std::printf("family_id=%u\n", dump->family_id);
    for (size_t i = 0; i < dump->bytes.size(); ++i)
      std::printf("%02x%s", dump->bytes[i], (i + 1) % 32 == 0 ? "\n" : "");
    std::printf("\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wg-capture: %s\n", e.what());
    return 1;
  }
  return 0;
}
