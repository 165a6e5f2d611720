#include "balloon/adaptive_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace vbm::balloon {

namespace {
std::uint64_t mb(std::uint64_t kib) { return kib / k_mib; }

std::optional<std::uint64_t> usable_of(const GuestFigures& f) {
  if (f.usable_kib) {
    return f.usable_kib;
  }
  if (f.unused_kib) { // older guest kernels report no MemAvailable
    return *f.unused_kib + f.disk_caches_kib.value_or(0);
  }
  return std::nullopt;
}

/// What brings a guest with `usable` memory up to two guards: what a deflate leaves it.
std::uint64_t up_to_two_guards(std::uint64_t guard_kib, std::uint64_t usable_kib) {
  return 2 * guard_kib > usable_kib ? 2 * guard_kib - usable_kib : 0;
}

std::uint64_t floor_kib(const Guest& g) {
  std::uint64_t by_max = g.settings.size_max_mb.value * k_mib;
  std::uint64_t from_max = g.figures.max_kib > by_max ? g.figures.max_kib - by_max : 0;
  return std::min(g.figures.max_kib, std::max(from_max, g.settings.min_mb.value * k_mib));
}
} // namespace

std::string_view host_state_name(HostState s) {
  switch (s) {
  case HostState::Plenty: return "plenty";
  case HostState::Pressure: return "pressure";
  case HostState::Critical: return "critical";
  case HostState::Normal: break;
  }
  return "normal";
}

AdaptivePolicy::AdaptivePolicy(Tuning tuning) : m_t(tuning) {}

double AdaptivePolicy::rate_now(const Track& t, std::int64_t now_ms) const {
  double age_s = static_cast<double>(now_ms - t.peak_at_ms) / 1000.0;
  return t.peak_rate * std::exp2(-std::max(0.0, age_s) / m_t.rate_half_life_s);
}

std::uint64_t AdaptivePolicy::guard(const Track& t, const Guest& g, std::int64_t now_ms) const {
  auto max = static_cast<double>(g.figures.max_kib);
  double floor = std::max(static_cast<double>(m_t.guard_floor_kib), m_t.guard_floor_share * max);
  double latency = m_t.detect_s + (t.deflate_s > 0 ? t.deflate_s : m_t.deflate_s);
  double cap = std::max(floor, m_t.guard_cap_share * max);
  return static_cast<std::uint64_t>(std::min(cap, std::max(floor, rate_now(t, now_ms) * latency)));
}

void AdaptivePolicy::observe(Track& t, const Guest& g, std::int64_t now_ms) {
  const auto& f = g.figures;
  // The balloon shrank by itself (the guest's deflate-on-OOM), above the target we set.
  t.self_deflated_kib =
      t.actual_kib && f.actual_kib > *t.actual_kib + k_mib && f.actual_kib > g.target_kib + k_mib
          ? f.actual_kib - *t.actual_kib
          : 0;
  t.actual_kib = f.actual_kib;
  if (t.deflating && f.actual_kib + k_mib >= t.deflating->second) {
    // How long a deflate takes on this guest: from the call until its balloon got there.
    double took = static_cast<double>(now_ms - t.deflating->first) / 1000.0;
    t.deflate_s = t.deflate_s == 0 ? took : 0.7 * t.deflate_s + 0.3 * took;
    t.deflating.reset();
  }
  // Just after a squeeze, statistics the guest took during it may still arrive, and would pair
  // its usable memory then with the balloon's size now: a demand that never was.
  auto usable = usable_of(f);
  if (now_ms < t.settle_until_ms && usable && *usable <= t.settle_kib) {
    return;
  }
  bool fresh = !f.stats_time_s || !t.stats_s || *f.stats_time_s != *t.stats_s;
  if (!usable || !fresh || (f.stats_time_s && *f.stats_time_s == 0)) {
    return;
  }
  std::uint64_t used = f.actual_kib > *usable ? f.actual_kib - *usable : 0;
  double dt = f.stats_time_s && t.stats_s ? static_cast<double>(*f.stats_time_s - *t.stats_s)
                                          : static_cast<double>(now_ms - t.fresh_at_ms) / 1000.0;
  // Right after our own inflate step the guest seems to use more (the balloon's size is newer
  // than its statistics): that is not its demand.
  bool own = now_ms - t.last_step_ms < m_t.own_step_ms;
  if (t.used_kib && dt > 0 && !own) {
    double rate = (static_cast<double>(used) - static_cast<double>(*t.used_kib)) / dt;
    if (rate > rate_now(t, now_ms)) {
      t.peak_rate = rate;
      t.peak_at_ms = now_ms;
    }
    if (f.major_faults && t.major_faults) {
      t.fault_rate =
          static_cast<double>(*f.major_faults - std::min(*f.major_faults, *t.major_faults)) / dt;
    }
    t.swapping = f.swap_in_kib && t.swap_in_kib && *f.swap_in_kib > *t.swap_in_kib;
  }
  if (!t.used_kib || (used > *t.used_kib + m_t.min_change_kib && !own)) {
    // Its own demand grew (or this is the first look): not steady from now on. (What our
    // inflating takes lowers usable and actual alike, so it does not count.)
    t.steady_since_ms = now_ms;
  }
  t.usable_kib = usable;
  t.used_kib = used;
  t.major_faults = f.major_faults;
  t.swap_in_kib = f.swap_in_kib;
  t.stats_s = f.stats_time_s;
  t.fresh_at_ms = now_ms;
}

void AdaptivePolicy::update_host_state(const HostFigures& host) {
  if (host.total_kib == 0) {
    return; // not known: keep the last state
  }
  double pct =
      100.0 * static_cast<double>(host.available_kib) / static_cast<double>(host.total_kib);
  double some = host.psi_some_avg10.value_or(0);
  double full = host.psi_full_avg10.value_or(0);
  bool swapping = host.swap_in_per_s.value_or(0) > 100;
  auto s = m_host_state;
  if (pct < m_t.critical_pct || full >= m_t.psi_critical || swapping) {
    s = HostState::Critical;
  } else if (s == HostState::Critical && pct < m_t.critical_leave_pct) {
    s = HostState::Critical;
  } else if (pct < m_t.pressure_pct || some >= m_t.psi_pressure) {
    s = HostState::Pressure;
  } else if ((s == HostState::Pressure || s == HostState::Critical) &&
             pct < m_t.pressure_leave_pct) {
    s = HostState::Pressure;
  } else if (pct > m_t.plenty_pct || (s == HostState::Plenty && pct > m_t.plenty_leave_pct)) {
    s = HostState::Plenty;
  } else {
    s = HostState::Normal;
  }
  m_host_state = s;
}

std::optional<std::string> AdaptivePolicy::running_short(const Track& t, const Guest&,
                                                         std::int64_t now_ms) const {
  if (t.self_deflated_kib > 0) {
    return fmt::format("its own deflate-on-OOM took {} MB back", mb(t.self_deflated_kib));
  }
  // Just after a squeeze its last statistics may still show it (see observe).
  bool settling = now_ms < t.settle_until_ms && t.usable_kib && *t.usable_kib <= t.settle_kib;
  if (t.usable_kib && *t.usable_kib < t.guard_kib && !settling) {
    return fmt::format("usable {} MB fell below its guard {} MB", mb(*t.usable_kib),
                       mb(t.guard_kib));
  }
  if (t.fault_rate > m_t.fault_rate) {
    return fmt::format("it faults {:.0f} pages a second from disk", t.fault_rate);
  }
  if (t.swapping) {
    return std::string("it is swapping in");
  }
  return std::nullopt;
}

std::int64_t AdaptivePolicy::decide(std::int64_t now_ms, const HostFigures& host,
                                    std::span<const Guest> guests, std::vector<Action>& out) {
  update_host_state(host);
  bool pressure = m_host_state == HostState::Pressure || m_host_state == HostState::Critical;
  std::uint64_t step = pressure ? m_t.step_pressure_kib : m_t.step_kib;
  bool hot = false;
  struct Candidate {
    const Guest* g;
    Track* t;
    std::uint64_t take;
  };
  std::vector<Candidate> idle_mode;
  std::vector<Candidate> demand_mode;
  for (const auto& g : guests) {
    const auto& f = g.figures;
    auto& t = m_tracks[f.uuid];
    observe(t, g, now_ms);
    t.guard_kib = guard(t, g, now_ms);
    t.state.clear();
    if (!g.settings.enabled.value) {
      t.state = fmt::format("disabled ({})", g.settings.enabled.source);
      if (g.target_kib + m_t.min_change_kib < f.max_kib) {
        out.push_back({f.uuid, f.max_kib,
                       fmt::format("ballooning is disabled for it ({})", g.settings.enabled.source),
                       false});
      }
      continue;
    }
    if (!g.running || !t.usable_kib) {
      t.state = g.running ? "waiting for its statistics" : "paused";
      continue;
    }
    std::uint64_t usable = *t.usable_kib;
    // A squeeze lasts until the balloon gets there (at most squeeze_timeout_ms). Its demand is
    // not looked at meanwhile: the balloon moves faster than its statistics, so actual − usable
    // is no measure of it. A guest that needs memory then has its deflate-on-OOM.
    if (t.squeeze && t.self_deflated_kib == 0) {
      hot = true;
      if (!squeezing(t, g, now_ms, out)) {
        t.state = "squeezing its page cache";
      }
      continue;
    }
    t.squeeze.reset(); // its deflate-on-OOM fired during one: it is short, as below
    if (auto why = running_short(t, g, now_ms); why && f.actual_kib < f.max_kib) {
      hot = true;
      // Enough in one call: twice the guard, plus what it may grow in the next 2 seconds.
      auto need = std::max<std::uint64_t>(up_to_two_guards(t.guard_kib, usable), 16 * k_mib) +
                  static_cast<std::uint64_t>(rate_now(t, now_ms) * 2.0);
      auto target = std::min(f.max_kib, std::max(f.actual_kib + need, g.target_kib));
      // A deflate on its way is given time to land (statistics lag the balloon) before the
      // same shortage asks again.
      bool landing =
          t.deflating && now_ms - t.deflating->first <
                             static_cast<std::int64_t>(1000 * std::max(2.0, 2 * t.deflate_s));
      if (!landing && (target > g.target_kib + k_mib || !t.deflating)) {
        out.push_back({f.uuid, target, fmt::format("{}", *why), true});
        t.deflating = {now_ms, target};
        bool again = now_ms - t.last_short_ms < 2 * std::max(t.cooldown_ms, m_t.cooldown_ms);
        t.cooldown_ms = again ? std::min(2 * t.cooldown_ms, m_t.cooldown_max_ms) : m_t.cooldown_ms;
        t.cooldown_until_ms = now_ms + t.cooldown_ms;
        t.last_short_ms = now_ms;
      }
    }
    hot = hot || usable < 2 * t.guard_kib || t.deflating.has_value();
    if (now_ms < t.cooldown_until_ms) {
      t.state = fmt::format("cooling down for {} s after it ran short",
                            (t.cooldown_until_ms - now_ms + 999) / 1000);
      continue;
    }
    if (now_ms < t.settle_until_ms) {
      continue; // just after a squeeze: its statistics may not show the release yet
    }
    if (now_ms - t.fresh_at_ms > m_t.fresh_ms) {
      t.state = "its statistics are stale";
      continue;
    }
    if (now_ms - t.steady_since_ms < m_t.steady_ms) {
      continue; // its usable memory fell lately: not yet
    }
    auto keep = static_cast<std::uint64_t>(m_t.inflate_to * static_cast<double>(t.guard_kib));
    auto floor = floor_kib(g);
    bool may_step = f.actual_kib > floor && now_ms - t.last_step_ms >= m_t.step_every_ms;
    auto squeeze_to = pressure ? m_t.squeeze_deep_to_kib : m_t.squeeze_to_kib;
    if (may_step && g.free_page_reporting && f.disk_caches_kib &&
        *f.disk_caches_kib > squeeze_to + m_t.squeeze_gain_kib && usable >= t.guard_kib &&
        usable <= m_t.squeeze_to_kib + m_t.squeeze_max_kib &&
        now_ms - t.squeezed_ms >= m_t.squeeze_every_ms &&
        (g.settings.mode.value == Mode::Idle || pressure)) {
      auto target = f.actual_kib - std::min(usable - squeeze_to, f.actual_kib - floor);
      out.push_back(
          {f.uuid, target,
           fmt::format("squeezing its page cache{}: {} MB of cache the host holds, where free "
                       "memory goes back to the host by free page reporting",
                       pressure ? " while the host is short" : "", mb(*f.disk_caches_kib)),
           false});
      t.squeeze = Track::Squeeze{now_ms, target, f.max_kib, squeeze_to};
      t.squeezed_ms = t.last_step_ms = now_ms;
      hot = true;
      continue;
    }
    if (usable <= keep || !may_step) {
      continue;
    }
    auto take = std::min(usable - keep, f.actual_kib - floor);
    if (take >= m_t.min_change_kib) {
      (g.settings.mode.value == Mode::Demand ? demand_mode : idle_mode).push_back({&g, &t, take});
    }
  }

  auto inflate = [&](const Candidate& c, std::uint64_t amount, const std::string& why) {
    const auto& f = c.g->figures;
    auto target = f.actual_kib - std::min(amount, c.take);
    if (target + m_t.min_change_kib <= std::min(c.g->target_kib, f.actual_kib)) {
      out.push_back({f.uuid, target,
                     fmt::format("usable {} MB is well above its guard {} MB{}",
                                 mb(*c.t->usable_kib), mb(c.t->guard_kib), why),
                     false});
      c.t->last_step_ms = now_ms;
    }
  };
  for (const auto& c : idle_mode) {
    // A step is a part of what is above the target (so the last steps are small), at least
    // step_kib, at most step_max_kib.
    inflate(c, std::clamp(c.take / m_t.inflate_parts, step, std::max(step, m_t.step_max_kib)), "");
  }
  // Demand mode: only what the host needs, shared out by shares; back to the guests once the
  // host has plenty.
  auto want = static_cast<std::uint64_t>(m_t.demand_target_pct / 100.0 *
                                         static_cast<double>(host.total_kib));
  std::uint64_t need = pressure && want > host.available_kib ? want - host.available_kib : 0;
  std::uint64_t weights = 0;
  for (const auto& c : demand_mode) {
    weights += std::max<std::uint64_t>(1, c.g->settings.shares.value);
  }
  for (const auto& c : demand_mode) {
    if (need == 0) {
      break;
    }
    auto share = need * std::max<std::uint64_t>(1, c.g->settings.shares.value) /
                 std::max<std::uint64_t>(weights, 1);
    inflate(c, std::min(step, std::max(share, m_t.min_change_kib)),
            fmt::format(", and the host needs {} MB", mb(need)));
  }
  if (m_host_state == HostState::Plenty) {
    for (const auto& g : guests) {
      const auto& f = g.figures;
      auto& t = m_tracks[f.uuid];
      bool decided =
          std::any_of(out.begin(), out.end(), [&](const Action& a) { return a.uuid == f.uuid; });
      if (!decided && g.settings.mode.value == Mode::Demand && g.settings.enabled.value &&
          g.running && f.actual_kib + m_t.min_change_kib < f.max_kib &&
          now_ms - t.last_step_ms >= m_t.step_every_ms && g.target_kib < f.max_kib) {
        out.push_back({f.uuid, std::min(f.max_kib, f.actual_kib + step),
                       "the host has plenty of memory: giving it back", false});
        t.last_step_ms = now_ms;
      }
    }
  }
  return hot ? m_t.hot_tick_ms : m_t.tick_ms;
}

bool AdaptivePolicy::squeezing(Track& t, const Guest& g, std::int64_t now_ms,
                               std::vector<Action>& out) {
  const auto& f = g.figures;
  auto& sq = *t.squeeze;
  bool landed = f.actual_kib <= sq.target_kib + k_mib;
  // The balloon got there (the guest's kernel evicted its cache to feed it: the memory came
  // from somewhere), or the guest's statistics show it did; or it takes too long (a balloon
  // that stops short). Each moment longer keeps the guest short.
  bool seen = t.fresh_at_ms > sq.since_ms && *t.usable_kib <= sq.to_kib + m_t.min_change_kib / 2;
  if (!landed && !seen && now_ms - sq.since_ms < m_t.squeeze_timeout_ms) {
    return false;
  }
  auto usable = seen ? std::min(*t.usable_kib, sq.to_kib) : sq.to_kib;
  auto target = std::min(f.max_kib, f.actual_kib + up_to_two_guards(t.guard_kib, usable));
  out.push_back({f.uuid, target,
                 fmt::format("its page cache was squeezed out: {} MB back as free memory, which "
                             "free page reporting keeps off the host",
                             mb(target - std::min(target, f.actual_kib))),
                 false});
  t.deflating = {now_ms, target};
  // Statistics the guest took before this landed may come within its next reports.
  t.settle_until_ms = now_ms + 2200;
  t.settle_kib = sq.to_kib + m_t.min_change_kib;
  t.squeeze.reset();
  return true;
}

void AdaptivePolicy::stopping(std::vector<Action>& out) {
  for (auto& [uuid, t] : m_tracks) {
    if (t.squeeze) {
      auto back = up_to_two_guards(t.guard_kib, t.squeeze->to_kib);
      out.push_back({uuid, std::min(t.squeeze->max_kib, t.squeeze->target_kib + back),
                     "the service stops during a squeeze of its page cache: its memory back",
                     false});
      t.squeeze.reset();
    }
  }
}

GuestNote AdaptivePolicy::note(const std::string& uuid) const {
  auto it = m_tracks.find(uuid);
  if (it == m_tracks.end()) {
    return {};
  }
  return {it->second.guard_kib, it->second.state};
}

} // namespace vbm::balloon
