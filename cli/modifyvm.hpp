#pragma once
// modifyvm's option table: one row per VirtualBox option, naming the vm/ setting it changes.
// The one source for its parser, usage, help, completion, `__dump-cli` and the man-page check.

#include "cli/getopt.hpp"
#include "vm/errors.hpp"

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
/// The rows as parser definitions: both spellings of each row, the row's index as the id.
std::span<const OptDef> modifyvm_options();

} // namespace vbm::cli
