#pragma once
// What changes a VM under vboxmanage's session lock (the store's writer lock): modifyvm's
// settings and startvm's start. The lock keeps them apart across processes, so a VM never starts
// with settings half-written, and settings are never written to a VM that has just started.

#include "backend/hypervisor.hpp"
#include "store/settings_store.hpp"
#include "vm/errors.hpp"
#include "vm/settings.hpp"

#include <functional>

namespace vbm::vm {

/// Applies the options to the settings in place (in argv order); throws to change nothing.
using Edit = std::function<void(VmSettings&, const SetterContext&)>;

struct Applied {
  VmSettings before;
  VmSettings after;
};

/// Changes a powered-off VM's settings, all or nothing, in libvirt's persistent configuration
/// and the store together, and finished even if the process is killed (ARCHITECTURE.md, "How
/// the store and libvirt are kept in step"):
///   1. takes the session lock (concurrent writers and startvm queue there);
///   2. refuses an active VM with VirtualBox's lock error at `lock_site`;
///   3. finishes or forgets what a killed writer left (recover_pending);
///   4. starts from the store's settings while libvirt holds them, else from libvirt's;
///   5. runs `edit` on a copy: the first failure throws and nothing was written anywhere;
///   6. if the configuration changes: records the intent, checks once more that the VM did not
///      start meanwhile (another tool may start it without our lock), writes libvirt, then
///      commits the settings and forgets the intent in one transaction.
/// Throws ApiError, backend::BackendError, store::StoreError.
Applied apply_settings(backend::Hypervisor& hv, store::SettingsStore& store,
                       const backend::VmRef& vm, const CallSite& lock_site, const Edit& edit);

/// Starts (or restores) a VM under the session lock, after finishing what a killed modifyvm
/// left, and forgets any live balloon request of an earlier run. Refuses an active VM with
/// VirtualBox's LaunchVMProcess error at `site`; `starting` runs once the VM is known to be
/// startable, before libvirt starts it. Returns the VM with its new domain ID.
backend::VmRef start_machine(backend::Hypervisor& hv, store::SettingsStore& store,
                             const backend::VmRef& vm, const CallSite& site,
                             const std::function<void()>& starting);

} // namespace vbm::vm
