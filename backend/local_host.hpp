#pragma once
// Figures of the machine vboxmanage runs on, read from /proc, /sys and statvfs: the metrics
// sources for a local hypervisor (cheaper than libvirt's node calls, and the only source of
// KSM's per-process merge counts). The root directory is injectable so tests use a fake tree.

#include "backend/ksm.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::backend {

struct MemInfo {
  std::uint64_t total_kib = 0;
  std::uint64_t free_kib = 0;
  std::uint64_t buffers_kib = 0;
  std::uint64_t cached_kib = 0;
  std::optional<std::uint64_t> available_kib; ///< MemAvailable (Linux 3.14+)
  std::uint64_t swap_total_kib = 0;
  std::uint64_t swap_free_kib = 0;
  std::uint64_t hugepages_total = 0;    ///< HugePages_Total: the pool of the default size
  std::uint64_t hugepages_free = 0;     ///< HugePages_Free, reserved ones included
  std::uint64_t hugepages_reserved = 0; ///< HugePages_Rsvd: promised to a mapping, not yet used
  std::uint64_t hugepage_kib = 0;       ///< Hugepagesize: the default huge page size
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

/// The disks behind the root file system, named as VirtualBox's getDiskListByFs names them.
struct RootDisks {
  std::vector<std::string> usage; ///< Disk/<d>/Usage: their sizes
  std::vector<std::string> load;  ///< Disk/<d>/Load: their busy time (md: the member disks)
};

/// What VirtualBox's getInterfaceInfo reads of an interface besides its MAC.
struct InterfaceAddresses {
  std::optional<std::string> ipv4_address; ///< its primary IPv4 address (SIOCGIFADDR's)
  unsigned ipv4_prefix = 0;
  std::optional<std::string> ipv6_address; ///< the last of /proc/net/if_inet6's for it
  unsigned ipv6_prefix = 0;
  bool wireless = false; ///< /sys/class/net/<if>/wireless exists
};

/// A network interface's byte counters (/proc/net/dev).
struct NetCounters {
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;
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
  /// ksmd's CPU time since boot in nanoseconds (Ksm::ksmd_cpu_ns), its PID found once.
  std::optional<std::uint64_t> ksmd_cpu_ns() const;
  /// The QEMU process of a running local guest (/run/libvirt/qemu/NAME.pid).
  std::optional<int> qemu_pid(const std::string& domain_name) const;
  /// Pages of the process that KSM has merged (/proc/PID/ksm_merging_pages).
  std::optional<std::uint64_t> ksm_merging_pages(int pid) const;
  std::optional<ProcessCpu> process_cpu(int pid) const;
  /// The process's hugetlbfs pages (/proc/PID/status HugetlbPages): not in its RSS.
  std::optional<std::uint64_t> hugetlb_kib(int pid) const;
  std::uint64_t page_size_kib() const;

  /// VirtualBox's getDiskListByFs("/") on Linux: the /etc/mtab entry of "/" (not "rootfs"),
  /// its device resolved through symlinks; /dev/mapper/* (LVM): the slave disks of its dm
  /// device; /dev/md*: the md device for usage, its member disks (/proc/mdstat) for load;
  /// otherwise the device's name without trailing digits (sda2 -> sda, nvme0n1p2 -> nvme0n1p).
  RootDisks root_disks() const;
  /// A block device's size, /sys/block/<d>/size sectors x 512 (none if there is no such disk).
  std::optional<std::uint64_t> disk_size_bytes(const std::string& disk) const;
  /// Milliseconds the disk spent doing I/O since boot (/proc/diskstats, its 10th figure).
  std::optional<std::uint64_t> disk_busy_ms(const std::string& disk) const;
  /// VirtualBox's NetIfList on Linux: the Ethernet interfaces of /proc/net/dev except its
  /// host-only vboxnet*, the one with the default route first.
  std::vector<std::string> net_interfaces() const;
  std::optional<NetCounters> net_counters(const std::string& ifname) const;
  /// The addresses of an interface of this machine (IPv4 from getifaddrs, which reads the
  /// running kernel whatever the root; IPv6 and wireless from the tree).
  InterfaceAddresses interface_addresses(const std::string& ifname) const;
  /// The link speed in Mbit/s of an interface that is up (/sys/class/net/<if>/speed; a 10 Mbit
  /// link without carrier counts as none), 0 when down or unknown.
  std::uint32_t link_speed_mbit(const std::string& ifname) const;

private:
  std::optional<std::string> read(const std::filesystem::path& rel) const;
  std::filesystem::path m_root;
  Ksm m_ksm;
};

} // namespace vbm::backend
