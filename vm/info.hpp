#pragma once
// What showvminfo and list --long report about one VM, gathered once; cli/vm_info.cpp prints it
// three ways.

#include "backend/hypervisor.hpp"
#include "store/settings_store.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace vbm::vm {

/// Whose view the report is: a session's (showvminfo), or the registered machine's without a
/// session (list --long: VirtualBox's showVMInfo with no console, so no running-guest lines
/// such as OS type, Additions run level or Guest Facilities, and the configured balloon rather
/// than controlvm's live request).
enum class Session { Open, None };

struct VmInfo {
  backend::VmRef vm;
  Session session = Session::Open;
  backend::VmState state = backend::VmState::Unknown;
  std::int64_t state_since_ms = 0;
  std::uint32_t memory_mb = 0;
  std::uint32_t balloon_mb = 0;
  bool page_fusion = false;
  bool large_pages = false;
  /// What changed in libvirt's configuration outside vboxmanage (the values are then libvirt's).
  std::optional<std::string> drift;
};

/// Reads the VM's state and settings. libvirt keeps no time for a state, so the store records
/// when vboxmanage first saw the VM in its current state (`now_ms`): that is the "since".
VmInfo gather(backend::Hypervisor& hv, store::SettingsStore& store, const backend::VmRef& vm,
              std::int64_t now_ms, Session session = Session::Open);

} // namespace vbm::vm
