// Files that must never be seen half-written: configs, state records, leases.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

namespace l2wg {

// Writes via a temporary file in the same directory (a dot name, ".NAME.tmp.PID.N", so directory
// scans that skip dot files never pick up one left by a crash), fsync and rename, so readers see
// the old content or the new, never half of it. `mode` is set independently of the umask. Throws
// Error(Io) naming the path.
void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                           mode_t mode = 0644);

}  // namespace l2wg
