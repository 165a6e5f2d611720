#pragma once
// What showvminfo and list --long report about one VM, gathered once; cli/vm_info.cpp prints it
// three ways.

#include "backend/hypervisor.hpp"
#include "store/settings_store.hpp"
#include "vm/network.hpp"
#include "vm/os_types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::vm {

/// Whose view the report is: a session's (showvminfo), or the registered machine's without a
/// session (list --long: VirtualBox's showVMInfo with no console, so no running-guest lines
/// such as OS type, Additions run level or Guest Facilities, and the configured balloon rather
/// than controlvm's live request).
enum class Session { Open, None };

/// A VirtualBox guest OS type (Global::sOSTypes).
using OsType = GuestOsType;

/// The VirtualBox OS type a libosinfo OS id amounts to on `arch` (libvirt's <os><type arch>),
/// where VirtualBox 7.0 has one that clearly fits (an OS family's generic type, a Windows
/// release); nullopt otherwise.
std::optional<OsType> vbox_os_type(std::string_view libosinfo_id, std::string_view arch);

struct VmInfo {
  backend::VmRef vm;
  Session session = Session::Open;
  backend::VmState state = backend::VmState::Unknown;
  std::int64_t state_since_ms = 0;
  std::uint32_t memory_mb = 0;
  std::uint32_t balloon_mb = 0;
  bool page_fusion = false;
  bool large_pages = false;
  /// A running VM with large pages (with a session): whether its RAM really is hugetlbfs (its
  /// live XML), or transparent huge pages (startvm found no pool to back it).
  std::optional<bool> hugetlbfs;
  bool free_page_reporting = false; ///< vboxkvm's balloon settings
  bool deflate_on_oom = false;
  std::uint32_t cpus = 1;
  std::vector<std::string> groups{"/"};
  std::optional<OsType> os_type;
  std::optional<std::string> config_file;
  std::optional<std::string> state_file; ///< the managed-save image of a saved VM
  /// Every network adapter slot (vm/network.hpp): the domain's interfaces, then empty slots.
  std::vector<NetworkAdapter> adapters;
  /// What changed in libvirt's configuration outside vboxmanage (the values are then libvirt's).
  std::optional<std::string> drift;
};

/// Reads the VM's state and settings. libvirt keeps no time for a state, so the store records
/// when vboxmanage first saw the VM in its current state (`now_ms`): that is the "since".
VmInfo gather(backend::Hypervisor& hv, store::SettingsStore& store, const backend::VmRef& vm,
              std::int64_t now_ms, Session session = Session::Open);

} // namespace vbm::vm
