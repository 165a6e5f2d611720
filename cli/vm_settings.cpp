#include "cli/vm_settings.hpp"

#include "cli/errors.hpp"
#include "cli/vm_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace vbm::cli {

namespace {
constexpr std::uint32_t k_ram_min_mb = 4;          // MM_RAM_MIN_IN_MB
constexpr std::uint32_t k_ram_max_mb_64 = 2097152; // MM_RAM_MAX_IN_MB, 64-bit hosts
constexpr std::uint32_t k_ram_max_mb_32 = 3584;    // 32-bit hosts
constexpr const char* k_file = "VBoxManageModifyVM.cpp";

ApiError session_error(const std::string& text, ApiError::Code code, const char* context,
                       int line) {
  return ApiError(text, code, "SessionMachine", "IMachine", context, k_file, line);
}

// MutableStateDep / MutableOrRunningStateDep (MachineImpl.cpp i_checkStateDependency).
void require_mutable(const SetterContext& ctx, bool or_running, const char* context, int line) {
  if (is_mutable(ctx.state) || (or_running && is_locked(ctx.state))) {
    return;
  }
  throw session_error(fmt::format("The machine is not mutable{} (state is {})",
                                  or_running ? " or running" : "", stringify_state(ctx.state)),
                      k_invalid_vm_state, context, line);
}

void apply_memory(VmSettings& s, const OptItem& v, const SetterContext& ctx) {
  constexpr const char* context = "COMSETTER(MemorySize)(ValueUnion.u32)";
  std::uint32_t max = ctx.host_is_64bit() ? k_ram_max_mb_64 : k_ram_max_mb_32;
  if (v.u32 < k_ram_min_mb || v.u32 > max) {
    throw session_error(fmt::format("Invalid RAM size: {} MB (must be in range [{}, {}] MB)", v.u32,
                                    k_ram_min_mb, max),
                        k_invalid_arg, context, 707);
  }
  require_mutable(ctx, false, context, 707);
  s.memory_mb = v.u32;
}

void apply_balloon(VmSettings& s, const OptItem& v, const SetterContext& ctx) {
  constexpr const char* context = "COMSETTER(MemoryBalloonSize)(ValueUnion.u32)";
  // The limit is checked against RAM as of this point in the command (spec §2.4).
  check_balloon_size(v.u32, s.memory_mb, ctx, context, k_file, 1003);
  require_mutable(ctx, true, context, 1003);
  s.balloon_mb = v.u32;
}

void apply_page_fusion(VmSettings& s, const OptItem& v, const SetterContext& ctx) {
  constexpr const char* context = "COMSETTER(PageFusionEnabled)(ValueUnion.f)";
  if (!ctx.host_is_64bit()) {
    throw session_error("Page fusion is only supported on 64-bit hosts", k_not_implemented, context,
                        731);
  }
  require_mutable(ctx, false, context, 731);
  s.page_fusion = v.on;
}

void apply_large_pages(VmSettings& s, const OptItem& v, const SetterContext& ctx) {
  require_mutable(ctx, false, "SetHWVirtExProperty(HWVirtExPropertyType_LargePages, ValueUnion.f)",
                  1012);
  s.large_pages = v.on;
}

constexpr SettingDef k_table[] = {
    {"memory", "--memory", "", ArgKind::UInt32, "[--memory=size-in-MB]",
     "Guest RAM in MB: the domain's <memory>. Only while the VM is powered off.", apply_memory,
     [](const VmSettings& s) -> std::int64_t { return s.memory_mb; },
     [](VmSettings& s, std::int64_t v) { s.memory_mb = static_cast<std::uint32_t>(v); }},
    {"pagefusion", "--page-fusion", "--pagefusion", ArgKind::OnOff, "[--page-fusion= on | off ]",
     "Let the host merge this guest's identical pages (KSM; off writes <nosharepages/>). Only "
     "while the VM is powered off.",
     apply_page_fusion, [](const VmSettings& s) -> std::int64_t { return s.page_fusion; },
     [](VmSettings& s, std::int64_t v) { s.page_fusion = v != 0; }},
    {"largepages", "--large-pages", "--largepages", ArgKind::OnOff, "[--large-pages= on | off ]",
     "Back guest RAM with huge pages (<hugepages/>; defeats ballooning and page fusion). Only "
     "while the VM is powered off.",
     apply_large_pages, [](const VmSettings& s) -> std::int64_t { return s.large_pages; },
     [](VmSettings& s, std::int64_t v) { s.large_pages = v != 0; }},
    {"guestmemoryballoon", "--guest-memory-balloon", "--guestmemoryballoon", ArgKind::UInt32,
     "[--guest-memory-balloon=size-in-MB]",
     "MB the balloon takes from the guest at every start (<currentMemory> = RAM - balloon). "
     "Must be below 90% of RAM, as of that point in the command.",
     apply_balloon, [](const VmSettings& s) -> std::int64_t { return s.balloon_mb; },
     [](VmSettings& s, std::int64_t v) { s.balloon_mb = static_cast<std::uint32_t>(v); }},
};
} // namespace

std::span<const SettingDef> setting_table() { return k_table; }

std::vector<OptDef> setting_option_defs() {
  std::vector<OptDef> defs;
  for (size_t i = 0; i < std::size(k_table); ++i) {
    defs.push_back({k_table[i].flag, static_cast<int>(i), k_table[i].kind});
    if (!k_table[i].legacy_flag.empty()) {
      defs.push_back({k_table[i].legacy_flag, static_cast<int>(i), k_table[i].kind});
    }
  }
  return defs;
}

void check_balloon_size(std::uint32_t balloon_mb, std::uint32_t ram_mb, const SetterContext& ctx,
                        const std::string& context, const std::string& file, int line) {
  auto error = [&](const std::string& text, ApiError::Code code) {
    return ApiError(text, code, "SessionMachine", "IMachine", context, file, line);
  };
  if (!ctx.host_is_64bit()) {
    throw error("Memory ballooning is only supported on 64-bit hosts", k_not_implemented);
  }
  if (balloon_mb >= balloon_bound(ram_mb)) {
    throw error(fmt::format("Invalid memory balloon size: {} MB (must be in range [0, {}] MB)",
                            balloon_mb, balloon_bound(ram_mb)),
                k_invalid_arg);
  }
}

backend::DomainMemory to_domain(const VmSettings& s, bool balloon_device) {
  std::uint32_t bound = balloon_bound(s.memory_mb);
  std::uint32_t balloon = std::min(s.balloon_mb, bound > 0 ? bound - 1 : 0);
  return backend::DomainMemory{
      .memory_kib = std::uint64_t{s.memory_mb} * 1024,
      .current_kib = std::uint64_t{s.memory_mb - balloon} * 1024,
      .nosharepages = !s.page_fusion,
      .hugepages = s.large_pages,
      .balloon_device = balloon_device,
  };
}

VmSettings from_domain(const backend::DomainMemory& mem) {
  std::uint64_t taken = mem.current_kib < mem.memory_kib ? mem.memory_kib - mem.current_kib : 0;
  return VmSettings{
      .memory_mb = static_cast<std::uint32_t>(mem.memory_kib / 1024),
      .balloon_mb = static_cast<std::uint32_t>(taken / 1024),
      .page_fusion = !mem.nosharepages,
      .large_pages = mem.hugepages,
  };
}

store::Settings to_store(const VmSettings& s) {
  store::Settings out;
  for (const auto& def : k_table) {
    out.emplace(std::string(def.key), def.get(s));
  }
  return out;
}

std::optional<VmSettings> from_store(const store::Settings& stored) {
  VmSettings s;
  for (const auto& def : k_table) {
    auto it = stored.find(def.key);
    if (it == stored.end()) {
      return std::nullopt;
    }
    def.set(s, it->second);
  }
  return s;
}

store::MemoryRecord to_record(const backend::DomainMemory& mem) {
  return {static_cast<std::int64_t>(mem.memory_kib), static_cast<std::int64_t>(mem.current_kib),
          mem.nosharepages, mem.hugepages};
}

store::Settings recorded_settings(store::SettingsStore& store, const store::VmKey& key,
                                  const backend::DomainMemory& actual) {
  if (auto pending = store.pending(key); pending && pending->after == to_record(actual)) {
    return pending->settings;
  }
  return store.settings(key);
}

void recover_pending(store::SettingsStore& store, const store::VmKey& key, const std::string& name,
                     const backend::DomainMemory& actual) {
  auto pending = store.pending(key);
  if (!pending) {
    return;
  }
  // libvirt holds the new definition: the process died before its commit; finish it. Anything
  // else (the old definition, or a later change by someone else): the change did not happen.
  bool applied = pending->after == to_record(actual);
  store.finish_pending(key, name, applied ? &pending->settings : nullptr);
}

Resolved resolve_settings(const store::Settings& stored, const backend::DomainMemory& actual) {
  auto recorded = from_store(stored);
  if (!recorded) {
    return {from_domain(actual), std::nullopt};
  }
  auto expected = to_domain(*recorded, actual.balloon_device);
  if (expected == actual) {
    return {*recorded, std::nullopt};
  }
  std::vector<std::string> changes;
  auto kib = [&](const char* tag, std::uint64_t was, std::uint64_t now) {
    if (was != now) {
      changes.push_back(fmt::format("<{}> {} KiB, now {} KiB", tag, was, now));
    }
  };
  auto flag = [&](const char* tag, bool was, bool now) {
    if (was != now) {
      changes.push_back(fmt::format("<{}/> {}", tag, now ? "added" : "removed"));
    }
  };
  kib("memory", expected.memory_kib, actual.memory_kib);
  kib("currentMemory", expected.current_kib, actual.current_kib);
  flag("nosharepages", expected.nosharepages, actual.nosharepages);
  flag("hugepages", expected.hugepages, actual.hugepages);
  std::string joined;
  for (const auto& c : changes) {
    joined += joined.empty() ? c : "; " + c;
  }
  return {from_domain(actual), joined};
}

} // namespace vbm::cli
