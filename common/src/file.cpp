#include "l2wg/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "l2wg/error.h"
#include "l2wg/fd.h"

namespace l2wg {

namespace fs = std::filesystem;

void write_file_atomically(const fs::path& path, std::string_view content, mode_t mode) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const auto fail = [&path](const std::string& step) {
    const int err = errno;
    throw_errno("writing " + path.string() + ": " + step, err, ErrorCode::Io);
  };

  static std::atomic<unsigned> counter{0};
  fs::path temp;
  UniqueFd fd;
  while (!fd) {
    temp = dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                  std::to_string(counter++));
    fd.reset(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd && errno != EEXIST) fail("creating a temporary file in " + dir.string());
  }
  struct RemoveOnFailure {
    const fs::path& temp;
    bool renamed = false;
    ~RemoveOnFailure() {
      if (!renamed) ::unlink(temp.c_str());
    }
  } cleanup{temp};

  if (::fchmod(fd.get(), mode) != 0) fail("fchmod");  // independent of the umask
  while (!content.empty()) {
    const ssize_t n = ::write(fd.get(), content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write");
    content.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd.get()) != 0) fail("fsync");
  if (::close(fd.release()) != 0) fail("close");
  if (::rename(temp.c_str(), path.c_str()) != 0) fail("rename");
  cleanup.renamed = true;

  // The rename itself is durable only once the directory is synced.
  const UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) fail("opening the directory " + dir.string());
  if (::fsync(dir_fd.get()) != 0) fail("fsync of " + dir.string());
}

}  // namespace l2wg
