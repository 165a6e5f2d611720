#include "pagefusion/daemon.hpp"

#include "pagefusion/state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <unistd.h>

namespace vbm::pagefusion {

namespace {
constexpr int k_reconnect_ms = 2000;
// The longest a turn waits for events: how soon a changed setting or SIGTERM is noticed
// (libvirt's poll loop retries after a signal, so the wait itself is not cut short).
constexpr std::int64_t k_max_wait_ms = 1000;
// The guests' RSS is read with one bulk statistics call at most this often (a burst ticks every
// 250 ms; memory that grows is new work within a second either way).
constexpr std::int64_t k_memory_every_ms = 1000;
} // namespace

Daemon::Daemon(const backend::Ksm& ksm, HostPaths paths, Hooks hooks, bool permanent, Tuning tuning)
    : m_paths(std::move(paths)), m_hooks(std::move(hooks)), m_permanent(permanent),
      m_ctl(ksm, m_paths.prior(), tuning) {
  m_ctl.on_decision = [this](const Decision& d) {
    m_hooks.log(fmt::format("{}: {} pages / {} ms: {}", mode_name(d.mode), d.rate.pages_to_scan,
                            d.rate.sleep_millisecs, d.reason));
  };
  m_settings = read_settings(m_paths.settings());
  std::error_code ec;
  if (auto t = std::filesystem::last_write_time(m_paths.settings(), ec); !ec) {
    m_settings_mtime = t;
  }
}

bool Daemon::mergeable(const backend::VmRef& vm) {
  try {
    return is_page_fusion_guest(m_hv->live_memory(vm));
  } catch (const backend::BackendError& e) {
    if (e.connection_lost()) {
      throw;
    }
    return false; // gone again already
  }
}

void Daemon::resync() {
  std::vector<Guest> guests;
  for (const auto& vm : m_hv->list_vms()) {
    if (vm.id >= 0 && mergeable(vm)) {
      guests.push_back({vm.uuid, vm.name});
    }
  }
  // Their memory first, so that a burst for the guests found is sized by it.
  m_memory_read_ms.reset();
  read_guests_memory(guests);
  m_ctl.set_guests(std::move(guests), m_hooks.now_ms());
}

void Daemon::read_guests_memory(const std::vector<Guest>& guests) {
  auto at = m_hooks.now_ms();
  if (guests.empty() || (m_memory_read_ms && at - *m_memory_read_ms < k_memory_every_ms)) {
    return;
  }
  m_memory_read_ms = at;
  std::uint64_t rss_kib = 0;
  try {
    for (const auto& st : m_hv->running_domain_stats()) {
      if (std::any_of(guests.begin(), guests.end(),
                      [&](const Guest& g) { return g.uuid == st.vm.uuid; })) {
        rss_kib += st.balloon.rss_kib.value_or(0);
      }
    }
  } catch (const backend::BackendError& e) {
    if (e.connection_lost()) {
      throw;
    }
    return; // a guest went away meanwhile: the next read has it right
  }
  if (rss_kib > 0) { // 0: the driver reports no RSS (a running QEMU always has some)
    m_ctl.guests_memory(rss_kib, at);
  }
}

void Daemon::connect() {
  try {
    m_hv = m_hooks.connect();
    m_hv->watch_domain_events();
    m_uri = m_hv->uri();
    if (!is_local_qemu(*m_hv)) {
      m_hv.reset();
      throw Error(fmt::format("'{}' is not this host's QEMU: the page-fusion controller "
                              "steers the KSM of the host it runs on, for QEMU guests",
                              m_uri));
    }
    resync();
    m_hooks.log(fmt::format("watching {} ({} page-fusion guest{} running)", m_uri,
                            m_ctl.guests().size(), m_ctl.guests().size() == 1 ? "" : "s"));
    m_connect_error.clear();
  } catch (const backend::BackendError& e) {
    m_hv.reset();
    if (m_connect_error != e.what()) {
      // KSM stays as it is meanwhile: the guests it merges are still running.
      m_hooks.log(fmt::format("{} (retrying every {} s)", e.what(), k_reconnect_ms / 1000));
      m_connect_error = e.what();
    }
  }
}

void Daemon::on_event(const backend::DomainEvent& ev) {
  auto now = m_hooks.now_ms();
  switch (ev.kind) {
  case backend::DomainEvent::Kind::Started:
    if (mergeable(ev.vm)) {
      m_ctl.guest_started({ev.vm.uuid, ev.vm.name}, now);
    }
    break;
  case backend::DomainEvent::Kind::Stopped: m_ctl.guest_stopped(ev.vm.uuid, now); break;
  case backend::DomainEvent::Kind::BalloonChanged:
    m_ctl.balloon_changed(ev.vm.uuid, ev.actual_kib, now);
    break;
  }
}

bool Daemon::turn() {
  std::error_code ec;
  std::optional<std::filesystem::file_time_type> mtime;
  if (auto t = std::filesystem::last_write_time(m_paths.settings(), ec); !ec) {
    mtime = t;
  }
  if (mtime != m_settings_mtime) {
    m_settings_mtime = mtime;
    try {
      m_settings = read_settings(m_paths.settings());
      m_hooks.log(fmt::format("settings: manage-ksm = {}", m_settings.manage_ksm ? "yes" : "no"));
    } catch (const SettingsError& e) {
      m_hooks.log(fmt::format("{} (keeping manage-ksm = {})", e.what(),
                              m_settings.manage_ksm ? "yes" : "no"));
    }
  }
  if (!m_settings.manage_ksm) {
    m_ctl.release(m_hooks.now_ms(),
                  fmt::format("manage-ksm = no in {}", m_paths.settings().string()));
    write_state();
    if (!m_permanent) {
      return false;
    }
    m_hooks.sleep_ms(1000);
    return true;
  }

  if (!m_hv) {
    connect();
    if (!m_hv) {
      write_state();
      m_hooks.sleep_ms(k_reconnect_ms);
      return true;
    }
  }
  bool changed = false;
  try {
    read_guests_memory(m_ctl.guests());
    auto wait = std::clamp<std::int64_t>(m_next_tick_ms - m_hooks.now_ms(), 0, k_max_wait_ms);
    for (const auto& ev : m_hv->wait_domain_events(static_cast<int>(wait))) {
      on_event(ev);
      changed = true;
    }
  } catch (const backend::BackendError& e) {
    if (!e.connection_lost()) {
      throw;
    }
    m_hooks.log(fmt::format("lost libvirtd ({}); KSM stays as it is until it is back", e.what()));
    m_hv.reset();
    m_connect_error.clear();
    return true;
  }
  auto now = m_hooks.now_ms();
  if (now >= m_next_tick_ms) {
    m_next_tick_ms = now + m_ctl.tick(now);
    changed = true;
  }
  if (changed) {
    write_state(); // after what happened, and at every tick (status calls it stale after 15 s)
  }
  return m_permanent || m_ctl.mode() != Mode::Unmanaged || !m_ctl.guests().empty();
}

void Daemon::stop(const std::string& reason) {
  m_ctl.release(m_hooks.now_ms(), reason);
  write_state();
}

void Daemon::write_state() {
  StateFile st;
  st.pid = getpid();
  st.updated_ms = m_hooks.now_ms();
  st.manage_ksm = m_settings.manage_ksm;
  st.uri = m_uri;
  st.connected = m_hv != nullptr;
  st.mode = m_ctl.mode();
  st.mode_since_ms = m_ctl.mode_since_ms();
  st.rate = m_ctl.rate();
  st.ksmd_cpu_percent = m_ctl.ksmd_cpu_percent();
  st.guests = m_ctl.guests();
  st.last_gain = m_ctl.last_gain();
  if (const auto& p = m_ctl.prior()) {
    st.prior = p->to_text();
  }
  st.decisions.assign(m_ctl.decisions().begin(), m_ctl.decisions().end());
  try {
    pagefusion::write_state(m_paths.state(), st);
  } catch (const Error& e) {
    m_hooks.log(e.what());
  }
}

} // namespace vbm::pagefusion
