// modifyvm: the memory settings of a powered-off VM, applied in argv order, all or nothing.
// The options are one table of rows (the frontend's spellings, usage and call sites); what
// each setting is, its checks, and the protocol that writes libvirt and the store together
// are vm/'s.

#include "cli/modifyvm.hpp"

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "vm/session.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace vbm::cli {

namespace {
constexpr std::string_view k_file = "VBoxManageModifyVM.cpp";

constexpr OptionRow k_rows[] = {
    {"memory",
     "--memory",
     "",
     ArgKind::UInt32,
     "[--memory=size-in-MB]",
     "Guest RAM in MB: the domain's <memory>. Only while the VM is powered off.",
     {"COMSETTER(MemorySize)(ValueUnion.u32)", k_file, 707}},
    {"pagefusion",
     "--page-fusion",
     "--pagefusion",
     ArgKind::OnOff,
     "[--page-fusion= on | off ]",
     "Let the host merge this guest's identical pages (KSM; off writes <nosharepages/>). Only "
     "while the VM is powered off.",
     {"COMSETTER(PageFusionEnabled)(ValueUnion.f)", k_file, 731},
     true},
    {"cpus",
     "--cpus",
     "",
     ArgKind::UInt32,
     "[--cpus=CPU-count]",
     "Number of virtual CPUs, 1 to 64: the domain's <vcpu>. Only while the VM is powered off.",
     {"COMSETTER(CPUCount)(ValueUnion.u32)", k_file, 946}},
    {"largepages",
     "--large-pages",
     "--largepages",
     ArgKind::OnOff,
     "[--large-pages= on | off ]",
     "Large pages (<hugepages/>): startvm backs RAM with the host's huge page pool when it can, "
     "else with transparent huge pages and a warning. Only while the VM is powered off.",
     {"SetHWVirtExProperty(HWVirtExPropertyType_LargePages, ValueUnion.f)", k_file, 1012}},
    {"guestmemoryballoon",
     "--guest-memory-balloon",
     "--guestmemoryballoon",
     ArgKind::UInt32,
     "[--guest-memory-balloon=size-in-MB]",
     "MB the balloon takes from the guest at every start (<currentMemory> = RAM - balloon). "
     "Must be below 90% of RAM, as of that point in the command.",
     {"COMSETTER(MemoryBalloonSize)(ValueUnion.u32)", k_file, 1003}},
    // vboxkvm's own (VirtualBox has neither): no VBoxManage call, so no Context line.
    {"freepagereporting",
     "--free-page-reporting",
     "",
     ArgKind::OnOff,
     "[--free-page-reporting= on | off ]",
     "vboxkvm: the guest hands the memory it frees back to the host by itself (<memballoon "
     "freePageReporting='on'>). Only while the VM is powered off.",
     {}},
    {"balloondeflateonoom",
     "--balloon-deflate-on-oom",
     "",
     ArgKind::OnOff,
     "[--balloon-deflate-on-oom= on | off ]",
     "vboxkvm: the guest takes memory back from its balloon rather than kill a process "
     "(<memballoon "
     "autodeflate='on'>). Only while the VM is powered off.",
     {}},
};

// modifyvm reports option errors through errorGetOpt but returns RTEXITCODE_FAILURE (spec §2.2).
[[noreturn]] void getopt_failure(const std::string& msg) {
  throw UsageError(UsageStyle::GetOpt, "modifyvm", msg, k_exit_failure);
}

// How many words GetOpt takes as the item that starts at words[i]: an option of ours and,
// unless glued to it (`--memory=512`), its value.
size_t item_words(std::span<const std::string> words, size_t i) {
  std::optional<std::string_view> glued;
  const OptDef* def = match_option(words[i], modifyvm_options(), &glued);
  return def && def->kind != ArgKind::None && !glued ? 2 : 1;
}
} // namespace

std::span<const OptionRow> modifyvm_rows() { return k_rows; }

std::span<const OptDef> modifyvm_options() {
  // Both spellings of each row; the row's index is the id.
  static const std::vector<OptDef> defs = [] {
    std::vector<OptDef> out;
    for (size_t i = 0; i < std::size(k_rows); ++i) {
      out.push_back({k_rows[i].flag, static_cast<int>(i), k_rows[i].kind});
      if (!k_rows[i].legacy_flag.empty()) {
        out.push_back({k_rows[i].legacy_flag, static_cast<int>(i), k_rows[i].kind});
      }
    }
    return out;
  }();
  return defs;
}

Grammar modifyvm_grammar() { return {modifyvm_options(), {}, {}, Grammar::Vm::Any}; }

CommandHelp modifyvm_help() {
  CommandHelp help{"modifyvm", "change settings for a virtual machine that is stopped", {}, {}};
  std::string syn = "<uuid | vmname>";
  std::string details = "Options (applied in order; a failing option changes nothing):\n";
  for (const auto& row : k_rows) {
    syn += ' ';
    syn += row.synopsis;
    details += fmt::format("  {}{}\n      {}\n", row.flag,
                           row.legacy_flag.empty() ? "" : fmt::format(", {}", row.legacy_flag),
                           row.description);
  }
  help.synopses.push_back(syn);
  help.details = details;
  return help;
}

int run_modifyvm(std::span<const std::string> args, Env& env) {
  if (args.size() < 2) {
    throw UsageError(UsageStyle::Syntax, "modifyvm", "Not enough parameters", k_exit_syntax);
  }
  auto& hv = env.hypervisor(Access::ReadWrite);
  auto vm = vm::find_machine(
      hv, args[0], {"FindMachine(Bstr(a->argv[0]).raw(), machine.asOutParam())", k_file, 547});
  bool warn_side_channel = false;
  // The options in argv order, each item read by GetOpt; the first failure changes nothing.
  // A VirtualBox option vboxkvm does not manage fails where it stands, as an option VirtualBox
  // would have applied there, not as a typo.
  auto edit = [&](vm::VmSettings& settings, const vm::SetterContext& ctx) {
    auto words = args.subspan(1);
    try {
      for (size_t i = 0; i < words.size();) {
        bool rest_are_words = words[i] == "--"; // GetOpt reads what follows as non-options
        if (!rest_are_words && !match_option(words[i], modifyvm_options())) {
          if (auto name = match_vbox_modifyvm_option(words[i])) {
            throw Error(fmt::format("{}: this VirtualBox setting is not managed by vboxkvm (KVM "
                                    "guests are configured with virsh edit)",
                                    *name),
                        k_exit_failure);
          }
        }
        size_t n =
            rest_are_words ? words.size() - i : std::min(item_words(words, i), words.size() - i);
        auto item = GetOpt(words.subspan(i, n), modifyvm_options()).next();
        i += n;
        if (!item) {
          break;
        }
        if (!item->def) {
          getopt_failure(fmt::format("Invalid parameter '{}'", item->text));
        }
        const auto& row = k_rows[static_cast<size_t>(item->def->id)];
        vm::find_setting(row.key)->apply(
            settings, row.kind == ArgKind::OnOff ? item->on : item->u32, ctx, row.site);
        warn_side_channel |= row.side_channel && item->on;
      }
    } catch (const GetOptError& e) {
      getopt_failure(e.what());
    }
  };
  vm::apply_settings(hv, env.store(), vm, {"LockMachine(a->session, LockType_Write)", k_file, 573},
                     edit);
  if (warn_side_channel) {
    env.out.warning("page fusion lets guests that share pages infer each other's memory through "
                    "timing (KSM side channel); enable it only for mutually trusted guests");
  }
  return k_exit_success;
}

} // namespace vbm::cli
