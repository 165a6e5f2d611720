#include "pagefusion/controller.hpp"

#include "pagefusion/host.hpp"
#include "sys/files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace vbm::pagefusion {

namespace {
constexpr std::int64_t k_history_ms = 10000;
constexpr std::int64_t k_cap_window_ms = 1000;
// Without full_scans (very old kernels) a measurement window is this long instead of a scan.
constexpr std::int64_t k_window_without_scans_ms = 2000;
constexpr std::int64_t k_longest_window_ms = 5000;
// ksmd's cost per page is measured over at least this many pages (one second at the slowest burst
// is 25,000).
constexpr std::uint64_t k_cost_pages = 10000;
// A burst's rate is re-sized at most this often.
constexpr std::int64_t k_resize_every_ms = 2000;
// KSM's pages_to_scan is an unsigned int in the kernel.
constexpr double k_max_pages_to_scan = 4294967295.0;

std::string pages_and_mb(std::int64_t pages, std::uint64_t page_size) {
  return fmt::format("{} pages ({} MB)", pages,
                     pages * static_cast<std::int64_t>(page_size) / (1024LL * 1024));
}
std::string mb(std::uint64_t kib) { return fmt::format("{} MB", kib / 1024); }
} // namespace

std::string merged_words(std::int64_t pages) {
  return pages >= 0
             ? fmt::format("merged {} pages", pages)
             : fmt::format("let sharing fall by {} pages while the guests wrote to merged pages",
                           -pages);
}

std::string_view mode_name(Mode mode) {
  switch (mode) {
  case Mode::Burst: return "burst";
  case Mode::Idle: return "idle";
  case Mode::Unmanaged: break;
  }
  return "unmanaged";
}

double Rate::pages_per_second() const {
  return sleep_millisecs == 0
             ? 0.0
             : static_cast<double>(pages_to_scan) * 1000.0 / static_cast<double>(sleep_millisecs);
}

std::optional<backend::KsmKnobs> restore_prior(const backend::Ksm& ksm,
                                               const std::filesystem::path& prior_file) {
  auto text = sys::read_text_file(prior_file);
  if (!text) {
    return std::nullopt;
  }
  auto knobs = backend::KsmKnobs::parse(*text);
  ksm.apply(knobs);
  std::error_code ec;
  std::filesystem::remove(prior_file, ec);
  return knobs;
}

Controller::Controller(const backend::Ksm& ksm, std::filesystem::path prior_file, Tuning tuning)
    : m_ksm(ksm), m_prior_file(std::move(prior_file)), m_t(tuning) {}

std::optional<Controller::Reading> Controller::read(std::int64_t now_ms) const {
  auto c = m_ksm.counters();
  if (!c) {
    return std::nullopt;
  }
  return Reading{now_ms, *c, m_ksm.ksmd_cpu_ns()};
}

Gain Controller::gain_between(const Reading& from, const Reading& to) const {
  Gain g;
  g.ms = to.at_ms - from.at_ms;
  g.pages_sharing = static_cast<std::int64_t>(to.c.pages_sharing) -
                    static_cast<std::int64_t>(from.c.pages_sharing);
  if (from.c.pages_scanned && to.c.pages_scanned) {
    g.pages_scanned = *to.c.pages_scanned - *from.c.pages_scanned;
  }
  if (from.c.general_profit && to.c.general_profit) {
    g.general_profit = *to.c.general_profit - *from.c.general_profit;
  }
  if (from.c.full_scans && to.c.full_scans) {
    g.full_scans = *to.c.full_scans - *from.c.full_scans;
  }
  return g;
}

std::string Controller::guest_name(const std::string& uuid) const {
  for (const auto& g : m_guests) {
    if (g.uuid == uuid) {
      return g.name;
    }
  }
  return uuid;
}

void Controller::take_control() {
  // A prior file left behind means an earlier controller was killed while it managed KSM: the
  // tunables now in sysfs are its, and the file holds what the admin had.
  if (auto text = sys::read_text_file(m_prior_file)) {
    m_prior = backend::KsmKnobs::parse(*text);
    return;
  }
  m_prior = m_ksm.knobs();
  sys::write_file_atomic(m_prior_file, m_prior->to_text(), 0600, true);
}

void Controller::decide(Mode mode, Rate rate, std::int64_t now_ms, const std::string& reason) {
  if (mode != Mode::Unmanaged) {
    backend::KsmKnobs k;
    k.pages_to_scan = rate.pages_to_scan;
    k.sleep_millisecs = rate.sleep_millisecs;
    // smart_scan off while bursting, on while idle. A page that fails to merge scan after scan
    // ages, and from its fourth scan smart_scan skips it for 1, 2, 4, then 8 scans: pages a
    // guest was still filling while a burst scanned them every second were skipped by the two
    // quiet scans that ended the burst (smoke run, 2 x 256 MiB: idle at 43,529 pages shared
    // with 43,516 pages KSM had seen but not placed, of 54,298 the census found). Off, pages do
    // not age (the kernel counts ages only while it is on); idle, skipping is what keeps
    // ksmd's CPU low.
    if (m_prior && m_prior->smart_scan) {
      k.smart_scan = mode == Mode::Idle ? 1 : 0;
    }
    if (m_mode == Mode::Unmanaged) {
      k.run = 1;
      if (m_prior && m_prior->advisor_mode) {
        k.advisor_mode = "none";
      }
    }
    m_ksm.apply(k);
  }
  if (mode != m_mode) {
    m_mode_since = now_ms;
  }
  if (mode != m_mode || rate != m_rate) {
    m_rate_since = now_ms;
  }
  m_mode = mode;
  m_rate = rate;
  m_decisions.push_back({now_ms, mode, rate, reason});
  while (m_decisions.size() > m_t.decisions_kept) {
    m_decisions.pop_front();
  }
  if (on_decision) {
    on_decision(m_decisions.back());
  }
}

void Controller::burst(std::int64_t now_ms, const std::string& reason) {
  if (m_mode == Mode::Unmanaged) {
    take_control();
  }
  m_trigger = read(now_ms);
  m_scan_mark = m_trigger;
  m_quiet = 0;
  m_windows = 0;
  m_capped_pages.reset();
  m_rss_low_kib = m_rss_kib;
  auto [rate, why] = sized_burst();
  decide(Mode::Burst, rate, now_ms, why.empty() ? reason : fmt::format("{}; {}", reason, why));
}

std::optional<std::uint64_t> Controller::work_pages() const {
  if (!m_rss_kib) {
    return std::nullopt;
  }
  return *m_rss_kib * 1024 / m_ksm.page_size();
}

std::uint64_t Controller::grow_threshold_kib() const {
  return std::max<std::uint64_t>(
      m_t.grow_kib,
      static_cast<std::uint64_t>(static_cast<double>(m_rss_kib.value_or(0)) * m_t.grow_share));
}

std::pair<Rate, std::string> Controller::sized_burst() const {
  auto work = work_pages();
  if (!work) {
    return {m_t.burst, ""}; // nothing known yet: the fixed rate
  }
  // Per sleep of ksmd: the pages that make a full scan last burst_scan_ms, and the pages that
  // cost ksmd burst_cpu_cap % of a core at its cost per page.
  auto sleep = static_cast<double>(m_t.burst.sleep_millisecs);
  auto by_work = static_cast<double>(*work) * sleep / static_cast<double>(m_t.burst_scan_ms);
  auto by_cpu = m_t.burst_cpu_cap / 100.0 * 1e9 / ns_per_page() * sleep / 1000.0;
  auto pages = std::min(by_work, by_cpu);
  auto scan_s = [&](double per_sleep) {
    return static_cast<double>(*work) / per_sleep * sleep / 1000.0;
  };
  std::string why;
  if (m_capped_pages && static_cast<double>(*m_capped_pages) < pages) {
    pages = static_cast<double>(*m_capped_pages);
    why = fmt::format("held where the CPU cap put it (a full scan in {:.1f} s)", scan_s(pages));
  } else if (by_cpu < by_work) {
    why = fmt::format("as fast as {:.0f}% of a core allows at {:.2f} us a page (a full scan in "
                      "{:.1f} s)",
                      m_t.burst_cpu_cap, ns_per_page() / 1000.0, scan_s(pages));
  } else {
    why = fmt::format("a full scan every {:g} s", static_cast<double>(m_t.burst_scan_ms) / 1000.0);
  }
  if (pages < static_cast<double>(m_t.burst_min_pages)) {
    pages = static_cast<double>(m_t.burst_min_pages);
    why = "the slowest burst";
  }
  return {Rate{static_cast<std::uint64_t>(std::min(pages, k_max_pages_to_scan)),
               m_t.burst.sleep_millisecs},
          fmt::format("sized to the guests' {} of memory: {}", mb(*m_rss_kib), why)};
}

void Controller::resize_burst(std::int64_t now_ms) {
  if (now_ms - m_rate_since < k_resize_every_ms) {
    return; // let the current rate show what it costs first
  }
  auto [rate, why] = sized_burst();
  auto now = static_cast<double>(m_rate.pages_to_scan);
  if (rate == m_rate ||
      std::abs(static_cast<double>(rate.pages_to_scan) - now) < now * m_t.resize_ratio) {
    return;
  }
  decide(Mode::Burst, rate, now_ms, fmt::format("re-sized: {}", why));
}

void Controller::measure_cost() {
  // ksmd's CPU per page scanned over the readings kept (~10 s), merges included: while many
  // pages merge a page costs more, and the sized rate falls with it. Over one second it swung
  // between 1.5 and 10 us on the busy development host (2 guests filling 256 MiB each), and the
  // rate with it, four times a second; over ten seconds it moves slowly.
  const auto& first = m_history.front();
  const auto& last = m_history.back();
  if (last.at_ms - first.at_ms >= k_cap_window_ms && first.ksmd_ns && last.ksmd_ns &&
      first.c.pages_scanned && last.c.pages_scanned &&
      *last.c.pages_scanned >= *first.c.pages_scanned + k_cost_pages &&
      *last.ksmd_ns >= *first.ksmd_ns) {
    m_ns_per_page = static_cast<double>(*last.ksmd_ns - *first.ksmd_ns) /
                    static_cast<double>(*last.c.pages_scanned - *first.c.pages_scanned);
  }
}

void Controller::guests_memory(std::uint64_t rss_kib, std::int64_t now_ms) {
  m_rss_kib = rss_kib;
  if (!m_rss_low_kib || rss_kib < *m_rss_low_kib) {
    m_rss_low_kib = rss_kib;
  }
  // Idle and the guests hold new memory: what a full scan has not seen yet. (Against the
  // lowest total since the last burst or idle window, so growth in steps adds up.)
  if (m_mode == Mode::Idle && !m_guests.empty() &&
      rss_kib >= *m_rss_low_kib + grow_threshold_kib()) {
    burst(now_ms, fmt::format("the guests' memory grew by {}: new memory to merge",
                              mb(rss_kib - *m_rss_low_kib)));
  }
}

void Controller::set_guests(std::vector<Guest> guests, std::int64_t now_ms) {
  std::vector<std::string> fresh;
  for (const auto& g : guests) {
    if (std::none_of(m_guests.begin(), m_guests.end(),
                     [&](const Guest& o) { return o.uuid == g.uuid; })) {
      fresh.push_back(fmt::format("'{}'", g.name));
    }
  }
  m_guests = std::move(guests);
  std::erase_if(m_balloons, [&](const auto& b) {
    return std::none_of(m_guests.begin(), m_guests.end(),
                        [&](const Guest& g) { return g.uuid == b.first; });
  });
  if (m_guests.empty()) {
    m_empty_since = m_empty_since.value_or(now_ms);
    return;
  }
  m_empty_since.reset();
  if (!fresh.empty()) {
    if (fresh.size() > 3) {
      fresh.resize(3);
      fresh.push_back(fmt::format("and {} more", m_guests.size() - 3));
    }
    burst(now_ms, fmt::format("page-fusion guest{} running: {}", fresh.size() > 1 ? "s" : "",
                              fmt::join(fresh, ", ")));
  }
}

void Controller::guest_started(const Guest& guest, std::int64_t now_ms) {
  if (std::any_of(m_guests.begin(), m_guests.end(),
                  [&](const Guest& g) { return g.uuid == guest.uuid; })) {
    return;
  }
  m_guests.push_back(guest);
  m_empty_since.reset();
  burst(now_ms, fmt::format("page-fusion guest '{}' started", guest.name));
}

void Controller::guest_stopped(const std::string& uuid, std::int64_t now_ms) {
  std::erase_if(m_guests, [&](const Guest& g) { return g.uuid == uuid; });
  std::erase_if(m_balloons, [&](const auto& b) { return b.first == uuid; });
  if (m_guests.empty()) {
    m_empty_since = now_ms;
  }
}

void Controller::balloon_changed(const std::string& uuid, std::uint64_t actual_kib,
                                 std::int64_t now_ms) {
  if (std::none_of(m_guests.begin(), m_guests.end(),
                   [&](const Guest& g) { return g.uuid == uuid; })) {
    return;
  }
  // Against the lowest size seen since the last burst for it: QEMU reports balloon changes at
  // most once a second (the latest size only), so a deflation may arrive in steps that add
  // up. (An inflation undone within that second is never seen: nothing new to merge then.)
  auto it = std::find_if(m_balloons.begin(), m_balloons.end(),
                         [&](const auto& b) { return b.first == uuid; });
  if (it == m_balloons.end()) {
    m_balloons.emplace_back(uuid, actual_kib);
    return;
  }
  auto low = std::min(it->second, actual_kib);
  it->second = low;
  if (actual_kib >= low + m_t.deflate_kib) {
    it->second = actual_kib;
    burst(now_ms, fmt::format("the balloon of '{}' gave back {} MB: new guest memory to merge",
                              guest_name(uuid), (actual_kib - low) / 1024));
  }
}

std::optional<double> Controller::ksmd_cpu_percent(std::int64_t window_ms) const {
  if (m_history.size() < 2 || !m_history.back().ksmd_ns) {
    return std::nullopt;
  }
  const auto& last = m_history.back();
  // The oldest reading inside the window, or the one just before the last.
  auto from = std::find_if(m_history.begin(), m_history.end() - 1,
                           [&](const Reading& r) { return r.at_ms >= last.at_ms - window_ms; });
  if (from == m_history.end() - 1 && from != m_history.begin()) {
    --from;
  }
  if (!from->ksmd_ns || from->at_ms >= last.at_ms || *last.ksmd_ns < *from->ksmd_ns) {
    return std::nullopt;
  }
  return static_cast<double>(*last.ksmd_ns - *from->ksmd_ns) /
         static_cast<double>(last.at_ms - from->at_ms) / 1e4;
}

int Controller::tick(std::int64_t now_ms) {
  auto r = read(now_ms);
  if (!r) {
    return m_t.idle_tick_ms; // no KSM in this kernel: nothing to steer
  }
  m_history.push_back(*r);
  while (m_history.size() > 2 && m_history[1].at_ms <= now_ms - k_history_ms) {
    m_history.pop_front();
  }
  if (m_guests.empty()) {
    return tick_without_guests(now_ms);
  }
  switch (m_mode) {
  case Mode::Unmanaged:
    burst(now_ms, fmt::format("{} page-fusion guest{} running", m_guests.size(),
                              m_guests.size() > 1 ? "s" : ""));
    return m_t.burst_tick_ms;
  case Mode::Burst: return tick_burst(*r, now_ms);
  case Mode::Idle: return tick_idle(*r, now_ms);
  }
  return m_t.idle_tick_ms;
}

int Controller::tick_without_guests(std::int64_t now_ms) {
  std::error_code ec;
  if (m_mode == Mode::Unmanaged && std::filesystem::exists(m_prior_file, ec)) {
    // A controller was killed while it steered KSM, and no page-fusion guest runs now.
    release(now_ms, "a controller stopped without giving KSM back, and no page-fusion guest runs");
    return m_t.idle_tick_ms;
  }
  if (m_mode != Mode::Unmanaged && m_empty_since) {
    auto left = m_t.release_after_ms - (now_ms - *m_empty_since);
    if (left > 0) {
      return static_cast<int>(std::min<std::int64_t>(left, m_t.idle_tick_ms));
    }
    release(now_ms,
            fmt::format("no page-fusion guest has run for {} s", m_t.release_after_ms / 1000));
  }
  return m_t.idle_tick_ms;
}

void Controller::cap_burst_cpu(std::int64_t now_ms) {
  // Judged over a whole second at the current rate, so one high reading is not cut twice.
  auto cpu =
      now_ms - m_rate_since >= k_cap_window_ms ? ksmd_cpu_percent(k_cap_window_ms) : std::nullopt;
  if (!cpu || *cpu <= m_t.burst_cpu_cap || m_rate.pages_to_scan <= m_t.burst_min_pages) {
    return;
  }
  auto pages = std::max<std::uint64_t>(
      m_t.burst_min_pages, static_cast<std::uint64_t>(static_cast<double>(m_rate.pages_to_scan) *
                                                      m_t.burst_cpu_cap / *cpu));
  m_capped_pages = pages;
  decide(Mode::Burst, {pages, m_rate.sleep_millisecs}, now_ms,
         fmt::format("ksmd used {:.0f}% of a core, over the {:.0f}% a burst may use", *cpu,
                     m_t.burst_cpu_cap));
}

void Controller::measure_burst_window(const Reading& r, std::int64_t now_ms) {
  // A measurement window ends with a full scan; without full_scans (old kernels) every 2 s.
  // A scan that makes progress is waited for up to twice the time the work says it takes (on
  // a host of 256 GiB of guests that is minutes: a few seconds of the first scan, which only
  // takes checksums, merge nothing and would look quiet); one that scans nothing (no memory
  // registered with KSM yet) ends after 5 s.
  bool scanned_all =
      r.c.full_scans && m_scan_mark->c.full_scans && *r.c.full_scans > *m_scan_mark->c.full_scans;
  bool progressing = r.c.pages_scanned && m_scan_mark->c.pages_scanned &&
                     *r.c.pages_scanned > *m_scan_mark->c.pages_scanned;
  auto window = r.c.full_scans ? k_longest_window_ms : k_window_without_scans_ms;
  if (auto work = work_pages(); r.c.full_scans && progressing && work) {
    auto scan_ms = static_cast<double>(*work) * 1000.0 / m_rate.pages_per_second();
    window = std::max(window, static_cast<std::int64_t>(2.0 * scan_ms));
  }
  if (!scanned_all && now_ms - m_scan_mark->at_ms < window) {
    return;
  }
  ++m_windows;
  auto g = gain_between(*m_scan_mark, r);
  // Quiet: a scan whose gain is small against what it scanned, or against what this burst
  // has merged so far (diminishing returns: the trickle that follows costs more ksmd CPU
  // than it saves at this rate; idle scanning picks it up). Not against all that is
  // shared: a guest that starts beside many others would look quiet at once.
  auto merged = std::max<std::int64_t>(0, gain_between(*m_trigger, r).pages_sharing);
  auto threshold = std::max({static_cast<double>(m_t.quiet_pages),
                             static_cast<double>(g.pages_scanned.value_or(0)) * m_t.quiet_ratio,
                             static_cast<double>(merged) * m_t.quiet_share});
  // Memory that arrived meanwhile has not been scanned twice yet: not quiet, whatever it gained.
  bool grew = m_rss_kib && m_rss_low_kib && *m_rss_kib >= *m_rss_low_kib + grow_threshold_kib();
  m_rss_low_kib = m_rss_kib;
  m_quiet = !grew && static_cast<double>(g.pages_sharing) < threshold ? m_quiet + 1 : 0;
  if (m_quiet == 1) {
    m_streak_start = m_scan_mark;
  }
  m_last_gain = g;
  m_scan_mark = r;
}

int Controller::tick_burst(const Reading& r, std::int64_t now_ms) {
  if (!m_scan_mark || !m_trigger) {
    m_trigger = m_scan_mark = r; // KSM's counters could not be read when the burst began
  }
  measure_cost();
  cap_burst_cpu(now_ms);
  resize_burst(now_ms);
  measure_burst_window(r, now_ms);
  // The first window after a trigger is a partial scan: it does not count as a quiet one.
  if (now_ms - m_trigger->at_ms < m_t.min_burst_ms || m_quiet < m_t.quiet_scans ||
      m_windows <= m_t.quiet_scans) {
    return m_t.burst_tick_ms;
  }
  auto g = gain_between(*m_streak_start, r);
  std::string scanned = g.pages_scanned ? fmt::format(" of {} scanned", *g.pages_scanned) : "";
  if (g.general_profit) {
    scanned += fmt::format(", general profit {:+} MB", *g.general_profit / (1024LL * 1024));
  }
  std::string what = g.full_scans >= static_cast<std::uint64_t>(m_quiet)
                         ? fmt::format("the last {} full scans", m_quiet)
                         : fmt::format("the last {} s of scanning", g.ms / 1000);
  decide(
      Mode::Idle, m_t.idle, now_ms,
      fmt::format("merging stopped paying: {} {}{}", what, merged_words(g.pages_sharing), scanned));
  m_idle_mark = r;
  m_rss_low_kib = m_rss_kib;
  return m_t.burst_tick_ms;
}

int Controller::tick_idle(const Reading& r, std::int64_t now_ms) {
  // Judge what each window of slow scanning merges.
  auto waited = now_ms - m_idle_mark->at_ms;
  if (waited < m_t.idle_window_ms) {
    return static_cast<int>(std::min<std::int64_t>(m_t.idle_tick_ms, m_t.idle_window_ms - waited));
  }
  auto g = gain_between(*m_idle_mark, r);
  m_last_gain = g;
  m_idle_mark = r;
  auto threshold =
      std::max<double>(static_cast<double>(m_t.wake_pages),
                       static_cast<double>(g.pages_scanned.value_or(0)) * m_t.wake_ratio);
  if (static_cast<double>(g.pages_sharing) >= threshold) {
    burst(now_ms, fmt::format("idle scanning merged {} in {} s: there is more to merge",
                              pages_and_mb(g.pages_sharing, m_ksm.page_size()), g.ms / 1000));
    return m_t.burst_tick_ms;
  }
  return m_t.idle_tick_ms;
}

void Controller::release(std::int64_t now_ms, const std::string& reason) {
  std::error_code ec;
  if (m_mode == Mode::Unmanaged && !std::filesystem::exists(m_prior_file, ec)) {
    return;
  }
  auto restored = restore_prior(m_ksm, m_prior_file);
  if (!restored && m_prior) {
    m_ksm.apply(*m_prior); // the file went missing; what we read at take-over still says it
    restored = m_prior;
  }
  Rate rate;
  if (restored) {
    rate = {restored->pages_to_scan.value_or(0), restored->sleep_millisecs.value_or(0)};
  }
  m_prior.reset();
  decide(
      Mode::Unmanaged, rate, now_ms,
      fmt::format("{}: KSM given back as found ({})", reason, restored ? restored->to_line() : ""));
}

} // namespace vbm::pagefusion
