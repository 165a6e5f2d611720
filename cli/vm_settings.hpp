#pragma once
// The VirtualBox-level memory settings of a VM, modifyvm's table of them, and how they map
// onto libvirt's persistent configuration (kvm-mapping.md) and the store.

#include "backend/hypervisor.hpp"
#include "cli/getopt.hpp"
#include "store/settings_store.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::cli {

struct VmSettings {
  std::uint32_t memory_mb = 128; ///< --memory: <memory>
  std::uint32_t balloon_mb =
      0; ///< --guest-memory-balloon: MB taken at start (<memory> − <currentMemory>)
  bool page_fusion = false; ///< --page-fusion: no <nosharepages/>
  bool large_pages = false; ///< --large-pages: <hugepages/>
  bool operator==(const VmSettings&) const = default;
};

/// What a setter's VirtualBox checks need to know (state rule, host gate).
struct SetterContext {
  backend::VmState state;
  std::function<bool()> host_is_64bit; ///< asked only by the options that need it
};

/// One row of modifyvm's option table: the single source for parsing, store keys, usage,
/// help, man page and completion.
struct SettingDef {
  std::string_view key;         ///< the store's setting key
  std::string_view flag;        ///< VirtualBox 7.x spelling
  std::string_view legacy_flag; ///< older spelling still accepted, or empty
  ArgKind kind;
  std::string_view synopsis; ///< as in VirtualBox's usage: "[--memory=size-in-MB]"
  std::string_view description;
  /// Runs VirtualBox's checks for the option and applies it. Throws ApiError.
  void (*apply)(VmSettings&, const OptItem&, const SetterContext&);
  std::int64_t (*get)(const VmSettings&);
  void (*set)(VmSettings&, std::int64_t);
};

std::span<const SettingDef> setting_table();
/// The table as parser definitions: both spellings of each row, the row's index as the id.
std::vector<OptDef> setting_option_defs();

/// Largest balloon (MB) VirtualBox accepts for `ram_mb` is this minus one: floor(9·RAM/10).
constexpr std::uint32_t balloon_bound(std::uint32_t ram_mb) {
  return static_cast<std::uint32_t>((9ull * ram_mb) / 10);
}

/// IMachine::MemoryBalloonSize's checks, shared by modifyvm and controlvm: the 64-bit host
/// gate, then the 90% limit against `ram_mb`. Throws ApiError with the caller's context line.
void check_balloon_size(std::uint32_t balloon_mb, std::uint32_t ram_mb, const SetterContext& ctx,
                        const std::string& context, const std::string& file, int line);

/// The libvirt configuration for `s`. A balloon larger than VirtualBox would accept for the
/// RAM (RAM may be lowered below it) is capped at the largest accepted value.
backend::DomainMemory to_domain(const VmSettings& s, bool balloon_device);
/// The settings a libvirt configuration amounts to (libvirt's truth).
VmSettings from_domain(const backend::DomainMemory& mem);

store::Settings to_store(const VmSettings& s);
/// nullopt unless the store holds every key of the table.
std::optional<VmSettings> from_store(const store::Settings& stored);

store::MemoryRecord to_record(const backend::DomainMemory& mem);

/// The settings vboxmanage last wrote for the VM. A change whose definition reached libvirt
/// but whose store commit did not (a killed modifyvm) counts as written.
store::Settings recorded_settings(store::SettingsStore& store, const store::VmKey& key,
                                  const backend::DomainMemory& actual);
/// Finishes a modifyvm that a killed process left between libvirt and the store: commits its
/// settings if libvirt holds its definition, else forgets it. Call with the writer lock held.
void recover_pending(store::SettingsStore& store, const store::VmKey& key, const std::string& name,
                     const backend::DomainMemory& actual);

/// The VM's settings: the store's, while libvirt still holds what vboxmanage last wrote;
/// otherwise libvirt's, with `drift` describing what changed outside vboxmanage.
struct Resolved {
  VmSettings settings;
  std::optional<std::string> drift;
};
Resolved resolve_settings(const store::Settings& stored, const backend::DomainMemory& actual);

} // namespace vbm::cli
