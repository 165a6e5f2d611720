// showvminfo: the memory-related lines of VirtualBox's VM report (spec §5).

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/getopt.hpp"
#include "cli/vm_info.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

namespace vbm::cli {

namespace {
enum Opt { k_details, k_machinereadable, k_json };
constexpr OptDef k_opts[] = {
    {"--details", k_details, ArgKind::None},
    {"-details", k_details, ArgKind::None},
    {"--machinereadable", k_machinereadable, ArgKind::None},
    {"-machinereadable", k_machinereadable, ArgKind::None},
    {"--json", k_json, ArgKind::None},
};

[[noreturn]] void syntax(const std::string& msg, UsageStyle style = UsageStyle::Syntax) {
  throw UsageError(style, "showvminfo", msg, k_exit_syntax);
}
} // namespace

Grammar showvminfo_grammar() { return {k_opts, {}, {}, Grammar::Vm::Any}; }

CommandHelp showvminfo_help() {
  return {"showvminfo",
          "show configuration information for a virtual machine",
          {"<uuid | vmname> [--details] [--machinereadable] [--json]"},
          "Options:\n"
          "  --details           accepted for compatibility; the memory report is always complete\n"
          "  --machinereadable   key=value lines, as VirtualBox prints them\n"
          "  --json              one JSON object with the --machinereadable keys\n"};
}

int run_showvminfo(std::span<const std::string> args, Env& env) {
  std::optional<std::string> name;
  bool machine = false;
  bool json = false;
  GetOpt opts(args, k_opts);
  try {
    while (auto item = opts.next()) {
      if (!item->def) {
        if (name) {
          syntax(fmt::format("Invalid parameter '{}'", item->text));
        }
        name = item->text;
      } else if (item->def->id == k_machinereadable) {
        machine = true;
      } else if (item->def->id == k_json) {
        json = true;
      }
    }
  } catch (const GetOptError& e) {
    syntax(e.what(), UsageStyle::GetOpt);
  }
  if (!name) {
    syntax("VM name or UUID required");
  }
  if (machine && json) {
    syntax("Options --machinereadable and --json are exclusive");
  }
  auto& hv = env.hypervisor(Access::ReadOnly);
  auto vm = vm::find_machine(
      hv, *name,
      {"FindMachine(Bstr(VMNameOrUuid).raw(), machine.asOutParam())", "VBoxManageInfo.cpp", 3187});
  auto info = gather_vm_info(env, hv, vm);
  env.out.out(json      ? format_json(info)
              : machine ? format_machine_readable(info)
                        : format_human(info));
  return k_exit_success;
}

} // namespace vbm::cli
