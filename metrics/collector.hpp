#pragma once
// The background collector's work: one beat samples every base metric that is due, on every
// connection that has metrics being collected, into the store's ring buffers (spec §4.3,
// durable). Reads every running guest with one bulk libvirt call per connection and beat.
// The process around it (locking, the beat loop, signals) is cli/collector_main.cpp.

#include "backend/hypervisor.hpp"
#include "backend/local_host.hpp"
#include "metrics/catalog.hpp"
#include "store/metrics_store.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
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

  /// The latest sample of every collected metric in Prometheus's text exposition format,
  /// labelled host (libvirt's host name), uri, and vm and uuid for a VM; then vboxkvm's own
  /// series of every collected connection (host memory, KSM, each running guest's memory).
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
  Values vm_disk(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                 std::int64_t now_ms);
  Values vm_net(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                std::int64_t now_ms);
  Values host_disk_load(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                        std::int64_t now_ms);
  Values host_disk_usage(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                         std::int64_t now_ms);
  Values host_net_speed(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                        std::int64_t now_ms);
  Values host_net_load(Snapshot& snap, const backend::DomainStats* dom, const std::string& key,
                       std::int64_t now_ms);
  static std::string device_of(const Snapshot& snap, const std::string& key);
  /// Two counters (bytes received and sent, or busy milliseconds) per device.
  using DeviceCounters = std::map<std::string, std::pair<std::uint64_t, std::uint64_t>>;
  struct Counters {
    std::int64_t time_ms = 0;
    DeviceCounters devices;
  };
  struct Growth {
    std::uint64_t first = 0;
    std::uint64_t second = 0;
    std::int64_t ms = 0;
  };
  /// How much the counters summed over the devices grew since the last reading of `key`, in
  /// how many milliseconds: a device whose counters went back (restarted) or that is new counts
  /// from 0, one that is gone is left out. nullopt at the first reading, which only primes.
  std::optional<Growth> growth(const std::string& key, std::int64_t now_ms, DeviceCounters cur);

  store::MetricsStore m_metrics;
  Connect m_connect;
  const backend::LocalHost& m_local;
  std::function<void(const std::string&)> m_log;
  std::function<void(const std::string&)> m_failed;
  std::map<std::string, Counters> m_counters; ///< per uri|object|base|…: rates' counters
  std::map<std::string, Prev> m_prev;         ///< CPU counters at the last sample, per uri|object
  std::set<std::string> m_stats_period_set;   ///< uri|uuid|run whose guest statistics we enabled
  /// A running guest at a connection's last beat.
  struct Guest {
    std::string name;
    std::optional<std::uint64_t> max_kib;    ///< the live <memory>
    std::optional<std::uint64_t> actual_kib; ///< what the balloon leaves it
  };
  /// What the last beat of a connection saw besides the metrics set up: its labels and
  /// vboxkvm's own series (exposition's "fleet" families).
  struct Seen {
    std::string host;                    ///< the host name libvirt gives for the connection
    std::map<std::string, Guest> guests; ///< by UUID
    std::optional<std::uint64_t> mem_total_kib;
    std::optional<std::uint64_t> mem_available_kib;
    std::optional<std::uint64_t> ksm_sharing_kib; ///< local hosts only
    std::optional<std::uint64_t> ksmd_cpu_ns;     ///< local hosts only
  };
  std::map<std::string, Seen> m_seen; ///< by connection URI
  void see_host(Snapshot& snap, Seen& seen);
  std::map<std::string, std::optional<int>> m_pids; ///< QEMU PID per "uuid|domain ID" (local)
  std::optional<int> qemu_pid(const backend::VmRef& vm);
  /// QEMU's resident memory: its RSS, plus (on this host) the hugetlbfs pages a guest backed by
  /// the huge page pool holds, which RSS leaves out.
  std::optional<std::uint64_t> resident_kib(const Snapshot& snap, const backend::DomainStats& d);
};

/// Prometheus metric name for a VirtualBox metric: "vboxkvm_host_ram_usage_used_bytes"; a host
/// device's metrics are one family with the device as a label
/// ("vboxkvm_host_disk_load_util_ratio").
std::string prometheus_name(bool host, const MetricDef& def);

} // namespace vbm::metrics
