#pragma once
// What showvminfo and list --long print about one VM, gathered once, printed three ways.

#include "cli/app.hpp"

#include <cstdint>
#include <string>

namespace vbm::cli {

struct VmInfo {
  backend::VmRef vm;
  backend::VmState state = backend::VmState::Unknown;
  std::int64_t state_since_ms = 0;
  std::uint32_t memory_mb = 0;
  std::uint32_t balloon_mb = 0;
  bool page_fusion = false;
  bool large_pages = false;
};

/// Reads the VM's state and settings. Warns on stderr when libvirt's configuration was
/// changed outside vboxmanage; the values are then libvirt's.
VmInfo gather_vm_info(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm);

std::string format_human(const VmInfo& info);
std::string format_machine_readable(const VmInfo& info);
std::string format_json(const VmInfo& info);

} // namespace vbm::cli
