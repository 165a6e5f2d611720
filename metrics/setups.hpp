#pragma once
// VirtualBox's performance collector (IPerformanceCollector) over the store, for one connection:
// which objects have metrics now, the setups of their base metrics, their samples and
// aggregates, and SetupMetrics / EnableMetrics / DisableMetrics. `metrics` (cli/metrics.cpp)
// keeps the grammar, the messages and the output formats; the collector process fills the
// samples.

#include "backend/hypervisor.hpp"
#include "backend/local_host.hpp"
#include "metrics/catalog.hpp"
#include "store/metrics_store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vbm::metrics {

/// A metrics object: the host, or a running VM (its metrics exist only while it runs).
struct Object {
  ObjectKind kind;
  std::string key;  ///< "host" or the VM's UUID (the store's object)
  std::string name; ///< what the Object column shows
  std::int64_t run = 0;
  bool operator<(const Object& o) const { return key < o.key; }
};

/// The host devices VirtualBox registers metrics for, read from this machine (`local`) when the
/// connection's host is this machine; none otherwise.
HostDevices host_devices(backend::Hypervisor& hv, const backend::LocalHost& local);

/// The objects and metric patterns a command's filter (`[* | host | VM [metric-list]]`) names.
struct Filter {
  std::vector<Object> objects;
  MetricFilter metric_list;
};

/// (object, base metric) pairs a setup, enable or disable changed.
using Affected = std::vector<std::pair<Object, std::string>>;

class Setups {
public:
  /// Throws backend::BackendError (the connection's URI). `devices`: the host's disks and
  /// network interfaces with metrics (host_devices; none for a host that is not this machine).
  Setups(backend::Hypervisor& hv, store::SettingsStore& store, HostDevices devices = {});

  /// The objects that have metrics now: the host, then running VMs in start order.
  std::vector<Object> all_objects();
  /// parseFilterParameters: `[* | host | VM [metric-list]]`; later words are ignored. nullopt
  /// when the VM does not exist (a VM that does not run has no objects).
  std::optional<Filter> parse_filter(std::span<const std::string> words);

  /// The setup of an object's base metric, if it was set up for this run of the object.
  std::optional<store::MetricSetup> setup_of(const Object& o, std::string_view base);
  /// The values `query` shows: the buffered samples, or the aggregate of them.
  std::vector<std::int64_t> values(const Object& o, const FullMetric& m);
  /// The buffered samples of a sub-metric, oldest first (none when not set up).
  std::vector<store::MetricSample> samples(const Object& o, const MetricDef& def);

  /// Calls `fn` for each full metric name of the filter's objects that it matches.
  template <typename F>
  void each_full(const Filter& f, F&& fn) {
    for (const auto& o : f.objects) {
      for (const auto& m : full_metrics(o.kind, m_devices)) {
        if (f.metric_list.matches(m.name())) {
          fn(o, m);
        }
      }
    }
  }

  /// SetupMetrics for the base metrics the filter matches (base names), in one transaction.
  Affected setup(const Filter& f, std::uint32_t period_s, std::uint32_t samples);
  /// SetupMetrics for exactly these (object, base metric) pairs (collect's set-up).
  void setup(const Affected& which, std::uint32_t period_s, std::uint32_t samples);
  /// EnableMetrics / DisableMetrics for the base metrics the filter matches.
  Affected set_enabled(const Filter& f, bool on);
  /// Stops collecting exactly these pairs (collect interrupted), keeping their samples.
  void disable(const Affected& which);

  /// The base metrics an object of this kind has here (the host's per device).
  std::vector<std::string> base_metrics(ObjectKind kind) const {
    return metrics::base_metrics(kind, m_devices);
  }

  const std::string& uri() const { return m_uri; }
  /// Reads the setups again at the next question (collect, between its rounds).
  void forget_cache() { m_setups.reset(); }

private:
  void load_setups();
  void set_enabled(const Object& o, const std::string& base, bool on);

  backend::Hypervisor& m_hv;
  std::string m_uri;
  HostDevices m_devices;
  store::MetricsStore m_ms;
  std::optional<std::vector<store::MetricSetup>> m_setups;
};

} // namespace vbm::metrics
