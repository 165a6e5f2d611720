#pragma once
// The balloon service as a process: `vboxmanage balloonctrl [options]` (or the same binary run
// as VBoxBalloonCtrl) — one per settings store, guarded by a flock on vboxkvm-balloonctrl.lock
// beside the store file, its state in vboxkvm-balloonctrl.json there. In the foreground it logs
// to stderr (or to -F FILE); with -b it becomes a daemon logging to -F or to VirtualBox's
// $VBOX_USER_HOME/vboxballoonctrl.log, rotated as -R/-S/-I say, its PID in -P FILE. It runs
// until SIGINT/SIGTERM/SIGHUP, or until its store is removed.

#include "balloon/settings.hpp"
#include "sys/daemon.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace vbm::balloon {

/// VBoxBalloonCtrl's process options (VBoxWatchdog.cpp g_aOptions and its defaults).
struct ProcessOptions {
  bool background = false;              ///< -b
  std::optional<std::string> pidfile;   ///< -P (used with -b)
  std::optional<std::string> logfile;   ///< -F
  std::uint32_t log_rotate = 10;        ///< -R: files kept (0: no rotation)
  std::uint64_t log_size = 100ULL << 20; ///< -S: bytes
  std::uint32_t log_interval_s = 86400; ///< -I: seconds
};

/// The files of the service of the store at `store_path`.
struct ServiceFiles {
  std::filesystem::path lock;
  std::filesystem::path state;
  std::filesystem::path default_log; ///< VirtualBox's vboxballoonctrl.log
};
ServiceFiles service_files(const std::string& store_path);

struct ServiceEnv {
  std::string store_path;
  std::optional<std::string> uri;
  ExtraDataReader extradata;
  sys::Daemon::Hooks hooks;
  /// The banner VBoxBalloonCtrl prints to stderr first (displayHeader).
  std::string banner;
};

/// Runs the service. Returns the exit code; throws vbm::Error when it cannot start (another one
/// serves the store, a pid file that exists, a log file that cannot be opened).
int service_main(const Options& options, const ProcessOptions& process, const ServiceEnv& env);

} // namespace vbm::balloon
