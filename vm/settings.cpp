#include "vm/settings.hpp"

#include "vm/state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace vbm::vm {

namespace {
constexpr std::uint32_t k_ram_min_mb = 4;          // MM_RAM_MIN_IN_MB
constexpr std::uint32_t k_ram_max_mb_64 = 2097152; // MM_RAM_MAX_IN_MB, 64-bit hosts
constexpr std::uint32_t k_ram_max_mb_32 = 3584;    // 32-bit hosts
constexpr std::uint32_t k_cpus_min = 1;            // SchemaDefs::MinCPUCount (TCPUCount)
constexpr std::uint32_t k_cpus_max = 64;           // SchemaDefs::MaxCPUCount

ApiError session_error(const std::string& text, ApiError::Code code, const CallSite& site) {
  return ApiError(text, code, "SessionMachine", "IMachine", site);
}

// MutableStateDep / MutableOrRunningStateDep (MachineImpl.cpp i_checkStateDependency).
void require_mutable(const SetterContext& ctx, bool or_running, const CallSite& site) {
  if (is_mutable(ctx.state) || (or_running && is_locked(ctx.state))) {
    return;
  }
  throw session_error(fmt::format("The machine is not mutable{} (state is {})",
                                  or_running ? " or running" : "", stringify_state(ctx.state)),
                      k_invalid_vm_state, site);
}

void apply_memory(VmSettings& s, std::uint32_t mb, const SetterContext& ctx, const CallSite& site) {
  auto limits = guest_limits(ctx.host_is_64bit());
  if (mb < limits.ram_min_mb || mb > limits.ram_max_mb) {
    throw session_error(fmt::format("Invalid RAM size: {} MB (must be in range [{}, {}] MB)", mb,
                                    limits.ram_min_mb, limits.ram_max_mb),
                        k_invalid_arg, site);
  }
  require_mutable(ctx, false, site);
  s.memory_mb = mb;
}

// Machine::setCPUCount: the range before the state (there is no CPU hot-plug to check).
void apply_cpus(VmSettings& s, std::uint32_t n, const SetterContext& ctx, const CallSite& site) {
  if (n < k_cpus_min || n > k_cpus_max) {
    throw session_error(fmt::format("Invalid virtual CPU count: {} (must be in range [{}, {}])", n,
                                    k_cpus_min, k_cpus_max),
                        k_invalid_arg, site);
  }
  require_mutable(ctx, false, site);
  s.cpus = n;
}

void apply_balloon(VmSettings& s, std::uint32_t mb, const SetterContext& ctx,
                   const CallSite& site) {
  // The limit is checked against RAM as of this point in the command (spec §2.4).
  check_balloon_size(mb, s.memory_mb, ctx, site);
  require_mutable(ctx, true, site);
  s.balloon_mb = mb;
}

void apply_page_fusion(VmSettings& s, std::uint32_t on, const SetterContext& ctx,
                       const CallSite& site) {
  if (!ctx.host_is_64bit()) {
    throw session_error("Page fusion is only supported on 64-bit hosts", k_not_implemented, site);
  }
  require_mutable(ctx, false, site);
  s.page_fusion = on != 0;
}

void apply_large_pages(VmSettings& s, std::uint32_t on, const SetterContext& ctx,
                       const CallSite& site) {
  require_mutable(ctx, false, site);
  s.large_pages = on != 0;
}

// What a vboxkvm balloon feature needs: the libvirt and QEMU versions that brought it, a
// balloon device, and RAM that is not pinned to hugetlbfs.
struct BalloonFeature {
  const char* name;
  std::uint64_t libvirt; ///< major·10⁶ + minor·10³ + release
  std::uint64_t qemu;
};
constexpr BalloonFeature k_free_page_reporting{"free page reporting", 6009000, 5001000};
// autodeflate: libvirt 1.3.1; QEMU's virtio-balloon deflate-on-oom: 2.7.0.
constexpr BalloonFeature k_deflate_on_oom{"deflate-on-OOM", 1003001, 2007000};

std::string dotted(std::uint64_t v) {
  return fmt::format("{}.{}.{}", v / 1000000, v / 1000 % 1000, v % 1000);
}

void check_balloon_feature(const BalloonFeature& f, const VmSettings& s, const SetterContext& ctx) {
  if (!ctx.domain.balloon_device) {
    throw Error(fmt::format("{} needs a memory balloon device: the VM has <memballoon "
                            "model='none'> (add a virtio one with virsh edit)",
                            f.name));
  }
  if (ctx.domain.hugepages_sized && s.large_pages) { // as of this point in the command
    throw Error(fmt::format("{} does not work on hugetlbfs: the VM's <hugepages> names its page "
                            "sizes, so its RAM is always hugetlbfs (remove them with virsh edit, "
                            "or modifyvm --large-pages off)",
                            f.name));
  }
  auto v = ctx.version();
  if (v.libvirt < f.libvirt) {
    throw Error(fmt::format("{} needs libvirt {} or later (the host has {})", f.name,
                            dotted(f.libvirt), dotted(v.libvirt)));
  }
  if (v.type == "QEMU" && v.hypervisor < f.qemu) {
    throw Error(fmt::format("{} needs QEMU {} or later (the host has {})", f.name, dotted(f.qemu),
                            dotted(v.hypervisor)));
  }
}

void apply_free_page_reporting(VmSettings& s, std::uint32_t on, const SetterContext& ctx,
                               const CallSite& site) {
  require_mutable(ctx, false, site);
  if (on != 0) {
    check_balloon_feature(k_free_page_reporting, s, ctx);
  }
  s.free_page_reporting = on != 0;
}

void apply_deflate_on_oom(VmSettings& s, std::uint32_t on, const SetterContext& ctx,
                          const CallSite& site) {
  require_mutable(ctx, false, site);
  if (on != 0) {
    check_balloon_feature(k_deflate_on_oom, s, ctx);
  }
  s.deflate_on_oom = on != 0;
}

constexpr Setting k_table[] = {
    {"memory", apply_memory, [](const VmSettings& s) -> std::int64_t { return s.memory_mb; },
     [](VmSettings& s, std::int64_t v) { s.memory_mb = static_cast<std::uint32_t>(v); }},
    {"pagefusion", apply_page_fusion,
     [](const VmSettings& s) -> std::int64_t { return s.page_fusion; },
     [](VmSettings& s, std::int64_t v) { s.page_fusion = v != 0; }},
    {"largepages", apply_large_pages,
     [](const VmSettings& s) -> std::int64_t { return s.large_pages; },
     [](VmSettings& s, std::int64_t v) { s.large_pages = v != 0; }},
    {"guestmemoryballoon", apply_balloon,
     [](const VmSettings& s) -> std::int64_t { return s.balloon_mb; },
     [](VmSettings& s, std::int64_t v) { s.balloon_mb = static_cast<std::uint32_t>(v); }},
    {"cpus", apply_cpus, [](const VmSettings& s) -> std::int64_t { return s.cpus; },
     [](VmSettings& s, std::int64_t v) { s.cpus = static_cast<std::uint32_t>(v); }},
    {"freepagereporting", apply_free_page_reporting,
     [](const VmSettings& s) -> std::int64_t { return s.free_page_reporting; },
     [](VmSettings& s, std::int64_t v) { s.free_page_reporting = v != 0; }, true},
    {"balloondeflateonoom", apply_deflate_on_oom,
     [](const VmSettings& s) -> std::int64_t { return s.deflate_on_oom; },
     [](VmSettings& s, std::int64_t v) { s.deflate_on_oom = v != 0; }, true},
};

// Whether `actual` is `change` made in part: every field holds its value from before or after
// (libvirt is written with more than one call; a killed writer may have made some of them).
bool partly_applied(const store::PendingChange& change, const store::MemoryRecord& actual) {
  auto either = [](auto was, auto now, auto is) { return is == was || is == now; };
  return either(change.before.memory_kib, change.after.memory_kib, actual.memory_kib) &&
         either(change.before.current_kib, change.after.current_kib, actual.current_kib) &&
         either(change.before.nosharepages, change.after.nosharepages, actual.nosharepages) &&
         either(change.before.hugepages, change.after.hugepages, actual.hugepages) &&
         either(change.before.vcpus, change.after.vcpus, actual.vcpus) &&
         either(change.before.current_vcpus, change.after.current_vcpus, actual.current_vcpus) &&
         either(change.before.free_page_reporting, change.after.free_page_reporting,
                actual.free_page_reporting) &&
         either(change.before.autodeflate, change.after.autodeflate, actual.autodeflate) &&
         actual != change.before;
}

// The intent a killed writer left, if any. One written before the store recorded vCPUs
// (schema 6) did not change them: they are what libvirt holds.
std::optional<store::PendingChange> read_pending(store::SettingsStore& store,
                                                 const store::VmKey& key,
                                                 const store::MemoryRecord& actual) {
  auto pending = store.pending(key);
  if (pending && pending->before.vcpus == 0) {
    for (auto* r : {&pending->before, &pending->after}) {
      r->vcpus = actual.vcpus;
      r->current_vcpus = actual.current_vcpus;
    }
  }
  if (pending && pending->before.free_page_reporting < 0) { // before schema 7
    for (auto* r : {&pending->before, &pending->after}) {
      r->free_page_reporting = actual.free_page_reporting;
      r->autodeflate = actual.autodeflate;
    }
  }
  return pending;
}

std::string describe_drift(const backend::DomainMemory& expected,
                           const backend::DomainMemory& actual) {
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
  auto attribute = [&](const char* name, bool was, bool now) {
    if (was != now) {
      changes.push_back(fmt::format("<memballoon {}> {}", name, now ? "on" : "off"));
    }
  };
  attribute("freePageReporting", expected.free_page_reporting, actual.free_page_reporting);
  attribute("autodeflate", expected.autodeflate, actual.autodeflate);
  if (expected.vcpus != actual.vcpus) {
    changes.push_back(fmt::format("<vcpu> {}, now {}", expected.vcpus, actual.vcpus));
  }
  std::string joined;
  for (const auto& c : changes) {
    joined += joined.empty() ? c : "; " + c;
  }
  return joined;
}
} // namespace

GuestLimits guest_limits(bool host_is_64bit) {
  return {k_ram_min_mb, host_is_64bit ? k_ram_max_mb_64 : k_ram_max_mb_32, k_cpus_min, k_cpus_max};
}

std::span<const Setting> settings_table() { return k_table; }

const Setting* find_setting(std::string_view key) {
  auto it = std::find_if(std::begin(k_table), std::end(k_table),
                         [&](const Setting& s) { return s.key == key; });
  return it == std::end(k_table) ? nullptr : &*it;
}

void check_balloon_size(std::uint32_t balloon_mb, std::uint32_t ram_mb, const SetterContext& ctx,
                        const CallSite& site) {
  if (!ctx.host_is_64bit()) {
    throw session_error("Memory ballooning is only supported on 64-bit hosts", k_not_implemented,
                        site);
  }
  if (balloon_mb >= balloon_bound(ram_mb)) {
    throw session_error(
        fmt::format("Invalid memory balloon size: {} MB (must be in range [0, {}] MB)", balloon_mb,
                    balloon_bound(ram_mb)),
        k_invalid_arg, site);
  }
}

backend::DomainMemory to_domain(const VmSettings& s, const backend::DomainMemory& now) {
  std::uint32_t bound = balloon_bound(s.memory_mb);
  std::uint32_t balloon = std::min(s.balloon_mb, bound > 0 ? bound - 1 : 0);
  return backend::DomainMemory{
      .memory_kib = std::uint64_t{s.memory_mb} * 1024,
      .current_kib = std::uint64_t{s.memory_mb - balloon} * 1024,
      .nosharepages = !s.page_fusion,
      .hugepages = s.large_pages,
      .balloon_device = now.balloon_device,
      .vcpus = s.cpus,
      .current_vcpus =
          now.current_vcpus >= now.vcpus ? s.cpus : std::min(now.current_vcpus, s.cpus),
      .free_page_reporting = s.free_page_reporting,
      .autodeflate = s.deflate_on_oom,
      .hugepages_sized = now.hugepages_sized && s.large_pages,
  };
}

VmSettings from_domain(const backend::DomainMemory& mem) {
  std::uint64_t taken = mem.current_kib < mem.memory_kib ? mem.memory_kib - mem.current_kib : 0;
  return VmSettings{
      .memory_mb = static_cast<std::uint32_t>(mem.memory_kib / 1024),
      .balloon_mb = static_cast<std::uint32_t>(taken / 1024),
      .page_fusion = !mem.nosharepages,
      .large_pages = mem.hugepages,
      .cpus = mem.vcpus,
      .free_page_reporting = mem.free_page_reporting,
      .deflate_on_oom = mem.autodeflate,
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
    if (it == stored.end() && !def.may_be_absent) {
      return std::nullopt;
    }
    def.set(s, it == stored.end() ? 0 : it->second);
  }
  return s;
}

store::MemoryRecord to_record(const backend::DomainMemory& mem) {
  return {static_cast<std::int64_t>(mem.memory_kib),
          static_cast<std::int64_t>(mem.current_kib),
          mem.nosharepages,
          mem.hugepages,
          mem.vcpus,
          mem.current_vcpus,
          mem.free_page_reporting,
          mem.autodeflate};
}

Resolved resolve_settings(store::SettingsStore& store, const store::VmKey& key,
                          const backend::DomainMemory& actual) {
  auto pending = read_pending(store, key, to_record(actual));
  if (pending &&
      (pending->after == to_record(actual) || partly_applied(*pending, to_record(actual)))) {
    if (auto settings = from_store(pending->settings)) {
      return {*settings, std::nullopt};
    }
  }
  auto recorded = from_store(store.settings(key));
  if (!recorded) {
    return {from_domain(actual), std::nullopt};
  }
  auto expected = to_domain(*recorded, actual);
  if (expected == actual) {
    return {*recorded, std::nullopt};
  }
  return {from_domain(actual), describe_drift(expected, actual)};
}

backend::DomainMemory recover_pending(backend::Hypervisor& hv, store::SettingsStore& store,
                                      const store::VmKey& key, const backend::VmRef& vm,
                                      const backend::DomainMemory& actual) {
  auto pending = read_pending(store, key, to_record(actual));
  if (!pending) {
    return actual;
  }
  // libvirt holds the new definition, or part of it: the process died before its commit;
  // finish it. Anything else (the old definition, or a later change by someone else): the
  // change did not happen.
  auto now = to_record(actual);
  auto settings = from_store(pending->settings);
  if (settings && now != pending->after && partly_applied(*pending, now)) {
    auto after = to_domain(*settings, actual);
    hv.set_persistent_memory(vm, after);
    store.finish_pending(key, vm.name, &pending->settings);
    return after;
  }
  store.finish_pending(key, vm.name, now == pending->after ? &pending->settings : nullptr);
  return actual;
}

} // namespace vbm::vm
