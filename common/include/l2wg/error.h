// The one exception type of l2wg: a category the API layer maps to a D-Bus error, and a message
// a person can act on.
#pragma once

#include <stdexcept>
#include <string>

namespace l2wg {

enum class ErrorCode {
  InvalidArgument,  // bad input: a name, a key, a value
  NotFound,         // an interface, peer or tunnel that does not exist
  Exists,           // something of that name is already there
  Unsupported,      // the kernel or the tunnel cannot do that (no gretap module; Renew of a
                    // tunnel not in routed mode)
  Kernel,           // the kernel refused; the message carries its own text
  Io,               // a file or socket failed
};

const char* to_string(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Error(Kernel or Io) whose message is "<what>: <strerror(err)>". EOPNOTSUPP becomes Unsupported.
[[noreturn]] void throw_errno(const std::string& what, int err, ErrorCode code = ErrorCode::Kernel);

}  // namespace l2wg
