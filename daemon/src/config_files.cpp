// The file side of the config library: loading /etc/l2wg. NAME.conf is written for `persist`
// with l2wg::write_file_atomically (common/).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "config_parser.h"
#include "l2wg/daemon/config.h"
#include "l2wg/fd.h"

namespace l2wg::config {

namespace fs = std::filesystem;

namespace {

// The whole file, or the errno that stopped the reading.
std::string read_file(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::generic_category());
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category());
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

std::vector<fs::path> conf_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return files;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // Dot files include the temporaries of l2wg::write_file_atomically and editors' leftovers.
    if (name.starts_with(".") || it->path().extension() != ".conf") continue;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) files.push_back(it->path());
  }
  if (ec) throw Error(ErrorCode::Io, "reading the directory " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  return files;
}

}  // namespace

LoadedDirectory load_directory(const fs::path& dir) {
  LoadedDirectory loaded;
  std::map<std::string, std::string> tap_owners;  // tap name -> file that claimed it first
  for (const fs::path& path : conf_files(dir)) {
    const std::string file_name = path.filename().string();
    std::string text;
    try {
      text = read_file(path);
    } catch (const std::system_error& e) {
      loaded.errors.emplace_back(
          file_name, 0, "",
          "cannot read " + path.string() + ": " + std::strerror(e.code().value()));
      continue;
    }
    LocatedTunnel located = parse_tunnel_located(text, file_name);
    if (!located.errors.empty()) {
      loaded.errors.insert(loaded.errors.end(), located.errors.begin(), located.errors.end());
      continue;
    }
    const std::string& tap = located.tunnel.spec.tap_name;
    const auto [owner, fresh] = tap_owners.try_emplace(tap, file_name);
    if (!fresh) {
      loaded.errors.emplace_back(file_name, located.interface_line, "Interface",
                                 "Interface=" + tap +
                                     (located.interface_line ? "" : " (the default)") +
                                     " is already used by " + owner->second);
      continue;
    }
    loaded.tunnels.push_back(std::move(located.tunnel));
  }
  return loaded;
}

}  // namespace l2wg::config
