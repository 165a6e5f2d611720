#pragma once
// VirtualBox's performance-metric vocabulary (spec §4): the catalogue of metrics for the host
// and for a running VM, their units and value formats, whole-name patterns with the trailing-':'
// rule, and the :avg/:min/:max aggregates. Pure functions; no I/O.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::metrics {

enum class ObjectKind { Host, Vm };

enum class Unit { Percent, KB, MB, MHz, Mbit, BytesPerSec };

/// The host's devices that have metrics of their own (VirtualBox's HostImpl.cpp and
/// HostNetworkInterfaceImpl.cpp): the disks behind the root file system, by load and by usage
/// (they differ for software RAID), and the network interfaces. Empty for a host that is not
/// this machine.
struct HostDevices {
  std::vector<std::string> disk_load;  ///< Disk/<d>/Load
  std::vector<std::string> disk_usage; ///< Disk/<d>/Usage
  std::vector<std::string> nets;       ///< Net/<if>/LinkSpeed, Net/<if>/Load
};

/// One sub-metric (a name that collects samples), e.g. RAM/Usage/Used of base RAM/Usage, or
/// Disk/vda/Load/Util of base Disk/vda/Load (device "vda").
struct MetricDef {
  std::string name;
  std::string base;
  Unit unit;
  std::string_view description;
  std::string device;       ///< the host device in the name, "" for the others
  std::string generic_name; ///< the name with the device left out: "Disk/Load/Util"
};

/// The sub-metrics registered for an object, in VirtualBox's registration order.
std::vector<MetricDef> catalog(ObjectKind kind, const HostDevices& devices = {});
/// The distinct base metrics of an object, in registration order.
std::vector<std::string> base_metrics(ObjectKind kind, const HostDevices& devices = {});
/// The sub-metrics of one base metric (a device's too: "Disk/vda/Load"), none if unknown.
std::vector<MetricDef> metrics_of_base(ObjectKind kind, std::string_view base);

enum class Aggregate { None, Avg, Min, Max };

/// A name `list` and `query` show: a sub-metric, or one of its aggregates ("…:avg").
struct FullMetric {
  MetricDef def;
  Aggregate aggregate;
  std::string name() const;
};
/// Every full name of an object, in `list` order: each sub-metric followed by :avg, :min, :max.
std::vector<FullMetric> full_metrics(ObjectKind kind, const HostDevices& devices = {});

std::string_view unit_name(Unit unit);
/// Raw values of % metrics are in 1/1000 %; the others are in their unit.
int unit_scale(Unit unit);
/// The Minimum and Maximum columns of `metrics list`.
std::int64_t unit_min(Unit unit);
std::int64_t unit_max(Unit unit);
/// `2048 kB` (number, space, unit) or `12.34%` (two decimals truncated, no space).
std::string format_value(Unit unit, std::int64_t raw);

/// avg (sum / count, rounded down), min or max; nullopt when there are no samples.
std::optional<std::int64_t> aggregate(Aggregate how, std::span<const std::int64_t> samples);
std::string_view aggregate_suffix(Aggregate how); ///< "", ":avg", ":min", ":max"

/// VirtualBox's Filter::patternMatch: the pattern must match the whole name; `*` matches any
/// run of characters (including '/'), `?` one character; a pattern ending in ':' matches only
/// names without an aggregate suffix. Case-sensitive.
bool pattern_match(std::string_view pattern, std::string_view name);

/// A comma-separated metric list ("*" when absent), matched pattern by pattern.
class MetricFilter {
public:
  explicit MetricFilter(std::string_view list = "*");
  bool matches(std::string_view name) const;

private:
  std::vector<std::string> m_patterns;
};

/// collect's toBaseName: drops the aggregate and the last '/' component; CPU/MHz and
/// Net/<if>/LinkSpeed are their own base.
std::string base_of(std::string_view full_name);

} // namespace vbm::metrics
