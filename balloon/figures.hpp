#pragma once
// What the balloon service sees each time it looks: the host's memory and every managed guest's
// balloon and statistics, as plain values. Policies decide from these alone (no clock, no
// libvirt), so every policy is a pure function of figures that tests can make up.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vbm::balloon {

constexpr std::uint64_t k_mib = 1024; ///< KiB in a MiB: every size here is in KiB

/// The host's memory (/proc/meminfo, /proc/pressure/memory, /proc/vmstat), or the emulated
/// host of `--host-budget` (then only total, free and available are set).
struct HostFigures {
  std::uint64_t total_kib = 0;
  std::uint64_t available_kib = 0; ///< MemAvailable (what can be had without swapping)
  std::uint64_t free_kib = 0;      ///< MemFree + Buffers + Cached (VirtualBox's and MOM's "free")
  std::optional<double> psi_some_avg10; ///< % of time some task stalled on memory (10 s)
  std::optional<double> psi_full_avg10; ///< % of time all tasks stalled on memory (10 s)
  std::optional<double> swap_in_per_s;  ///< pages swapped in per second, since the last look
};

/// One running guest as its balloon driver and QEMU report it.
struct GuestFigures {
  std::string uuid;
  std::string name;
  std::uint64_t max_kib = 0;    ///< the live <memory>: what the guest has with no balloon
  std::uint64_t actual_kib = 0; ///< what the guest has now (max − balloon)
  std::optional<std::uint64_t> unused_kib;  ///< guest MemFree
  std::optional<std::uint64_t> usable_kib;  ///< guest MemAvailable: free + reclaimable cache
  std::optional<std::uint64_t> available_kib; ///< guest MemTotal
  std::optional<std::uint64_t> disk_caches_kib;
  std::optional<std::uint64_t> major_faults; ///< counter since the guest booted
  std::optional<std::uint64_t> swap_in_kib;  ///< counter since the guest booted
  std::optional<std::uint64_t> rss_kib;      ///< QEMU's resident memory on the host
  /// When the guest last reported statistics (seconds since the epoch, the guest's clock as
  /// QEMU stamped it); 0 = the driver never reported; nullopt = not known.
  std::optional<std::int64_t> stats_time_s;
  bool operator==(const GuestFigures&) const = default;
};

} // namespace vbm::balloon
