#pragma once
// What showvminfo and list --long print about one VM (gathered by vm::gather), three ways.

#include "cli/app.hpp"
#include "vm/info.hpp"

#include <cstdint>
#include <string>

namespace vbm::cli {

/// vm::gather, warning on stderr when libvirt's configuration was changed outside vboxmanage
/// (the values are then libvirt's).
vm::VmInfo gather_vm_info(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm,
                          vm::Session session = vm::Session::Open);

/// showVMInfo's standard report, closing blank line included; IGuest's running-guest lines only
/// when `info.session` is Session::Open (showvminfo's shared lock finds a session while the VM
/// runs; list --long reports without one).
std::string format_human(const vm::VmInfo& info);
std::string format_machine_readable(const vm::VmInfo& info);
std::string format_json(const vm::VmInfo& info);

/// UTC "YYYY-MM-DDTHH:MM:SS.mmm000000", VirtualBox's 29-character time stamp (no 'Z').
std::string format_state_time(std::int64_t ms_since_epoch);

} // namespace vbm::cli
