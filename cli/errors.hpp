#pragma once
// Errors the commands throw; cli/app.cpp's one catch ladder prints them in VirtualBox's frames.

#include "cli/exit_codes.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace vbm::cli {

/// How VBoxManageHelp.cpp frames a usage problem (spec §1.2/§1.3).
enum class UsageStyle {
  Syntax,   ///< errorSyntax: logo, error, blank line, usage (error repeated after a long usage)
  GetOpt,   ///< errorGetOpt: logo, error, usage, no blank line
  Argument, ///< errorArgument: the error line only
};

/// A command-line problem, printed with the command's usage. `exit_code` is what VirtualBox
/// really returns for it (modifyvm and controlvm turn these into 1).
class UsageError : public std::runtime_error {
public:
  UsageError(UsageStyle how, std::string whose_usage, const std::string& msg, int code,
             std::string subcommand = {})
      : std::runtime_error(msg), style(how), command(std::move(whose_usage)), exit_code(code),
        scope(std::move(subcommand)) {}
  UsageStyle style;
  std::string command; ///< whose usage to print; empty for the global usage
  int exit_code;
  std::string scope; ///< a subcommand: print only its synopsis, under "Usage:"
};

/// A COM-style API error: the text, then the Details and Context lines (spec §1.3).
class ApiError : public std::runtime_error {
public:
  struct Code {
    const char* name;
    std::uint32_t value;
  };
  ApiError(const std::string& text, Code hresult, std::string component_name, std::string iface,
           std::string call, std::string source_file, int source_line)
      : std::runtime_error(text), code(hresult), component(std::move(component_name)),
        interface_name(std::move(iface)), context(std::move(call)), file(std::move(source_file)),
        line(source_line) {}
  Code code;
  std::string component;
  std::string interface_name;
  std::string context;
  std::string file;
  int line;
};

// HRESULT names as XPCOM (Linux) hosts print them.
constexpr ApiError::Code k_invalid_arg{"NS_ERROR_INVALID_ARG", 0x80070057};
constexpr ApiError::Code k_not_implemented{"NS_ERROR_NOT_IMPLEMENTED", 0x80004001};
constexpr ApiError::Code k_failure{"NS_ERROR_FAILURE", 0x80004005};
constexpr ApiError::Code k_object_not_found{"VBOX_E_OBJECT_NOT_FOUND", 0x80bb0001};
constexpr ApiError::Code k_invalid_vm_state{"VBOX_E_INVALID_VM_STATE", 0x80bb0002};
constexpr ApiError::Code k_invalid_object_state{"VBOX_E_INVALID_OBJECT_STATE", 0x80bb0007};

/// A plain failure: one `<prog>: error: <msg>` line (RTMsgError), exit 1 unless given.
class CommandError : public std::runtime_error {
public:
  explicit CommandError(const std::string& msg, int code = k_exit_failure)
      : std::runtime_error(msg), exit_code(code) {}
  int exit_code;
};

} // namespace vbm::cli
