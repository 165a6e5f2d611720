// list vms | runningvms: `"name" {uuid}` lines (spec §1.7).

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/getopt.hpp"
#include "cli/vm_info.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace vbm::cli {

namespace {
enum Opt { k_long, k_sorted };
constexpr OptDef k_opts[] = {
    {"--long", k_long, ArgKind::None},
    {"-l", k_long, ArgKind::None},
    {"--sorted", k_sorted, ArgKind::None},
    {"-s", k_sorted, ArgKind::None},
};
constexpr std::string_view k_lists[] = {"vms", "runningvms"};

[[noreturn]] void syntax(const std::string& msg, UsageStyle style = UsageStyle::Syntax) {
  throw UsageError(style, "list", msg, k_exit_syntax);
}
} // namespace

Grammar list_grammar() { return {k_opts, {}, k_lists}; }

CommandHelp list_help() {
  return {"list",
          "view system information and VM configuration details",
          {"[--long] [--sorted] [ runningvms | vms ]"},
          "Options:\n"
          "  -l, --long     the showvminfo report of each VM\n"
          "  -s, --sorted   sort by name\n"
          "Lists: vms (every domain on the connection), runningvms (running and paused).\n"};
}

int run_list(std::span<const std::string> args, Env& env) {
  bool long_form = false;
  bool sorted = false;
  std::optional<std::string> kind;
  GetOpt opts(args, k_opts);
  try {
    while (auto item = opts.next()) {
      if (item->def) {
        (item->def->id == k_long ? long_form : sorted) = true;
      } else if (std::find(std::begin(k_lists), std::end(k_lists), item->text) ==
                 std::end(k_lists)) {
        syntax(fmt::format("Unknown subcommand \"{}\".", item->text));
      } else if (kind) {
        syntax("Too many subcommands for \"list\" command.");
      } else {
        kind = item->text;
      }
    }
  } catch (const GetOptError& e) {
    syntax(e.what(), UsageStyle::GetOpt);
  }
  if (!kind) {
    syntax("Missing subcommand for \"list\" command.");
  }
  auto& hv = env.hypervisor(Access::ReadOnly);
  auto vms = hv.list_vms();
  if (*kind == "runningvms") {
    std::erase_if(vms,
                  [&](const backend::VmRef& vm) { return !vm::is_running_for_list(hv.state(vm)); });
  }
  if (sorted) {
    std::sort(vms.begin(), vms.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  } else {
    // VirtualBox lists in registration order; libvirt's order is a hash walk that changes
    // between calls. Closest stable order: running domains as started, then the rest by name.
    std::sort(vms.begin(), vms.end(), [](const auto& a, const auto& b) {
      if ((a.id < 0) != (b.id < 0)) {
        return a.id >= 0;
      }
      return a.id >= 0 ? a.id < b.id : a.name < b.name;
    });
  }
  for (const auto& vm : vms) {
    if (long_form) {
      env.out.out(format_human(gather_vm_info(env, hv, vm), Session::None));
    } else {
      env.out.out(fmt::format("\"{}\" {{{}}}\n", vm.name, vm.uuid));
    }
  }
  return k_exit_success;
}

} // namespace vbm::cli
