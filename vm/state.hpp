#pragma once
// Machine states as VirtualBox names them, IMachine's rules about them, and
// IVirtualBox::FindMachine: what VirtualBox's Main decides, with its messages.

#include "backend/hypervisor.hpp"
#include "vm/errors.hpp"

#include <string_view>

namespace vbm::vm {

/// An active domain (running, paused, stopping) is "locked for a session".
bool is_locked(backend::VmState s);
/// MutableStateDep: PoweredOff, Aborted (and Teleported, which KVM has not).
bool is_mutable(backend::VmState s);
/// list runningvms: Running and Paused.
bool is_running_for_list(backend::VmState s);
/// showvminfo's human name: "powered off", "running", …
std::string_view human_state(backend::VmState s);
/// --machinereadable's name: "poweroff", "running", … (also the store's record of a state).
std::string_view machine_state(backend::VmState s);
/// Global::stringifyMachineState, used inside API messages: "PoweredOff", "Saved", …
std::string_view stringify_state(backend::VmState s);

/// FindMachine: the VM, or VirtualBox's "Could not find a registered machine …" API error with
/// the caller's context line.
backend::VmRef find_machine(backend::Hypervisor& hv, std::string_view arg, const CallSite& site);

} // namespace vbm::vm
