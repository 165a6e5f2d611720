#pragma once
// What showvminfo and list --long print about one VM (gathered by vm::gather), three ways.

#include "cli/app.hpp"
#include "vm/info.hpp"

#include <cstdint>
#include <string>

namespace vbm::cli {

/// vm::gather, warning on stderr when libvirt's configuration was changed outside vboxmanage
/// (the values are then libvirt's).
vm::VmInfo gather_vm_info(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm);

/// Whether the report has IGuest's running-guest lines: showvminfo's shared lock finds a
/// session while the VM runs; list --long reports without a session.
enum class Session { None, IfRunning };

/// showVMInfo's standard report, closing blank line included.
std::string format_human(const vm::VmInfo& info, Session session = Session::IfRunning);
std::string format_machine_readable(const vm::VmInfo& info, Session session = Session::IfRunning);
std::string format_json(const vm::VmInfo& info, Session session = Session::IfRunning);

/// UTC "YYYY-MM-DDTHH:MM:SS.mmm000000", VirtualBox's 29-character time stamp (no 'Z').
std::string format_state_time(std::int64_t ms_since_epoch);

} // namespace vbm::cli
