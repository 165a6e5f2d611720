// Builds the real services, runs the app, returns its exit code. Nothing else.

#include "backend/hypervisor.hpp"
#include "cli/app.hpp"
#include "cli/lock_file.hpp"
#include "pagefusion/host.hpp"
#include "store/settings_store.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>
#include <unistd.h>

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop = true; }

// Installed only when a long-running command first asks, so every other command still dies
// on Ctrl-C the ordinary way.
bool stop_requested() {
  static bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    return true;
  }();
  (void)installed;
  return g_stop;
}

// Makes sure the store's metrics collector runs (`vboxmanage __collector`, one per store).
std::string ensure_collector(const std::string& store_path) {
  auto dir = std::filesystem::path(store_path).parent_path();
  auto pid = vbm::cli::spawn_locked((dir / "vboxkvm-collector.lock").string(),
                                    (dir / "vboxkvm-collector.log").string(), {"__collector"});
  return pid.empty() ? "collector starting" : fmt::format("collector pid {}", pid);
}

// Makes sure the host's page-fusion controller runs (`vboxmanage __pagefusiond`, one per host),
// watching the connection `uri`. Returns its PID ("" while it starts).
std::string ensure_pagefusiond(const std::string& uri) {
  if (geteuid() != 0) {
    return {}; // only root can steer KSM; a root-run vboxkvm-pagefusion.service covers others
  }
  auto paths = vbm::pagefusion::host_paths();
  std::error_code ec;
  std::filesystem::create_directories(paths.run_dir, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot create '{}': {}", paths.run_dir.string(), ec.message()));
  }
  return vbm::cli::spawn_locked(paths.lock().string(), paths.log().string(),
                                {"__pagefusiond", "--connect", uri});
}

} // namespace

int main(int argc, char** argv) {
  using namespace vbm;
  // A libvirtd that goes away must be an error we report, not a silent death by SIGPIPE on its
  // socket (virsh does the same); a closed stdout shows as a failed write instead.
  std::signal(SIGPIPE, SIG_IGN);
  std::string prog = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "vboxmanage";
  cli::StdOutput out(prog.empty() ? "vboxmanage" : prog);

  std::map<std::optional<std::string>, std::unique_ptr<backend::Hypervisor>> hvs;
  std::unique_ptr<store::SettingsStore> st;
  cli::Services services{
      [&](const std::optional<std::string>& uri, cli::Access access) -> backend::Hypervisor& {
        auto& hv = hvs[uri];
        if (!hv) {
          hv = backend::open_hypervisor(uri, access == cli::Access::ReadOnly);
        }
        return *hv;
      },
      [&]() -> store::SettingsStore& {
        if (!st) {
          st = std::make_unique<store::SettingsStore>(
              store::SettingsStore::prepare_path(store::SettingsStore::default_dir()));
        }
        return *st;
      },
      [] {
        return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
      },
      [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); },
      [] { return isatty(STDERR_FILENO) == 1; },
  };
  services.ensure_collector = [&] { return ensure_collector(services.store().path()); };
  services.ensure_pagefusiond = ensure_pagefusiond;
  services.stop_requested = stop_requested;
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  return cli::run_app(args, out, services);
}
