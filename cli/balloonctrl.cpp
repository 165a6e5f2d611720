// balloonctrl: VirtualBox's balloon service (VBoxBalloonCtrl) on KVM, with VBoxBalloonCtrl's
// command line (VBoxWatchdog.cpp main and VBoxModBallooningOption: its options, defaults, help
// and messages), and `balloonctrl status [--json] [--explain VM]` to say what it does and why.
// The same binary run as VBoxBalloonCtrl takes the whole command line as balloonctrl's. The
// service itself is balloon/'s.

#include "balloon/adaptive_policy.hpp"
#include "balloon/service_main.hpp"
#include "balloon/state.hpp"
#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/usage.hpp"
#include "cli/vm_info.hpp"
#include "sys/lock_file.hpp"
#include "sys/parse.hpp"
#include "vm/extradata.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <strings.h>

namespace vbm::cli {

namespace {
enum Opt {
  k_background,
  k_dryrun,
  k_help,
  k_verbose,
  k_pidfile,
  k_logfile,
  k_logrotate,
  k_logsize,
  k_loginterval,
  k_version,
  k_dec,
  k_groups,
  k_inc,
  k_interval,
  k_lower,
  k_max,
  k_safety,
  k_policy,
  k_mode,
  k_budget,
  k_apimon,
  k_json,
  k_explain,
};

// VBoxWatchdog.cpp g_aOptions (Linux), then IPRT's standard options.
constexpr OptDef k_main_opts[] = {
    {"--background", k_background, ArgKind::None},   {"-b", k_background, ArgKind::None},
    {"--dryrun", k_dryrun, ArgKind::None},           {"--help", k_help, ArgKind::None},
    {"-h", k_help, ArgKind::None},                   {"-help", k_help, ArgKind::None},
    {"-?", k_help, ArgKind::None},                   {"--verbose", k_verbose, ArgKind::None},
    {"-v", k_verbose, ArgKind::None},                {"--pidfile", k_pidfile, ArgKind::String},
    {"-P", k_pidfile, ArgKind::String},              {"--logfile", k_logfile, ArgKind::String},
    {"-F", k_logfile, ArgKind::String},              {"--logrotate", k_logrotate, ArgKind::UInt32},
    {"-R", k_logrotate, ArgKind::UInt32},            {"--logsize", k_logsize, ArgKind::UInt32},
    {"-S", k_logsize, ArgKind::UInt32},              {"--loginterval", k_loginterval, ArgKind::UInt32},
    {"-I", k_loginterval, ArgKind::UInt32},          {"--version", k_version, ArgKind::None},
    {"-V", k_version, ArgKind::None},                {"-version", k_version, ArgKind::None},
};
constexpr std::string_view k_policies[] = {"vboxkvm", "vbox", "proxmox", "mom"};
constexpr std::string_view k_modes[] = {"idle", "demand"};
// VBoxModBallooning.cpp g_aBalloonOpts, then vboxkvm's; the API monitor module's, accepted and
// ignored (vboxkvm has no API monitor).
constexpr OptDef k_module_opts[] = {
    {"--balloon-dec", k_dec, ArgKind::UInt32},
    {"--balloon-groups", k_groups, ArgKind::String},
    {"--balloon-inc", k_inc, ArgKind::UInt32},
    {"--balloon-interval", k_interval, ArgKind::UInt32},
    {"--balloon-lower-limit", k_lower, ArgKind::UInt32},
    {"--balloon-max", k_max, ArgKind::UInt32},
    {"--balloon-safety-margin", k_safety, ArgKind::UInt32},
    {"--balloon-policy", k_policy, ArgKind::String, k_policies},
    {"--balloon-mode", k_mode, ArgKind::String, k_modes},
    {"--host-budget", k_budget, ArgKind::UInt32},
    {"--apimon-groups", k_apimon, ArgKind::String},
    {"--apimon-isln-response", k_apimon, ArgKind::String},
    {"--apimon-isln-timeout", k_apimon, ArgKind::UInt32},
    {"--apimon-resp-timeout", k_apimon, ArgKind::UInt32},
};
constexpr OptDef k_status_opts[] = {{"--json", k_json, ArgKind::None},
                                    {"--explain", k_explain, ArgKind::String}};
constexpr Subcommand k_subcommands[] = {{"status", k_status_opts}};
constexpr std::string_view k_modules[] = {"balloon", "apimon"};

std::vector<OptDef> all_options() {
  std::vector<OptDef> out(std::begin(k_main_opts), std::end(k_main_opts));
  out.insert(out.end(), std::begin(k_module_opts), std::end(k_module_opts));
  out.push_back({"--disable-balloon", k_help + 100, ArgKind::None});
  out.push_back({"--disable-apimon", k_help + 101, ArgKind::None});
  return out;
}

/// A VBoxBalloonCtrl error: one line, exit 2 (RTGetOptPrintError).
[[noreturn]] void getopt_error(const std::string& msg) {
  throw UsageError(UsageStyle::Argument, "balloonctrl", msg, k_exit_syntax);
}

struct Parsed {
  balloon::Options options;
  balloon::ProcessOptions process;
  bool help = false;
  bool version = false;
};

/// RTGetOpt's value for a known option: `--opt value`, `--opt=value`, `--opt:value`, and for a
/// one-letter option also `-Pvalue`. nullopt: the value is missing.
std::optional<std::string> value_of(std::span<const std::string> args, size_t& i,
                                    const OptDef& def, std::optional<std::string_view> inline_value) {
  if (inline_value) {
    return std::string(*inline_value);
  }
  if (def.name.size() == 2 && args[i].size() > 2) {
    return args[i].substr(2);
  }
  if (i + 1 >= args.size()) {
    return std::nullopt;
  }
  return args[++i];
}

void apply_main(Parsed& p, const OptDef& def, const std::string& value) {
  auto u32 = [&] {
    auto v = parse_uint32_getopt(value);
    if (!v) {
      // A main-table option with a bad value: RTGetOptPrintError names its long spelling.
      auto long_name = std::find_if(std::begin(k_main_opts), std::end(k_main_opts),
                                    [&](const OptDef& d) { return d.id == def.id; });
      getopt_error(fmt::format("The value given '{}' has an invalid format.", long_name->name));
    }
    return *v;
  };
  switch (def.id) {
  case k_pidfile: p.process.pidfile = value; break;
  case k_logfile: p.process.logfile = value; break;
  case k_logrotate: p.process.log_rotate = u32(); break;
  case k_logsize: p.process.log_size = u32(); break;
  case k_loginterval: p.process.log_interval_s = u32(); break;
  default: break;
  }
}

void apply_module(Parsed& p, const OptDef& def, const std::optional<std::string>& value,
                  const std::string& word, Env& env) {
  auto& o = p.options;
  if (!value) {
    getopt_error(fmt::format("Unknown option: '{}'", word)); // the module did not take it
  }
  if (def.id == k_policy || def.id == k_mode) {
    bool ok = def.id == k_policy ? (o.policy = balloon::parse_policy(*value)).has_value()
                                 : (o.mode = balloon::parse_mode(*value)).has_value();
    if (!ok) {
      getopt_error(fmt::format("Invalid value '{}' for {}: {}", *value, def.name,
                               def.id == k_policy ? "vboxkvm, vbox, proxmox or mom" : "idle or demand"));
    }
    return;
  }
  if (def.kind == ArgKind::String) {
    if (def.id == k_apimon) {
      env.out.warning(fmt::format("{}: vboxkvm has no API monitor module; ignored", def.name));
    }
    if (def.id == k_groups) {
      // VBoxBalloonCtrl parses it and ignores it (a @todo); here it selects the VMs.
      o.groups = balloon::split_groups(*value);
    }
    return;
  }
  auto v = parse_uint32_getopt(*value);
  if (!v) {
    getopt_error(fmt::format("Unknown option: '{}'", word));
  }
  switch (def.id) {
  case k_dec: o.dec_mb = *v; break;
  case k_inc: o.inc_mb = *v; break;
  case k_interval: o.interval_ms = std::max<std::uint32_t>(*v, 500); break; // as VirtualBox
  case k_lower: o.lower_limit_mb = *v; break;
  case k_max: o.max_mb = *v; break;
  case k_safety: o.safety_margin_mb = *v; break;
  case k_budget: o.host_budget_mb = *v; break;
  case k_apimon: env.out.warning(fmt::format("{}: vboxkvm has no API monitor module; ignored", def.name)); break;
  default: break;
  }
}

/// VBoxWatchdog.cpp main's option loop: the main table first, then --disable-<module>, then
/// each module's table; the first problem ends it with RTGetOptPrintError's message.
Parsed parse(std::span<const std::string> args, Env& env) {
  Parsed p;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      getopt_error(fmt::format("Invalid parameter: {}", a));
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::optional<std::string_view> inline_value;
    const OptDef* def = match_option(a, k_main_opts, &inline_value);
    if (!def && a.size() > 2 && a[1] != '-') {
      def = match_option(a.substr(0, 2), k_main_opts); // -Pvalue, or bundled -vb
    }
    if (def && def->kind != ArgKind::None) {
      auto value = value_of(args, i, *def, inline_value);
      if (!value) {
        getopt_error(fmt::format("{}: RTGetOpt: Command line option needs argument.",
                                 std::find_if(std::begin(k_main_opts), std::end(k_main_opts),
                                              [&](const OptDef& d) { return d.id == def->id; })
                                     ->name));
      }
      apply_main(p, *def, *value);
      continue;
    }
    if (def) {
      // Bundled one-letter options without values: -vb.
      for (char c : a.substr(a[1] == '-' ? a.size() : 1)) {
        const OptDef* one = match_option(std::string{'-', c}, k_main_opts);
        if (!one || one->kind != ArgKind::None) {
          getopt_error(fmt::format("Unknown option: '{}'", a));
        }
        def = one;
        if (one->id == k_help || one->id == k_version) {
          break;
        }
        p.process.background |= one->id == k_background;
        p.options.verbose |= one->id == k_verbose;
      }
      if (a[1] == '-' || a.size() == 2) {
        p.process.background |= def->id == k_background;
        p.options.verbose |= def->id == k_verbose;
        p.options.dryrun |= def->id == k_dryrun;
      }
      if (def->id == k_help || def->id == k_version) {
        (def->id == k_help ? p.help : p.version) = true;
        return p; // the first of them wins, as in main
      }
      continue;
    }
    // Not the main table's: --disable-<module> (any case), then the modules' options.
    if (a.starts_with("--") && a.size() > 10 && strncasecmp(a.c_str(), "--disable-", 10) == 0 &&
        std::any_of(std::begin(k_modules), std::end(k_modules),
                    [&](std::string_view m) { return strcasecmp(a.c_str() + 10, std::string(m).c_str()) == 0; })) {
      if (strcasecmp(a.c_str() + 10, "balloon") == 0) {
        p.options.disabled = true;
      }
      continue;
    }
    def = match_option(a, k_module_opts, &inline_value);
    if (!def) {
      getopt_error(fmt::format("Unknown option: '{}'", a));
    }
    auto value = inline_value ? std::optional<std::string>(*inline_value)
                              : (i + 1 < args.size() ? std::optional<std::string>(args[++i]) : std::nullopt);
    apply_module(p, *def, value, a, env);
  }
  return p;
}

std::string help_text(std::string_view image) {
  std::string text = fmt::format(
      "Usage: {} [-v|--verbose] [-h|-?|--help] [-P|--pidfile]\n"
      "           [-F|--logfile=<file>] [-R|--logrotate=<num>] \n"
      "           [-S|--logsize=<bytes>] [-I|--loginterval=<seconds>]\n"
      "           [--balloon-dec=<MB>] [--balloon-groups=<string>]\n"
      "           [--balloon-inc=<MB>] [--balloon-interval=<ms>]\n"
      "           [--balloon-lower-limit=<MB>] [--balloon-max=<MB>]\n"
      "           [--balloon-safety-margin=<MB]\n"
      "           [--balloon-policy=vboxkvm|vbox|proxmox|mom]\n"
      "           [--balloon-mode=idle|demand] [--host-budget=<MB>]\n"
      "       {} status [--json] [--explain <uuid|vmname>]\n"
      "Options:\n",
      image, image);
  constexpr std::pair<std::string_view, std::string_view> k_help_rows[] = {
      {"--background, -b", "Run in background (daemon mode)."},
      {"--disable-<module>", "Disables a module. See module list for built-in modules."},
      {"--dryrun", "Dryrun mode -- do not perform any actions."},
      {"--help, -h", "Print this help message and exit."},
      {"--verbose, -v", ""},
      {"--pidfile, -P", "Name of the PID file which is created when the daemon was started."},
      {"--logfile, -F", "Name of file to write log to (no file)."},
      {"--logrotate, -R", "Number of log files (0 disables log rotation)."},
      {"--logsize, -S", "Maximum size of a log file to trigger rotation (bytes)."},
      {"--loginterval, -I", "Maximum time interval to trigger log rotation (seconds)."},
      {"--balloon-dec=<MB>", "Sets the ballooning decrement in MB (128 MB)."},
      {"--balloon-groups=<string>", "Sets the VM groups for ballooning (all)."},
      {"--balloon-inc=<MB>", "Sets the ballooning increment in MB (256 MB)."},
      {"--balloon-interval=<ms>", "Sets the check interval in ms (30 seconds)."},
      {"--balloon-lower-limit=<MB>", "Sets the ballooning lower limit in MB (128 MB)."},
      {"--balloon-max=<MB>", "Sets the balloon maximum limit in MB (0 MB: no limit).\n"
                             "      Set \"VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax\" for a\n"
                             "      per-VM maximum ballooning size."},
      {"--balloon-safety-margin=<MB>", "Free memory when deflating a balloon in MB (1024 MB)."},
      {"--balloon-policy=<name>",
       "vboxkvm (default): a guard per guest from its own demand, fast deflate,\n"
       "      slow inflate; vbox: VBoxBalloonCtrl's decisions exactly; proxmox, mom:\n"
       "      Proxmox VE's and oVirt MOM's, as baselines to compare with."},
      {"--balloon-mode=<mode>", "idle (default): take idle memory back whatever the host; demand:\n"
                                "      only while the host needs memory, and give it back after."},
      {"--host-budget=<MB>", "Benchmarks: take the host to have MB of memory, used by the guests'\n"
                             "      QEMU resident memory."},
  };
  for (const auto& [flag, what] : k_help_rows) {
    text += fmt::format("  {}\n      {}\n", flag, what);
  }
  text += "\nstatus [--json]: what the service does, per guest, and its recent decisions;\n"
          "  --explain VM: how that VM's settings were resolved.\n"
          "\nValid module names are: balloon\n\n";
  return text;
}

balloon::ExtraDataReader balloon_extradata(store::SettingsStore& store, backend::Hypervisor& hv) {
  std::string host = hv.hostname();
  return [&store, host](const std::string& uuid, std::string_view key) -> std::optional<std::string> {
    auto scope = uuid.empty() ? vm::ExtraDataScope::global() : vm::ExtraDataScope::machine(host, uuid);
    auto v = vm::get_extradata(store, scope, key);
    return v && !v->empty() ? v : std::nullopt;
  };
}

std::string mb(std::uint64_t kib) { return fmt::format("{} MB", kib / 1024); }

std::string status_line(std::string_view label, std::string_view value) {
  return fmt::format("{:<29}{}\n", fmt::format("{}:", label), value);
}

int run_status(std::span<const std::string> args, Env& env) {
  bool json = false;
  std::optional<std::string> explain;
  GetOpt opts(args, k_status_opts);
  try {
    while (auto item = opts.next()) {
      if (!item->def) {
        throw UsageError(UsageStyle::Syntax, "balloonctrl", fmt::format("Invalid parameter '{}'", item->text),
                         k_exit_syntax, "status");
      }
      if (item->def->id == k_json) {
        json = true;
      } else {
        explain = item->text;
      }
    }
  } catch (const GetOptError& e) {
    throw UsageError(UsageStyle::GetOpt, "balloonctrl", e.what(), k_exit_syntax, "status");
  }
  auto& store = env.store();
  auto files = balloon::service_files(store.path());
  if (explain) {
    auto& hv = env.hypervisor(Access::ReadOnly);
    // VBoxBalloonCtrl has no such call: the Context line names ours.
    auto vm = vm::find_machine(hv, *explain, {"FindMachine(explain)", "cli/balloonctrl.cpp", __LINE__});
    auto settings = balloon::resolve({}, balloon_extradata(store, hv), vm.uuid,
                                     hv.persistent_memory(vm).memory_kib);
    std::string text = fmt::format("Balloon settings of '{}' (command line > per-VM > global > default):\n", vm.name);
    for (const auto& l : balloon::explain(settings)) {
      text += "  " + l + "\n";
    }
    text += "  (a running service's own command line wins over these; see its log's first line)\n";
    env.out.out(text);
    return k_exit_success;
  }
  bool running = sys::lock_is_held(files.lock);
  auto state = balloon::read_state(files.state);
  if (json) {
    auto j = nlohmann::json::parse(state ? state->to_json() : std::string("{}"));
    j["running"] = running;
    env.out.out(j.dump(2) + "\n");
    return k_exit_success;
  }
  std::string text = "Balloon service (balloonctrl) for this settings store\n";
  if (!state) {
    text += status_line("State", running ? "running, no state written yet" : "not running");
    env.out.out(text);
    return k_exit_success;
  }
  const auto& s = *state;
  text += status_line("State", running ? fmt::format("running (pid {}), since {}", s.pid,
                                                     format_state_time(s.started_ms).substr(0, 19))
                                       : fmt::format("not running (last state of {})",
                                                     format_state_time(s.updated_ms).substr(0, 19)));
  text += status_line("Connection", fmt::format("{}{}", s.uri, s.connected ? "" : " (not connected)"));
  text += status_line("Host", fmt::format("{}: {} available of {}{}", s.host_state.empty() ? "-" : s.host_state,
                                          mb(s.host_available_kib), mb(s.host_total_kib),
                                          s.host_emulated ? " (emulated budget)" : ""));
  std::uint64_t reclaimed = 0;
  for (const auto& g : s.guests) {
    reclaimed += g.max_kib - std::min(g.max_kib, g.actual_kib);
  }
  text += status_line("Reclaimed", fmt::format("{} from {} guest{}", mb(reclaimed), s.guests.size(),
                                               s.guests.size() == 1 ? "" : "s"));
  text += status_line("Changes", fmt::format("{} ({} for guests running short), {} not responding", s.changes,
                                             s.urgent_changes, s.not_responding));
  if (s.reaction_p50_ms) {
    text += status_line("Reaction", fmt::format("p50 {:.1f} s, p99 {:.1f} s over the last {}",
                                                static_cast<double>(*s.reaction_p50_ms) / 1000,
                                                static_cast<double>(s.reaction_p99_ms.value_or(0)) / 1000,
                                                s.reaction_ms.size()));
  }
  text += fmt::format("{:<20} {:<8} {:>8} {:>8} {:>8} {:>8}  {}\n", "Guest", "Policy", "Guard", "Target",
                      "Actual", "Usable", "State");
  for (const auto& g : s.guests) {
    auto opt_mb = [](const std::optional<std::uint64_t>& v) { return v ? mb(*v) : std::string("-"); };
    // "cooling down for 12 s after it ran short", not "cooling down: cooling down for …"
    auto shown = g.why.starts_with(g.state) ? g.why : g.why.empty() ? g.state : g.state + ": " + g.why;
    text += fmt::format("{:<20} {:<8} {:>8} {:>8} {:>8} {:>8}  {}\n", g.name, g.policy, opt_mb(g.guard_kib),
                        mb(g.target_kib), mb(g.actual_kib), opt_mb(g.usable_kib), shown);
  }
  if (!s.decisions.empty()) {
    text += "Recent decisions:\n";
    for (const auto& d : s.decisions) {
      text += fmt::format("  {}  '{}' {}{}\n", format_state_time(d.at_ms).substr(0, 23), d.name, d.reason,
                          d.applied ? "" : " (dry run)");
    }
  }
  env.out.out(text);
  return k_exit_success;
}
} // namespace

Grammar balloonctrl_grammar() {
  static const auto opts = all_options();
  return {opts, k_subcommands};
}

CommandHelp balloonctrl_help() {
  return {"balloonctrl",
          "run VirtualBox's balloon service (VBoxBalloonCtrl) on this host's guests",
          {"[options]", "status [--json] [--explain <uuid | vmname>]"},
          help_text("balloonctrl")};
}

int run_balloonctrl(std::span<const std::string> args, Env& env) {
  if (!args.empty() && args[0] == "status") {
    return run_status(args.subspan(1), env);
  }
  auto parsed = parse(args, env);
  if (parsed.help) {
    env.out.err(fmt::format("vboxkvm Watchdog {}\nCopyright (C) 2026 The vboxkvm developers\n\n", version_string()) +
                help_text(env.out.prog() == "VBoxBalloonCtrl" ? "VBoxBalloonCtrl" : env.out.prog() + " balloonctrl"));
    return k_exit_success;
  }
  if (parsed.version) {
    env.out.out(version_string() + "\n");
    return k_exit_success;
  }
  auto& store = env.store();
  auto& hv = env.hypervisor(Access::ReadOnly);
  balloon::ServiceEnv service_env{
      store.path(), env.uri, balloon_extradata(store, hv), env.services.daemon_hooks(),
      fmt::format("vboxkvm Watchdog {}\nCopyright (C) 2026 The vboxkvm developers\n\n", version_string())};
  int rc = balloon::service_main(parsed.options, parsed.process, service_env);
  return env.services.stop_requested() ? k_exit_interrupted : rc;
}

} // namespace vbm::cli
