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
/// MachineState_T's value (VirtualBox.xidl): PoweredOff 1, Saved 2, Running 6, Paused 7, …
int state_value(backend::VmState s);

/// The session calls controlvm's power verbs make, each with Main's state rule.
enum class ConsoleCall {
  Pause,       ///< IConsole::Pause (Console::i_pause)
  Resume,      ///< IConsole::Resume
  Reset,       ///< IConsole::Reset
  PowerButton, ///< IConsole::PowerButton
  PowerDown,   ///< IConsole::PowerDown
  Shutdown,    ///< IGuest::Shutdown: on KVM libvirt's shutdown request, which needs a running guest
};
/// Main's check of the machine state for `call` (ConsoleImpl.cpp Console::pause, resume, reset,
/// powerButton, powerDown): throws its VBOX_E_INVALID_VM_STATE error ("Already paused",
/// "Invalid machine state: Paused", …) at VBoxManage's call `site` when `s` does not allow it.
void check_console_call(ConsoleCall call, backend::VmState s, const CallSite& site);
/// controlvm savestate pauses first and saves a VM that is Running or already Paused
/// (handleControlVM); any other state is refused with "Machine in invalid state N -- name.".
bool can_save_state(backend::VmState s);

/// FindMachine: the VM, or VirtualBox's "Could not find a registered machine …" API error with
/// the caller's context line.
backend::VmRef find_machine(backend::Hypervisor& hv, std::string_view arg, const CallSite& site);

} // namespace vbm::vm
