#include "metrics/catalog.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace vbm::metrics {

namespace {
/// Which host devices a row is registered for (a `<dev>` in its names).
enum class Devices { None, DiskLoad, DiskUsage, Net };

struct Row {
  std::string_view name;
  std::string_view base;
  Unit unit;
  std::string_view description;
  Devices devices = Devices::None;
};

constexpr std::string_view k_dev = "<dev>";

// spec §4.4, in VirtualBox's registration order (HostImpl.cpp, HostNetworkInterfaceImpl.cpp,
// MachineImpl.cpp). Host Disk/* is registered per disk behind "/" (i_registerDiskMetrics: every
// load disk, then every usage disk), Net/* per interface (LinkSpeed, Load/Rx, Load/Tx each).
constexpr Row k_host[] = {
    {"CPU/Load/User", "CPU/Load", Unit::Percent,
     "Percentage of processor time spent in user mode."},
    {"CPU/Load/Kernel", "CPU/Load", Unit::Percent,
     "Percentage of processor time spent in kernel mode."},
    {"CPU/Load/Idle", "CPU/Load", Unit::Percent, "Percentage of processor time spent idling."},
    {"CPU/MHz", "CPU/MHz", Unit::MHz, "Average of current frequency of all processors."},
    {"RAM/Usage/Total", "RAM/Usage", Unit::KB, "Total physical memory installed."},
    {"RAM/Usage/Used", "RAM/Usage", Unit::KB, "Physical memory currently occupied."},
    {"RAM/Usage/Free", "RAM/Usage", Unit::KB,
     "Physical memory currently available to applications."},
    {"RAM/VMM/Used", "RAM/VMM", Unit::KB, "Total physical memory used by the hypervisor."},
    {"RAM/VMM/Free", "RAM/VMM", Unit::KB, "Total physical memory free inside the hypervisor."},
    {"RAM/VMM/Ballooned", "RAM/VMM", Unit::KB,
     "Total physical memory ballooned by the hypervisor."},
    {"RAM/VMM/Shared", "RAM/VMM", Unit::KB, "Total physical memory shared between VMs."},
    {"FS/{/}/Usage/Total", "FS/{/}/Usage", Unit::MB, "Root file system size."},
    {"FS/{/}/Usage/Used", "FS/{/}/Usage", Unit::MB, "Root file system space currently occupied."},
    {"FS/{/}/Usage/Free", "FS/{/}/Usage", Unit::MB, "Root file system space currently empty."},
    {"Disk/<dev>/Load/Util", "Disk/<dev>/Load", Unit::Percent,
     "Percentage of time disk was busy serving I/O requests.", Devices::DiskLoad},
    {"Disk/<dev>/Usage/Total", "Disk/<dev>/Usage", Unit::MB, "Disk size.", Devices::DiskUsage},
    {"Net/<dev>/LinkSpeed", "Net/<dev>/LinkSpeed", Unit::Mbit, "Physical link speed.",
     Devices::Net},
    {"Net/<dev>/Load/Rx", "Net/<dev>/Load", Unit::Percent,
     "Percentage of network interface receive bandwidth used.", Devices::Net},
    {"Net/<dev>/Load/Tx", "Net/<dev>/Load", Unit::Percent,
     "Percentage of network interface transmit bandwidth used.", Devices::Net},
};
constexpr Row k_vm[] = {
    {"CPU/Load/User", "CPU/Load", Unit::Percent,
     "Percentage of processor time spent in user mode by the VM process."},
    {"CPU/Load/Kernel", "CPU/Load", Unit::Percent,
     "Percentage of processor time spent in kernel mode by the VM process."},
    {"RAM/Usage/Used", "RAM/Usage", Unit::KB, "Size of resident portion of VM process in memory."},
    {"Disk/Usage/Used", "Disk/Usage", Unit::MB, "Actual size of all VM disks combined."},
    {"Net/Rate/Rx", "Net/Rate", Unit::BytesPerSec, "Network receive rate."},
    {"Net/Rate/Tx", "Net/Rate", Unit::BytesPerSec, "Network transmit rate."},
    {"Guest/CPU/Load/User", "Guest/CPU/Load", Unit::Percent,
     "Percentage of processor time spent in user mode as seen by the guest."},
    {"Guest/CPU/Load/Kernel", "Guest/CPU/Load", Unit::Percent,
     "Percentage of processor time spent in kernel mode as seen by the guest."},
    {"Guest/CPU/Load/Idle", "Guest/CPU/Load", Unit::Percent,
     "Percentage of processor time spent idling as seen by the guest."},
    {"Guest/RAM/Usage/Total", "Guest/RAM/Usage", Unit::KB, "Total amount of physical guest RAM."},
    {"Guest/RAM/Usage/Free", "Guest/RAM/Usage", Unit::KB, "Free amount of physical guest RAM."},
    {"Guest/RAM/Usage/Balloon", "Guest/RAM/Usage", Unit::KB,
     "Amount of ballooned physical guest RAM."},
    {"Guest/RAM/Usage/Shared", "Guest/RAM/Usage", Unit::KB, "Amount of shared physical guest RAM."},
    {"Guest/RAM/Usage/Cache", "Guest/RAM/Usage", Unit::KB,
     "Total amount of guest (disk) cache memory."},
    // Registered under the Guest/RAM/Usage base although its name suggests another (spec §4.4).
    {"Guest/Pagefile/Usage/Total", "Guest/RAM/Usage", Unit::KB,
     "Total amount of space in the page file."},
};

constexpr Aggregate k_aggregates[] = {Aggregate::Avg, Aggregate::Min, Aggregate::Max};

std::span<const Row> rows(ObjectKind kind) {
  if (kind == ObjectKind::Host) {
    return k_host;
  }
  return k_vm;
}

// A template with the device put in, or with the "<dev>/" component left out (device "").
std::string with_device(std::string_view templ, std::string_view device) {
  std::string out(templ);
  if (auto at = out.find(k_dev); at != std::string::npos) {
    if (device.empty()) {
      out.erase(at, k_dev.size() + 1);
    } else {
      out.replace(at, k_dev.size(), device);
    }
  }
  return out;
}

MetricDef instance(const Row& row, std::string_view device) {
  return {with_device(row.name, device), with_device(row.base, device), row.unit, row.description,
          std::string(device),           with_device(row.name, "")};
}

const std::vector<std::string>& devices_of(Devices which, const HostDevices& d) {
  static const std::vector<std::string> none;
  switch (which) {
  case Devices::DiskLoad: return d.disk_load;
  case Devices::DiskUsage: return d.disk_usage;
  case Devices::Net: return d.nets;
  case Devices::None: break;
  }
  return none;
}
} // namespace

std::vector<MetricDef> catalog(ObjectKind kind, const HostDevices& devices) {
  std::vector<MetricDef> out;
  auto all = rows(kind);
  for (size_t i = 0; i < all.size();) {
    if (all[i].devices == Devices::None) {
      out.push_back(instance(all[i++], ""));
      continue;
    }
    // A run of rows for the same devices is registered device by device.
    size_t end = i;
    while (end < all.size() && all[end].devices == all[i].devices) {
      ++end;
    }
    for (const auto& dev : devices_of(all[i].devices, devices)) {
      for (size_t r = i; r < end; ++r) {
        out.push_back(instance(all[r], dev));
      }
    }
    i = end;
  }
  return out;
}

std::vector<std::string> base_metrics(ObjectKind kind, const HostDevices& devices) {
  std::vector<std::string> out;
  for (const auto& m : catalog(kind, devices)) {
    if (std::find(out.begin(), out.end(), m.base) == out.end()) {
      out.push_back(m.base);
    }
  }
  return out;
}

std::vector<MetricDef> metrics_of_base(ObjectKind kind, std::string_view base) {
  std::vector<MetricDef> out;
  for (const auto& row : rows(kind)) {
    std::string_view templ = row.base;
    auto at = templ.find(k_dev);
    if (at == std::string_view::npos) {
      if (templ == base) {
        out.push_back(instance(row, ""));
      }
      continue;
    }
    // "Disk/<dev>/Load" matches "Disk/vda/Load": a device is one non-empty path component.
    auto head = templ.substr(0, at);
    auto tail = templ.substr(at + k_dev.size());
    if (base.size() > head.size() + tail.size() && base.starts_with(head) && base.ends_with(tail)) {
      auto device = base.substr(head.size(), base.size() - head.size() - tail.size());
      if (device.find('/') == std::string_view::npos) {
        out.push_back(instance(row, device));
      }
    }
  }
  return out;
}

std::string FullMetric::name() const { return def.name + std::string(aggregate_suffix(aggregate)); }

std::vector<FullMetric> full_metrics(ObjectKind kind, const HostDevices& devices) {
  std::vector<FullMetric> out;
  for (auto& m : catalog(kind, devices)) {
    out.push_back({m, Aggregate::None});
    for (auto a : k_aggregates) {
      out.push_back({m, a});
    }
  }
  return out;
}

std::string_view unit_name(Unit unit) {
  switch (unit) {
  case Unit::Percent: return "%";
  case Unit::KB: return "kB";
  case Unit::MB: return "MB";
  case Unit::MHz: return "MHz";
  case Unit::Mbit: return "mbit/s";
  case Unit::BytesPerSec: return "B/s";
  }
  return "";
}

int unit_scale(Unit unit) { return unit == Unit::Percent ? 1000 : 1; }

std::int64_t unit_min(Unit) { return 0; }

std::int64_t unit_max(Unit unit) {
  return unit == Unit::Percent ? 100000 : std::numeric_limits<std::int32_t>::max();
}

std::string format_value(Unit unit, std::int64_t raw) {
  int scale = unit_scale(unit);
  if (scale == 1) {
    return fmt::format("{} {}", raw, unit_name(unit));
  }
  return fmt::format("{}.{:02}{}", raw / scale, (raw * 100 / scale) % 100, unit_name(unit));
}

std::optional<std::int64_t> aggregate(Aggregate how, std::span<const std::int64_t> samples) {
  if (samples.empty()) {
    return std::nullopt;
  }
  switch (how) {
  case Aggregate::Avg: {
    std::int64_t sum = 0;
    for (auto v : samples) {
      sum += v;
    }
    return sum / static_cast<std::int64_t>(samples.size());
  }
  case Aggregate::Min: return *std::min_element(samples.begin(), samples.end());
  case Aggregate::Max: return *std::max_element(samples.begin(), samples.end());
  case Aggregate::None: break;
  }
  return std::nullopt;
}

std::string_view aggregate_suffix(Aggregate how) {
  switch (how) {
  case Aggregate::Avg: return ":avg";
  case Aggregate::Min: return ":min";
  case Aggregate::Max: return ":max";
  case Aggregate::None: break;
  }
  return "";
}

namespace {
// Same semantics as VirtualBox's Filter::patternMatch (a stamR3Match derivative), including
// its quirks: a run of '*' and '?' after a '*' counts as one '*'.
bool match_from(std::string_view pat, std::string_view name, bool seen_colon) {
  size_t p = 0;
  size_t n = 0;
  for (;;) {
    char pc = p < pat.size() ? pat[p] : '\0';
    char nc = n < name.size() ? name[n] : '\0';
    switch (pc) {
    case '*': {
      while (p + 1 < pat.size() && (pat[p + 1] == '*' || pat[p + 1] == '?')) {
        ++p;
      }
      ++p; // pat[p] is now the character after the stars, or the end
      char next = p < pat.size() ? pat[p] : '\0';
      if (next == ':') {
        if (!seen_colon && p + 1 == pat.size()) {
          return name.substr(n).find(':') == std::string_view::npos;
        }
        seen_colon = true;
      }
      for (;;) {
        char ch = n < name.size() ? name[n] : '\0';
        ++n;
        if (ch == next &&
            (next == '\0' || match_from(pat.substr(p + 1), name.substr(n), seen_colon))) {
          return true;
        }
        if (ch == '\0') {
          return false;
        }
      }
    }
    case '?':
      if (nc == '\0') {
        return false;
      }
      break;
    case ':':
      if (!seen_colon && p + 1 == pat.size()) {
        return nc == '\0';
      }
      if (nc != ':') {
        return false;
      }
      seen_colon = true;
      break;
    case '\0': return nc == '\0';
    default:
      if (nc != pc) {
        return false;
      }
      break;
    }
    ++p;
    ++n;
  }
}
} // namespace

bool pattern_match(std::string_view pattern, std::string_view name) {
  // The C original stops at a NUL byte; so do we (argv words cannot contain one anyway).
  pattern = pattern.substr(0, pattern.find('\0'));
  name = name.substr(0, name.find('\0'));
  return match_from(pattern, name, false);
}

MetricFilter::MetricFilter(std::string_view list) {
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    m_patterns.emplace_back(
        list.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
}

bool MetricFilter::matches(std::string_view name) const {
  return std::any_of(m_patterns.begin(), m_patterns.end(),
                     [&](const std::string& p) { return pattern_match(p, name); });
}

std::string base_of(std::string_view full_name) {
  std::string name(full_name);
  if (name != "CPU/MHz" && !pattern_match("Net/*/LinkSpeed", name)) {
    auto slash = name.rfind('/');
    if (slash != std::string::npos) {
      name.resize(slash);
    }
  }
  return name;
}

} // namespace vbm::metrics
