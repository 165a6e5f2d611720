#include "cli/vm_state.hpp"

#include "cli/errors.hpp"

#include <fmt/format.h>

#include <ctime>

namespace vbm::cli {

using backend::VmState;

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

bool is_locked(VmState s) {
  return s == VmState::Running || s == VmState::Paused || s == VmState::Stopping;
}

bool is_mutable(VmState s) { return s == VmState::PoweredOff || s == VmState::Aborted; }

bool is_running_for_list(VmState s) { return s == VmState::Running || s == VmState::Paused; }

backend::VmRef find_machine(backend::Hypervisor& hv, std::string_view arg, std::string_view context,
                            std::string_view file, int line) {
  if (auto vm = hv.find_vm(arg)) {
    return *vm;
  }
  auto uuid = backend::parse_uuid(arg);
  std::string text =
      uuid ? fmt::format("Could not find a registered machine with UUID {{{}}}", *uuid)
           : fmt::format("Could not find a registered machine named '{}'", arg);
  throw ApiError(text, k_object_not_found, "VirtualBoxWrap", "IVirtualBox", std::string(context),
                 std::string(file), line);
}

std::string format_state_time(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}000000", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

} // namespace vbm::cli
