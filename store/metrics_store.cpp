#include "store/metrics_store.hpp"

namespace vbm::store {

MetricsStore::MetricsStore(SettingsStore& store)
    : m_store(store),
      m_select_setups(store.connection(),
                      "SELECT object, base, run, period_s, samples, enabled, next_seq, last_ms "
                      "FROM metric_setup WHERE uri = ? ORDER BY object, base"),
      m_collecting_uris(store.connection(),
                        "SELECT DISTINCT uri FROM metric_setup WHERE enabled AND period_s > 0 "
                        "AND samples > 0 ORDER BY uri"),
      m_upsert_setup(
          store.connection(),
          "INSERT INTO metric_setup (uri, object, base, run, period_s, samples, enabled, "
          "next_seq, last_ms) VALUES (?, ?, ?, ?, ?, ?, 1, 0, NULL) "
          "ON CONFLICT (uri, object, base) DO UPDATE SET run = excluded.run, "
          "period_s = excluded.period_s, samples = excluded.samples, enabled = 1, "
          "next_seq = 0, last_ms = NULL"),
      m_delete_samples(store.connection(),
                       "DELETE FROM metric_sample WHERE uri = ? AND object = ? AND base = ?"),
      m_insert_disabled(store.connection(),
                        "INSERT INTO metric_setup (uri, object, base, run, period_s, samples, "
                        "enabled) VALUES (?, ?, ?, ?, 0, 0, 0) ON CONFLICT DO NOTHING"),
      m_set_enabled(
          store.connection(),
          "UPDATE metric_setup SET enabled = ? WHERE uri = ? AND object = ? AND base = ?"),
      m_put_sample(store.connection(),
                   "INSERT OR REPLACE INTO metric_sample (uri, object, base, slot, seq, time_ms, "
                   "sample) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      m_advance(store.connection(),
                "UPDATE metric_setup SET next_seq = ?, last_ms = ? WHERE uri = ? AND object = ? "
                "AND base = ? AND run = ? AND period_s = ? AND samples = ? AND enabled "
                "AND next_seq = ?"),
      m_select_samples(
          store.connection(),
          "SELECT seq, time_ms, sample FROM metric_sample WHERE uri = ? AND object = ? "
          "AND base = ? AND seq >= ? ORDER BY seq"),
      m_drop(store.connection(),
             "DELETE FROM metric_setup WHERE uri = ? AND object = ? AND base = ?") {}

void MetricsStore::relax_durability() { m_store.connection().exec("PRAGMA synchronous = NORMAL"); }

std::vector<MetricSetup> MetricsStore::setups(const std::string& uri) {
  std::vector<MetricSetup> out;
  Statement::Use use(m_select_setups);
  use.bind(uri);
  while (use.next()) {
    MetricSetup s;
    s.object = use.get_text(0);
    s.base = use.get_text(1);
    s.run = use.get_int(2);
    s.period_s = use.get_int(3);
    s.samples = use.get_int(4);
    s.enabled = use.get_int(5) != 0;
    s.next_seq = use.get_int(6);
    if (!use.is_null(7)) {
      s.last_ms = use.get_int(7);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> MetricsStore::collecting_uris() {
  std::vector<std::string> out;
  Statement::Use use(m_collecting_uris);
  while (use.next()) {
    out.push_back(use.get_text(0));
  }
  return out;
}

void MetricsStore::setup(const std::string& uri, const MetricSetup& s) {
  Statement::Use(m_delete_samples).bind(uri).bind(s.object).bind(s.base).run();
  Statement::Use(m_upsert_setup)
      .bind(uri)
      .bind(s.object)
      .bind(s.base)
      .bind(s.run)
      .bind(s.period_s)
      .bind(s.samples)
      .run();
}

void MetricsStore::set_enabled(const std::string& uri, const std::string& object,
                               const std::string& base, std::int64_t run, bool enabled) {
  Statement::Use(m_insert_disabled).bind(uri).bind(object).bind(base).bind(run).run();
  Statement::Use(m_set_enabled)
      .bind(std::int64_t{enabled ? 1 : 0})
      .bind(uri)
      .bind(object)
      .bind(base)
      .run();
}

bool MetricsStore::record(const std::string& uri, const MetricSetup& s, std::int64_t due_ms,
                          std::int64_t time_ms,
                          std::span<const std::pair<std::string, std::int64_t>> values) {
  if (s.samples <= 0) {
    return false;
  }
  Statement::Use(m_advance)
      .bind(s.next_seq + 1)
      .bind(due_ms)
      .bind(uri)
      .bind(s.object)
      .bind(s.base)
      .bind(s.run)
      .bind(s.period_s)
      .bind(s.samples)
      .bind(s.next_seq)
      .run();
  if (m_store.connection().changes() != 1) {
    return false; // set up again (or disabled) since the caller read it
  }
  std::string sample;
  for (const auto& [metric, value] : values) {
    sample += metric;
    sample += '=';
    sample += std::to_string(value);
    sample += ';';
  }
  Statement::Use(m_put_sample)
      .bind(uri)
      .bind(s.object)
      .bind(s.base)
      .bind(s.next_seq % s.samples)
      .bind(s.next_seq)
      .bind(time_ms)
      .bind(sample)
      .run();
  return true;
}

std::vector<MetricSample> MetricsStore::samples(const std::string& uri, const MetricSetup& s,
                                                const std::string& metric) {
  std::vector<MetricSample> out;
  Statement::Use use(m_select_samples);
  use.bind(uri).bind(s.object).bind(s.base).bind(s.next_seq - s.samples);
  std::string key = metric + "=";
  while (use.next()) {
    std::string sample = use.get_text(2);
    // "name=value;" pairs; a sub-metric without a value that time has no pair.
    for (size_t pos = 0; pos < sample.size();) {
      size_t end = sample.find(';', pos);
      if (end == std::string::npos) {
        end = sample.size();
      }
      if (sample.compare(pos, key.size(), key) == 0) {
        out.push_back({use.get_int(0), use.get_int(1),
                       std::stoll(sample.substr(pos + key.size(), end - pos - key.size()))});
        break;
      }
      pos = end + 1;
    }
  }
  return out;
}

void MetricsStore::drop(const std::string& uri, const std::string& object,
                        const std::string& base) {
  Statement::Use(m_drop).bind(uri).bind(object).bind(base).run();
}

} // namespace vbm::store
