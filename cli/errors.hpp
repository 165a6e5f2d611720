#pragma once
// The frontend's own error: a command-line problem, printed with the command's usage. Every
// other error is a vbm::Error (sys/error.hpp) from the layer that found it; cli/app.cpp's one
// catch ladder prints both in VirtualBox's frames.

#include "cli/exit_codes.hpp"
#include "sys/error.hpp"

#include <string>

namespace vbm::cli {

/// How VBoxManageHelp.cpp frames a usage problem (spec §1.2/§1.3).
enum class UsageStyle {
  Syntax,   ///< errorSyntax: logo, error, blank line, usage (error repeated after a long usage)
  GetOpt,   ///< errorGetOpt: logo, error, usage, no blank line
  Argument, ///< errorArgument: the error line only
};

/// A command-line problem, printed with the command's usage. Its exit code is what VirtualBox
/// really returns for it (modifyvm and controlvm turn these into 1).
class UsageError : public Error {
public:
  UsageError(UsageStyle how, std::string whose_usage, const std::string& msg, int code,
             std::string subcommand = {})
      : Error(msg, code), style(how), command(std::move(whose_usage)),
        scope(std::move(subcommand)) {}
  UsageStyle style;
  std::string command; ///< whose usage to print; empty for the global usage
  std::string scope;   ///< a subcommand: print only its synopsis, under "Usage:"
};

} // namespace vbm::cli
