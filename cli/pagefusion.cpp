// pagefusion (a vboxkvm extension): the host's page fusion in plain words, and the admin's
// choice of whether vboxkvm steers the host's KSM.
//   pagefusion status [--json]   KSM's state, scan rate, what it saves, ksmd's CPU, the
//                                page-fusion guests, and the controller's recent decisions
//   pagefusion manage on|off     the manage-ksm setting (root); off gives KSM back as found

#include "backend/ksm.hpp"
#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/vm_info.hpp"
#include "pagefusion/status.hpp"
#include "sys/parse.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <unistd.h>

namespace vbm::cli {

namespace {
constexpr int k_label_width = 29; // showvminfo's "Label:" column

using pagefusion::Status;

enum Opt { k_json };
constexpr OptDef k_status_opts[] = {{"--json", k_json, ArgKind::None}};
constexpr std::string_view k_on_off[] = {"on", "off"};
constexpr Subcommand k_subcommands[] = {{"status", k_status_opts}, {"manage", {}, k_on_off}};

[[noreturn]] void syntax(const std::string& msg) {
  throw UsageError(UsageStyle::Syntax, "pagefusion", msg, k_exit_syntax);
}

std::string line(std::string_view label, std::string_view value) {
  return fmt::format("{:<{}}{}\n", fmt::format("{}:", label), k_label_width, value);
}

std::uint64_t mb(std::uint64_t pages, std::uint64_t page_size) {
  return pages * page_size / (1024ULL * 1024);
}

bool steering(const Status& s) {
  return s.state &&
         (s.state->mode == pagefusion::Mode::Burst || s.state->mode == pagefusion::Mode::Idle);
}

std::string run_word(const std::optional<std::uint64_t>& run) {
  if (!run) {
    return "unknown";
  }
  return *run == 1 ? "running" : *run == 2 ? "unmerging all pages" : "stopped";
}

std::string state_line(const Status& s) {
  std::string state = run_word(s.knobs.run);
  if (!s.controller_pid.empty()) {
    if (steering(s)) {
      return fmt::format("{}, steered by vboxkvm (controller pid {})", state, s.controller_pid);
    }
    return fmt::format(
        "{}, not steered (vboxkvm's controller, pid {}, waits for a page-fusion guest)", state,
        s.controller_pid);
  }
  if (s.prior_left) {
    return fmt::format(
        "{}, as a vboxkvm controller that did not finish left it ('pagefusion manage "
        "off' gives KSM back as found)",
        state);
  }
  return fmt::format("{}, not steered by vboxkvm", state);
}

std::string management_line(const Status& s) {
  if (!s.settings) {
    return s.settings_error;
  }
  return fmt::format("manage-ksm = {} ({})", s.settings->manage_ksm ? "yes" : "no",
                     s.paths.settings().string());
}

std::string rate_text(std::uint64_t pages, std::uint64_t sleep_ms) {
  pagefusion::Rate r{pages, sleep_ms};
  return fmt::format("{} pages every {} ms ({:.0f} pages/s)", pages, sleep_ms,
                     r.pages_per_second());
}

std::string last_gain_text(const pagefusion::Gain& g) {
  std::string v = pagefusion::merged_words(g.pages_sharing);
  if (g.pages_scanned) {
    v += fmt::format(" for {} scanned", *g.pages_scanned);
  }
  v += fmt::format(" in {:.1f} s", static_cast<double>(g.ms) / 1000);
  if (g.general_profit) {
    v += fmt::format(" (general profit {:+} MB)", *g.general_profit / (1024LL * 1024));
  }
  return v;
}

std::string ksmd_cpu_text(const Status& s) {
  std::string cpu = "unknown";
  if (s.ksmd_percent) {
    cpu = fmt::format("{:.2f}% of one core over the last {}", *s.ksmd_percent,
                      s.ksmd_window_ms >= 1000 ? fmt::format("{} s", s.ksmd_window_ms / 1000)
                                               : fmt::format("{} ms", s.ksmd_window_ms));
  }
  if (s.ksmd_ns) {
    cpu += fmt::format("; {:.2f} s since boot", static_cast<double>(*s.ksmd_ns) / 1e9);
  }
  return cpu;
}

std::string counters_text(const Status& s) {
  std::string text;
  if (s.counters) {
    const auto& c = *s.counters;
    text += line("Pages shared", std::to_string(c.pages_shared));
    text += line("Pages sharing", fmt::format("{} ({} MB saved)", c.pages_sharing,
                                              mb(c.pages_sharing, s.page_size)));
    if (c.general_profit) {
      text += line("General profit", fmt::format("{} MB", *c.general_profit / (1024LL * 1024)));
    }
    if (c.full_scans) {
      text += line("Full scans", std::to_string(*c.full_scans));
    }
  }
  return text;
}

std::string guests_text(const Status& s) {
  if (!s.guests_error.empty()) {
    return line("Page-fusion guests", fmt::format("unknown ({})", s.guests_error));
  }
  std::string text = line("Page-fusion guests", std::to_string(s.guests.size()));
  for (const auto& g : s.guests) {
    text += fmt::format("  {:<{}}{}\n", g.name, k_label_width - 2,
                        g.merging_pages ? fmt::format("{} pages merged ({} MB)", *g.merging_pages,
                                                      mb(*g.merging_pages, s.page_size))
                                        : std::string("merged pages unknown"));
  }
  return text;
}

std::string decisions_text(const Status& s) {
  if (s.decisions.empty()) {
    return {};
  }
  std::string text = s.controller_pid.empty()
                         ? "Last decisions (of the controller that ran last):\n"
                         : "Recent decisions:\n";
  for (const auto& d : s.decisions) {
    text += fmt::format("  {}  {:<9} {:>5} pages / {:>4} ms  {}\n",
                        format_state_time(d.at_ms).substr(0, 23), pagefusion::mode_name(d.mode),
                        d.rate.pages_to_scan, d.rate.sleep_millisecs, d.reason);
  }
  return text;
}

void print_human(const Status& s, Output& out) {
  std::string text = "Page fusion (KSM) on this host\n";
  text += line("State", state_line(s));
  if (steering(s)) {
    text +=
        line("Controller", fmt::format("{} since {}", pagefusion::mode_name(s.state->mode),
                                       format_state_time(s.state->mode_since_ms).substr(0, 19)));
  }
  if (s.knobs.advisor_mode && *s.knobs.advisor_mode != "none") {
    text +=
        line("Scan rate", fmt::format("set by the kernel's advisor ({}), now {} pages every {} ms",
                                      *s.knobs.advisor_mode, s.knobs.pages_to_scan.value_or(0),
                                      s.knobs.sleep_millisecs.value_or(0)));
  } else {
    text += line("Scan rate",
                 rate_text(s.knobs.pages_to_scan.value_or(0), s.knobs.sleep_millisecs.value_or(0)) +
                     (s.knobs.run == 1u ? "" : " when running"));
  }
  if (s.knobs.smart_scan) {
    text += line("Smart scan", *s.knobs.smart_scan ? "on" : "off");
  }
  text += counters_text(s);
  if (s.state && s.state->last_gain) {
    // What the controller last measured: the figure its next decision rests on.
    text += line("Last measured", last_gain_text(*s.state->last_gain));
  }
  text += line("ksmd CPU", ksmd_cpu_text(s));
  text += line("Management", management_line(s));
  text += guests_text(s);
  text += decisions_text(s);
  out.out(text);
}

nlohmann::json rate_json(const pagefusion::Rate& r) {
  return {{"pages_to_scan", r.pages_to_scan}, {"sleep_millisecs", r.sleep_millisecs}};
}

nlohmann::json controller_json(const Status& s) {
  nlohmann::json c = {{"running", !s.controller_pid.empty()},
                      {"settings", s.paths.settings().string()},
                      {"prior_left", s.prior_left}};
  if (s.settings) {
    c["manage_ksm"] = s.settings->manage_ksm;
  } else {
    c["settings_error"] = s.settings_error;
  }
  if (auto pid = sys::parse_whole<long>(s.controller_pid)) {
    c["pid"] = *pid;
  }
  if (s.state) {
    c["mode"] = pagefusion::mode_name(s.state->mode);
    c["mode_since_ms"] = s.state->mode_since_ms;
    c["rate"] = rate_json(s.state->rate);
    if (const auto& g = s.state->last_gain) {
      nlohmann::json gain{
          {"ms", g->ms}, {"pages_sharing", g->pages_sharing}, {"full_scans", g->full_scans}};
      if (g->pages_scanned) {
        gain["pages_scanned"] = *g->pages_scanned;
      }
      if (g->general_profit) {
        gain["general_profit"] = *g->general_profit;
      }
      c["last_gain"] = gain;
    }
  }
  c["decisions"] = nlohmann::json::array();
  for (const auto& d : s.decisions) {
    c["decisions"].push_back({{"at_ms", d.at_ms},
                              {"mode", pagefusion::mode_name(d.mode)},
                              {"rate", rate_json(d.rate)},
                              {"reason", d.reason}});
  }
  return c;
}

void print_json(const Status& s, Output& out) {
  nlohmann::json j;
  auto& k = j["ksm"];
  k = nlohmann::json::object();
  if (s.knobs.run)
    k["run"] = *s.knobs.run;
  if (s.knobs.pages_to_scan)
    k["pages_to_scan"] = *s.knobs.pages_to_scan;
  if (s.knobs.sleep_millisecs)
    k["sleep_millisecs"] = *s.knobs.sleep_millisecs;
  if (s.knobs.smart_scan)
    k["smart_scan"] = *s.knobs.smart_scan;
  if (s.knobs.advisor_mode)
    k["advisor_mode"] = *s.knobs.advisor_mode;
  if (s.counters) {
    k["pages_shared"] = s.counters->pages_shared;
    k["pages_sharing"] = s.counters->pages_sharing;
    k["saved_bytes"] = s.counters->pages_sharing * s.page_size;
    if (s.counters->general_profit)
      k["general_profit"] = *s.counters->general_profit;
    if (s.counters->full_scans)
      k["full_scans"] = *s.counters->full_scans;
    if (s.counters->pages_scanned)
      k["pages_scanned"] = *s.counters->pages_scanned;
  }
  j["ksmd"] = nlohmann::json::object();
  if (s.ksmd_percent)
    j["ksmd"]["cpu_percent"] = *s.ksmd_percent;
  if (s.ksmd_ns)
    j["ksmd"]["cpu_seconds"] = static_cast<double>(*s.ksmd_ns) / 1e9;
  j["controller"] = controller_json(s);
  j["guests"] = nlohmann::json::array();
  for (const auto& g : s.guests) {
    nlohmann::json gj{{"name", g.name}, {"uuid", g.uuid}};
    if (g.merging_pages) {
      gj["merging_pages"] = *g.merging_pages;
    }
    j["guests"].push_back(gj);
  }
  if (!s.guests_error.empty()) {
    j["guests_error"] = s.guests_error;
  }
  out.out(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

int run_status(std::span<const std::string> args, Env& env) {
  bool json = false;
  for (const auto& a : args) {
    if (match_option(a, k_status_opts) == nullptr) {
      syntax(fmt::format("Invalid parameter '{}'", a));
    }
    json = true;
  }
  pagefusion::StatusHooks hooks{
      env.services.host_root,
      [&]() -> backend::Hypervisor& { return env.hypervisor(Access::ReadOnly); },
      [&] { return env.now_ms(); }, [&](int ms) { env.sleep_ms(ms); }};
  auto s = pagefusion::gather_status(hooks);
  json ? print_json(s, env.out) : print_human(s, env.out);
  return k_exit_success;
}

int run_manage(std::span<const std::string> args, Env& env) {
  if (args.size() != 1) {
    syntax(args.empty() ? "Missing argument: on or off"
                        : fmt::format("Too many parameters: '{}'", args[1]));
  }
  bool on = args[0] == "on";
  if (!on && args[0] != "off") {
    syntax(fmt::format("Invalid value '{}': on or off", args[0]));
  }
  auto paths = pagefusion::host_paths();
  try {
    pagefusion::write_manage_ksm(paths.settings(), on);
  } catch (const pagefusion::SettingsError& e) {
    throw Error(geteuid() == 0
                    ? std::string(e.what())
                    : fmt::format("{} (steering the host's KSM is root's choice)", e.what()));
  }
  if (on) {
    try {
      auto& hv = env.hypervisor(Access::ReadOnly);
      if (pagefusion::any_page_fusion_guest(hv) && pagefusion::is_local_qemu(hv)) {
        auto pid = env.services.ensure_pagefusiond(hv.uri());
        env.out.out(fmt::format(
            "vboxkvm now steers KSM while page-fusion guests run (controller pid {}).\n",
            pid.empty() ? "starting" : pid));
        return k_exit_success;
      }
    } catch (const backend::BackendError& e) {
      env.out.warning(fmt::format("cannot look for running page-fusion guests now: {}", e.what()));
    }
    env.out.out(
        "vboxkvm will steer KSM while page-fusion guests run, from the next one started.\n");
    return k_exit_success;
  }
  backend::Ksm ksm(env.services.host_root);
  auto knobs = pagefusion::give_back(paths, ksm, [&](int ms) { env.sleep_ms(ms); });
  env.out.out(fmt::format("vboxkvm leaves KSM alone now; KSM is as found: {}.\n", knobs.to_line()));
  return k_exit_success;
}
} // namespace

Grammar pagefusion_grammar() { return {{}, k_subcommands}; }

CommandHelp pagefusion_help() {
  return {"pagefusion",
          "show and steer page fusion (KSM) on this host (a vboxkvm extension)",
          {"status [--json]", "manage on | off"},
          "  status        KSM's state, scan rate, pages shared and saved, ksmd's CPU, the\n"
          "                page-fusion guests, and the controller's recent decisions and why\n"
          "  --json        status: print JSON for scripts\n"
          "  manage on     vboxkvm runs KSM while page-fusion guests run, scanning hard when\n"
          "                there is new memory to merge and near-idle once merging stops\n"
          "                paying, and gives KSM back as found afterwards (the default)\n"
          "  manage off    KSM is left as the admin sets it; vboxkvm gives it back now\n"
          "The setting is manage-ksm in /etc/vboxkvm/pagefusion.conf; changing it needs root.\n"};
}

int run_pagefusion(std::span<const std::string> args, Env& env) {
  const std::string& sub = args[0];
  if (sub == "status") {
    return run_status(args.subspan(1), env);
  }
  if (sub == "manage") {
    return run_manage(args.subspan(1), env);
  }
  syntax(fmt::format("Invalid subcommand '{}'", sub));
}

} // namespace vbm::cli
