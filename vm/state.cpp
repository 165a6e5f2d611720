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
// One row per state: showvminfo's word, --machinereadable's, and Global::stringifyMachineState's.
struct StateNames {
  VmState state;
  std::string_view human;
  std::string_view machine;
  std::string_view api;
};
constexpr StateNames k_state_names[] = {
    {VmState::PoweredOff, "powered off", "poweroff", "PoweredOff"},
    {VmState::Saved, "saved", "saved", "Saved"},
    {VmState::Aborted, "aborted", "aborted", "Aborted"},
    {VmState::Running, "running", "running", "Running"},
    {VmState::Paused, "paused", "paused", "Paused"},
    {VmState::Stopping, "stopping", "stopping", "Stopping"},
};
constexpr StateNames k_unknown{VmState::Unknown, "unknown", "unknown", "Unknown"};

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
