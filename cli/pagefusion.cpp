// pagefusion (a vboxkvm extension): the host's page fusion in plain words, and the admin's
// choice of whether vboxkvm steers the host's KSM.
//   pagefusion status [--json]   KSM's state, scan rate, what it saves, ksmd's CPU, the
//                                page-fusion guests, and the controller's recent decisions
//   pagefusion manage on|off     the manage-ksm setting (root); off gives KSM back as found

#include "backend/ksm.hpp"
#include "backend/local_host.hpp"
#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/lock_file.hpp"
#include "cli/vm_state.hpp"
#include "pagefusion/controller.hpp"
#include "pagefusion/host.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <unistd.h>

namespace vbm::cli {

namespace {
constexpr int k_label_width = 29; // showvminfo's "Label:" column
constexpr std::int64_t k_fresh_state_ms = 15000;
constexpr int k_cpu_sample_ms = 500;
constexpr int k_release_wait_ms = 10000;

[[noreturn]] void syntax(const std::string& msg) {
  throw UsageError(UsageStyle::Syntax, "pagefusion", msg, k_exit_syntax);
}

std::string line(std::string_view label, std::string_view value) {
  return fmt::format("{:<{}}{}\n", fmt::format("{}:", label), k_label_width, value);
}

/// The controller's state file as a JSON object ({} when absent or not ours).
nlohmann::json read_state(const pagefusion::HostPaths& paths) {
  auto state =
      nlohmann::json::parse(backend::read_text_file(paths.state()).value_or("{}"), nullptr, false);
  return state.is_object() ? state : nlohmann::json::object();
}

std::uint64_t mb(std::uint64_t pages, std::uint64_t page_size) {
  return pages * page_size / (1024 * 1024);
}

/// Everything status shows, gathered once for both formats.
struct Status {
  backend::KsmKnobs knobs;
  std::optional<backend::KsmCounters> counters;
  std::optional<std::uint64_t> ksmd_ns;
  std::optional<double> ksmd_percent;
  std::int64_t ksmd_window_ms = 0;
  std::uint64_t page_size = 4096;
  pagefusion::HostPaths paths;
  std::optional<pagefusion::Settings> settings;
  std::string settings_error;
  std::string controller_pid; ///< "" when no controller runs
  nlohmann::json state;       ///< the running controller's state (null if none, or stale)
  nlohmann::json decisions;   ///< the last decisions, of the running or the last controller
  bool prior_left = false;    ///< a prior file without a controller: one was killed
  struct GuestShare {
    std::string name;
    std::string uuid;
    std::optional<std::uint64_t> merging_pages;
  };
  std::vector<GuestShare> guests;
  std::string guests_error;
};

Status gather(Env& env) {
  Status s;
  backend::Ksm ksm(env.services.host_root);
  if (!ksm.available()) {
    throw CommandError(
        "this kernel has no KSM (/sys/kernel/mm/ksm): page fusion cannot work on this host");
  }
  s.page_size = ksm.page_size();
  s.paths = pagefusion::host_paths();
  try {
    s.settings = pagefusion::read_settings(s.paths.settings());
  } catch (const pagefusion::SettingsError& e) {
    s.settings_error = e.what();
  }
  auto state = read_state(s.paths);
  if (state.contains("decisions") && state["decisions"].is_array()) {
    s.decisions = state["decisions"];
  }
  if (lock_is_held(s.paths.lock().string())) {
    s.controller_pid = read_lock_pid(s.paths.lock().string());
    if (env.now_ms() - state.value("updated_ms", std::int64_t{0}) <= k_fresh_state_ms) {
      s.state = state;
    }
  } else {
    std::error_code ec;
    s.prior_left = std::filesystem::exists(s.paths.prior(), ec);
  }

  // The page-fusion guests of this host and what KSM merged of each.
  try {
    auto& hv = env.hypervisor(Access::ReadOnly);
    if (!hv.is_local()) {
      throw CommandError(fmt::format("pagefusion shows the KSM of this host, and '{}' is another "
                                     "host: run it there",
                                     hv.uri()));
    }
    backend::LocalHost local(env.services.host_root);
    for (const auto& vm : hv.list_vms()) {
      if (vm.id < 0) {
        continue;
      }
      if (!pagefusion::is_page_fusion_guest(hv.live_memory(vm))) {
        continue;
      }
      std::optional<std::uint64_t> merging;
      if (auto pid = local.qemu_pid(vm.name)) {
        merging = local.ksm_merging_pages(*pid);
      }
      s.guests.push_back({vm.name, vm.uuid, merging});
    }
    std::sort(s.guests.begin(), s.guests.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
  } catch (const backend::BackendError& e) {
    s.guests_error = e.what();
  }

  // ksmd's CPU: the controller's figure (10 s), else measured here over half a second.
  s.knobs = ksm.knobs();
  s.ksmd_ns = ksm.ksmd_cpu_ns();
  if (!s.state.is_null() && s.state.contains("ksmd_cpu_percent")) {
    s.ksmd_percent = s.state["ksmd_cpu_percent"].get<double>();
    s.ksmd_window_ms = 10000; // Controller::ksmd_cpu_percent's default window
  } else if (s.ksmd_ns) {
    auto t0 = env.now_ms();
    env.sleep_ms(k_cpu_sample_ms);
    auto after = ksm.ksmd_cpu_ns();
    auto dt = env.now_ms() - t0;
    if (after && *after >= *s.ksmd_ns && dt > 0) {
      s.ksmd_percent = static_cast<double>(*after - *s.ksmd_ns) / static_cast<double>(dt) / 1e4;
      s.ksmd_window_ms = dt;
      s.ksmd_ns = after;
    }
  }
  s.counters = ksm.counters();
  return s;
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
    std::string mode = s.state.is_null() ? "" : s.state.value("mode", "");
    if (mode == "burst" || mode == "idle") {
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

void print_human(const Status& s, Output& out) {
  std::string text = "Page fusion (KSM) on this host\n";
  text += line("State", state_line(s));
  if (!s.state.is_null()) {
    std::string mode = s.state.value("mode", "");
    if (mode == "burst" || mode == "idle") {
      text += line(
          "Controller",
          fmt::format(
              "{} since {}", mode,
              format_state_time(s.state.value("mode_since_ms", std::int64_t{0})).substr(0, 19)));
    }
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
  if (s.counters) {
    const auto& c = *s.counters;
    text += line("Pages shared", std::to_string(c.pages_shared));
    text += line("Pages sharing", fmt::format("{} ({} MB saved)", c.pages_sharing,
                                              mb(c.pages_sharing, s.page_size)));
    if (c.general_profit) {
      text += line("General profit", fmt::format("{} MB", *c.general_profit / (1024 * 1024)));
    }
    if (c.full_scans) {
      text += line("Full scans", std::to_string(*c.full_scans));
    }
  }
  if (!s.state.is_null() && s.state.contains("last_gain")) {
    // What the controller last measured: the figure its next decision rests on.
    try {
      const auto g = s.state.at("last_gain");
      std::string v = fmt::format("{:+} pages sharing", g.value("pages_sharing", std::int64_t{0}));
      if (g.contains("pages_scanned")) {
        v += fmt::format(" for {} scanned", g.value("pages_scanned", std::uint64_t{0}));
      }
      v += fmt::format(" in {:.1f} s", static_cast<double>(g.value("ms", std::int64_t{0})) / 1000);
      if (g.contains("general_profit")) {
        v += fmt::format(" (general profit {:+} MB)",
                         g.value("general_profit", std::int64_t{0}) / (1024 * 1024));
      }
      text += line("Last measured", v);
    } catch (const nlohmann::json::exception&) {
      // not ours: skip
    }
  }
  std::string cpu =
      s.ksmd_percent
          ? fmt::format("{:.2f}% of one core over the last {}", *s.ksmd_percent,
                        s.ksmd_window_ms >= 1000 ? fmt::format("{} s", s.ksmd_window_ms / 1000)
                                                 : fmt::format("{} ms", s.ksmd_window_ms))
          : "unknown";
  if (s.ksmd_ns) {
    cpu += fmt::format("; {:.2f} s since boot", static_cast<double>(*s.ksmd_ns) / 1e9);
  }
  text += line("ksmd CPU", cpu);
  text += line("Management", management_line(s));
  if (!s.guests_error.empty()) {
    text += line("Page-fusion guests", fmt::format("unknown ({})", s.guests_error));
  } else {
    text += line("Page-fusion guests", std::to_string(s.guests.size()));
    for (const auto& g : s.guests) {
      text += fmt::format("  {:<{}}{}\n", g.name, k_label_width - 2,
                          g.merging_pages ? fmt::format("{} pages merged ({} MB)", *g.merging_pages,
                                                        mb(*g.merging_pages, s.page_size))
                                          : std::string("merged pages unknown"));
    }
  }
  if (!s.decisions.empty()) {
    text += s.controller_pid.empty() ? "Last decisions (of the controller that ran last):\n"
                                     : "Recent decisions:\n";
    for (const auto& d : s.decisions) {
      try {
        const auto r = d.at("rate");
        text += fmt::format("  {}  {:<9} {:>5} pages / {:>4} ms  {}\n",
                            format_state_time(d.value("at_ms", std::int64_t{0})).substr(0, 23),
                            d.value("mode", ""), r.value("pages_to_scan", 0),
                            r.value("sleep_millisecs", 0), d.value("reason", ""));
      } catch (const nlohmann::json::exception&) {
        // not a decision of ours (the file was edited): skip it
      }
    }
  }
  out.out(text);
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
  auto& c = j["controller"];
  c = {{"running", !s.controller_pid.empty()},
       {"settings", s.paths.settings().string()},
       {"prior_left", s.prior_left}};
  if (s.settings) {
    c["manage_ksm"] = s.settings->manage_ksm;
  } else {
    c["settings_error"] = s.settings_error;
  }
  if (!s.controller_pid.empty()) {
    c["pid"] = std::stol(s.controller_pid);
  }
  if (!s.state.is_null()) {
    for (const char* key : {"mode", "mode_since_ms", "rate", "last_gain"}) {
      if (s.state.contains(key)) {
        c[key] = s.state[key];
      }
    }
  }
  c["decisions"] = s.decisions.is_null() ? nlohmann::json::array() : s.decisions;
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
    if (a == "--json") {
      json = true;
    } else {
      syntax(fmt::format("Invalid parameter '{}'", a));
    }
  }
  auto s = gather(env);
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
    throw CommandError(
        geteuid() == 0 ? std::string(e.what())
                       : fmt::format("{} (steering the host's KSM is root's choice)", e.what()));
  }
  auto lock_path = paths.lock().string();
  if (on) {
    try {
      auto& hv = env.hypervisor(Access::ReadOnly);
      auto vms = hv.list_vms();
      bool any = std::any_of(vms.begin(), vms.end(), [&](const backend::VmRef& vm) {
        return vm.id >= 0 && pagefusion::is_page_fusion_guest(hv.live_memory(vm));
      });
      if (any && pagefusion::is_local_qemu(hv)) {
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
  // Off: the controller sees the setting within a second and gives KSM back; wait for that.
  backend::Ksm ksm(env.services.host_root);
  for (int waited = 0; lock_is_held(lock_path) && waited < k_release_wait_ms; waited += 100) {
    auto state = read_state(paths);
    if (state.value("mode", "") == "unmanaged" && !state.value("manage_ksm", true)) {
      break;
    }
    env.sleep_ms(100);
  }
  if (lock_is_held(lock_path)) {
    if (read_state(paths).value("mode", "") != "unmanaged") {
      throw CommandError(
          fmt::format("the page-fusion controller (pid {}) did not give KSM back within "
                      "{} s; see {}",
                      read_lock_pid(lock_path), k_release_wait_ms / 1000, paths.log().string()));
    }
  } else {
    // No controller: undo what one that was killed left behind, holding the lock meanwhile.
    std::error_code ec;
    if (std::filesystem::exists(paths.prior(), ec)) {
      LockFile lock(lock_path);
      if (lock.lock(false)) {
        try {
          pagefusion::restore_prior(ksm, paths.prior());
        } catch (const backend::KsmError& e) {
          lock.unlock();
          throw CommandError(e.what());
        }
        lock.unlock();
      }
    }
  }
  env.out.out(
      fmt::format("vboxkvm leaves KSM alone now; KSM is as found: {}.\n", ksm.knobs().to_line()));
  return k_exit_success;
}
} // namespace

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
