// modifyvm: the memory settings of a powered-off VM, applied in argv order, all or nothing,
// to the domain's persistent libvirt configuration and the settings store together.

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/vm_settings.hpp"
#include "cli/vm_state.hpp"

#include <fmt/format.h>

namespace vbm::cli {

namespace {
constexpr const char* k_file = "VBoxManageModifyVM.cpp";

// modifyvm reports option errors through errorGetOpt but returns RTEXITCODE_FAILURE (spec §2.2).
[[noreturn]] void getopt_failure(const std::string& msg) {
  throw UsageError(UsageStyle::GetOpt, "modifyvm", msg, k_exit_failure);
}
} // namespace

CommandHelp modifyvm_help() {
  CommandHelp help{"modifyvm", "change settings for a virtual machine that is stopped", {}, {}};
  std::string syn = "<uuid | vmname>";
  std::string details = "Options (applied in order; a failing option changes nothing):\n";
  for (const auto& def : setting_table()) {
    syn += ' ';
    syn += def.synopsis;
    details += fmt::format("  {}{}\n      {}\n", def.flag,
                           def.legacy_flag.empty() ? "" : fmt::format(", {}", def.legacy_flag),
                           def.description);
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
  auto vm = find_machine(hv, args[0], "FindMachine(Bstr(a->argv[0]).raw(), machine.asOutParam())",
                         k_file, 547);

  // The writer lock is vboxmanage's session lock: concurrent modifyvm invocations queue here,
  // so each reads the configuration the previous one wrote. A killed holder releases it.
  auto& store = env.store();
  auto lock = store.lock_writers();
  auto state = hv.state(vm);
  if (is_locked(state)) {
    // VirtualBox takes the write lock before parsing options, so this wins over bad options.
    throw ApiError(
        fmt::format("The machine '{}' is already locked for a session (or being unlocked)",
                    vm.name),
        k_invalid_object_state, "MachineWrap", "IMachine",
        "LockMachine(a->session, LockType_Write)", k_file, 573);
  }
  const auto before = hv.persistent_memory(vm);
  const store::VmKey key{hv.hostname(), vm.uuid};
  recover_pending(store, key, vm.name, before);
  auto settings = resolve_settings(store.settings(key), before).settings;

  std::optional<bool> is_64bit;
  SetterContext ctx{state, [&] {
                      if (!is_64bit) {
                        is_64bit = hv.host_info().is_64bit;
                      }
                      return *is_64bit;
                    }};
  auto defs = setting_option_defs();
  GetOpt opts(args.subspan(1), defs);
  bool page_fusion_turned_on = false;
  try {
    while (auto item = opts.next()) {
      if (!item->def) {
        getopt_failure(fmt::format("Invalid parameter '{}'", item->text));
      }
      const auto& def = setting_table()[static_cast<size_t>(item->def->id)];
      def.apply(settings, *item, ctx);
      if (def.key == "pagefusion" && item->on) {
        page_fusion_turned_on = true;
      }
    }
  } catch (const GetOptError& e) {
    getopt_failure(e.what());
  }

  // All options passed. Record the intent, define it in libvirt, then commit the settings and
  // forget the intent in one transaction. If libvirt refuses, the intent is forgotten and
  // nothing changed; if the process or the connection dies in between, the next writer finishes the
  // change (recover_pending), so the store and libvirt never stay apart.
  auto after = to_domain(settings, before.balloon_device);
  auto new_settings = to_store(settings);
  if (after != before) {
    store.put_pending(key, vm.name, {new_settings, to_record(before), to_record(after)});
    try {
      hv.set_persistent_memory(vm, after);
    } catch (const backend::BackendError& e) {
      // libvirt refused: nothing changed there. But if libvirtd went away mid-call, it may
      // have defined `after`: keep the intent, which the next reader or writer settles
      // against what libvirt really holds.
      if (!e.connection_lost()) {
        store.finish_pending(key, vm.name, nullptr);
      }
      throw;
    } catch (const std::exception&) {
      store.finish_pending(key, vm.name, nullptr);
      throw;
    }
  }
  store.finish_pending(key, vm.name, &new_settings);
  if (page_fusion_turned_on) {
    env.out.warning("page fusion lets guests that share pages infer each other's memory through "
                    "timing (KSM side channel); enable it only for mutually trusted guests");
  }
  return k_exit_success;
}

} // namespace vbm::cli
