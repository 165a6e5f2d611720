#pragma once
// The page-fusion controller's process loop, without the process: libvirt's lifecycle and
// balloon events in, Controller decisions out, the state file for `pagefusion status` written
// after each. cli/pagefusiond_main.cpp adds the lock, the signals and the log; tests drive a
// Daemon with FakeHypervisor, a fake sysfs tree and their own clock.

#include "backend/hypervisor.hpp"
#include "pagefusion/controller.hpp"
#include "pagefusion/host.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace vbm::pagefusion {

class Daemon {
public:
  struct Hooks {
    /// Opens the libvirt connection (with events). Throws backend::BackendError.
    std::function<std::shared_ptr<backend::Hypervisor>()> connect;
    std::function<std::int64_t()> now_ms;
    std::function<void(int ms)> sleep_ms; ///< used only while libvirtd cannot be reached
    std::function<void(const std::string&)> log;
  };

  Daemon(const backend::Ksm& ksm, HostPaths paths, Hooks hooks, bool permanent, Tuning tuning = {});

  /// One turn: reload the settings if they changed, (re)connect, wait for events until the
  /// controller's next tick, feed them in, tick, write the state file. Returns false once the
  /// daemon has nothing left to do (not permanent, KSM given back, no page-fusion guest).
  /// Throws backend::KsmError (KSM refused a change), SettingsError (a bad settings file at
  /// start) and std::runtime_error (the connection is not to this host).
  bool turn();
  /// Gives KSM back as found (the process is stopping) and writes the final state.
  void stop(const std::string& reason);
  /// Lists the page-fusion guests again (after the lock was released and taken back).
  void resync();

  Controller& controller() { return m_ctl; }
  bool connected() const { return m_hv != nullptr; }

private:
  void connect();
  void on_event(const backend::DomainEvent& ev);
  bool mergeable(const backend::VmRef& vm);
  /// Tells the controller the sum of `guests`' RSS (at most once a second).
  void read_guests_memory(const std::vector<Guest>& guests);
  void write_state();

  HostPaths m_paths;
  Hooks m_hooks;
  bool m_permanent;
  Controller m_ctl;
  Settings m_settings;
  std::optional<std::filesystem::file_time_type> m_settings_mtime;
  std::shared_ptr<backend::Hypervisor> m_hv;
  std::string m_uri;
  std::string m_connect_error;
  std::int64_t m_next_tick_ms = 0;
  std::optional<std::int64_t> m_memory_read_ms;
};

} // namespace vbm::pagefusion
