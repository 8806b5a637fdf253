// The exception types neurona throws. Messages name the op, the argument and the shapes, so
// that a user can act on them without a debugger: never exit() or abort() in library code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace neurona {

/// Base of every error neurona throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Shapes that do not fit together (`add: cannot broadcast (2, 3) with (4,)`).
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// An argument with a wrong value, dtype or device.
class ValueError : public Error {
 public:
  using Error::Error;
};

/// A device ran out of memory; the message names the bytes asked, in use and cached.
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be read or written, or whose contents are invalid.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A feature or kernel that does not exist (yet) for these arguments.
class NotImplementedError : public Error {
 public:
  using Error::Error;
};

namespace detail {
/// Concatenates streamable values into a string: detail::str("got ", shape, " for ", name).
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace neurona

/// Throws `Type(message)` when `cond` is false; the message is built only on failure.
#define NEURONA_CHECK(cond, Type, ...)                            \
  do {                                                            \
    if (!(cond)) throw Type(::neurona::detail::str(__VA_ARGS__)); \
  } while (0)
