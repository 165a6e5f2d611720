#pragma once
// The VirtualBox-level sizing settings of a VM (IMachine's MemorySize, MemoryBalloonSize,
// PageFusionEnabled, LargePages, CPUCount), the setters with Main's checks, and how the settings
// map onto libvirt's persistent configuration (kvm-mapping.md) and onto the store. modifyvm's
// option rows (cli/modifyvm.cpp) name these settings; their grammar and usage text are the
// frontend's.

#include "backend/hypervisor.hpp"
#include "store/settings_store.hpp"
#include "vm/errors.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vbm::vm {

struct VmSettings {
  std::uint32_t memory_mb = 128;    ///< <memory>
  std::uint32_t balloon_mb = 0;     ///< MB taken at start (<memory> − <currentMemory>)
  bool page_fusion = false;         ///< no <nosharepages/>
  bool large_pages = false;         ///< <hugepages/>
  std::uint32_t cpus = 1;           ///< <vcpu> (IMachine::CPUCount)
  bool free_page_reporting = false; ///< <memballoon freePageReporting='on'> (vboxkvm's)
  bool deflate_on_oom = false;      ///< <memballoon autodeflate='on'> (vboxkvm's)
  bool operator==(const VmSettings&) const = default;
};

/// What a setter's checks need to know (the state rule, the host gate).
struct SetterContext {
  backend::VmState state;
  std::function<bool()> host_is_64bit; ///< asked only by the settings that need it
  /// The definition libvirt holds (its balloon device, its page sizes), for vboxkvm's own
  /// balloon settings.
  backend::DomainMemory domain = {};
  /// The connection's driver and versions, asked only by the settings that need them.
  std::function<backend::HypervisorVersion()> version = {};
};

/// One setting: its store key and IMachine's setter.
struct Setting {
  std::string_view key; ///< the store's key
  /// Main's checks for the new value (MB, or 0/1 for off/on), then the change. Throws ApiError
  /// naming `site`, the frontend's call.
  void (*apply)(VmSettings&, std::uint32_t value, const SetterContext&, const CallSite& site);
  std::int64_t (*get)(const VmSettings&);
  void (*set)(VmSettings&, std::int64_t);
  /// A key a store may lack (it came after the first schema): absent reads as 0.
  bool may_be_absent = false;
};

std::span<const Setting> settings_table();
/// The setting with store key `key`; null if there is none.
const Setting* find_setting(std::string_view key);

/// The guest sizes VirtualBox accepts, as ISystemProperties reports them (Min/MaxGuestRAM,
/// Min/MaxGuestCPUCount) and modifyvm checks them.
struct GuestLimits {
  std::uint32_t ram_min_mb = 0;
  std::uint32_t ram_max_mb = 0;
  std::uint32_t cpus_min = 0;
  std::uint32_t cpus_max = 0;
};
GuestLimits guest_limits(bool host_is_64bit);

/// Largest balloon (MB) VirtualBox accepts for `ram_mb` is this minus one: floor(9·RAM/10).
constexpr std::uint32_t balloon_bound(std::uint32_t ram_mb) {
  return static_cast<std::uint32_t>((9ull * ram_mb) / 10);
}

/// IMachine::MemoryBalloonSize's checks, shared by modifyvm and controlvm: the 64-bit host
/// gate, then the 90% limit against `ram_mb`. Throws ApiError at `site`.
void check_balloon_size(std::uint32_t balloon_mb, std::uint32_t ram_mb, const SetterContext& ctx,
                        const CallSite& site);

/// The libvirt configuration for `s`, given what libvirt holds `now` (its balloon device, and
/// its vCPUs online at start: all of them stay all, fewer stay as many, never above the count).
/// A balloon larger than VirtualBox would accept for the RAM (RAM may be lowered below it) is
/// capped at the largest accepted value.
backend::DomainMemory to_domain(const VmSettings& s, const backend::DomainMemory& now);
/// The settings a libvirt configuration amounts to (libvirt's truth).
VmSettings from_domain(const backend::DomainMemory& mem);

store::Settings to_store(const VmSettings& s);
/// nullopt unless the store holds every key of the table.
std::optional<VmSettings> from_store(const store::Settings& stored);

store::MemoryRecord to_record(const backend::DomainMemory& mem);

/// The VM's settings: the store's, while libvirt still holds what vboxmanage last wrote (a
/// change that a killed writer left begun counts as made: the next writer finishes it);
/// otherwise libvirt's, with `drift` describing what changed outside vboxmanage.
struct Resolved {
  VmSettings settings;
  std::optional<std::string> drift;
};
Resolved resolve_settings(store::SettingsStore& store, const store::VmKey& key,
                          const backend::DomainMemory& actual);

/// Finishes a change that a killed writer left between libvirt and the store: writes what it
/// had not written yet to libvirt and commits its settings if libvirt holds its definition or
/// part of it, else (someone changed the domain since) forgets it. Call with the writer lock
/// held. Returns the configuration libvirt holds afterwards.
backend::DomainMemory recover_pending(backend::Hypervisor& hv, store::SettingsStore& store,
                                      const store::VmKey& key, const backend::VmRef& vm,
                                      const backend::DomainMemory& actual);

} // namespace vbm::vm
