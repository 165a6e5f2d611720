#include "metrics/setups.hpp"

#include <algorithm>
#include <utility>

namespace vbm::metrics {

namespace {
constexpr std::string_view k_host = "host";

Object host_object() { return {ObjectKind::Host, std::string(k_host), std::string(k_host), 0}; }
} // namespace

HostDevices host_devices(backend::Hypervisor& hv, const backend::LocalHost& local) {
  HostDevices out;
  if (hv.is_local()) {
    auto disks = local.root_disks();
    out.disk_load = std::move(disks.load);
    out.disk_usage = std::move(disks.usage);
    out.nets = local.net_interfaces();
  }
  return out;
}

Setups::Setups(backend::Hypervisor& hv, store::SettingsStore& store, HostDevices devices)
    : m_hv(hv), m_uri(hv.uri()), m_devices(std::move(devices)), m_ms(store) {}

std::vector<Object> Setups::all_objects() {
  std::vector<Object> out{host_object()};
  auto vms = m_hv.list_vms();
  std::erase_if(vms, [](const backend::VmRef& vm) { return vm.id < 0; });
  std::sort(vms.begin(), vms.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& vm : vms) {
    out.push_back({ObjectKind::Vm, vm.uuid, vm.name, vm.id});
  }
  return out;
}

std::optional<Filter> Setups::parse_filter(std::span<const std::string> words) {
  Filter f{{}, MetricFilter(words.size() > 1 ? std::string_view(words[1]) : "*")};
  if (words.empty() || words[0] == "*") {
    f.objects = all_objects();
  } else if (words[0] == k_host) {
    f.objects.push_back(host_object());
  } else {
    auto vm = m_hv.find_vm(words[0]);
    if (!vm) {
      return std::nullopt;
    }
    if (vm->id >= 0) {
      f.objects.push_back({ObjectKind::Vm, vm->uuid, vm->name, vm->id});
    }
  }
  return f;
}

void Setups::load_setups() {
  if (!m_setups) {
    m_setups = m_ms.setups(m_uri);
  }
}

std::optional<store::MetricSetup> Setups::setup_of(const Object& o, std::string_view base) {
  load_setups();
  for (const auto& s : *m_setups) {
    if (s.object == o.key && s.base == base && s.run == o.run) {
      return s;
    }
  }
  return std::nullopt;
}

std::vector<store::MetricSample> Setups::samples(const Object& o, const MetricDef& def) {
  auto s = setup_of(o, def.base);
  return s ? m_ms.samples(m_uri, *s, def.name) : std::vector<store::MetricSample>{};
}

std::vector<std::int64_t> Setups::values(const Object& o, const FullMetric& m) {
  std::vector<std::int64_t> out;
  for (const auto& sample : samples(o, m.def)) {
    out.push_back(sample.value);
  }
  if (m.aggregate != Aggregate::None) {
    auto a = aggregate(m.aggregate, out);
    out.clear();
    if (a) {
      out.push_back(*a);
    }
  }
  return out;
}

Affected Setups::setup(const Filter& f, std::uint32_t period_s, std::uint32_t samples) {
  Affected which;
  for (const auto& o : f.objects) {
    for (const auto& base : base_metrics(o.kind)) {
      if (f.metric_list.matches(base)) {
        which.emplace_back(o, base);
      }
    }
  }
  setup(which, period_s, samples);
  return which;
}

void Setups::setup(const Affected& which, std::uint32_t period_s, std::uint32_t samples) {
  auto txn = m_ms.begin_write();
  for (const auto& [o, base] : which) {
    store::MetricSetup s;
    s.object = o.key;
    s.base = base;
    s.run = o.run;
    s.period_s = period_s;
    s.samples = samples;
    m_ms.setup(m_uri, s);
  }
  txn.commit();
  m_setups.reset();
}

void Setups::set_enabled(const Object& o, const std::string& base, bool on) {
  load_setups();
  for (const auto& old : *m_setups) {
    if (old.object == o.key && old.base == base && old.run != o.run) {
      m_ms.drop(m_uri, o.key, base); // from an earlier run of this VM: start as never set up
    }
  }
  m_ms.set_enabled(m_uri, o.key, base, o.run, on);
}

Affected Setups::set_enabled(const Filter& f, bool on) {
  Affected which;
  auto txn = m_ms.begin_write();
  for (const auto& o : f.objects) {
    for (const auto& base : base_metrics(o.kind)) {
      if (f.metric_list.matches(base)) {
        set_enabled(o, base, on);
        which.emplace_back(o, base);
      }
    }
  }
  txn.commit();
  m_setups.reset();
  return which;
}

void Setups::disable(const Affected& which) {
  auto txn = m_ms.begin_write();
  for (const auto& [o, base] : which) {
    m_ms.set_enabled(m_uri, o.key, base, o.run, false);
  }
  txn.commit();
  m_setups.reset();
}

} // namespace vbm::metrics
