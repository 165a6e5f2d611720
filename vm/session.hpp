#pragma once
// What changes a VM under vboxmanage's session lock (the store's writer lock): modifyvm's
// settings and startvm's start. The lock keeps them apart across processes, so a VM never starts
// with settings half-written, and settings are never written to a VM that has just started.

#include "backend/hypervisor.hpp"
#include "store/settings_store.hpp"
#include "vm/errors.hpp"
#include "vm/settings.hpp"
#include "vm/start_plan.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

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

/// What a LaunchVMProcess frontend name asks for (Machine::i_launchVMProcess's names, in any case;
/// emergencystop, Machine::launchVMProcess's, in exactly that case). `sdl` is Invalid: 7.0's
/// builds have no SDL frontend (VBOX_WITH_VBOXSDL is off). On KVM every VM runs headless.
enum class Frontend {
  Headless,       ///< headless, capture, vrdp
  Window,         ///< gui, GUI/Qt
  SeparateWindow, ///< separate, gui/separate, GUI/Qt/separate: may join a running VM
  EmergencyStop,  ///< stops a running VM at once
  Invalid,        ///< "Invalid frontend name: '…'"
};
Frontend parse_frontend(std::string_view name);

/// Prints a warning line (the frontend's).
using Warn = std::function<void(const std::string&)>;

/// What startvm asks for beyond the frontend (vboxkvm's admission, vm/admission.hpp).
struct StartRequest {
  AdmissionPolicy policy;
  bool force = false; ///< start even where admission refuses (its refusal becomes a warning)
};

/// IMachine::LaunchVMProcess on KVM, with Main's order of checks: emergencystop stops a running
/// VM (refused for one that is not); a separate UI may join a running VM (nothing to do on KVM);
/// otherwise an active VM is refused with VirtualBox's lock error, then an invalid frontend name
/// with its E_INVALIDARG error, both at `site`. Starting (or restoring) runs under the session
/// lock, after finishing what a killed modifyvm left, and forgets any live balloon request of an
/// earlier run. `starting` runs once the VM is known to be startable, before libvirt starts it,
/// or joinable (its argument is then true). Returns the VM with its domain ID, or nullopt after an
/// emergency stop (LaunchVMProcess gives no progress then, so VBoxManage prints nothing).
/// Before `starting`, admission (vm/admission.hpp): a VM the host cannot back is refused with
/// vbm::Error (one line with the figures) unless `req.force`. Large pages: hugetlbfs where the
/// host can back them (vm/start_plan.hpp), else this run is on transparent huge pages and `warn`
/// says why.
std::optional<backend::VmRef> start_machine(backend::Hypervisor& hv, store::SettingsStore& store,
                                            const backend::VmRef& vm, std::string_view frontend,
                                            const CallSite& site, const StartRequest& req,
                                            const std::function<void(bool joining)>& starting,
                                            const Warn& warn);

/// What start_machine would decide for `vm` now (startvm --dry-run), without the session lock
/// and without starting anything: a VM that is active is refused with LaunchVMProcess's lock
/// error at `site`; a change a killed modifyvm left begun counts as made.
StartPlan plan_machine_start(backend::Hypervisor& hv, store::SettingsStore& store,
                             const backend::VmRef& vm, const CallSite& site,
                             const AdmissionPolicy& policy);

} // namespace vbm::vm
