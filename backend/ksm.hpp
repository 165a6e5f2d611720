#pragma once
// The host's KSM (kernel samepage merging, the host side of page fusion): its tunables and
// counters in /sys/kernel/mm/ksm, and the CPU time of its kernel thread, ksmd. The root
// directory is injectable, so tests drive a fake tree. Every file is optional: older kernels
// lack pages_scanned, general_profit, smart_scan and the advisor; a kernel without KSM has none.

#include "sys/error.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace vbm::backend {

/// A KSM tunable that could not be written (permission, a value the kernel refuses).
class KsmError : public Error {
public:
  using Error::Error;
};

/// The tunables a controller changes, as they were or as they should be; absent = the kernel
/// has no such file (or, when applying, leave it alone).
struct KsmKnobs {
  std::optional<std::uint64_t> run; ///< 0 stopped, 1 running, 2 unmerge all
  std::optional<std::uint64_t> pages_to_scan;
  std::optional<std::uint64_t> sleep_millisecs;
  std::optional<std::uint64_t> smart_scan; ///< 1: skip pages that never merge (6.7+)
  std::optional<std::string> advisor_mode; ///< "none" or "scan-time" (6.9+)
  bool operator==(const KsmKnobs&) const = default;

  /// "run=1\npages_to_scan=100\n…", the known fields only; parse() reads it back.
  std::string to_text() const;
  /// The same on one line: "run=1 pages_to_scan=100 …".
  std::string to_line() const;
  static KsmKnobs parse(const std::string& text);
};

/// What KSM has done (the counters of /sys/kernel/mm/ksm).
struct KsmCounters {
  std::uint64_t pages_shared = 0;             ///< KSM pages in use
  std::uint64_t pages_sharing = 0;            ///< pages that point at them: the pages saved
  std::optional<std::uint64_t> pages_scanned; ///< since boot (6.6+)
  std::optional<std::uint64_t> full_scans;
  std::optional<std::int64_t> general_profit; ///< bytes saved minus KSM's own metadata (6.1+)
};

class Ksm {
public:
  explicit Ksm(std::filesystem::path root = "/");

  /// Whether this kernel has KSM at all (/sys/kernel/mm/ksm/run exists).
  bool available() const;
  KsmKnobs knobs() const;
  std::optional<KsmCounters> counters() const;
  /// Writes the given knobs in an order the kernel accepts: advisor_mode first (turning the
  /// advisor off resets pages_to_scan, and while it is on pages_to_scan cannot be written),
  /// run last. Throws KsmError naming the file and the reason.
  void apply(const KsmKnobs& knobs) const;
  /// ksmd's CPU time since boot in nanoseconds (/proc/PID/schedstat, else utime+stime).
  std::optional<std::uint64_t> ksmd_cpu_ns() const;
  std::uint64_t page_size() const;

private:
  std::optional<std::string> read(const std::string& name) const;
  void write(const std::string& name, const std::string& value) const;
  std::filesystem::path m_dir;
  std::filesystem::path m_root;
  mutable std::optional<std::string> m_ksmd_pid;
};

} // namespace vbm::backend
