#pragma once
// The store's background metrics collector as a process: `vboxmanage __collector [--permanent]
// [--textfile-dir DIR] [--beats N]`. One per settings store, guarded by a flock on
// vboxkvm-collector.lock beside the store file (which also holds its PID), logging to
// vboxkvm-collector.log there. Started on demand by `metrics setup/enable/collect`
// (ensure_collector) and exits when nothing is being collected; `--permanent` (the systemd unit)
// keeps running until SIGTERM. It also exits when its store is removed.

#include "store/settings_store.hpp"
#include "sys/daemon.hpp"

#include <span>
#include <string>

namespace vbm::metrics {

/// The collector's lock and log, beside the store file `store_path`.
sys::DaemonFiles collector_files(const std::string& store_path);

/// Makes sure a collector runs for the store at `store_path`; returns a line saying which
/// process collects ("collector pid 123", or "collector starting"). Throws vbm::Error.
std::string ensure_collector(const std::string& store_path);

/// The process: parses its arguments, takes the lock and beats until it is done. Returns the
/// exit code. Throws vbm::Error (bad arguments, an unusable textfile directory).
int collector_main(std::span<const std::string> argv, store::SettingsStore& st,
                   const sys::Daemon::Hooks& hooks);

} // namespace vbm::metrics
