#pragma once
// modifyvm's option table: one row per VirtualBox option, naming the vm/ setting it changes.
// The one source for its parser, usage, help, completion, `__dump-cli` and the man-page check.

#include "cli/getopt.hpp"
#include "vm/errors.hpp"

#include <optional>
#include <span>
#include <string_view>

namespace vbm::cli {

struct OptionRow {
  std::string_view key;         ///< the vm/ setting (and the store's key)
  std::string_view flag;        ///< VirtualBox 7.x spelling
  std::string_view legacy_flag; ///< older spelling still accepted, or empty
  ArgKind kind;
  std::string_view synopsis; ///< as in VirtualBox's usage: "[--memory=size-in-MB]"
  std::string_view description;
  vm::CallSite site;         ///< VBoxManageModifyVM.cpp's call, for API errors
  bool side_channel = false; ///< turning it on warns of the KSM side channel
};

std::span<const OptionRow> modifyvm_rows();

/// One row of VirtualBox's own modifyvm option table (cli/modifyvm_vbox_options.cpp).
struct VboxOption {
  enum Kind {
    Value,   ///< takes a value: `--opt v`, `--opt=v`, `--opt:v`
    Flag,    ///< takes none (RTGETOPT_REQ_NOTHING)
    Indexed, ///< takes a value and an index glued to its name: `--nic1 nat`
  };
  Kind kind;
  std::string_view name;        ///< the word-dash-word spelling (OPT2's first, or OPT1's)
  std::string_view legacy_name; ///< OPT2's "word soup" spelling, or empty
};
/// Every option VirtualBox 7.0.14's modifyvm knows on Linux, managed by vboxkvm or not.
std::span<const VboxOption> vbox_modifyvm_options();
/// The name of the VirtualBox modifyvm option `word` is, as typed ("--nic1" for "--nic1=nat"),
/// matched as RTGetOpt matches it; nullopt when VirtualBox has no such option.
std::optional<std::string_view> match_vbox_modifyvm_option(std::string_view word);
/// The rows as parser definitions: both spellings of each row, the row's index as the id.
std::span<const OptDef> modifyvm_options();

} // namespace vbm::cli
