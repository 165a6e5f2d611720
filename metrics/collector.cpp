#include "metrics/collector.hpp"

#include "metrics/catalog.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace vbm::metrics {

namespace {
constexpr std::int64_t k_slack_ms = 50; // BaseMetric::collectorBeat's tolerance
constexpr std::string_view k_host = "host";

bool due(const store::MetricSetup& s, std::int64_t now_ms) {
  return !s.last_ms || now_ms - *s.last_ms + k_slack_ms >= s.period_s * 1000;
}

// The last sample's due time moves by exactly one period (no drift), unless beats were missed.
std::int64_t due_time(const store::MetricSetup& s, std::int64_t now_ms) {
  if (!s.last_ms) {
    return now_ms;
  }
  std::int64_t next = *s.last_ms + s.period_s * 1000;
  return now_ms - next >= s.period_s * 1000 ? now_ms : next;
}

std::int64_t percent_milli(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) {
    return 0;
  }
  return static_cast<std::int64_t>(std::min<std::uint64_t>(part * 100000 / whole, 100000));
}

void put(Values& v, std::string_view name, std::optional<std::uint64_t> value) {
  if (value) {
    v.emplace_back(std::string(name), static_cast<std::int64_t>(*value));
  }
}
} // namespace

// What one beat knows about one connection; node figures are read only if a metric needs them.
struct Collector::Snapshot {
  backend::Hypervisor& hv;
  bool local;
  std::string uri;
  std::map<std::string, backend::DomainStats> doms; ///< running domains by UUID
  std::optional<backend::NodeStats> node;
  std::optional<std::map<std::string, backend::DomainIoStats>> io; ///< by UUID
  const backend::NodeStats& node_stats() {
    if (!node) {
      node = hv.node_stats();
    }
    return *node;
  }
  const backend::DomainIoStats* io_stats(const std::string& uuid) {
    if (!io) {
      io.emplace();
      for (auto& d : hv.running_domain_io_stats()) {
        io->emplace(d.vm.uuid, std::move(d));
      }
    }
    auto it = io->find(uuid);
    return it == io->end() ? nullptr : &it->second;
  }
};

Collector::Collector(store::SettingsStore& store, Connect connect, const backend::LocalHost& local,
                     std::function<void(const std::string&)> log,
                     std::function<void(const std::string&)> failed)
    : m_metrics(store), m_connect(std::move(connect)), m_local(local), m_log(std::move(log)),
      m_failed(std::move(failed)) {}

bool Collector::beat(std::int64_t now_ms) {
  auto uris = m_metrics.collecting_uris();
  for (const auto& uri : uris) {
    try {
      beat_uri(uri, now_ms);
    } catch (const backend::BackendError& e) {
      if (m_log) {
        m_log(fmt::format("{}: {}", uri, e.what()));
      }
      if (m_failed) {
        m_failed(uri);
      }
    }
  }
  return !m_metrics.collecting_uris().empty();
}

void Collector::beat_uri(const std::string& uri, std::int64_t now_ms) {
  auto setups = m_metrics.setups(uri);
  auto& hv = m_connect(uri);
  Snapshot snap{hv, hv.is_local(), uri, {}, std::nullopt, std::nullopt};
  auto& seen = m_seen[uri];
  seen.host = hv.hostname();
  seen.guests.clear();
  for (auto& d : hv.running_domain_stats()) {
    seen.guests[d.vm.uuid] = {d.vm.name, d.maximum_kib, d.balloon.actual_kib};
    snap.doms.emplace(d.vm.uuid, std::move(d));
  }
  see_host(snap, seen);

  struct Due {
    store::MetricSetup setup;
    std::int64_t due_ms;
    Values values;
  };
  std::vector<Due> todo;
  std::vector<const store::MetricSetup*> stale;
  for (const auto& s : setups) {
    if (s.object != k_host) {
      auto it = snap.doms.find(s.object);
      if (it == snap.doms.end() || it->second.vm.id != s.run) {
        stale.push_back(&s); // VM metrics end with the VM's run (spec §4.3)
        continue;
      }
    }
    if (!s.collecting() || !due(s, now_ms)) {
      continue;
    }
    auto values = sample(snap, s, now_ms);
    if (!values.empty()) {
      todo.push_back({s, due_time(s, now_ms), std::move(values)});
    }
  }
  if (todo.empty() && stale.empty()) {
    return;
  }
  auto txn = m_metrics.begin_write();
  for (const auto* s : stale) {
    m_metrics.drop(uri, s->object, s->base);
    // Forget its CPU counters too (keys are "uri|object|base|run").
    auto prefix = fmt::format("{}|{}|{}|", uri, s->object, s->base);
    std::erase_if(m_prev, [&](const auto& kv) { return kv.first.starts_with(prefix); });
    std::erase_if(m_counters, [&](const auto& kv) { return kv.first.starts_with(prefix); });
    std::erase_if(m_pids, [&](const auto& kv) { return kv.first.starts_with(s->object + "|"); });
  }
  // record() checks, under the write lock, that each row is still the one sampled: a
  // `metrics setup` since our read re-initialised it, and its fresh buffer must not get our
  // stale sample.
  for (const auto& d : todo) {
    m_metrics.record(uri, d.setup, d.due_ms, now_ms, d.values);
  }
  txn.commit();
}

// The host's memory and KSM, for vboxkvm's own series: MemAvailable where known (this machine),
// else free + buffers + cached as libvirt reports them.
void Collector::see_host(Snapshot& snap, Seen& seen) {
  seen.mem_total_kib = seen.mem_available_kib = seen.ksm_sharing_kib = seen.ksmd_cpu_ns =
      std::nullopt;
  if (snap.local) {
    if (auto mem = m_local.meminfo()) {
      seen.mem_total_kib = mem->total_kib;
      seen.mem_available_kib = mem->available_kib.value_or(
          std::min(mem->total_kib, mem->free_kib + mem->buffers_kib + mem->cached_kib));
    }
    if (auto pages = m_local.ksm("pages_sharing")) {
      seen.ksm_sharing_kib = *pages * m_local.page_size_kib();
      seen.ksmd_cpu_ns = m_local.ksmd_cpu_ns(); // no KSM, no ksmd to look for
    }
  } else if (const auto& n = snap.node_stats(); n.mem_total_kib && n.mem_free_kib) {
    seen.mem_total_kib = n.mem_total_kib;
    seen.mem_available_kib =
        std::min(*n.mem_total_kib,
                 *n.mem_free_kib + n.mem_buffers_kib.value_or(0) + n.mem_cached_kib.value_or(0));
  }
}

// What each base metric means on KVM: one sampler per (object kind, base metric) of the
// catalogue. A base metric without a row (Guest/CPU/Load, Guest/Pagefile: they need a guest
// agent) gets no samples, as in VirtualBox without Guest Additions.
struct Collector::Sampler {
  ObjectKind kind;
  std::string_view base;
  Values (Collector::*fn)(Snapshot&, const backend::DomainStats*, const std::string& key,
                          std::int64_t now_ms);
};

const Collector::Sampler Collector::k_samplers[] = {
    {ObjectKind::Host, "CPU/Load", &Collector::host_cpu},
    {ObjectKind::Host, "CPU/MHz", &Collector::host_mhz},
    {ObjectKind::Host, "RAM/Usage", &Collector::host_ram},
    {ObjectKind::Host, "RAM/VMM", &Collector::host_vmm},
    {ObjectKind::Host, "FS/{/}/Usage", &Collector::host_fs},
    {ObjectKind::Host, "Disk/*/Load", &Collector::host_disk_load},
    {ObjectKind::Host, "Disk/*/Usage", &Collector::host_disk_usage},
    {ObjectKind::Host, "Net/*/LinkSpeed", &Collector::host_net_speed},
    {ObjectKind::Host, "Net/*/Load", &Collector::host_net_load},
    {ObjectKind::Vm, "CPU/Load", &Collector::vm_cpu},
    {ObjectKind::Vm, "RAM/Usage", &Collector::vm_ram},
    {ObjectKind::Vm, "Disk/Usage", &Collector::vm_disk},
    {ObjectKind::Vm, "Net/Rate", &Collector::vm_net},
    {ObjectKind::Vm, "Guest/RAM/Usage", &Collector::vm_guest_ram},
};

Values Collector::sample(Snapshot& snap, const store::MetricSetup& s, std::int64_t now_ms) {
  bool host = s.object == k_host;
  const backend::DomainStats* dom = host ? nullptr : &snap.doms.at(s.object);
  std::string key = fmt::format("{}|{}|{}", snap.uri, s.object, s.base);
  for (const auto& row : k_samplers) {
    if ((row.kind == ObjectKind::Host) == host && pattern_match(row.base, s.base)) {
      return (this->*row.fn)(snap, dom, key, now_ms);
    }
  }
  return {};
}

Values Collector::host_mhz(Snapshot& snap, const backend::DomainStats*, const std::string&,
                           std::int64_t) {
  Values v;
  put(v, "CPU/MHz", snap.local ? m_local.cpu_mhz() : snap.node_stats().cpu_mhz);
  return v;
}

Values Collector::host_ram(Snapshot& snap, const backend::DomainStats*, const std::string&,
                           std::int64_t) {
  std::optional<backend::MemInfo> mem;
  if (snap.local) {
    mem = m_local.meminfo();
  } else if (const auto& n = snap.node_stats(); n.mem_total_kib && n.mem_free_kib) {
    mem = backend::MemInfo{*n.mem_total_kib, *n.mem_free_kib, n.mem_buffers_kib.value_or(0),
                           n.mem_cached_kib.value_or(0), std::nullopt};
  }
  Values v;
  if (mem) {
    // Linux "available" as VirtualBox counts it: MemFree + Buffers + Cached.
    std::uint64_t avail =
        std::min(mem->total_kib, mem->free_kib + mem->buffers_kib + mem->cached_kib);
    put(v, "RAM/Usage/Total", mem->total_kib);
    put(v, "RAM/Usage/Used", mem->total_kib - avail);
    put(v, "RAM/Usage/Free", avail);
  }
  return v;
}

Values Collector::host_vmm(Snapshot& snap, const backend::DomainStats*, const std::string&,
                           std::int64_t) {
  std::uint64_t used = 0, free = 0, ballooned = 0;
  for (const auto& [uuid, d] : snap.doms) {
    auto rss = resident_kib(snap, d).value_or(0);
    auto actual = d.balloon.actual_kib.value_or(0);
    used += rss;
    free += actual > rss ? actual - rss : 0;
    if (d.maximum_kib && *d.maximum_kib > actual) {
      ballooned += *d.maximum_kib - actual;
    }
  }
  Values v;
  put(v, "RAM/VMM/Used", used);
  put(v, "RAM/VMM/Free", free);
  put(v, "RAM/VMM/Ballooned", ballooned);
  std::optional<std::uint64_t> shared;
  if (snap.local) {
    if (auto pages = m_local.ksm("pages_shared")) {
      shared = *pages * m_local.page_size_kib();
    }
  } else if (auto pages = snap.node_stats().ksm_pages_shared) {
    shared = *pages * 4; // libvirt reports pages; x86 and arm64 KVM hosts use 4 KiB pages
  }
  put(v, "RAM/VMM/Shared", shared);
  return v;
}

Values Collector::host_fs(Snapshot& snap, const backend::DomainStats*, const std::string&,
                          std::int64_t) {
  Values v;
  if (auto fs = snap.local ? m_local.root_fs() : std::nullopt) {
    put(v, "FS/{/}/Usage/Total", fs->total_mb);
    put(v, "FS/{/}/Usage/Used", fs->total_mb - std::min(fs->total_mb, fs->free_mb));
    put(v, "FS/{/}/Usage/Free", fs->free_mb);
  }
  return v;
}

Values Collector::vm_ram(Snapshot& snap, const backend::DomainStats* d, const std::string&,
                         std::int64_t) {
  Values v;
  put(v, "RAM/Usage/Used", resident_kib(snap, *d));
  return v;
}

Values Collector::vm_guest_ram(Snapshot& snap, const backend::DomainStats* d, const std::string&,
                               std::int64_t) {
  if (!d->balloon.last_update) {
    // The driver reports only when asked to; VirtualBox likewise sets the guest's statistics
    // interval to 1 s when a Guest/ metric is enabled (Performance.cpp).
    auto mark = fmt::format("{}|{}|{}", snap.uri, d->vm.uuid, d->vm.id);
    if (m_stats_period_set.insert(mark).second) {
      try {
        snap.hv.set_memory_stats_period(d->vm, 1);
      } catch (const backend::BackendError& e) {
        if (m_log) {
          m_log(e.what());
        }
      }
    }
  }
  Values v;
  put(v, "Guest/RAM/Usage/Total", d->balloon.available_kib);
  put(v, "Guest/RAM/Usage/Free", d->balloon.unused_kib);
  if (d->maximum_kib && d->balloon.actual_kib) {
    put(v, "Guest/RAM/Usage/Balloon",
        *d->maximum_kib > *d->balloon.actual_kib ? *d->maximum_kib - *d->balloon.actual_kib : 0);
  }
  if (snap.local) {
    if (auto pid = qemu_pid(d->vm)) {
      if (auto pages = m_local.ksm_merging_pages(*pid)) {
        put(v, "Guest/RAM/Usage/Shared", *pages * m_local.page_size_kib());
      }
    }
  }
  put(v, "Guest/RAM/Usage/Cache", d->balloon.disk_caches_kib);
  return v;
}

std::optional<Collector::Growth> Collector::growth(const std::string& key, std::int64_t now_ms,
                                                   DeviceCounters cur) {
  auto it = m_counters.find(key);
  std::optional<Growth> out;
  if (it != m_counters.end() && now_ms > it->second.time_ms) {
    Growth g{0, 0, now_ms - it->second.time_ms};
    for (const auto& [dev, c] : cur) {
      auto prev = it->second.devices.find(dev);
      bool known = prev != it->second.devices.end();
      g.first += known && c.first >= prev->second.first ? c.first - prev->second.first : c.first;
      g.second +=
          known && c.second >= prev->second.second ? c.second - prev->second.second : c.second;
    }
    out = g;
  }
  m_counters[key] = {now_ms, std::move(cur)};
  return out;
}

namespace {
// Byte counts times 100000 need more than 64 bits.
__extension__ typedef unsigned __int128 U128; // NOLINT(modernize-use-using)

// part / whole in 1/1000 % (capped at 100%).
std::int64_t ratio_milli(std::uint64_t part, U128 whole) {
  if (whole == 0) {
    return 0;
  }
  auto v = static_cast<U128>(part) * 100000 / whole;
  return static_cast<std::int64_t>(std::min<U128>(v, 100000));
}

constexpr std::uint64_t k_mib = 1024ULL * 1024;
} // namespace

// The device of a host base metric from its key "uri|host|Disk/vda/Load": "vda".
std::string Collector::device_of(const Snapshot& snap, const std::string& key) {
  auto base = std::string_view(key).substr(snap.uri.size() + k_host.size() + 2);
  auto first = base.find('/');
  auto second = base.find('/', first + 1);
  return std::string(base.substr(first + 1, second - first - 1));
}

// MachineDiskUsage: the VM's hard disks' actual sizes (IMedium::size, the image file, not its
// virtual size), each in whole MB, summed; a VM without disks uses 0 MB. A disk without a figure
// this time (its QEMU busy with a job) means no sample, not a smaller one.
Values Collector::vm_disk(Snapshot& snap, const backend::DomainStats* d, const std::string&,
                          std::int64_t) {
  const auto* io = snap.io_stats(d->vm.uuid);
  if (io == nullptr) {
    return {};
  }
  std::uint64_t mb = 0;
  for (const auto& disk : io->disks) {
    if (!disk.physical_bytes) {
      return {};
    }
    mb += *disk.physical_bytes / k_mib;
  }
  Values v;
  put(v, "Disk/Usage/Used", mb);
  return v;
}

// Guest::i_updateStats: the bytes all the VM's network interfaces received and sent since the
// last sample, per second of the time that passed; 0 B/s for a VM without interfaces.
Values Collector::vm_net(Snapshot& snap, const backend::DomainStats* d, const std::string& key,
                         std::int64_t now_ms) {
  const auto* io = snap.io_stats(d->vm.uuid);
  if (io == nullptr) {
    return {};
  }
  DeviceCounters cur;
  for (const auto& nic : io->nics) {
    cur[nic.target] = {nic.rx_bytes, nic.tx_bytes};
  }
  Values v;
  if (auto g = growth(fmt::format("{}|{}", key, d->vm.id), now_ms, std::move(cur))) {
    auto per_s = [&](std::uint64_t bytes) {
      return static_cast<std::uint64_t>(static_cast<U128>(bytes) * 1000 /
                                        static_cast<std::uint64_t>(g->ms));
    };
    put(v, "Net/Rate/Rx", per_s(g->first));
    put(v, "Net/Rate/Tx", per_s(g->second));
  }
  return v;
}

// HostDiskLoadRaw: the share of the time that passed in which the disk was busy.
Values Collector::host_disk_load(Snapshot& snap, const backend::DomainStats*,
                                 const std::string& key, std::int64_t now_ms) {
  auto dev = device_of(snap, key);
  auto busy = snap.local ? m_local.disk_busy_ms(dev) : std::nullopt;
  if (!busy) {
    return {};
  }
  Values v;
  if (auto g = growth(key, now_ms, {{dev, {*busy, 0}}})) {
    v.emplace_back(fmt::format("Disk/{}/Load/Util", dev),
                   ratio_milli(g->first, static_cast<std::uint64_t>(g->ms)));
  }
  return v;
}

// HostDiskUsage: /sys/block/<d>/size in whole MB.
Values Collector::host_disk_usage(Snapshot& snap, const backend::DomainStats*,
                                  const std::string& key, std::int64_t) {
  auto dev = device_of(snap, key);
  Values v;
  if (auto bytes = snap.local ? m_local.disk_size_bytes(dev) : std::nullopt) {
    put(v, fmt::format("Disk/{}/Usage/Total", dev), *bytes / k_mib);
  }
  return v;
}

// HostNetworkSpeed: the link speed, when the interface is up and has one.
Values Collector::host_net_speed(Snapshot& snap, const backend::DomainStats*,
                                 const std::string& key, std::int64_t) {
  auto dev = device_of(snap, key);
  Values v;
  if (auto mbit = snap.local ? m_local.link_speed_mbit(dev) : 0U; mbit > 0) {
    put(v, fmt::format("Net/{}/LinkSpeed", dev), mbit);
  }
  return v;
}

// HostNetworkLoadRaw: bytes received and sent as a share of what the link carries in the time
// that passed; nothing for a link without a speed (unplugged, down, or not reporting one).
Values Collector::host_net_load(Snapshot& snap, const backend::DomainStats*, const std::string& key,
                                std::int64_t now_ms) {
  auto dev = device_of(snap, key);
  auto counters = snap.local ? m_local.net_counters(dev) : std::nullopt;
  if (!counters) {
    return {};
  }
  auto g = growth(key, now_ms, {{dev, {counters->rx_bytes, counters->tx_bytes}}});
  std::uint64_t mbit = m_local.link_speed_mbit(dev);
  Values v;
  if (g && mbit > 0) {
    // bytes per millisecond the link carries: Mbit/s x 10^6 / 8 / 1000
    auto capacity = static_cast<U128>(mbit) * 125 * static_cast<std::uint64_t>(g->ms);
    v.emplace_back(fmt::format("Net/{}/Load/Rx", dev), ratio_milli(g->first, capacity));
    v.emplace_back(fmt::format("Net/{}/Load/Tx", dev), ratio_milli(g->second, capacity));
  }
  return v;
}

// A run's QEMU PID does not change: read its pid file once per run (absent ones too).
std::optional<std::uint64_t> Collector::resident_kib(const Snapshot& snap,
                                                     const backend::DomainStats& d) {
  auto rss = d.balloon.rss_kib;
  if (rss && snap.local) {
    if (auto pid = qemu_pid(d.vm)) {
      *rss += m_local.hugetlb_kib(*pid).value_or(0);
    }
  }
  return rss;
}

std::optional<int> Collector::qemu_pid(const backend::VmRef& vm) {
  auto key = fmt::format("{}|{}", vm.uuid, vm.id);
  auto it = m_pids.find(key);
  if (it == m_pids.end()) {
    it = m_pids.emplace(key, m_local.qemu_pid(vm.name)).first;
  }
  return it->second;
}

Values Collector::host_cpu(Snapshot& snap, const backend::DomainStats*, const std::string& key,
                           std::int64_t now_ms) {
  Prev cur{now_ms, 0, 0, 0};
  if (snap.local) {
    auto t = m_local.cpu_times();
    if (!t) {
      return {};
    }
    cur = {now_ms, t->user, t->kernel, t->total()};
  } else {
    const auto& n = snap.node_stats();
    if (!n.cpu_user_ns || !n.cpu_kernel_ns || !n.cpu_idle_ns) {
      return {};
    }
    cur = {now_ms, *n.cpu_user_ns, *n.cpu_kernel_ns,
           *n.cpu_user_ns + *n.cpu_kernel_ns + *n.cpu_idle_ns + n.cpu_iowait_ns.value_or(0)};
  }
  auto it = m_prev.find(key);
  Values v;
  if (it != m_prev.end() && cur.total > it->second.total) {
    const auto& p = it->second;
    std::uint64_t dt = cur.total - p.total;
    std::uint64_t du = cur.a - std::min(cur.a, p.a);
    std::uint64_t dk = cur.b - std::min(cur.b, p.b);
    v.emplace_back("CPU/Load/User", percent_milli(du, dt));
    v.emplace_back("CPU/Load/Kernel", percent_milli(dk, dt));
    v.emplace_back("CPU/Load/Idle", percent_milli(dt - std::min(dt, du + dk), dt));
  }
  m_prev[key] = cur; // the first reading only primes the counters
  return v;
}

Values Collector::vm_cpu(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                         std::int64_t now_ms) {
  const auto& d = *dom;
  std::optional<std::uint64_t> user = d.cpu_user_ns;
  std::optional<std::uint64_t> system = d.cpu_system_ns;
  if ((!user || !system) && snap.local) {
    if (auto pid = qemu_pid(d.vm)) {
      if (auto pc = m_local.process_cpu(*pid)) {
        user = pc->user_ns;
        system = pc->system_ns;
      }
    }
  }
  if (!user || !system) {
    return {};
  }
  // Share of the whole host's CPU capacity, as VirtualBox computes the VM process's load.
  Prev cur{now_ms, *user, *system, 0};
  auto it = m_prev.find(fmt::format("{}|{}", key, d.vm.id));
  Values v;
  if (it != m_prev.end() && now_ms > it->second.time_ms) {
    const auto& p = it->second;
    unsigned cpus = snap.local ? m_local.cpus() : snap.node_stats().cpus;
    auto capacity =
        static_cast<std::uint64_t>(now_ms - p.time_ms) * 1'000'000ULL * std::max(cpus, 1U);
    v.emplace_back("CPU/Load/User", percent_milli(cur.a - std::min(cur.a, p.a), capacity));
    v.emplace_back("CPU/Load/Kernel", percent_milli(cur.b - std::min(cur.b, p.b), capacity));
  }
  m_prev[fmt::format("{}|{}", key, d.vm.id)] = cur;
  return v;
}

std::string prometheus_name(bool host, const MetricDef& def) {
  std::string name = host ? "vboxkvm_host_" : "vboxkvm_vm_";
  std::string m(def.generic_name);
  if (auto pos = m.find("{/}"); pos != std::string::npos) {
    m.replace(pos, 3, "root");
  }
  for (char c : m) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  }
  switch (def.unit) {
  case Unit::Percent: name += "_ratio"; break;
  case Unit::KB:
  case Unit::MB: name += "_bytes"; break;
  case Unit::MHz: name += "_hertz"; break;
  case Unit::Mbit: // promtool: base unit bytes, not bits
  case Unit::BytesPerSec: name += "_bytes_per_second"; break;
  }
  return name;
}

namespace {
std::string label_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '\\': out += "\\\\"; break;
    case '"': out += "\\\""; break;
    case '\n': out += "\\n"; break;
    default: out += c;
    }
  }
  return out;
}

// Prometheus wants base units: bytes, ratios, hertz.
std::string prometheus_value(Unit unit, std::int64_t raw) {
  switch (unit) {
  case Unit::Percent: return fmt::format("{}", static_cast<double>(raw) / 100000.0);
  case Unit::KB: return fmt::format("{}", raw * 1024);
  case Unit::MB: return fmt::format("{}", raw * 1024 * 1024);
  case Unit::MHz: return fmt::format("{}", raw * 1'000'000);
  case Unit::Mbit: return fmt::format("{}", raw * 1'000'000 / 8);
  case Unit::BytesPerSec: return fmt::format("{}", raw);
  }
  return "0";
}
} // namespace

std::string Collector::exposition() {
  // family name → (help, type, sample lines), in catalogue order, then vboxkvm's own.
  struct Family {
    std::string help;
    std::string_view type;
    std::vector<std::string> lines;
  };
  std::vector<std::pair<std::string, Family>> families;
  auto family = [&](const std::string& name, std::string_view help,
                    std::string_view type = "gauge") -> Family& {
    for (auto& f : families) {
      if (f.first == name) {
        return f.second;
      }
    }
    families.push_back({name, Family{std::string(help), type, {}}});
    return families.back().second;
  };
  auto uris = m_metrics.collecting_uris();
  auto host_labels = [&](const std::string& uri) {
    return fmt::format("host=\"{}\",uri=\"{}\"", label_escape(m_seen[uri].host), label_escape(uri));
  };
  auto vm_labels = [&](const std::string& uri, const std::string& uuid, const Guest& g) {
    return fmt::format("{},vm=\"{}\",uuid=\"{}\"", host_labels(uri), label_escape(g.name), uuid);
  };
  for (const auto& uri : uris) {
    const auto& guests = m_seen[uri].guests;
    for (const auto& s : m_metrics.setups(uri)) {
      if (!s.collecting()) {
        continue;
      }
      bool host = s.object == k_host;
      std::string labels = host_labels(uri);
      if (!host) {
        auto g = guests.find(s.object);
        if (g == guests.end()) {
          continue;
        }
        labels = vm_labels(uri, s.object, g->second);
      }
      for (const auto& def : metrics_of_base(host ? ObjectKind::Host : ObjectKind::Vm, s.base)) {
        auto samples = m_metrics.samples(uri, s, def.name);
        if (samples.empty()) {
          continue;
        }
        auto name = prometheus_name(host, def);
        auto& f = family(name, def.description);
        std::string device =
            def.device.empty() ? "" : fmt::format(",device=\"{}\"", label_escape(def.device));
        f.lines.push_back(fmt::format("{}{{{}{}}} {}", name, labels, device,
                                      prometheus_value(def.unit, samples.back().value)));
      }
    }
  }
  // vboxkvm's own series: what the fleet's rules need whatever `metrics setup` chose.
  auto own = [&](const char* name, std::string_view help, const std::string& labels,
                 std::optional<std::uint64_t> kib) {
    if (kib) {
      family(name, help).lines.push_back(fmt::format("{}{{{}}} {}", name, labels, *kib * 1024));
    }
  };
  for (const auto& uri : uris) {
    const auto& seen = m_seen[uri];
    own("vboxkvm_host_memory_total_bytes", "The host's physical memory.", host_labels(uri),
        seen.mem_total_kib);
    own("vboxkvm_host_memory_available_bytes",
        "The host's memory available without swapping (MemAvailable).", host_labels(uri),
        seen.mem_available_kib);
    own("vboxkvm_host_ksm_sharing_bytes",
        "Memory page fusion saves: the pages KSM maps onto shared ones (pages_sharing).",
        host_labels(uri), seen.ksm_sharing_kib);
    if (seen.ksmd_cpu_ns) {
      family("vboxkvm_host_ksmd_cpu_seconds_total", "CPU time KSM's thread ksmd used since boot.",
             "counter")
          .lines.push_back(fmt::format("vboxkvm_host_ksmd_cpu_seconds_total{{{}}} {}",
                                       host_labels(uri),
                                       static_cast<double>(*seen.ksmd_cpu_ns) / 1e9));
    }
    for (const auto& [uuid, g] : seen.guests) {
      own("vboxkvm_vm_memory_max_bytes", "The guest's memory with an empty balloon (<memory>).",
          vm_labels(uri, uuid, g), g.max_kib);
      own("vboxkvm_vm_memory_actual_bytes", "The guest's memory: what its balloon leaves it.",
          vm_labels(uri, uuid, g), g.actual_kib);
    }
  }
  std::string out;
  for (const auto& [name, f] : families) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& line : f.lines) {
      out += line + "\n";
    }
  }
  return out;
}

} // namespace vbm::metrics
