// Builds the real services, runs the app, returns its exit code. Nothing else.

#include "backend/hypervisor.hpp"
#include "cli/app.hpp"
#include "metrics/collector_main.hpp"
#include "pagefusion/status.hpp"
#include "store/settings_store.hpp"
#include "sys/signals.hpp"

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <unistd.h>

int main(int argc, char** argv) {
  using namespace vbm;
  // A closed stdin, stdout or stderr is reopened on /dev/null, so that the libvirt socket or
  // the store never becomes fd 1; what we then write to a closed stdout is an error (below).
  bool stdout_closed = sys::ensure_standard_fds().stdout_was_closed;
  // A libvirtd that goes away must be an error we report, not a silent death by SIGPIPE on its
  // socket (virsh does the same); a closed stdout shows as a failed write instead.
  std::signal(SIGPIPE, SIG_IGN);
  // VirtualBox's messages are named after its executable (IPRT reads /proc/self/exe), and its
  // Linux wrapper runs the one VBoxManage executable for both `VBoxManage` and `vboxmanage`: so
  // the prefix is `VBoxManage` whatever we were called, except as VirtualBox's balloon service.
  std::string invoked = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "";
  std::string prog = invoked == "VBoxBalloonCtrl" ? invoked : "VBoxManage";
  cli::StdOutput out(prog);

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
  services.ensure_collector = [&] { return metrics::ensure_collector(services.store().path()); };
  // Completion reads the store only if it is there and the user's own; Tab never waits long.
  std::optional<store::Connection> reader;
  bool reader_tried = false;
  services.existing_store = [&]() -> store::Connection* {
    if (!reader_tried) {
      reader_tried = true;
      try {
        if (auto db = store::SettingsStore::open_existing_read_only(
                store::SettingsStore::default_dir(), 1000)) {
          reader.emplace(std::move(*db)); // Connection moves, but is not move-assignable
        }
      } catch (const std::exception&) {
        // A store that cannot be read offers no keys; the command itself will say why.
      }
    }
    return reader ? &*reader : nullptr;
  };
  services.ensure_pagefusiond = pagefusion::ensure_controller;
  // Caught only once a long-running command first asks, so every other command still dies on
  // Ctrl-C the ordinary way (sys/signals.hpp).
  services.stop_requested = [] {
    sys::catch_stop_signals();
    return sys::stop_signal() != 0;
  };
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  if (prog == "VBoxBalloonCtrl") {
    // VirtualBox's balloon service, the same binary under its name: all of it is balloonctrl's.
    args.insert(args.begin(), "balloonctrl");
  }
  bool background = !args.empty() && args[0].starts_with("__");
  int rc = cli::run_app(args, out, services);
  if (!background) {
    pagefusion::settle_abandoned_ksm();
  }
  if (auto err = out.finish(stdout_closed); !err.empty()) {
    out.error(fmt::format("error writing to standard output: {}", err));
    rc = rc == 0 ? 1 : rc;
  }
  sys::end_by_stop_signal();
  return rc;
}
