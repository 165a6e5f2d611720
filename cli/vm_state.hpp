#pragma once
// VirtualBox's names for machine states, and the lookups every command shares.

#include "backend/hypervisor.hpp"

#include <string>
#include <string_view>

namespace vbm::cli {

/// showvminfo's human name: "powered off", "running", …
std::string_view human_state(backend::VmState s);
/// --machinereadable name: "poweroff", "running", …
std::string_view machine_state(backend::VmState s);
/// Global::stringifyMachineState, used inside API messages: "PoweredOff", "Saved", …
std::string_view stringify_state(backend::VmState s);

/// An active domain (running, paused, stopping) is "locked for a session".
bool is_locked(backend::VmState s);
/// MutableStateDep: PoweredOff, Aborted (and Teleported, which KVM has not).
bool is_mutable(backend::VmState s);
/// list runningvms: Running and Paused.
bool is_running_for_list(backend::VmState s);

/// FindMachine: the VM, or VirtualBox's "Could not find a registered machine …" API error
/// with the caller's context line.
backend::VmRef find_machine(backend::Hypervisor& hv, std::string_view arg, std::string_view context,
                            std::string_view file, int line);

/// UTC "YYYY-MM-DDTHH:MM:SS.mmm000000", VirtualBox's 29-character time stamp (no 'Z').
std::string format_state_time(std::int64_t ms_since_epoch);

} // namespace vbm::cli
