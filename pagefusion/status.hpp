#pragma once
// What `pagefusion status` reports about the host's page fusion, gathered once for both of its
// formats, and the admin's `pagefusion manage on|off` (cli/pagefusion.cpp prints and parses).

#include "backend/hypervisor.hpp"
#include "backend/ksm.hpp"
#include "pagefusion/host.hpp"
#include "pagefusion/state.hpp"
#include "sys/daemon.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vbm::pagefusion {

struct Status {
  backend::KsmKnobs knobs;
  std::optional<backend::KsmCounters> counters;
  std::optional<std::uint64_t> ksmd_ns;
  std::optional<double> ksmd_percent;
  std::int64_t ksmd_window_ms = 0;
  std::uint64_t page_size = 4096;
  HostPaths paths;
  std::optional<Settings> settings;
  std::string settings_error;
  std::string controller_pid;      ///< "" when no controller runs
  std::optional<StateFile> state;  ///< the running controller's state (none if stale)
  std::vector<Decision> decisions; ///< the last decisions, of the running or the last controller
  bool prior_left = false;         ///< a prior file without a controller: one was killed
  struct GuestShare {
    std::string name;
    std::string uuid;
    std::optional<std::uint64_t> merging_pages;
  };
  std::vector<GuestShare> guests;
  std::string guests_error; ///< why the guests are unknown (libvirt cannot be reached)
};

/// How status reaches the world: tests point `root` at a fake tree and give their own clock.
struct StatusHooks {
  std::filesystem::path root = "/";
  /// The connection whose guests are listed. Throws backend::BackendError.
  std::function<backend::Hypervisor&()> connect;
  std::function<std::int64_t()> now_ms;
  std::function<void(int ms)> sleep_ms;
};

/// Gathers the status. Throws vbm::Error when this kernel has no KSM, or the connection is to
/// another host (its KSM is not this one's).
Status gather_status(const StatusHooks& hooks);

/// Whether a page-fusion guest runs on `hv` now.
bool any_page_fusion_guest(backend::Hypervisor& hv);

/// `manage off`'s second half: waits (up to 10 s) until the running controller has given KSM
/// back, or, with none running, undoes what a killed one left (its prior file) under the lock.
/// Returns KSM's tunables as they are now. Throws vbm::Error.
backend::KsmKnobs give_back(const HostPaths& paths, const backend::Ksm& ksm,
                            const std::function<void(int ms)>& sleep_ms);

/// The controller's lock and log.
sys::DaemonFiles controller_files(const HostPaths& paths);
/// Makes sure the host's controller runs (`vboxmanage __pagefusiond --connect URI`), as root
/// only (others cannot steer KSM; returns ""). Returns its PID, "" while it starts.
std::string ensure_controller(const std::string& uri);

/// A controller killed with -9 leaves KSM as it steered it, and its prior file: whenever a
/// vboxmanage run (as root) finds that file with no controller holding the lock, it starts one,
/// which takes over: it steers KSM for the page-fusion guests still running, or gives KSM back
/// as found when none is. Never throws; returns what it did, "" if nothing.
std::string settle_abandoned_ksm();

} // namespace vbm::pagefusion
