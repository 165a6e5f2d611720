// getextradata / setextradata: VirtualBox's extra data, as VBoxManageMisc.cpp's
// handleGetExtraData and handleSetExtraData (7.0.14, lines 1296-1419) read and print it. The
// rules (what deletes a key, which keys are refused) are vm/extradata.hpp's.

#include "vm/extradata.hpp"

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

namespace vbm::cli {

namespace {
constexpr std::string_view k_file = "VBoxManageMisc.cpp";
// Both handlers compare the first word with "global" before any lookup (strcmp): a VM named
// "global" is reached by its UUID only.
constexpr std::string_view k_global = "global";
constexpr std::string_view k_vm_words[] = {k_global};
// getextradata's second word "enumerate" always lists: a key named "enumerate" cannot be read.
constexpr std::string_view k_enumerate = "enumerate";
constexpr std::string_view k_get_words[] = {k_enumerate};
constexpr std::string_view k_find_context =
    "FindMachine(Bstr(a->argv[0]).raw(), machine.asOutParam())";

[[noreturn]] void syntax(std::string_view command, const std::string& msg) {
  // errorSyntax in these handlers: VirtualBox returns its RTEXITCODE_SYNTAX (2).
  throw UsageError(UsageStyle::Syntax, std::string(command), msg, k_exit_syntax);
}

/// The first word: "global", else a VM (FindMachine, with its Context line `find_line`).
vm::ExtraDataScope find_scope(Env& env, const std::string& word, int find_line) {
  if (word == k_global) {
    return vm::ExtraDataScope::global();
  }
  auto& hv = env.hypervisor(Access::ReadOnly);
  auto vm = vm::find_machine(hv, word, {k_find_context, k_file, find_line});
  return vm::ExtraDataScope::machine(hv, vm);
}

/// Where handleSetExtraData calls SetExtraData, for the Context line of its error.
vm::CallSite set_site(bool global, bool with_value) {
  if (with_value) {
    return {"SetExtraData(Bstr(a->argv[1]).raw(), Bstr(a->argv[2]).raw())", k_file,
            global ? 1390 : 1412};
  }
  return {"SetExtraData(Bstr(a->argv[1]).raw(), NULL)", k_file, global ? 1387 : 1409};
}
} // namespace

Grammar getextradata_grammar() {
  Grammar g{{}, {}, k_get_words, Grammar::Vm::Any};
  g.vm_words = k_vm_words;
  return g;
}

Grammar setextradata_grammar() {
  Grammar g{{}, {}, {}, Grammar::Vm::Any};
  g.vm_words = k_vm_words;
  return g;
}

CommandHelp getextradata_help() {
  return {"getextradata",
          "view keyword values that are associated with a virtual machine or configuration",
          {"<global | uuid | vmname> keyword | enumerate"},
          "Arguments:\n"
          "  global          VirtualBox's global extra data (one set per settings store)\n"
          "  uuid | vmname   a VM's extra data (any state)\n"
          "  keyword         prints \"Value: <value>\", or \"No value set!\"\n"
          "  enumerate       (or no keyword) prints \"Key: <key>, Value: <value>\" for each\n"
          "                  key, in byte order of the keys\n"};
}

CommandHelp setextradata_help() {
  return {"setextradata",
          "set a keyword value that is associated with a virtual machine or configuration",
          {"<global | uuid | vmname> <keyword> [value]"},
          "Arguments:\n"
          "  global          VirtualBox's global extra data (one set per settings store)\n"
          "  uuid | vmname   a VM's extra data (any state, running included)\n"
          "  keyword value   gives keyword that value\n"
          "  keyword         without a value, or with an empty one, deletes keyword\n"};
}

int run_getextradata(std::span<const std::string> args, Env& env) {
  if (args.size() > 2 || args.empty()) {
    syntax("getextradata", "Incorrect number of parameters");
  }
  auto scope = find_scope(env, args[0], 1338);
  if (args.size() < 2 || args[1] == k_enumerate) {
    for (const auto& [key, value] : vm::enumerate_extradata(env.store(), scope)) {
      env.out.out(fmt::format("Key: {}, Value: {}\n", key, value));
    }
    return k_exit_success;
  }
  auto value = vm::get_extradata(env.store(), scope, args[1]);
  env.out.out(value ? fmt::format("Value: {}\n", *value) : std::string("No value set!\n"));
  return k_exit_success;
}

int run_setextradata(std::span<const std::string> args, Env& env) {
  if (args.size() < 2) {
    syntax("setextradata", "Not enough parameters");
  }
  bool global = args[0] == k_global;
  // VirtualBox counts the words only after FindMachine (and its shared LockMachine) for a VM:
  // an unknown VM with too many words is the lookup's error (exit 1), a known one the syntax
  // error (exit 2). For "global" there is nothing to look up first.
  if (global && args.size() > 3) {
    syntax("setextradata", "Too many parameters");
  }
  auto scope = find_scope(env, args[0], 1398);
  if (args.size() > 3) {
    syntax("setextradata", "Too many parameters");
  }
  std::optional<std::string_view> value;
  if (args.size() == 3) {
    value = args[2];
  }
  vm::set_extradata(env.store(), scope, args[1], value, set_site(global, value.has_value()));
  return k_exit_success;
}

} // namespace vbm::cli
