#include "balloon/baseline_policies.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace vbm::balloon {

namespace {
constexpr std::int64_t k_mib_bytes = 1048576;
constexpr std::int64_t k_pve_cycle_ms = 10000;        // pvestatd $updatetime
constexpr std::int64_t k_pve_maxchange = 100 * k_mib_bytes;
constexpr std::int64_t k_pve_deadband = 10 * k_mib_bytes;
constexpr int k_pve_target_pct = 80;                  // node option ballooning-target
constexpr std::int64_t k_mom_cycle_ms = 15000;        // vdsm mom.conf intervals
constexpr size_t k_mom_history = 10;                  // sample-history-length
// vdsm 02-balloon.policy constants.
constexpr double k_pressure_threshold = 0.20;
constexpr double k_pressure_critical = 0.05;
constexpr double k_min_guest_free = 0.20;
constexpr double k_max_change = 0.05;
constexpr double k_min_change = 0.0025;

std::int64_t shares_of(const ProxmoxPolicy::Vm& d) {
  return d.shares && *d.shares ? *d.shares : 1000; // Perl's `|| 1000`
}

// AutoBalloon.pm's inner `change`: spreads `bytes` over `list` by shares, a step at most per VM.
std::int64_t pve_change(std::map<std::string, std::int64_t>& res,
                        const std::vector<const ProxmoxPolicy::Vm*>& list, std::int64_t bytes,
                        std::int64_t maxchange) {
  std::int64_t rest = bytes;
  bool repeat = true;
  std::int64_t progress = 1;
  std::set<std::string> done;
  while (rest != 0 && repeat && progress != 0) {
    repeat = false;
    progress = 0;
    std::int64_t shares_total = 0;
    std::int64_t alloc_old = 0;
    for (const auto* d : list) {
      if (done.contains(d->id)) {
        continue;
      }
      std::int64_t cur = res.contains(d->id) ? res[d->id] : *d->actual;
      alloc_old += cur - *d->balloon_min;
      shares_total += shares_of(*d);
    }
    std::int64_t changes = 0;
    std::int64_t alloc_new = alloc_old + rest;
    for (const auto* d : list) {
      if (done.contains(d->id)) {
        continue;
      }
      std::int64_t desired =
          *d->balloon_min + static_cast<std::int64_t>(std::trunc(
                                (static_cast<double>(alloc_new) / static_cast<double>(shares_total)) *
                                static_cast<double>(shares_of(*d))));
      if (desired > d->maxmem) {
        desired = d->maxmem;
        repeat = true;
      } else if (desired < *d->balloon_min) {
        desired = *d->balloon_min;
        repeat = true;
      }
      std::int64_t bal = 0;
      if (bytes > 0 && desired - *d->actual > 0) {
        bal = std::min(*d->actual + maxchange, desired); // grow
      } else if (desired - *d->actual < 0) {
        bal = std::max(*d->actual - maxchange, desired); // shrink
      } else {
        done.insert(d->id);
        continue;
      }
      std::int64_t diff = bal - *d->actual; // relative to actual, not to res
      if (diff != 0) {
        std::int64_t old = res.contains(d->id) ? res[d->id] : *d->actual;
        res[d->id] = bal;
        std::int64_t change = bal - old;
        if (change != 0) {
          changes += change;
          progress += std::abs(diff);
          repeat = true;
        }
      }
    }
    rest -= changes;
  }
  return rest;
}

double statavg(const auto& history, auto field) {
  double total = 0;
  size_t n = 0;
  for (const auto& s : history) {
    if (auto v = field(s)) {
      total += *v;
      ++n;
    }
  }
  return n == 0 ? 0.0 : total / static_cast<double>(n);
}
} // namespace

std::map<std::string, std::int64_t> ProxmoxPolicy::compute_alg1(const std::vector<Vm>& vms,
                                                                std::int64_t goal,
                                                                std::int64_t maxchange) {
  std::vector<const Vm*> idlist;
  std::vector<const Vm*> idlist1; // memory pressure
  std::vector<const Vm*> idlist2; // enough free memory
  for (const auto& d : vms) {
    if (!d.actual || *d.actual == 0 || !d.balloon_min || *d.balloon_min == 0 ||
        (d.shares && *d.shares == 0)) {
      continue;
    }
    idlist.push_back(&d);
    bool enough = d.freemem && *d.freemem != 0 &&
                  static_cast<double>(*d.freemem) > static_cast<double>(*d.balloon_min) * 0.25 &&
                  *d.actual >= *d.balloon_min;
    (enough ? idlist2 : idlist1).push_back(&d);
  }
  std::map<std::string, std::int64_t> res;
  if (goal > k_pve_deadband) {
    auto rest = pve_change(res, idlist1, goal, maxchange);
    if (rest >= goal) {
      pve_change(res, idlist, rest, maxchange); // only if there was no progress at all
    }
  } else if (goal < -k_pve_deadband) {
    auto rest = pve_change(res, idlist2, goal, maxchange);
    if (rest <= goal) {
      pve_change(res, idlist, rest, maxchange);
    }
  }
  return res;
}

std::int64_t ProxmoxPolicy::decide(std::int64_t now_ms, const HostFigures& host,
                                   std::span<const Guest> guests, std::vector<Action>& out) {
  // At its start a VM's balloon goes to its minimum (qemu-server vm_start).
  for (const auto& g : guests) {
    auto min = g.settings.min_mb.value * k_mib;
    if (min > 0 && m_started.insert(g.figures.uuid).second && min < g.figures.max_kib) {
      out.push_back({g.figures.uuid, min, "the VM started: its balloon goes to its minimum", false});
    }
  }
  if (!m_next_ms) {
    m_next_ms = now_ms + k_pve_cycle_ms; // pvestatd skips the pass right after it starts
  }
  if (now_ms < *m_next_ms) {
    return *m_next_ms - now_ms;
  }
  m_next_ms = now_ms + k_pve_cycle_ms;
  auto total = static_cast<std::int64_t>(host.total_kib) * 1024;
  auto used = total - static_cast<std::int64_t>(host.available_kib) * 1024;
  auto goal = static_cast<std::int64_t>(
      std::trunc(static_cast<double>(total * k_pve_target_pct) / 100.0 - static_cast<double>(used)));
  std::vector<Vm> vms;
  for (const auto& g : guests) {
    const auto& f = g.figures;
    Vm vm{f.uuid, static_cast<std::int64_t>(f.actual_kib) * 1024,
          static_cast<std::int64_t>(f.max_kib) * 1024, std::nullopt,
          static_cast<std::int64_t>(g.settings.shares.value), std::nullopt};
    if (g.settings.min_mb.value > 0) {
      vm.balloon_min = static_cast<std::int64_t>(g.settings.min_mb.value) * k_mib_bytes;
    }
    if (f.unused_kib) {
      vm.freemem = static_cast<std::int64_t>(*f.unused_kib) * 1024;
    }
    vms.push_back(vm);
  }
  for (const auto& [uuid, bytes] : compute_alg1(vms, goal, k_pve_maxchange)) {
    const auto& id = uuid; // (clang 14 cannot capture a structured binding)
    auto it = std::find_if(guests.begin(), guests.end(),
                           [&](const Guest& g) { return g.figures.uuid == id; });
    auto target = static_cast<std::uint64_t>(bytes / 1024);
    if (it != guests.end() && target != it->figures.actual_kib) {
      out.push_back({id, target,
                     fmt::format("host goal {:+} MB (80% of {} MB, {} MB used)",
                                 goal / k_mib_bytes, total / k_mib_bytes, used / k_mib_bytes),
                     target > it->figures.actual_kib});
    }
  }
  return k_pve_cycle_ms;
}

std::optional<std::map<std::string, double>>
MomPolicy::evaluate(const std::deque<HostSample>& host,
                    const std::map<std::string, std::deque<GuestSample>>& guests,
                    bool balloon_enabled) {
  double hfp = statavg(host, [](const HostSample& s) { return s.mem_free; }) /
               host.back().mem_available;
  double gfp = hfp <= k_pressure_critical ? (-0.05 + hfp) : k_min_guest_free * (hfp / k_pressure_threshold);
  std::map<std::string, double> target;
  for (const auto& [id, history] : guests) {
    const auto& hist = history; // (clang 14 cannot capture a structured binding)
    const auto& l = hist.back();
    if (!l.balloon_cur || !l.mem_unused) {
      continue; // (valid guest.balloon_cur (guest.Stat "mem_unused"))
    }
    double cur = *l.balloon_cur;
    auto used = [&] {
      return statavg(hist, [](const GuestSample& s) { return s.balloon_cur; }) -
             statavg(hist, [](const GuestSample& s) { return s.mem_unused; });
    };
    if (!l.balloon_min || !l.balloon_max) {
      return std::nullopt; // Python's None arithmetic raises: the whole run is discarded
    }
    if (hfp < k_pressure_threshold && balloon_enabled) { // shrink_guest
      double bmin = std::max(*l.balloon_min, used() + gfp * cur);
      double size = cur * (1 - k_max_change);
      if (size < bmin) {
        size = bmin;
      }
      if (size <= cur && std::fabs(size - cur) > k_min_change * cur) {
        target[id] = size;
      }
    } else if (cur < *l.balloon_max) { // grow_guest
      double bmin = std::max(*l.balloon_min, used() + gfp * cur);
      double size = cur * (1 + k_max_change);
      if (size < bmin) {
        size = bmin;
      }
      if (size > *l.balloon_max) {
        size = *l.balloon_max;
      }
      if (std::fabs(size - cur) > k_min_change * cur) {
        target[id] = size;
      }
    }
  }
  for (const auto& [id, hist] : guests) { // guest_qos: overrides the above
    const auto& l = hist.back();
    if (!l.balloon_cur || !l.balloon_min) {
      return std::nullopt;
    }
    if (*l.balloon_cur < *l.balloon_min) {
      target[id] = *l.balloon_min;
    }
  }
  return target;
}

std::int64_t MomPolicy::decide(std::int64_t now_ms, const HostFigures& host,
                               std::span<const Guest> guests, std::vector<Action>& out) {
  if (m_next_ms && now_ms < *m_next_ms) {
    return *m_next_ms - now_ms;
  }
  m_next_ms = now_ms + k_mom_cycle_ms;
  // The monitors sample (every 15 s, the last 10 kept), then the engine evaluates.
  m_host.push_back({static_cast<double>(host.free_kib), static_cast<double>(host.total_kib)});
  if (m_host.size() > k_mom_history) {
    m_host.pop_front();
  }
  std::map<std::string, std::deque<GuestSample>> present;
  for (const auto& g : guests) {
    const auto& f = g.figures;
    auto& hist = m_guests[f.uuid];
    GuestSample s{static_cast<double>(f.actual_kib), static_cast<double>(f.max_kib),
                  static_cast<double>(g.settings.min_mb.value * k_mib), std::nullopt};
    if (f.unused_kib) {
      s.mem_unused = static_cast<double>(*f.unused_kib);
    }
    hist.push_back(s);
    if (hist.size() > k_mom_history) {
      hist.pop_front();
    }
    present[f.uuid] = hist;
  }
  auto targets = evaluate(m_host, present, true);
  if (!targets) {
    log("Policy error: a guest without balloon figures; no guest ballooned this cycle");
    return k_mom_cycle_ms;
  }
  double hfp = m_host.back().mem_free.value_or(0) / m_host.back().mem_available;
  for (const auto& [uuid, kib] : *targets) {
    const auto& id = uuid; // (clang 14 cannot capture a structured binding)
    auto t = static_cast<std::uint64_t>(std::trunc(kib)); // int() in the controller
    auto it = std::find_if(guests.begin(), guests.end(),
                           [&](const Guest& g) { return g.figures.uuid == id; });
    out.push_back({id, t,
                   fmt::format("host {:.0f}% free: {}", hfp * 100,
                               hfp < k_pressure_threshold ? "shrink" : "grow"),
                   it != guests.end() && t > it->figures.actual_kib});
  }
  return k_mom_cycle_ms;
}

} // namespace vbm::balloon
