#pragma once
// Performance-metric state in the settings store: what `metrics setup/enable/disable` asked
// for, per base metric of an object, and each sub-metric's ring buffer of samples. Shared by
// the CLI (which sets up and reads) and the background collector (which samples).

#include "store/settings_store.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vbm::store {

/// One base metric of one object on one connection.
struct MetricSetup {
  std::string object;   ///< "host", or the VM's UUID
  std::string base;     ///< e.g. "RAM/Usage"
  std::int64_t run = 0; ///< the VM's domain ID when it was set up (0 for the host)
  std::int64_t period_s = 0;
  std::int64_t samples = 0; ///< ring-buffer length
  bool enabled = false;
  std::int64_t next_seq = 0;           ///< sequence number of the next sample
  std::optional<std::int64_t> last_ms; ///< when the last sample was due
  /// Whether the collector samples it (enabled and set up with a period and a length).
  bool collecting() const { return enabled && period_s > 0 && samples > 0; }
};

struct MetricSample {
  std::int64_t seq = 0;
  std::int64_t time_ms = 0;
  std::int64_t value = 0;
};

class MetricsStore {
public:
  explicit MetricsStore(SettingsStore& store);
  /// For the collector's connection: commits are not synced to disk one by one (WAL +
  /// synchronous=NORMAL). A power cut can lose the last samples, never corrupt the store;
  /// settings written by other connections stay fully synced.
  void relax_durability();

  /// Every setup row of the connection `uri`.
  std::vector<MetricSetup> setups(const std::string& uri);
  /// The connections that have at least one metric being collected.
  std::vector<std::string> collecting_uris();
  /// `metrics setup`: (re)initialises the base metric, discarding its samples, enabled.
  void setup(const std::string& uri, const MetricSetup& setup);
  /// `metrics enable/disable`: toggles collection and keeps the samples. A base metric never
  /// set up gets a row with period 0, which collects nothing (as in VirtualBox).
  void set_enabled(const std::string& uri, const std::string& object, const std::string& base,
                   std::int64_t run, bool enabled);
  /// Stores one sample of each given sub-metric under sequence number `setup.next_seq` and
  /// advances next_seq and last_ms (= `due_ms`), but only if the row is still exactly `setup`
  /// (a concurrent `metrics setup` re-initialises it). Returns whether it recorded.
  bool record(const std::string& uri, const MetricSetup& setup, std::int64_t due_ms,
              std::int64_t time_ms, std::span<const std::pair<std::string, std::int64_t>> values);
  /// The samples still in the ring buffer of sub-metric `metric`, oldest first.
  std::vector<MetricSample> samples(const std::string& uri, const MetricSetup& setup,
                                    const std::string& metric);
  /// Forgets a base metric's setup and samples (a VM's metrics end with its run).
  void drop(const std::string& uri, const std::string& object, const std::string& base);

  Transaction begin_write() { return m_store.begin_write(); }

private:
  SettingsStore& m_store;
  Statement m_select_setups;
  Statement m_collecting_uris;
  Statement m_upsert_setup;
  Statement m_delete_samples;
  Statement m_insert_disabled;
  Statement m_set_enabled;
  Statement m_put_sample;
  Statement m_advance;
  Statement m_select_samples;
  Statement m_drop;
};

} // namespace vbm::store
