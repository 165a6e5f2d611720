#include "balloon/service.hpp"

#include "balloon/adaptive_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unistd.h>

namespace vbm::balloon {

namespace {
constexpr std::int64_t k_max_wait_ms = 1000;

std::uint64_t mb(std::uint64_t kib) { return kib / k_mib; }

GuestFigures figures_of(const backend::DomainStats& d) {
  const auto& b = d.balloon;
  GuestFigures f;
  f.uuid = d.vm.uuid;
  f.name = d.vm.name;
  f.max_kib = d.maximum_kib.value_or(b.actual_kib.value_or(0));
  f.actual_kib = b.actual_kib.value_or(f.max_kib);
  f.unused_kib = b.unused_kib;
  f.usable_kib = b.usable_kib;
  f.available_kib = b.available_kib;
  f.disk_caches_kib = b.disk_caches_kib;
  f.major_faults = b.major_faults;
  f.swap_in_kib = b.swap_in_kib;
  f.rss_kib = b.rss_kib;
  f.stats_time_s = b.last_update;
  return f;
}

std::optional<std::int64_t> percentile(std::vector<std::int64_t> v, double p) {
  if (v.empty()) {
    return std::nullopt;
  }
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(i, v.size() - 1)];
}
} // namespace

Service::Service(Options options, Hooks hooks, ServiceTuning tuning)
    : m_options(std::move(options)), m_hooks(std::move(hooks)), m_t(tuning) {
  m_state.pid = getpid();
  m_state.started_ms = m_hooks.now_ms();
  m_state.dryrun = m_options.dryrun;
  m_state.host_emulated = m_options.host_budget_mb.has_value();
}

Policy& Service::policy(PolicyKind kind) {
  auto& p = m_policies[kind];
  if (!p) {
    p = make_policy(kind, m_options);
    p->log = [this](const std::string& line) { m_hooks.log(line); };
    m_due_ms[kind] = 0;
  }
  return *p;
}

void Service::connect() {
  try {
    m_hv = m_hooks.connect();
    m_hv->watch_domain_events();
    m_state.uri = m_hv->uri();
    m_state.hostname = m_hv->hostname();
    auto now = m_hooks.now_ms();
    for (const auto& vm : m_hv->list_vms()) {
      if (vm.id >= 0) {
        add(vm, now);
      }
    }
    m_hooks.log(fmt::format("watching {} ({} running guest{})", m_state.uri, m_guests.size(),
                            m_guests.size() == 1 ? "" : "s"));
    m_connect_error.clear();
    m_next_ms = now; // decide at once with fresh figures
  } catch (const backend::BackendError& e) {
    m_hv.reset();
    if (m_connect_error != e.what()) {
      // The guests' balloons stay as they are meanwhile.
      m_hooks.log(fmt::format("{} (retrying every {} s)", e.what(), m_t.reconnect_ms / 1000));
      m_connect_error = e.what();
    }
  }
}

void Service::lost(const backend::BackendError& e) {
  m_hooks.log(
      fmt::format("lost libvirtd ({}); the balloons stay as they are until it is back", e.what()));
  m_hv.reset();
  m_connect_error.clear();
}

bool Service::selected(const std::string& uuid) const {
  if (m_options.groups.empty()) {
    return true;
  }
  auto groups = m_hooks.extradata(uuid, k_key_groups);
  return balloon::selected(m_options,
                           groups ? split_groups(*groups) : std::vector<std::string>{"/"});
}

void Service::add(const backend::VmRef& vm, std::int64_t now_ms) {
  if (!selected(vm.uuid)) {
    m_outside[vm.uuid] = now_ms; // not ours: not even its statistics are turned on
    return;
  }
  m_outside.erase(vm.uuid);
  auto [it, fresh] = m_guests.try_emplace(vm.uuid);
  auto& m = it->second;
  if (fresh || m.vm.id != vm.id) {
    m = Managed{};
    m.vm = vm;
    m.seen_ms = now_ms;
    m.settings = resolve(m_options, m_hooks.extradata, vm.uuid, 0); // again once figures come
    try {
      // A balloon cannot help these (controlvm guestmemoryballoon refuses them too).
      auto live = m_hv->live_memory(vm);
      m.free_page_reporting = live.free_page_reporting;
      if (!live.balloon_device) {
        m.unsupported = "it has no balloon device (<memballoon model='none'>)";
      } else if (live.hugepages) {
        m.unsupported = "huge pages back its memory: what a balloon takes never reaches the host";
      }
      if (!m.unsupported.empty()) {
        m_hooks.log(fmt::format("[{}] left alone: {}", vm.name, m.unsupported));
        return;
      }
      // VBoxBalloonCtrl reads statistics it never turns on; every policy here gets them.
      m_hv->set_memory_stats_period(vm, 1);
    } catch (const backend::BackendError& e) {
      if (e.connection_lost()) {
        throw;
      }
      m_hooks.log(fmt::format("[{}] cannot turn its balloon statistics on: {}", vm.name, e.what()));
    }
  }
}

void Service::refresh_settings(Managed& m, std::int64_t now_ms) {
  if (m.settings_at_ms >= 0 && now_ms - m.settings_at_ms < m_t.settings_every_ms) {
    return;
  }
  m.settings = resolve(m_options, m_hooks.extradata, m.vm.uuid, m.figures.max_kib);
  m.settings_at_ms = now_ms;
  try {
    m.running = m_hv->state(m.vm) == backend::VmState::Running;
  } catch (const backend::BackendError& e) {
    if (e.connection_lost()) {
      throw;
    }
  }
}

void Service::not_responding(Managed& m, std::int64_t now_ms, const std::string& why, bool silent) {
  m.responding = false;
  m.not_responding = why;
  m.silent = silent;
  m.probe_at_ms = now_ms + m_t.probe_ms;
  m.watch.reset();
  ++m_state.not_responding;
  m_hooks.log(fmt::format("[{}] not responding: {}; left alone", m.vm.name, why));
  if (m.target_kib + k_mib < m.figures.actual_kib || m.target_kib > m.figures.actual_kib + k_mib) {
    // Stop pushing: the target goes back to where the balloon is.
    try {
      if (!m_options.dryrun) {
        m_hv->set_live_balloon_target(m.vm, m.figures.actual_kib);
      }
      m.target_kib = m.figures.actual_kib;
    } catch (const backend::BackendError& e) {
      if (e.connection_lost()) {
        throw;
      }
    }
  }
}

void Service::watchdog(Managed& m, std::int64_t now_ms) {
  const auto& f = m.figures;
  if (!m.responding) {
    // A guest that fell silent is back as soon as it reports again; a stuck balloon is tried
    // again only when the probe is due.
    bool stats_back =
        m.silent && m.stats_changed_ms && *m.stats_changed_ms > m.probe_at_ms - m_t.probe_ms;
    if (now_ms >= m.probe_at_ms || (stats_back && f.stats_time_s.value_or(0) > 0)) {
      m.responding = true; // try again
      m.not_responding.clear();
    }
    return;
  }
  if (f.stats_time_s && *f.stats_time_s == 0 && now_ms - m.seen_ms > m_t.no_stats_ms) {
    not_responding(m, now_ms,
                   fmt::format("it has not reported balloon statistics in {} s (is the guest's "
                               "virtio_balloon driver loaded?)",
                               m_t.no_stats_ms / 1000),
                   true);
    return;
  }
  if (m.stats_changed_ms && now_ms - *m.stats_changed_ms > m_t.stale_stats_ms) {
    not_responding(m, now_ms,
                   fmt::format("its balloon statistics stopped {} s ago (is the guest hung?)",
                               (now_ms - *m.stats_changed_ms) / 1000),
                   true);
    return;
  }
  if (!m.watch) {
    return;
  }
  auto& w = *m.watch;
  auto distance = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : b - a; };
  auto total = distance(w.from_kib, w.to_kib);
  auto left = distance(f.actual_kib, w.to_kib);
  if (left <= k_mib || (w.to_kib > w.from_kib && f.actual_kib >= w.to_kib)) {
    if (w.urgent) {
      // How fast a guest running short got its memory: from the figures that showed it to now.
      m_state.reaction_ms.push_back(now_ms - w.short_seen_ms);
      ++m_state.reactions;
      m_state.reaction_ms_sum += static_cast<std::uint64_t>(now_ms - w.short_seen_ms);
      if (m_state.reaction_ms.size() > m_t.reactions_kept) {
        m_state.reaction_ms.erase(m_state.reaction_ms.begin());
      }
      m_state.reaction_p50_ms = percentile(m_state.reaction_ms, 0.50);
      m_state.reaction_p99_ms = percentile(m_state.reaction_ms, 0.99);
    }
    m.watch.reset(); // it arrived
  } else if (left * 2 <= total) {
    w.moved = true; // it responds; an urgent one is watched on until it arrives
    if (!w.urgent) {
      m.watch.reset();
    }
  } else if (!w.moved && now_ms - w.since_ms > m_t.respond_ms) {
    not_responding(m, now_ms,
                   fmt::format("its balloon did not move from {} MB toward {} MB in {} s",
                               mb(w.from_kib), mb(w.to_kib), m_t.respond_ms / 1000),
                   false);
  }
}

void Service::sample(std::int64_t now_ms) {
  auto stats = m_hv->running_domain_stats();
  std::map<std::string, const backend::DomainStats*> by_uuid;
  for (const auto& d : stats) {
    by_uuid[d.vm.uuid] = &d;
    auto outside = m_outside.find(d.vm.uuid);
    bool recheck = outside == m_outside.end() || now_ms - outside->second >= m_t.settings_every_ms;
    if (!m_guests.contains(d.vm.uuid) && recheck) {
      add(d.vm, now_ms); // started while we were not looking (a reconnect), or put in a group
    }
  }
  std::erase_if(m_outside, [&](const auto& o) { return !by_uuid.contains(o.first); });
  for (auto it = m_guests.begin(); it != m_guests.end();) {
    auto s = by_uuid.find(it->first);
    if (s == by_uuid.end() || !balloon::selected(m_options, it->second.settings.groups.value)) {
      if (s != by_uuid.end()) {
        m_outside[it->first] = now_ms; // taken out of our groups: left as it is from now on
        m_hooks.log(
            fmt::format("[{}] no longer in --balloon-groups; left alone", it->second.vm.name));
      }
      for (auto& [kind, p] : m_policies) {
        p->forget(it->first);
      }
      it = m_guests.erase(it);
      continue;
    }
    auto& m = it->second;
    auto f = figures_of(*s->second);
    if (f.stats_time_s != m.figures.stats_time_s || !m.stats_changed_ms) {
      m.stats_changed_ms = now_ms;
    }
    bool first = m.figures.uuid.empty();
    m.figures = f;
    if (first) {
      m.target_kib = f.actual_kib; // nobody asked it anything yet (that we know of)
    }
    refresh_settings(m, now_ms);
    if (m.unsupported.empty()) {
      watchdog(m, now_ms);
    }
    ++it;
  }
  m_host = host_figures();
}

HostFigures Service::host_figures() const {
  if (m_options.host_budget_mb) {
    // The emulated host: the budget, used by the managed guests' QEMU resident memory.
    HostFigures h;
    h.total_kib = *m_options.host_budget_mb * k_mib;
    std::uint64_t used = 0;
    for (const auto& [uuid, m] : m_guests) {
      used += m.figures.rss_kib.value_or(m.figures.actual_kib);
    }
    h.available_kib = h.free_kib = h.total_kib > used ? h.total_kib - used : 0;
    return h;
  }
  return m_hooks.host ? m_hooks.host().value_or(HostFigures{}) : HostFigures{};
}

void Service::apply(const Action& a, PolicyKind kind, std::int64_t now_ms) {
  auto it = m_guests.find(a.uuid);
  if (it == m_guests.end()) {
    return;
  }
  auto& m = it->second;
  auto from = m.figures.actual_kib;
  auto to = std::min(a.target_kib, m.figures.max_kib);
  if (!m_options.dryrun) {
    m_hv->set_live_balloon_target(m.vm, to);
    m.target_kib = to;
    // A new target in the same direction as one still unreached continues that watch: the
    // balloon had to move since the first request, however often the target was moved on.
    bool same_way = m.watch && (m.watch->to_kib > m.watch->from_kib) == (to > from);
    m.watch = same_way ? Watch{m.watch->since_ms,
                               m.watch->from_kib,
                               to,
                               a.urgent || m.watch->urgent,
                               m.watch->urgent ? m.watch->short_seen_ms : now_ms,
                               m.watch->moved}
                       : Watch{now_ms, from, to, a.urgent, now_ms, false};
  }
  ++m_state.changes;
  m_state.urgent_changes += a.urgent ? 1 : 0;
  std::string text =
      kind == PolicyKind::VBox
          ? a.reason
          : fmt::format("{} by {} MB to {} MB: {}", to > from ? "deflated" : "inflated",
                        mb(to > from ? to - from : from - to), mb(to), a.reason);
  if (kind != PolicyKind::VBox) { // VBoxBalloonCtrl's policy logs its own lines
    m_hooks.log(fmt::format("[{}] {}{}", m.vm.name, text, m_options.dryrun ? " (dry run)" : ""));
  }
  m_state.decisions.push_back({now_ms, m.vm.name, from, to, text, a.urgent, !m_options.dryrun});
  if (m_state.decisions.size() > m_t.decisions_kept) {
    m_state.decisions.erase(m_state.decisions.begin());
  }
}

void Service::decide(std::int64_t now_ms, bool eventful) {
  std::map<PolicyKind, std::vector<Guest>> by_policy;
  for (auto& [uuid, m] : m_guests) {
    auto kind = m.settings.policy.value;
    policy(kind);
    if (m.responding && m.unsupported.empty() && m.figures.max_kib > 0) {
      by_policy[kind].push_back(
          {m.figures, m.target_kib, m.running, m.responding, m.free_page_reporting, m.settings});
    }
  }
  std::vector<Action> actions;
  m_next_ms = now_ms + k_max_wait_ms;
  for (auto& [kind, p] : m_policies) {
    auto& due = m_due_ms[kind];
    if (now_ms >= due || (eventful && p->reacts_to_events())) {
      actions.clear();
      due = now_ms + std::max<std::int64_t>(1, p->decide(now_ms, m_host, by_policy[kind], actions));
      for (const auto& a : actions) {
        apply(a, kind, now_ms);
      }
    }
    m_next_ms = std::min(m_next_ms, due);
  }
}

void Service::turn() {
  if (!m_hv) {
    connect();
    if (!m_hv) {
      write_state(m_hooks.now_ms(), false);
      m_hooks.sleep_ms(m_t.reconnect_ms);
      return;
    }
  }
  bool eventful = false;
  try {
    auto wait = std::clamp<std::int64_t>(m_next_ms - m_hooks.now_ms(), 0, k_max_wait_ms);
    for (const auto& ev : m_hv->wait_domain_events(static_cast<int>(wait))) {
      auto now = m_hooks.now_ms();
      switch (ev.kind) {
      case backend::DomainEvent::Kind::Started: add(ev.vm, now); break;
      case backend::DomainEvent::Kind::Stopped: break; // the next sample drops it
      case backend::DomainEvent::Kind::BalloonChanged:
        if (auto it = m_guests.find(ev.vm.uuid); it != m_guests.end()) {
          it->second.figures.actual_kib = ev.actual_kib;
        }
        break;
      }
      eventful = true;
    }
    auto now = m_hooks.now_ms();
    if (now >= m_next_ms || eventful) {
      sample(now);
      decide(now, eventful);
    }
    write_state(now, eventful);
  } catch (const backend::BackendError& e) {
    if (!e.connection_lost()) {
      m_hooks.log(e.what()); // one call failed (a guest that just stopped): go on
      return;
    }
    lost(e);
  }
}

void Service::write_state(std::int64_t now_ms, bool force) {
  if (m_hooks.state_file.empty() || (!force && now_ms - m_state_written_ms < m_t.state_every_ms)) {
    return;
  }
  m_state_written_ms = now_ms;
  m_state.updated_ms = now_ms;
  m_state.connected = m_hv != nullptr;
  m_state.host_total_kib = m_host.total_kib;
  m_state.host_available_kib = m_host.available_kib;
  if (auto it = m_policies.find(PolicyKind::Adaptive); it != m_policies.end()) {
    m_state.host_state =
        host_state_name(static_cast<const AdaptivePolicy&>(*it->second).host_state());
  }
  m_state.guests.clear();
  for (const auto& [uuid, m] : m_guests) {
    GuestState g{m.vm.name,
                 uuid,
                 std::string(policy_name(m.settings.policy.value)),
                 std::string(mode_name(m.settings.mode.value)),
                 m.figures.max_kib,
                 m.figures.actual_kib,
                 m.target_kib,
                 m.figures.usable_kib,
                 std::nullopt,
                 "managed",
                 ""};
    auto note = m_policies.count(m.settings.policy.value)
                    ? m_policies.at(m.settings.policy.value)->note(uuid)
                    : GuestNote{};
    g.guard_kib = note.guard_kib;
    if (!m.unsupported.empty()) {
      g.state = "disabled";
      g.why = m.unsupported;
    } else if (!m.responding) {
      g.state = "not responding";
      g.why = m.not_responding;
    } else if (!m.settings.enabled.value) {
      g.state = "disabled";
      g.why = m.settings.enabled.source;
    } else if (note.state.starts_with("cooling down")) {
      g.state = "cooling down";
      g.why = note.state;
    } else if (!note.state.empty()) {
      g.state = note.state;
    }
    m_state.guests.push_back(g);
  }
  try {
    balloon::write_state(m_hooks.state_file, m_state);
  } catch (const Error& e) {
    m_hooks.log(e.what());
  }
}

void Service::stop(const std::string& why) {
  std::vector<Action> actions;
  for (auto& [kind, p] : m_policies) {
    actions.clear();
    p->stopping(actions);
    for (const auto& a : actions) {
      try {
        if (m_hv) {
          apply(a, kind, m_hooks.now_ms());
        }
      } catch (const backend::BackendError& e) {
        m_hooks.log(e.what());
      }
    }
  }
  m_hooks.log(fmt::format("stopping ({}); balloons stay as they are", why));
  write_state(m_hooks.now_ms(), true);
}

} // namespace vbm::balloon
