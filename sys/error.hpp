#pragma once
// The one base of every error vboxmanage throws (ccache's exceptions.hpp, nix's BaseError): a
// message, the exit code it ends the program with, and the lines its frame adds after the
// message. cli/app.cpp's catch ladder prints any Error the same way; only a usage error (which
// also prints the command's usage) has a branch of its own.

#include <stdexcept>
#include <string>
#include <vector>

namespace vbm {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), m_exit_code(exit_code) {}
  int exit_code() const { return m_exit_code; }
  /// Lines printed after the message, each with the error prefix (an API error's Details and
  /// Context); none for a plain one-line error.
  virtual std::vector<std::string> detail_lines() const { return {}; }

private:
  int m_exit_code;
};

} // namespace vbm
