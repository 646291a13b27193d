// Errors: the library throws mmada::Error with a one-line message that names the file,
// tensor or field and what was wrong; tools catch it at their edge and exit non-zero.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace mmada {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

}  // namespace mmada

// Checks a condition on user-supplied data; the message is built only on failure.
#define MMADA_CHECK(cond, ...)                   \
  do {                                           \
    if (!(cond)) ::mmada::fail(__VA_ARGS__);     \
  } while (0)
