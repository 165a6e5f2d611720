#pragma once
// A balloon policy: given the host's and the managed guests' figures, which balloon targets to
// set, and why. Policies keep whatever history they need but never read a clock or libvirt: the
// service (balloon/service.cpp) asks them with the time, and tests drive them with made-up
// figures. Four of them:
//   vboxkvm  ours (adaptive_policy.cpp): a guard per guest from its own demand, fast deflate,
//            slow inflate, host states, a watchdog;
//   vbox     VBoxBalloonCtrl 7.0.14's decisions, exactly (vbox_policy.cpp);
//   proxmox  Proxmox VE's auto-ballooning (pvestatd + AutoBalloon.pm), a faithful port;
//   mom      oVirt MOM with vdsm's balloon policy, a faithful port (baseline_policies.cpp).
// The last two are there to be measured against (bench/bench_autoballoon.sh).

#include "balloon/figures.hpp"
#include "balloon/settings.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vbm::balloon {

/// A managed guest as a policy sees it.
struct Guest {
  GuestFigures figures;
  /// The balloon target the service last set (the guest's actual memory when it never set one).
  std::uint64_t target_kib = 0;
  bool running = true;    ///< false: paused
  bool responding = true; ///< the watchdog: its balloon moves when asked (service.cpp)
  /// Its balloon has free page reporting (<memballoon freePageReporting='on'>): the guest hands
  /// its free pages back to the host by itself, so free memory in it costs the host nothing.
  bool free_page_reporting = false;
  GuestSettings settings;
};

/// A balloon target to set.
struct Action {
  std::string uuid;
  std::uint64_t target_kib = 0;
  std::string reason;  ///< plain words, e.g. "usable 40 MB fell below its guard 96 MB"
  bool urgent = false; ///< a guest running short gets memory back (counted for reaction times)
};

/// What a policy keeps about a guest, for `balloonctrl status`.
struct GuestNote {
  std::optional<std::uint64_t> guard_kib; ///< the free memory it keeps the guest above
  std::string state;                      ///< e.g. "cooling down for 20 s", "" when nothing special
};

class Policy {
public:
  virtual ~Policy() = default;
  /// Decides at `now_ms` for the running guests (in a stable order), appending the targets
  /// to set to `out`. Returns the milliseconds until it wants to be asked again; the service
  /// may ask sooner (a guest started or stopped, a balloon moved).
  virtual std::int64_t decide(std::int64_t now_ms, const HostFigures& host,
                              std::span<const Guest> guests, std::vector<Action>& out) = 0;
  /// The guest stopped: forget it.
  virtual void forget(const std::string& uuid) = 0;
  virtual GuestNote note(const std::string& uuid) const = 0;
  /// Whether it wants fresh figures whenever anything happens (events), not only on its cycle.
  virtual bool reacts_to_events() const = 0;
  /// The service stops: targets that must not outlive it (a guest squeezed for a moment is
  /// given its memory back).
  virtual void stopping(std::vector<Action>& /*out*/) {}
  /// The policy's log (VBoxBalloonCtrl's lines for vbox); verbose lines only with -v.
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

std::unique_ptr<Policy> make_policy(PolicyKind kind, const Options& options);

} // namespace vbm::balloon
