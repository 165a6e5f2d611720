#include "vm/session.hpp"

#include "sys/signals.hpp"
#include "vm/start_plan.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <optional>
#include <strings.h>

namespace vbm::vm {

namespace {
ApiError locked_for_session(const backend::VmRef& vm, const CallSite& site) {
  // VirtualBox takes the write lock before it parses options, so this wins over bad options.
  return ApiError(
      fmt::format("The machine '{}' is already locked for a session (or being unlocked)", vm.name),
      k_invalid_object_state, "MachineWrap", "IMachine", site);
}
// Starts the VM; large pages (<hugepages/>) get hugetlbfs only where `backing` says the host
// can back them, else this run is on transparent huge pages and the definition is left as it
// is. No backing: no large pages, or a restore (which keeps the backing of the run it saved).
backend::VmRef start_backed(backend::Hypervisor& hv, const backend::VmRef& vm,
                            const backend::DomainMemory& def, const std::optional<Backing>& backing,
                            const Warn& warn) {
  if (!backing) {
    return hv.start(vm);
  }
  auto thp = [&](const std::string& why) {
    warn(fmt::format("'{}' runs on transparent huge pages, not hugetlbfs: {}", vm.name, why));
    return hv.start_without_huge_pages(vm);
  };
  if (!backing->hugetlbfs) {
    return thp(backing->why);
  }
  try {
    return hv.start(vm);
  } catch (const backend::BackendError& e) {
    // libvirt or QEMU could not back it (no hugetlbfs mount, the pool taken meanwhile).
    if (e.connection_lost() || def.hugepages_sized) {
      throw;
    }
    return thp(fmt::format("libvirt could not back it with huge pages ({})", e.what()));
  }
}

ApiError locked_by_session(const backend::VmRef& vm, const CallSite& site) {
  return ApiError(fmt::format("The machine '{}' is already locked by a session (or being "
                              "locked or unlocked)",
                              vm.name),
                  k_invalid_object_state, "MachineWrap", "IMachine", site);
}
} // namespace

Applied apply_settings(backend::Hypervisor& hv, store::SettingsStore& store,
                       const backend::VmRef& vm, const CallSite& lock_site, const Edit& edit) {
  auto lock = store.lock_writers();
  auto state = hv.state(vm);
  if (is_locked(state)) {
    throw locked_for_session(vm, lock_site);
  }
  const store::VmKey key{hv.hostname(), vm.uuid};
  auto actual = recover_pending(hv, store, key, vm, hv.persistent_memory(vm));
  Applied result{resolve_settings(store, key, actual).settings, {}};

  std::optional<bool> is_64bit;
  SetterContext ctx{state,
                    [&] {
                      if (!is_64bit) {
                        is_64bit = hv.host_info().is_64bit;
                      }
                      return *is_64bit;
                    },
                    actual, [&] { return hv.version(); }};
  result.after = result.before;
  edit(result.after, ctx);

  // All options passed. Record the intent, write it to libvirt, then commit the settings and
  // forget the intent in one transaction. If libvirt refuses, the intent is forgotten and
  // nothing changed; if the process or the connection dies in between, the next writer finishes
  // the change (recover_pending), so the store and libvirt never stay apart.
  auto target = to_domain(result.after, actual);
  auto new_settings = to_store(result.after);
  if (target != actual) {
    store.put_pending(key, vm.name, {new_settings, to_record(actual), to_record(target)});
    try {
      sys::pause_point("modifyvm-define");
      if (is_locked(hv.state(vm))) {
        throw locked_for_session(vm, lock_site);
      }
      hv.set_persistent_memory(vm, target);
    } catch (const backend::BackendError& e) {
      // libvirt refused: nothing changed there. But if libvirtd went away mid-call, it may
      // have written `target`: keep the intent, which the next reader or writer settles
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
  return result;
}

Frontend parse_frontend(std::string_view name) {
  if (name == "emergencystop") {
    return Frontend::EmergencyStop;
  }
  auto is = [&](std::string_view word) {
    return name.size() == word.size() && strncasecmp(name.data(), word.data(), name.size()) == 0;
  };
  if (is("gui") || is("GUI/Qt")) {
    return Frontend::Window;
  }
  if (is("separate") || is("gui/separate") || is("GUI/Qt/separate")) {
    return Frontend::SeparateWindow;
  }
  if (is("headless") || is("capture") || is("vrdp")) {
    return Frontend::Headless;
  }
  return Frontend::Invalid;
}

std::optional<backend::VmRef> start_machine(backend::Hypervisor& hv, store::SettingsStore& store,
                                            const backend::VmRef& vm, std::string_view frontend,
                                            const CallSite& site, const StartRequest& req,
                                            const std::function<void(bool joining)>& starting,
                                            const Warn& warn) {
  const store::VmKey key{hv.hostname(), vm.uuid};
  auto kind = parse_frontend(frontend);
  if (kind == Frontend::EmergencyStop) {
    // No session: Machine::launchVMProcess kills the VM process of a locked machine.
    if (!is_locked(hv.state(vm))) {
      throw ApiError(fmt::format("The machine '{}' is not locked by a session", vm.name),
                     k_invalid_object_state, "MachineWrap", "IMachine", site);
    }
    hv.power(vm, backend::PowerAction::PowerOff);
    store.put_live_balloon(key, vm.name, vm.id, std::nullopt);
    return std::nullopt;
  }
  auto lock = store.lock_writers();
  auto state = hv.state(vm);
  // i_launchVMProcess: a frontend name ending in "separate" may join a VM whose session is
  // headless (every running KVM guest's is); any other is refused while the VM is active. The
  // state check comes before the name check.
  bool separate = frontend.size() >= 8 &&
                  strncasecmp(frontend.data() + frontend.size() - 8, "separate", 8) == 0;
  if (is_locked(state) && !separate) {
    throw locked_by_session(vm, site);
  }
  if (kind == Frontend::Invalid) {
    throw ApiError(fmt::format("Invalid frontend name: '{}'", frontend), k_invalid_arg,
                   "MachineWrap", "IMachine", site);
  }
  if (is_locked(state)) {
    starting(true); // a separate UI joins the running VM: there is nothing to start on KVM
    return vm;
  }
  auto def = recover_pending(hv, store, key, vm, hv.persistent_memory(vm));
  auto plan = plan_start(hv, vm, def, state == backend::VmState::Saved, req.policy);
  if (plan.admission && plan.admission->refusal) {
    if (!req.force) {
      throw Error(*plan.admission->refusal);
    }
    warn(fmt::format("starting anyway (--force): {}", *plan.admission->refusal));
  }
  starting(false);
  auto started = start_backed(hv, vm, def, plan.backing, warn);
  // A new run: forget any live balloon request of an earlier one.
  store.put_live_balloon(key, vm.name, started.id, std::nullopt);
  return started;
}

StartPlan plan_machine_start(backend::Hypervisor& hv, store::SettingsStore& store,
                             const backend::VmRef& vm, const CallSite& site,
                             const AdmissionPolicy& policy) {
  auto state = hv.state(vm);
  if (is_locked(state)) {
    throw locked_by_session(vm, site);
  }
  const store::VmKey key{hv.hostname(), vm.uuid};
  auto actual = hv.persistent_memory(vm);
  auto def = to_domain(resolve_settings(store, key, actual).settings, actual);
  return plan_start(hv, vm, def, state == backend::VmState::Saved, policy);
}

} // namespace vbm::vm
