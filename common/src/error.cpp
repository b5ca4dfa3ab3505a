#include "l2wg/error.h"

#include <cerrno>
#include <cstring>

namespace l2wg {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid argument";
    case ErrorCode::NotFound: return "not found";
    case ErrorCode::Exists: return "exists";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::Kernel: return "kernel error";
    case ErrorCode::Io: return "I/O error";
  }
  return "error";
}

void throw_errno(const std::string& what, int err, ErrorCode code) {
  if (err == EOPNOTSUPP) code = ErrorCode::Unsupported;
  throw Error(code, what + ": " + std::strerror(err));
}

}  // namespace l2wg
