// The small socket chores every l2wg socket owner repeats, with errors that name the problem.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "l2wg/error.h"

namespace l2wg {

// The index of a network interface. Throws Error(NotFound, "no interface NAME").
int interface_index(const std::string& name);

// setsockopt with `value` as the option's bytes. Throws Error(Io) "WHAT: <strerror>".
template <typename T>
void set_socket_option(int fd, int level, int name, const T& value, const std::string& what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0)
    throw_errno(what, errno, ErrorCode::Io);
}

}  // namespace l2wg
