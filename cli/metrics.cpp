// metrics: list, setup, query, enable, disable, collect (spec §4), over the store's metric
// setups and ring buffers, which the background collector (collector_main.cpp) fills.

#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "metrics/catalog.hpp"
#include "metrics/setups.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace vbm::cli {

namespace {
using metrics::Aggregate;
using metrics::Filter;
using metrics::Object;
using metrics::ObjectKind;
using metrics::Setups;

constexpr int k_poll_ms = 100;

enum Opt { k_period, k_samples, k_list, k_detach, k_json };
constexpr OptDef k_collect_opts[] = {
    {"--list", k_list, ArgKind::None},         {"-list", k_list, ArgKind::None},
    {"--period", k_period, ArgKind::UInt32},   {"-period", k_period, ArgKind::UInt32},
    {"--samples", k_samples, ArgKind::UInt32}, {"-samples", k_samples, ArgKind::UInt32},
    {"--detach", k_detach, ArgKind::None},     {"-detach", k_detach, ArgKind::None},
};
constexpr OptDef k_setup_opts[] = {
    {"--list", k_list, ArgKind::None},         {"-list", k_list, ArgKind::None},
    {"--period", k_period, ArgKind::UInt32},   {"-period", k_period, ArgKind::UInt32},
    {"--samples", k_samples, ArgKind::UInt32}, {"-samples", k_samples, ArgKind::UInt32},
};
constexpr OptDef k_list_opts[] = {
    {"--list", k_list, ArgKind::None},
    {"-list", k_list, ArgKind::None},
};
constexpr OptDef k_query_opts[] = {{"--json", k_json, ArgKind::None}};
constexpr Subcommand k_subcommands[] = {
    {"collect", k_collect_opts}, {"disable", k_list_opts}, {"enable", k_list_opts}, {"list", {}},
    {"query", k_query_opts},     {"setup", k_setup_opts},
};

const Subcommand* find_subcommand(std::string_view name) {
  for (const auto& sub : k_subcommands) {
    if (sub.name == name) {
      return &sub;
    }
  }
  return nullptr;
}

struct Options {
  std::uint32_t period = 1;
  std::uint32_t samples = 1;
  bool list = false;
  bool detach = false;
  bool json = false;
  size_t filter_start = 0;
};

/// The hand-made option loop of VBoxManageMetrics.cpp: options first, exact spellings only,
/// values as separate words; the first other word starts the filter.
Options parse_options(std::span<const std::string> args, const Subcommand& sub) {
  Options o;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const auto& a = args[i];
    auto def = std::find_if(sub.options.begin(), sub.options.end(),
                            [&](const OptDef& d) { return d.name == a; });
    if (def == sub.options.end() || (def->id == k_json && i != 0)) {
      break;
    }
    if (def->kind == ArgKind::UInt32) {
      bool is_period = def->id == k_period;
      if (i + 1 >= args.size()) {
        throw UsageError(UsageStyle::Argument, "metrics",
                         fmt::format("Missing argument to '{}'", a), k_exit_syntax);
      }
      const auto& value = args[++i];
      auto v = parse_uint32_decimal(value);
      if (!v || *v == 0) {
        throw UsageError(UsageStyle::Argument, "metrics",
                         fmt::format("Invalid value for '{}' parameter: '{}'",
                                     is_period ? "period" : "samples", value),
                         k_exit_syntax);
      }
      (is_period ? o.period : o.samples) = *v;
    } else {
      (def->id == k_list ? o.list : def->id == k_detach ? o.detach : o.json) = true;
    }
  }
  o.filter_start = i;
  return o;
}

Filter parse_filter(Setups& m, std::span<const std::string> words) {
  auto f = m.parse_filter(words);
  if (!f) {
    throw Error(fmt::format("Invalid machine name: '{}'", words[0]));
  }
  return std::move(*f);
}

void print_affected(Env& env, const metrics::Affected& affected) {
  if (affected.empty()) {
    env.out.error("No metrics match the specified filter!");
    return;
  }
  std::string text = "The following metrics were modified:\n\n"
                     "Object     Metric\n"
                     "---------- --------------------\n";
  for (const auto& [o, base] : affected) {
    text += fmt::format("{:<10} {:<20}\n", o.name, base);
  }
  env.out.out(text + "\n");
}

std::string format_values(const metrics::FullMetric& m, const std::vector<std::int64_t>& vals) {
  std::string out;
  for (size_t i = 0; i < vals.size(); ++i) {
    out += (i ? ", " : "") + metrics::format_value(m.def.unit, vals[i]);
  }
  return out;
}

int run_list(Env& env, Setups& m, std::span<const std::string> args) {
  auto f = parse_filter(m, args);
  std::string text = "Object          Metric                                   Unit    Minimum    "
                     "Maximum     Period      Count Description\n"
                     "--------------- ---------------------------------------- ---- ---------- "
                     "---------- ---------- ---------- -----------\n";
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    auto s = m.setup_of(o, fm.def.base);
    bool agg = fm.aggregate != Aggregate::None;
    text += fmt::format("{:<15} {:<40} {:<4} {:>10} {:>10} {:>10} {:>10} {}\n", o.name, fm.name(),
                        metrics::unit_name(fm.def.unit), metrics::unit_min(fm.def.unit),
                        metrics::unit_max(fm.def.unit), s ? s->period_s : 0,
                        agg ? 1 : (s ? s->samples : 0), agg ? "" : fm.def.description);
  });
  env.out.out(text);
  return k_exit_success;
}

std::string query_text(Setups& m, const Filter& f) {
  std::string text = "Object          Metric                                   Values\n"
                     "--------------- ---------------------------------------- "
                     "--------------------------------------------\n";
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    text +=
        fmt::format("{:<15} {:<40} {}\n", o.name, fm.name(), format_values(fm, m.values(o, fm)));
  });
  return text;
}

std::string query_json(Setups& m, const Filter& f) {
  auto rows = nlohmann::ordered_json::array();
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    nlohmann::ordered_json row;
    row["object"] = o.name;
    row["uuid"] = o.kind == ObjectKind::Host ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(o.key);
    row["metric"] = fm.name();
    row["unit"] = metrics::unit_name(fm.def.unit);
    auto s = m.setup_of(o, fm.def.base);
    row["period"] = s ? s->period_s : 0;
    auto values = nlohmann::ordered_json::array();
    int scale = metrics::unit_scale(fm.def.unit);
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
      for (const auto& sample : m.samples(o, fm.def)) {
        times.push_back(sample.time_ms);
      }
      row["times_ms"] = times;
    }
    rows.push_back(row);
  });
  return rows.dump(2) + "\n";
}

int run_query(Env& env, Setups& m, std::span<const std::string> args, const Options& opt) {
  auto f = parse_filter(m, args.subspan(opt.filter_start));
  env.out.out(opt.json ? query_json(m, f) : query_text(m, f));
  return k_exit_success;
}

int run_setup_like(Env& env, Setups& m, std::string_view sub, std::span<const std::string> args,
                   const Options& opt) {
  auto f = parse_filter(m, args.subspan(opt.filter_start));
  auto affected =
      sub == "setup" ? m.setup(f, opt.period, opt.samples) : m.set_enabled(f, sub == "enable");
  if (!affected.empty() && sub != "disable") {
    env.services.ensure_collector();
  }
  if (opt.list) {
    print_affected(env, affected);
  }
  return k_exit_success;
}

std::string timestamp(std::int64_t ms) {
  auto day_ms = ((ms % 86'400'000) + 86'400'000) % 86'400'000;
  return fmt::format("{:02}:{:02}:{:02}.{:03}", day_ms / 3'600'000, day_ms / 60'000 % 60,
                     day_ms / 1000 % 60, day_ms % 1000);
}

/// collect's set-up: the base metrics of every full name the filter matches (toBaseName); if
/// none matches, VirtualBox's empty arrays mean "everything".
metrics::Affected collect_targets(Setups& m, const Filter& f) {
  std::set<std::pair<std::string, std::string>> wanted;
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    wanted.emplace(o.key, metrics::base_of(fm.name()));
  });
  metrics::Affected affected;
  for (const auto& o : wanted.empty() ? m.all_objects() : f.objects) {
    for (const auto& base : m.base_metrics(o.kind)) {
      if (wanted.empty() || wanted.contains({o.key, base})) {
        affected.emplace_back(o, base);
      }
    }
  }
  return affected;
}

/// One round of collect's table: the values of every metric the filter matches.
std::string collect_round(Env& env, Setups& m, const Filter& f) {
  std::string ts = timestamp(env.now_ms());
  std::string text;
  m.forget_cache();
  m.each_full(f, [&](const Object& o, const metrics::FullMetric& fm) {
    text += fmt::format("{:<12} {:<10} {:<20} {}\n", ts, o.name, fm.name(),
                        format_values(fm, m.values(o, fm)));
  });
  return text;
}

int run_collect(Env& env, Setups& m, std::span<const std::string> args, const Options& opt) {
  auto f = parse_filter(m, args.subspan(opt.filter_start));
  auto affected = collect_targets(m, f);
  m.setup(affected, opt.period, opt.samples);
  if (opt.list) {
    print_affected(env, affected);
  }
  if (affected.empty()) {
    return k_exit_failure;
  }
  std::string collector = env.services.ensure_collector();
  if (opt.detach) {
    env.out.err(fmt::format(
        "{}: Collection continues in the background ({}); the samples are kept in the settings "
        "store. Stop it with '{} metrics disable'.\n",
        env.out.prog(), collector, env.out.prog()));
    return k_exit_success;
  }
  auto& services = env.services;
  env.out.out("Time stamp   Object     Metric               Value\n");
  bool stdout_gone = false;
  while (!services.stop_requested() && !stdout_gone) {
    env.out.out("------------ ---------- -------------------- --------------------\n");
    if (!env.out.flush()) {
      break; // stdout is gone (`| head`): stop as if interrupted
    }
    for (std::uint32_t waited = 0; waited < opt.period * 1000 && !services.stop_requested();
         waited += k_poll_ms) {
      env.sleep_ms(k_poll_ms);
    }
    if (!services.stop_requested()) {
      env.out.out(collect_round(env, m, f));
      stdout_gone = !env.out.flush();
    }
  }
  // Ended: what this collect set up stops being collected, as when VirtualBox's VBoxSVC loses
  // its last client; the samples stay in the store. Ctrl-C then ends vboxmanage by the signal.
  m.disable(affected);
  return services.stop_requested() ? k_exit_interrupted : k_exit_success;
}
} // namespace

Grammar metrics_grammar() { return {{}, k_subcommands}; }

CommandHelp metrics_help() {
  return {
      "metrics",
      "monitor system resource usage",
      {std::string("collect [--detach] [--list] [--period=seconds] [--samples=count] ") +
           "[* | host | vmname metric-list]",
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
  const std::string& name = args[0];
  const Subcommand* sub = find_subcommand(name);
  if (sub == nullptr) {
    throw UsageError(UsageStyle::Syntax, "metrics", fmt::format("Invalid subcommand '{}'", name),
                     k_exit_syntax);
  }
  auto rest = args.subspan(1);
  auto opt = parse_options(rest, *sub); // syntax errors before any connection
  auto& hv = env.hypervisor(Access::ReadOnly);
  Setups m(hv, env.store(), metrics::host_devices(hv, backend::LocalHost(env.services.host_root)));
  if (name == "list") {
    return run_list(env, m, rest);
  }
  if (name == "query") {
    return run_query(env, m, rest, opt);
  }
  if (name == "collect") {
    return run_collect(env, m, rest, opt);
  }
  return run_setup_like(env, m, name, rest, opt);
}

} // namespace vbm::cli
