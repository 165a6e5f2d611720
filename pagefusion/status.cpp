#include "pagefusion/status.hpp"

#include "backend/local_host.hpp"
#include "sys/lock_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <unistd.h>

namespace vbm::pagefusion {

namespace {
constexpr std::int64_t k_fresh_state_ms = 15000;
constexpr int k_cpu_sample_ms = 500;
constexpr int k_release_wait_ms = 10000;
constexpr std::int64_t k_controller_cpu_window_ms = 10000; // Controller::ksmd_cpu_percent's

// The page-fusion guests of this host and what KSM merged of each.
void gather_guests(const StatusHooks& hooks, Status& s) {
  try {
    auto& hv = hooks.connect();
    if (!hv.is_local()) {
      throw Error(fmt::format("pagefusion shows the KSM of this host, and '{}' is another "
                              "host: run it there",
                              hv.uri()));
    }
    backend::LocalHost local(hooks.root);
    for (const auto& vm : hv.list_vms()) {
      if (vm.id < 0 || !is_page_fusion_guest(hv.live_memory(vm))) {
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
}

// ksmd's CPU: the controller's figure (10 s), else measured here over half a second.
void gather_ksmd_cpu(const StatusHooks& hooks, const backend::Ksm& ksm, Status& s) {
  s.ksmd_ns = ksm.ksmd_cpu_ns();
  if (s.state && s.state->ksmd_cpu_percent) {
    s.ksmd_percent = s.state->ksmd_cpu_percent;
    s.ksmd_window_ms = k_controller_cpu_window_ms;
  } else if (s.ksmd_ns) {
    auto t0 = hooks.now_ms();
    hooks.sleep_ms(k_cpu_sample_ms);
    auto after = ksm.ksmd_cpu_ns();
    auto dt = hooks.now_ms() - t0;
    if (after && *after >= *s.ksmd_ns && dt > 0) {
      s.ksmd_percent = static_cast<double>(*after - *s.ksmd_ns) / static_cast<double>(dt) / 1e4;
      s.ksmd_window_ms = dt;
      s.ksmd_ns = after;
    }
  }
}
} // namespace

Status gather_status(const StatusHooks& hooks) {
  Status s;
  backend::Ksm ksm(hooks.root);
  if (!ksm.available()) {
    throw Error(
        "this kernel has no KSM (/sys/kernel/mm/ksm): page fusion cannot work on this host");
  }
  s.page_size = ksm.page_size();
  s.paths = host_paths();
  try {
    s.settings = read_settings(s.paths.settings());
  } catch (const SettingsError& e) {
    s.settings_error = e.what();
  }
  auto state = read_state(s.paths.state());
  if (state) {
    s.decisions = state->decisions;
  }
  if (sys::lock_is_held(s.paths.lock())) {
    s.controller_pid = sys::read_lock_pid(s.paths.lock());
    if (state && hooks.now_ms() - state->updated_ms <= k_fresh_state_ms) {
      s.state = state;
    }
  } else {
    std::error_code ec;
    s.prior_left = std::filesystem::exists(s.paths.prior(), ec);
  }
  gather_guests(hooks, s);
  s.knobs = ksm.knobs();
  gather_ksmd_cpu(hooks, ksm, s);
  s.counters = ksm.counters();
  return s;
}

bool any_page_fusion_guest(backend::Hypervisor& hv) {
  auto vms = hv.list_vms();
  return std::any_of(vms.begin(), vms.end(), [&](const backend::VmRef& vm) {
    return vm.id >= 0 && is_page_fusion_guest(hv.live_memory(vm));
  });
}

backend::KsmKnobs give_back(const HostPaths& paths, const backend::Ksm& ksm,
                            const std::function<void(int ms)>& sleep_ms) {
  // The controller sees the setting within a second and gives KSM back; wait for that.
  auto given_back = [&] {
    auto state = read_state(paths.state());
    return state && state->mode == Mode::Unmanaged && !state->manage_ksm;
  };
  for (int waited = 0; sys::lock_is_held(paths.lock()) && waited < k_release_wait_ms;
       waited += 100) {
    if (given_back()) {
      break;
    }
    sleep_ms(100);
  }
  if (sys::lock_is_held(paths.lock())) {
    auto state = read_state(paths.state());
    if (!state || state->mode != Mode::Unmanaged) {
      throw Error(fmt::format("the page-fusion controller (pid {}) did not give KSM back within "
                              "{} s; see {}",
                              sys::read_lock_pid(paths.lock()), k_release_wait_ms / 1000,
                              paths.log().string()));
    }
    return ksm.knobs();
  }
  // No controller: undo what one that was killed left behind, holding the lock meanwhile.
  std::error_code ec;
  if (std::filesystem::exists(paths.prior(), ec)) {
    sys::LockFile lock(paths.lock(), 0644);
    if (lock.try_lock()) {
      restore_prior(ksm, paths.prior()); // a KsmError leaves the file for the next try
    }
  }
  return ksm.knobs();
}

sys::DaemonFiles controller_files(const HostPaths& paths) {
  // The lock is readable by all: `pagefusion status` tells any user whether a controller runs.
  return {paths.lock(), paths.log(), 0644, 0600, {}};
}

std::string ensure_controller(const std::string& uri) {
  if (geteuid() != 0) {
    return {}; // only root can steer KSM; a root-run vboxkvm-pagefusion.service covers others
  }
  auto paths = host_paths();
  prepare_host_dir(paths.run_dir, "vboxkvm run directory");
  return sys::spawn_daemon(controller_files(paths), {"__pagefusiond", "--connect", uri});
}

std::string settle_abandoned_ksm() {
  if (geteuid() != 0) {
    return {};
  }
  try {
    auto paths = host_paths();
    std::error_code ec;
    if (!std::filesystem::exists(paths.prior(), ec) || sys::lock_is_held(paths.lock())) {
      return {};
    }
    auto state = read_state(paths.state());
    std::string uri = state && !state->uri.empty() ? state->uri : "qemu:///system";
    auto pid = ensure_controller(uri);
    return fmt::format("a page-fusion controller had stopped without giving KSM back; controller "
                       "{} took over",
                       pid.empty() ? "(starting)" : "pid " + pid);
  } catch (const std::exception&) {
    return {}; // the next run tries again
  }
}

} // namespace vbm::pagefusion
