// metrics: list, setup, query, enable, disable, collect (spec §4), over the store's metric
// setups and ring buffers, which the background collector (collector_main.cpp) fills.

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "metrics/catalog.hpp"
#include "store/metrics_store.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <set>

namespace vbm::cli {

namespace {
using metrics::Aggregate;
using metrics::ObjectKind;

constexpr std::string_view k_host = "host";
constexpr int k_poll_ms = 100;

/// A metrics object: the host, or a running VM (its metrics exist only while it runs).
struct Object {
  ObjectKind kind;
  std::string key;  ///< "host" or the VM's UUID (the store's object)
  std::string name; ///< what the Object column shows
  std::int64_t run = 0;
  bool operator<(const Object& o) const { return key < o.key; }
};

struct Filter {
  std::vector<Object> objects;
  metrics::MetricFilter metric_list;
};

/// RTStrToUInt32Full(value, 10) == VINF_SUCCESS: '+' signs, then decimal digits only.
std::optional<std::uint32_t> parse_decimal(std::string_view text) {
  while (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
  }
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

struct Options {
  std::uint32_t period = 1;
  std::uint32_t samples = 1;
  bool list = false;
  bool detach = false;
  size_t filter_start = 0;
};

/// The hand-made option loop of VBoxManageMetrics.cpp: options first, exact spellings only,
/// values as separate words; the first other word starts the filter.
Options parse_options(std::span<const std::string> args, bool counts, bool detach) {
  Options o;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const auto& a = args[i];
    bool is_period = a == "--period" || a == "-period";
    bool is_samples = a == "--samples" || a == "-samples";
    if (counts && (is_period || is_samples)) {
      if (i + 1 >= args.size()) {
        throw UsageError(UsageStyle::Argument, "metrics",
                         fmt::format("Missing argument to '{}'", a), k_exit_syntax);
      }
      const auto& value = args[++i];
      auto v = parse_decimal(value);
      if (!v || *v == 0) {
        throw UsageError(UsageStyle::Argument, "metrics",
                         fmt::format("Invalid value for '{}' parameter: '{}'",
                                     is_period ? "period" : "samples", value),
                         k_exit_syntax);
      }
      (is_period ? o.period : o.samples) = *v;
    } else if (a == "--list" || a == "-list") {
      o.list = true;
    } else if (detach && (a == "--detach" || a == "-detach")) {
      o.detach = true;
    } else {
      break;
    }
  }
  o.filter_start = i;
  return o;
}

class Metrics {
public:
  explicit Metrics(Env& env)
      : m_env(env), m_hv(env.hypervisor(Access::ReadOnly)), m_uri(m_hv.uri()), m_store(env.store()),
        m_ms(m_store) {}

  /// The objects that have metrics now: the host, then running VMs in start order.
  std::vector<Object> all_objects() {
    std::vector<Object> out{{ObjectKind::Host, std::string(k_host), std::string(k_host), 0}};
    auto vms = m_hv.list_vms();
    std::erase_if(vms, [](const backend::VmRef& vm) { return vm.id < 0; });
    std::sort(vms.begin(), vms.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    for (const auto& vm : vms) {
      out.push_back({ObjectKind::Vm, vm.uuid, vm.name, vm.id});
    }
    return out;
  }

  /// parseFilterParameters: `[* | host | vm [metric-list]]`; later words are ignored.
  Filter parse_filter(std::span<const std::string> words) {
    Filter f{{}, metrics::MetricFilter(words.size() > 1 ? std::string_view(words[1]) : "*")};
    if (words.empty() || words[0] == "*") {
      f.objects = all_objects();
    } else if (words[0] == k_host) {
      f.objects.push_back({ObjectKind::Host, std::string(k_host), std::string(k_host), 0});
    } else {
      auto vm = m_hv.find_vm(words[0]);
      if (!vm) {
        throw CommandError(fmt::format("Invalid machine name: '{}'", words[0]));
      }
      if (vm->id >= 0) {
        f.objects.push_back({ObjectKind::Vm, vm->uuid, vm->name, vm->id});
      }
    }
    return f;
  }

  /// The setup of an object's base metric, if it was set up for this run of the object.
  std::optional<store::MetricSetup> setup_of(const Object& o, std::string_view base) {
    load_setups();
    for (const auto& s : *m_setups) {
      if (s.object == o.key && s.base == base && s.run == o.run) {
        return s;
      }
    }
    return std::nullopt;
  }

  std::vector<std::int64_t> values(const Object& o, const metrics::FullMetric& m) {
    auto s = setup_of(o, m.def->base);
    std::vector<std::int64_t> out;
    if (!s) {
      return out;
    }
    for (const auto& sample : m_ms.samples(m_uri, *s, std::string(m.def->name))) {
      out.push_back(sample.value);
    }
    if (m.aggregate != Aggregate::None) {
      auto a = metrics::aggregate(m.aggregate, out);
      out.clear();
      if (a) {
        out.push_back(*a);
      }
    }
    return out;
  }

  /// Full metric names matching the filter, object by object (GetMetrics / QueryMetricsData).
  template <typename F>
  void each_full(const Filter& f, F&& fn) {
    for (const auto& o : f.objects) {
      for (const auto& m : metrics::full_metrics(o.kind)) {
        if (f.metric_list.matches(m.name())) {
          fn(o, m);
        }
      }
    }
  }

  using Affected = std::vector<std::pair<Object, std::string>>;

  /// Applies `fn` to each (object, base metric) whose base name matches; returns them.
  template <typename F>
  Affected each_base(const Filter& f, F&& fn) {
    Affected out;
    auto txn = m_ms.begin_write();
    for (const auto& o : f.objects) {
      for (auto base : metrics::base_metrics(o.kind)) {
        if (f.metric_list.matches(base)) {
          fn(o, std::string(base));
          out.emplace_back(o, std::string(base));
        }
      }
    }
    txn.commit();
    m_setups.reset();
    return out;
  }

  void setup(const Object& o, const std::string& base, const Options& opt) {
    store::MetricSetup s;
    s.object = o.key;
    s.base = base;
    s.run = o.run;
    s.period_s = opt.period;
    s.samples = opt.samples;
    m_ms.setup(m_uri, s);
  }
  void set_enabled(const Object& o, const std::string& base, bool on) {
    load_setups();
    for (const auto& old : *m_setups) {
      if (old.object == o.key && old.base == base && old.run != o.run) {
        m_ms.drop(m_uri, o.key, base); // from an earlier run of this VM: start as never set up
      }
    }
    m_ms.set_enabled(m_uri, o.key, base, o.run, on);
  }

  void print_affected(const Affected& affected) {
    if (affected.empty()) {
      m_env.out.error("No metrics match the specified filter!");
      return;
    }
    std::string text = "The following metrics were modified:\n\n"
                       "Object     Metric\n"
                       "---------- --------------------\n";
    for (const auto& [o, base] : affected) {
      text += fmt::format("{:<10} {:<20}\n", o.name, base);
    }
    m_env.out.out(text + "\n");
  }

  std::string format_values(const metrics::FullMetric& m, const std::vector<std::int64_t>& vals) {
    std::string out;
    for (size_t i = 0; i < vals.size(); ++i) {
      out += (i ? ", " : "") + metrics::format_value(m.def->unit, vals[i]);
    }
    return out;
  }

  Env& env() { return m_env; }
  const std::string& uri() const { return m_uri; }
  store::MetricsStore& store() { return m_ms; }
  void forget_cache() { m_setups.reset(); }

private:
  void load_setups() {
    if (!m_setups) {
      m_setups = m_ms.setups(m_uri);
    }
  }

  Env& m_env;
  backend::Hypervisor& m_hv;
  std::string m_uri;
  store::SettingsStore& m_store;
  store::MetricsStore m_ms;
  std::optional<std::vector<store::MetricSetup>> m_setups;
};

int run_list(Metrics& m, std::span<const std::string> args) {
  auto f = m.parse_filter(args);
  std::string text = "Object          Metric                                   Unit    Minimum    "
                     "Maximum     Period      Count Description\n"
                     "--------------- ---------------------------------------- ---- ---------- "
                     "---------- ---------- ---------- -----------\n";
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    auto s = m.setup_of(o, fm.def->base);
    bool agg = fm.aggregate != Aggregate::None;
    text += fmt::format("{:<15} {:<40} {:<4} {:>10} {:>10} {:>10} {:>10} {}\n", o.name, fm.name(),
                        metrics::unit_name(fm.def->unit), metrics::unit_min(fm.def->unit),
                        metrics::unit_max(fm.def->unit), s ? s->period_s : 0,
                        agg ? 1 : (s ? s->samples : 0), agg ? "" : fm.def->description);
  });
  m.env().out.out(text);
  return k_exit_success;
}

std::string query_text(Metrics& m, const Filter& f) {
  std::string text = "Object          Metric                                   Values\n"
                     "--------------- ---------------------------------------- "
                     "--------------------------------------------\n";
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    text +=
        fmt::format("{:<15} {:<40} {}\n", o.name, fm.name(), m.format_values(fm, m.values(o, fm)));
  });
  return text;
}

std::string query_json(Metrics& m, const Filter& f) {
  auto rows = nlohmann::ordered_json::array();
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    nlohmann::ordered_json row;
    row["object"] = o.name;
    row["uuid"] = o.kind == ObjectKind::Host ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(o.key);
    row["metric"] = fm.name();
    row["unit"] = metrics::unit_name(fm.def->unit);
    auto s = m.setup_of(o, fm.def->base);
    row["period"] = s ? s->period_s : 0;
    auto values = nlohmann::ordered_json::array();
    int scale = metrics::unit_scale(fm.def->unit);
    for (auto v : m.values(o, fm)) {
      if (scale == 1) {
        values.push_back(v);
      } else {
        values.push_back(static_cast<double>(v) / scale);
      }
    }
    row["values"] = values;
    if (s && fm.aggregate == Aggregate::None) {
      auto times = nlohmann::ordered_json::array();
      for (const auto& sample : m.store().samples(m.uri(), *s, std::string(fm.def->name))) {
        times.push_back(sample.time_ms);
      }
      row["times_ms"] = times;
    }
    rows.push_back(row);
  });
  return rows.dump(2) + "\n";
}

int run_query(Metrics& m, std::span<const std::string> args) {
  bool json = !args.empty() && args[0] == "--json";
  auto f = m.parse_filter(json ? args.subspan(1) : args);
  m.env().out.out(json ? query_json(m, f) : query_text(m, f));
  return k_exit_success;
}

int run_setup_like(Metrics& m, std::string_view sub, std::span<const std::string> args) {
  bool is_setup = sub == "setup";
  auto opt = parse_options(args, is_setup, false);
  auto f = m.parse_filter(args.subspan(opt.filter_start));
  auto affected = m.each_base(f, [&](const Object& o, const std::string& base) {
    if (is_setup) {
      m.setup(o, base, opt);
    } else {
      m.set_enabled(o, base, sub == "enable");
    }
  });
  if (!affected.empty() && sub != "disable") {
    m.env().services.ensure_collector();
  }
  if (opt.list) {
    m.print_affected(affected);
  }
  return k_exit_success;
}

std::string timestamp(std::int64_t ms) {
  auto day_ms = ((ms % 86'400'000) + 86'400'000) % 86'400'000;
  return fmt::format("{:02}:{:02}:{:02}.{:03}", day_ms / 3'600'000, day_ms / 60'000 % 60,
                     day_ms / 1000 % 60, day_ms % 1000);
}

int run_collect(Metrics& m, std::span<const std::string> args) {
  auto opt = parse_options(args, true, true);
  auto f = m.parse_filter(args.subspan(opt.filter_start));
  // Set up the base metrics of every full name the filter matches (toBaseName); if none
  // matches, VirtualBox's empty arrays mean "everything".
  std::set<std::pair<std::string, std::string>> wanted;
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    wanted.emplace(o.key, metrics::base_of(fm.name()));
  });
  Metrics::Affected affected;
  for (const auto& o : wanted.empty() ? m.all_objects() : f.objects) {
    for (auto base : metrics::base_metrics(o.kind)) {
      if (wanted.empty() || wanted.contains({o.key, std::string(base)})) {
        affected.emplace_back(o, std::string(base));
      }
    }
  }
  {
    auto txn = m.store().begin_write();
    for (const auto& [o, base] : affected) {
      m.setup(o, base, opt);
    }
    txn.commit();
    m.forget_cache();
  }
  if (opt.list) {
    m.print_affected(affected);
  }
  if (affected.empty()) {
    return k_exit_failure;
  }
  std::string collector = m.env().services.ensure_collector();
  if (opt.detach) {
    m.env().out.err(fmt::format(
        "{}: Collection continues in the background ({}); the samples are kept in the settings "
        "store. Stop it with '{} metrics disable'.\n",
        m.env().out.prog(), collector, m.env().out.prog()));
    return k_exit_success;
  }
  auto& services = m.env().services;
  m.env().out.out("Time stamp   Object     Metric               Value\n");
  while (!services.stop_requested()) {
    m.env().out.out("------------ ---------- -------------------- --------------------\n");
    if (!m.env().out.flush()) {
      break; // stdout is gone (`| head`): stop as if interrupted
    }
    for (std::uint32_t waited = 0; waited < opt.period * 1000 && !services.stop_requested();
         waited += k_poll_ms) {
      m.env().sleep_ms(k_poll_ms);
    }
    if (services.stop_requested()) {
      break;
    }
    std::string ts = timestamp(m.env().now_ms());
    std::string text;
    m.forget_cache();
    m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
      text += fmt::format("{:<12} {:<10} {:<20} {}\n", ts, o.name, fm.name(),
                          m.format_values(fm, m.values(o, fm)));
    });
    m.env().out.out(text);
    if (!m.env().out.flush()) {
      break;
    }
  }
  // Interrupted: what this collect set up stops being collected, as when VirtualBox's
  // VBoxSVC loses its last client; the samples stay in the store.
  auto txn = m.store().begin_write();
  for (const auto& [o, base] : affected) {
    m.store().set_enabled(m.uri(), o.key, base, o.run, false);
  }
  txn.commit();
  return k_exit_success;
}
} // namespace

CommandHelp metrics_help() {
  return {
      "metrics",
      "monitor system resource usage",
      {"collect [--detach] [--list] [--period=seconds] [--samples=count] [* | host | vmname "
       "metric-list]",
       "disable [--list] [* | host | vmname metric-list]",
       "enable [--list] [* | host | vmname metric-list]", "list [* | host | vmname metric-list]",
       "query [--json] [* | host | vmname metric-list]",
       "setup [--list] [--period seconds] [--samples count] [* | host | vmname metric-list]"},
      "Options come first, each value as a separate word (--period 5, not --period=5).\n"
      "  --period N    seconds between samples (default 1)\n"
      "  --samples N   samples kept per metric (default 1)\n"
      "  --list        show the metrics that were modified\n"
      "  --detach      collect: leave collection running in the background and return\n"
      "  --json        query: print JSON (object, uuid, metric, unit, period, values, times_ms)\n"
      "Metric lists are comma-separated patterns matching whole names: '*' any text, '?' one\n"
      "character, a trailing ':' excludes the :avg/:min/:max aggregates. setup, enable and\n"
      "disable take base names (RAM/Usage), list and query full names (RAM/Usage/Used).\n"
      "Samples are taken by a background collector (one per settings store) and kept in the\n"
      "store; VM metrics exist while the VM runs.\n"};
}

int run_metrics(std::span<const std::string> args, Env& env) {
  const std::string& sub = args[0];
  if (sub != "list" && sub != "setup" && sub != "query" && sub != "collect" && sub != "enable" &&
      sub != "disable") {
    throw UsageError(UsageStyle::Syntax, "metrics", fmt::format("Invalid subcommand '{}'", sub),
                     k_exit_syntax);
  }
  auto rest = args.subspan(1);
  if (sub == "setup" || sub == "collect") {
    parse_options(rest, true, sub == "collect"); // syntax errors before any connection
  }
  Metrics m(env);
  if (sub == "list") {
    return run_list(m, rest);
  }
  if (sub == "query") {
    return run_query(m, rest);
  }
  if (sub == "collect") {
    return run_collect(m, rest);
  }
  return run_setup_like(m, sub, rest);
}

} // namespace vbm::cli
