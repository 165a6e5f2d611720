#include "vm/state.hpp"

#include <fmt/format.h>

namespace vbm::vm {

using backend::VmState;

bool is_locked(VmState s) {
  return s == VmState::Running || s == VmState::Paused || s == VmState::Stopping;
}

bool is_mutable(VmState s) { return s == VmState::PoweredOff || s == VmState::Aborted; }

bool is_running_for_list(VmState s) { return s == VmState::Running || s == VmState::Paused; }

namespace {
// One row per state: showvminfo's word, --machinereadable's, Global::stringifyMachineState's
// and MachineState_T's value.
struct StateNames {
  VmState state;
  std::string_view human;
  std::string_view machine;
  std::string_view api;
  int value;
};
constexpr StateNames k_state_names[] = {
    {VmState::PoweredOff, "powered off", "poweroff", "PoweredOff", 1},
    {VmState::Saved, "saved", "saved", "Saved", 2},
    {VmState::Aborted, "aborted", "aborted", "Aborted", 4},
    {VmState::Running, "running", "running", "Running", 6},
    {VmState::Paused, "paused", "paused", "Paused", 7},
    {VmState::Stopping, "stopping", "stopping", "Stopping", 12},
};
constexpr StateNames k_unknown{VmState::Unknown, "unknown", "unknown", "Unknown", 0};

const StateNames& names_of(VmState s) {
  for (const auto& row : k_state_names) {
    if (row.state == s) {
      return row;
    }
  }
  return k_unknown;
}
} // namespace

std::string_view human_state(VmState s) { return names_of(s).human; }
std::string_view machine_state(VmState s) { return names_of(s).machine; }
std::string_view stringify_state(VmState s) { return names_of(s).api; }
int state_value(VmState s) { return names_of(s).value; }

void check_console_call(ConsoleCall call, VmState s, const CallSite& site) {
  auto refuse = [&](const std::string& text) {
    bool guest = call == ConsoleCall::Shutdown;
    throw ApiError(text, k_invalid_vm_state, guest ? "GuestWrap" : "ConsoleWrap",
                   guest ? "IGuest" : "IConsole", site);
  };
  auto invalid = fmt::format("Invalid machine state: {}", stringify_state(s));
  switch (call) {
  case ConsoleCall::Pause:
    if (s == VmState::Paused) {
      refuse("Already paused");
    }
    if (s != VmState::Running) {
      refuse(invalid);
    }
    return;
  case ConsoleCall::Resume:
    if (s != VmState::Paused) {
      refuse(fmt::format("Cannot resume the machine as it is not paused (machine state: {})",
                         stringify_state(s)));
    }
    return;
  case ConsoleCall::Reset:
  case ConsoleCall::PowerButton:
  case ConsoleCall::Shutdown:
    if (s != VmState::Running) {
      refuse(invalid);
    }
    return;
  case ConsoleCall::PowerDown:
    if (s == VmState::Saved) {
      refuse("Cannot power down a saved virtual machine");
    }
    if (s == VmState::Stopping) {
      refuse("The virtual machine is being powered down");
    }
    if (s != VmState::Running && s != VmState::Paused) {
      refuse(invalid + " (must be Running, Paused or Stuck)");
    }
    return;
  }
}

bool can_save_state(VmState s) { return s == VmState::Running || s == VmState::Paused; }

backend::VmRef find_machine(backend::Hypervisor& hv, std::string_view arg, const CallSite& site) {
  if (auto vm = hv.find_vm(arg)) {
    return *vm;
  }
  auto uuid = backend::parse_uuid(arg);
  std::string text =
      uuid ? fmt::format("Could not find a registered machine with UUID {{{}}}", *uuid)
           : fmt::format("Could not find a registered machine named '{}'", arg);
  throw ApiError(text, k_object_not_found, "VirtualBoxWrap", "IVirtualBox", site);
}

} // namespace vbm::vm
