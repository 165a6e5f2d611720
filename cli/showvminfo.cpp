// showvminfo: the memory-related lines of VirtualBox's VM report (spec §5).

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/getopt.hpp"
#include "cli/vm_info.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

namespace vbm::cli {

namespace {
enum Opt { k_details, k_machinereadable, k_log, k_password_id, k_password, k_json };
// g_aShowVMInfoOptions (VBoxManageInfo.cpp): the long and deprecated single-dash words, and the
// short options RTGetOpt takes from their printable iShort values; then vboxkvm's --json.
constexpr OptDef k_opts[] = {
    {"--details", k_details, ArgKind::None},
    {"-details", k_details, ArgKind::None},
    {"--machinereadable", k_machinereadable, ArgKind::None},
    {"-machinereadable", k_machinereadable, ArgKind::None},
    {"--log", k_log, ArgKind::UInt32},
    {"--password-id", k_password_id, ArgKind::String},
    {"-password-id", k_password_id, ArgKind::String},
    {"--password", k_password, ArgKind::String},
    {"-password", k_password, ArgKind::String},
    {"-D", k_details, ArgKind::None},
    {"-M", k_machinereadable, ArgKind::None},
    {"-l", k_log, ArgKind::UInt32},
    {"-i", k_password_id, ArgKind::String},
    {"-w", k_password, ArgKind::String},
    {"--json", k_json, ArgKind::None},
};

// The long spelling of a short option (errorGetOpt names an option by its pszLong).
[[noreturn]] void syntax(const std::string& msg, UsageStyle style = UsageStyle::Syntax) {
  throw UsageError(style, "showvminfo", msg, k_exit_syntax);
}
} // namespace

Grammar showvminfo_grammar() { return {k_opts, {}, {}, Grammar::Vm::Any}; }

CommandHelp showvminfo_help() {
  return {"showvminfo",
          "show configuration information for a virtual machine",
          {"<uuid | vmname> [--details] [--machinereadable] [--json] [--password-id id] "
           "[--password file|-]",
           "<uuid | vmname> --log <index>"},
          "Options:\n"
          "  -D, --details           accepted; the report is always complete\n"
          "  -M, --machinereadable   key=value lines, as VirtualBox prints them\n"
          "  --json                  one JSON object with the --machinereadable keys\n"
          "  -i, --password-id, -w, --password\n"
          "                          accepted; vboxkvm has no encrypted VMs\n"
          "  -l, --log               refused: a KVM guest has no VirtualBox log\n"};
}

int run_showvminfo(std::span<const std::string> args, Env& env) {
  std::optional<std::string> name;
  bool machine = false;
  bool details = false;
  bool json = false;
  bool log = false;
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
      } else if (item->def->id == k_details) {
        details = true;
      } else if (item->def->id == k_log) {
        log = true;
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
  // handleShowVMInfo checks --log after FindMachine (an unknown VM wins).
  if (log && (machine || details || json)) {
    syntax("Option --log is exclusive");
  }
  if (log) {
    throw Error(fmt::format("--log: a KVM guest has no VirtualBox log (libvirt keeps the QEMU log "
                            "of '{}', e.g. /var/log/libvirt/qemu/{}.log)",
                            vm.name, vm.name),
                k_exit_failure);
  }
  auto info = gather_vm_info(env, hv, vm);
  env.out.out(json      ? format_json(info)
              : machine ? format_machine_readable(info)
                        : format_human(info));
  return k_exit_success;
}

} // namespace vbm::cli
