#pragma once
// Figures of the machine vboxmanage runs on, read from /proc, /sys and statvfs: the metrics
// sources for a local hypervisor (cheaper than libvirt's node calls, and the only source of
// KSM's per-process merge counts). The root directory is injectable so tests use a fake tree.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace vbm::backend {

struct MemInfo {
  std::uint64_t total_kib = 0;
  std::uint64_t free_kib = 0;
  std::uint64_t buffers_kib = 0;
  std::uint64_t cached_kib = 0;
  std::optional<std::uint64_t> available_kib; ///< MemAvailable (Linux 3.14+)
};

/// /proc/pressure/memory (PSI, Linux 4.20+ with CONFIG_PSI): % of the last 10 s in which some
/// (any) or all runnable tasks stalled waiting for memory.
struct MemoryPressure {
  double some_avg10 = 0;
  double full_avg10 = 0;
};

/// Host CPU time since boot, in clock ticks (the first line of /proc/stat).
struct CpuTimes {
  std::uint64_t user = 0;   ///< user + nice
  std::uint64_t kernel = 0; ///< system + irq + softirq
  std::uint64_t idle = 0;   ///< idle + iowait
  std::uint64_t total() const { return user + kernel + idle; }
};

struct FsUsage {
  std::uint64_t total_mb = 0;
  std::uint64_t free_mb = 0; ///< available to unprivileged users (statvfs f_bavail)
};

/// A process's CPU time in nanoseconds (utime and stime of /proc/PID/stat).
struct ProcessCpu {
  std::uint64_t user_ns = 0;
  std::uint64_t system_ns = 0;
};

class LocalHost {
public:
  explicit LocalHost(std::filesystem::path root = "/");

  std::optional<MemInfo> meminfo() const;
  std::optional<MemoryPressure> memory_pressure() const;
  /// Pages swapped in since boot (/proc/vmstat pswpin).
  std::optional<std::uint64_t> swap_ins() const;
  std::optional<CpuTimes> cpu_times() const;
  /// The average "cpu MHz" of /proc/cpuinfo.
  std::optional<std::uint64_t> cpu_mhz() const;
  std::optional<FsUsage> root_fs() const;
  unsigned cpus() const;
  /// A counter of /sys/kernel/mm/ksm, e.g. "pages_shared".
  std::optional<std::uint64_t> ksm(const std::string& name) const;
  /// The QEMU process of a running local guest (/run/libvirt/qemu/NAME.pid).
  std::optional<int> qemu_pid(const std::string& domain_name) const;
  /// Pages of the process that KSM has merged (/proc/PID/ksm_merging_pages).
  std::optional<std::uint64_t> ksm_merging_pages(int pid) const;
  std::optional<ProcessCpu> process_cpu(int pid) const;
  std::uint64_t page_size_kib() const;

private:
  std::optional<std::string> read(const std::filesystem::path& rel) const;
  std::filesystem::path m_root;
};

} // namespace vbm::backend
