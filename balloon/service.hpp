#pragma once
// The balloon service's loop, without the process: libvirt's lifecycle and balloon events in,
// the running guests' figures read with one bulk call when a policy is due, the policies'
// targets set on the guests' balloons, a watchdog on every balloon asked to move, the state file
// out. balloon/service_main.cpp adds the process (lock, log, signals, daemon mode); tests drive
// a Service with FakeHypervisor and their own clock.

#include "backend/hypervisor.hpp"
#include "balloon/policy.hpp"
#include "balloon/state.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace vbm::balloon {

struct ServiceTuning {
  std::int64_t settings_every_ms = 5000; ///< extradata read again this often
  std::int64_t respond_ms = 20000;       ///< a balloon asked to move that has not: not responding
  std::int64_t no_stats_ms = 20000;      ///< a guest that never reported statistics by then
  std::int64_t stale_stats_ms = 30000;   ///< statistics that stopped this long ago (hung guest)
  std::int64_t probe_ms = 120000;        ///< a not-responding balloon is tried again after this
  std::int64_t state_every_ms = 1000;    ///< the state file is rewritten at least this often
  int reconnect_ms = 2000;
  size_t decisions_kept = 50;
  size_t reactions_kept = 200;
};

class Service {
public:
  struct Hooks {
    /// Opens the libvirt connection (with events). Throws backend::BackendError.
    std::function<std::shared_ptr<backend::Hypervisor>()> connect;
    std::function<std::int64_t()> now_ms;
    std::function<void(int ms)> sleep_ms; ///< only while libvirtd cannot be reached
    std::function<void(const std::string&)> log;
    ExtraDataReader extradata;
    /// The host's memory now (/proc); not asked with --host-budget. nullopt: not known.
    std::function<std::optional<HostFigures>()> host;
    std::filesystem::path state_file; ///< empty: none written
  };

  Service(Options options, Hooks hooks, ServiceTuning tuning = {});

  /// One turn: (re)connect, wait for events until a policy is due (a second at most, so a stop
  /// is seen soon), read the figures, decide, set balloons, write the state file.
  void turn();
  /// The process is stopping: the final state. Balloons stay as they are, as VBoxBalloonCtrl
  /// leaves them (a guest keeps its deflate-on-OOM; the next service takes over from what is).
  void stop(const std::string& why);
  const ServiceState& state() const { return m_state; }
  bool connected() const { return m_hv != nullptr; }

private:
  struct Watch {
    std::int64_t since_ms = 0;
    std::uint64_t from_kib = 0;
    std::uint64_t to_kib = 0;
    bool urgent = false;
    std::int64_t short_seen_ms = 0; ///< when the figures showed it running short
    bool moved = false;             ///< it went half the way at least
  };
  struct Managed {
    backend::VmRef vm;
    GuestFigures figures;
    std::uint64_t target_kib = 0;
    std::int64_t seen_ms = 0;
    GuestSettings settings;
    std::int64_t settings_at_ms = -1;
    bool running = true;
    bool responding = true;
    bool free_page_reporting = false;
    std::string not_responding; ///< why, while not responding
    bool silent = false;        ///< it stopped reporting (fresh statistics end that early)
    std::string unsupported;    ///< why a balloon cannot work for it (huge pages, no device)
    std::int64_t probe_at_ms = 0;
    std::optional<std::int64_t> stats_changed_ms; ///< when its statistics stamp last changed
    std::optional<Watch> watch;
  };

  void connect();
  void add(const backend::VmRef& vm, std::int64_t now_ms);
  bool selected(const std::string& uuid) const;
  void sample(std::int64_t now_ms);
  void refresh_settings(Managed& m, std::int64_t now_ms);
  void watchdog(Managed& m, std::int64_t now_ms);
  void not_responding(Managed& m, std::int64_t now_ms, const std::string& why, bool silent);
  HostFigures host_figures() const;
  void decide(std::int64_t now_ms, bool eventful);
  void apply(const Action& a, PolicyKind kind, std::int64_t now_ms);
  Policy& policy(PolicyKind kind);
  void write_state(std::int64_t now_ms, bool force);
  void lost(const backend::BackendError& e);

  Options m_options;
  Hooks m_hooks;
  ServiceTuning m_t;
  std::shared_ptr<backend::Hypervisor> m_hv;
  std::string m_connect_error;
  std::map<std::string, Managed> m_guests; ///< by UUID
  /// Running guests outside --balloon-groups (by UUID): when their groups were last read.
  std::map<std::string, std::int64_t> m_outside;
  std::map<PolicyKind, std::unique_ptr<Policy>> m_policies;
  std::map<PolicyKind, std::int64_t> m_due_ms;
  std::int64_t m_next_ms = 0;
  std::int64_t m_state_written_ms = -1'000'000;
  HostFigures m_host;
  ServiceState m_state;
};

} // namespace vbm::balloon
