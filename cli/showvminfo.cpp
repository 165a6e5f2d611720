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
std::string long_name(const OptDef& short_def) {
  for (const auto& d : k_opts) {
    if (d.id == short_def.id && d.name.starts_with("--")) {
      return std::string(d.name);
    }
  }
  return std::string(short_def.name);
}

// RTGetOpt reads a run of short options in one word: "-DM" is -D -M, "-l5" is -l 5 (a short
// option with a value takes the rest of the word, after one '=' or ':', or the next word).
// GetOpt reads one option per word, so such a word is split first, each short option written
// with its long name. A long word of ours (or the value of an option), and every word after
// "--", is left as it is.
std::vector<std::string> split_short_runs(std::span<const std::string> args) {
  std::vector<std::string> out;
  bool words_only = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& w = args[i];
    std::optional<std::string_view> glued;
    const OptDef* def = words_only ? nullptr : match_option(w, k_opts, &glued);
    words_only |= w == "--";
    out.push_back(w);
    if (def && def->name.size() != 2) {
      if (def->kind != ArgKind::None && !glued && i + 1 < args.size()) {
        out.push_back(args[++i]);
      }
      continue;
    }
    if (words_only || w.size() < 2 || w[0] != '-' || w[1] == '-' ||
        !match_option(w.substr(0, 2), k_opts)) {
      continue;
    }
    out.pop_back();
    for (size_t k = 1; k < w.size(); ++k) {
      std::string opt = std::string("-") + w[k];
      const OptDef* s = match_option(opt, k_opts);
      if (!s) {
        out.push_back("-" + w.substr(k)); // GetOpt: Unknown option
        break;
      }
      out.push_back(long_name(*s));
      if (s->kind != ArgKind::None) {
        std::string rest = w.substr(k + 1);
        if (!rest.empty() && (rest[0] == '=' || rest[0] == ':')) {
          rest.erase(0, 1);
        }
        if (!rest.empty()) {
          out.push_back(rest);
        } else if (i + 1 < args.size()) {
          out.push_back(args[++i]);
        }
        break;
      }
    }
  }
  return out;
}

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
  auto words = split_short_runs(args);
  GetOpt opts(words, k_opts);
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
