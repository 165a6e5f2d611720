#pragma once
// The background collector's work: one beat samples every base metric that is due, on every
// connection that has metrics being collected, into the store's ring buffers (spec §4.3,
// durable). Reads every running guest with one bulk libvirt call per connection and beat.
// The process around it (locking, the beat loop, signals) is cli/collector_main.cpp.

#include "backend/hypervisor.hpp"
#include "backend/local_host.hpp"
#include "store/metrics_store.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace vbm::metrics {

using Values = std::vector<std::pair<std::string, std::int64_t>>;

class Collector {
public:
  /// `connect` returns the (cached) hypervisor of a connection URI; it may throw BackendError.
  using Connect = std::function<backend::Hypervisor&(const std::string& uri)>;
  /// `log` gets one line per problem; `failed` the URI of a connection whose beat failed (so
  /// the caller can reconnect).
  Collector(store::SettingsStore& store, Connect connect, const backend::LocalHost& local,
            std::function<void(const std::string&)> log = {},
            std::function<void(const std::string&)> failed = {});

  /// Samples what is due at `now_ms`. Returns false when nothing is being collected any more.
  /// A connection that fails is logged and retried at the next beat.
  bool beat(std::int64_t now_ms);

  /// The latest sample of every collected metric in Prometheus's text exposition format.
  std::string exposition();

private:
  struct Prev {
    std::int64_t time_ms = 0;
    std::uint64_t a = 0; ///< user time (ticks or ns)
    std::uint64_t b = 0; ///< kernel time
    std::uint64_t total = 0;
  };
  struct Snapshot;
  struct Sampler;
  static const Sampler k_samplers[];

  void beat_uri(const std::string& uri, std::int64_t now_ms);
  Values sample(Snapshot& snap, const store::MetricSetup& setup, std::int64_t now_ms);
  // The samplers (k_samplers): a base metric's values from one beat's snapshot. `dom` is the
  // VM's figures (null for the host); `key` names the object's base metric (CPU counters).
  Values host_cpu(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                  std::int64_t now_ms);
  Values host_mhz(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                  std::int64_t now_ms);
  Values host_ram(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                  std::int64_t now_ms);
  Values host_vmm(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                  std::int64_t now_ms);
  Values host_fs(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                 std::int64_t now_ms);
  Values vm_cpu(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                std::int64_t now_ms);
  Values vm_ram(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                std::int64_t now_ms);
  Values vm_guest_ram(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                      std::int64_t now_ms);

  store::MetricsStore m_metrics;
  Connect m_connect;
  const backend::LocalHost& m_local;
  std::function<void(const std::string&)> m_log;
  std::function<void(const std::string&)> m_failed;
  std::map<std::string, Prev> m_prev;       ///< CPU counters at the last sample, per uri|object
  std::set<std::string> m_stats_period_set; ///< uri|uuid|run whose guest statistics we enabled
  std::map<std::string, std::map<std::string, std::string>> m_names; ///< uri → uuid → VM name
  std::map<std::string, std::optional<int>> m_pids; ///< QEMU PID per "uuid|domain ID" (local)
  std::optional<int> qemu_pid(const backend::VmRef& vm);
};

/// Prometheus metric name for a VirtualBox metric: "vboxkvm_host_ram_usage_used_bytes".
std::string prometheus_name(bool host, std::string_view metric);

} // namespace vbm::metrics
