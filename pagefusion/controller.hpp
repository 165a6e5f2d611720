#pragma once
// The adaptive merge controller: runs the host's KSM while page-fusion guests run, fast when
// there is new memory to merge and near-idle once merging stops paying, and gives KSM back as
// it found it. It sees the world through backend::Ksm (an injectable sysfs root) and through
// what the daemon tells it (guests started and stopped, balloons changed); it never sleeps and
// never reads a clock, so tests drive it tick by tick against a fake sysfs tree.
//
// Stock KSM scans 100 pages every 20 ms forever: three identical 256 MiB guests take ~37 s to
// reach 90% of what they share, and ksmd then keeps ~0.6-1.4% of a core busy rescanning
// memory that will not merge. Merging needs each page seen on two scans, so the time to merge
// is a few full scans, and a full scan's length is (pages in the guests' memory) / (scan rate).
// So:
//   burst  a new page-fusion guest, a deflated balloon, guests' memory that grew, or idle scans
//          that find new merges: scan so that a full scan of the guests' memory (their QEMU
//          RSS, what a full scan walks) takes about a second, within a CPU budget (30% of one
//          core, from ksmd's own CPU time per page scanned); the rate follows the work as the
//          guests grow, and is re-sized only when it is 25% off;
//   idle   once full scans stop paying (two in a row merge less than 0.1% of the pages they
//          scan, or less than 2% of what the burst has merged): 250 pages a second, ~0.03% of
//          a core, still watching what each window gains and how much the guests' memory grows;
//   (unmanaged) no page-fusion guest for a few seconds: KSM's tunables as found.
// On a host of 256 GiB of guests the CPU budget sets the pace (a full scan takes minutes), so a
// measurement window is a full scan however long it takes, never a few seconds of one.
//
// Kernel facilities: smart_scan (6.7+) is turned on while idle, because it is exactly "don't
// rescan what never merges": pages that failed to merge are skipped on later scans, which is
// most of what keeps ksmd busy after convergence. It is off while bursting: pages that failed
// scan after scan while a guest was still writing them would be skipped by the very scans
// that judge whether merging still pays. The scan-time advisor (6.9+) is turned off: it
// steers pages_to_scan so that a full scan takes a fixed time (advisor_target_scan_time, whole
// seconds, re-evaluated only at the end of each full scan), and so keeps scanning at that pace
// forever even when nothing merges; while it is on the kernel refuses writes to pages_to_scan.
// Our burst/idle rates already size the scan to what merges.

#include "backend/ksm.hpp"

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vbm::pagefusion {

enum class Mode { Unmanaged, Burst, Idle };
std::string_view mode_name(Mode mode);
/// What a measurement window did to sharing, in words: "merged N pages", or, when guests wrote
/// to merged pages faster than ksmd merged new ones, "let sharing fall by N pages while ..." --
/// never a negative merge count.
std::string merged_words(std::int64_t pages);

/// ksmd's pace: pages_to_scan pages, then sleep_millisecs.
struct Rate {
  std::uint64_t pages_to_scan = 0;
  std::uint64_t sleep_millisecs = 0;
  bool operator==(const Rate&) const = default;
  double pages_per_second() const;
};

/// The controller's constants (defaults measured with bench/bench_pagefusion.sh).
struct Tuning {
  /// A burst's rate when the work in front of it is not known yet (no RSS figures, no full
  /// scan measured): 4000 pages / 20 ms, what bursts used before they were sized.
  Rate burst{4000, 20};
  /// A burst scans the guests' memory in about this long: merging needs a page seen on two
  /// scans, so content that stopped changing is merged within ~2-3 of them. (The fixed 4000
  /// pages / 20 ms scanned three booting 256 MiB guests, ~115k pages, every 0.6 s: ~5 s to
  /// 90%, bound by the boot, not by the scans; a scan every second halves that CPU.)
  std::int64_t burst_scan_ms = 1000;
  Rate idle{250, 1000};
  std::uint64_t burst_min_pages = 500; ///< per burst sleep: never slower (~25k pages/s)
  double burst_cpu_cap = 30.0;         ///< % of one core ksmd may use while bursting
  /// ksmd's CPU per page scanned until it is measured: 115.4 s over 80.6 M pages on the
  /// development host (its whole uptime: scans and merges), 1.43 us.
  double assumed_ns_per_page = 1500.0;
  double resize_ratio = 0.25;               ///< a sized rate this far off the current one: change
  std::int64_t min_burst_ms = 4000;         ///< a guest that just started is still booting
  int quiet_scans = 2;                      ///< full scans in a row that gain (almost) nothing
  std::uint64_t quiet_pages = 64;           ///< "almost nothing": below this many pages …
  double quiet_ratio = 0.001;               ///< … or this share of the pages scanned …
  double quiet_share = 0.02;                ///< … or this share of what the burst merged so far
  std::int64_t idle_window_ms = 30000;      ///< idle gains are judged over this window
  std::uint64_t wake_pages = 256;           ///< an idle window merging this many pages …
  double wake_ratio = 0.01;                 ///< … and this share of what it scanned: burst again
  std::uint64_t deflate_kib = 16ULL * 1024; ///< a balloon giving back this much: burst
  std::uint64_t grow_kib = 16ULL * 1024;    ///< guests' memory growing by this much …
  double grow_share = 0.01;                 ///< … and this share of it: new memory, burst
  std::int64_t release_after_ms = 5000;     ///< no page-fusion guest for this long: give KSM back
  int burst_tick_ms = 250;
  int idle_tick_ms = 5000;
  std::size_t decisions_kept = 20;
};

struct Decision {
  std::int64_t at_ms = 0;
  Mode mode = Mode::Unmanaged;
  Rate rate;          ///< for Unmanaged: the tunables given back (if they had a rate)
  std::string reason; ///< plain words: why
};

/// A running guest whose memory KSM may merge (page fusion on, no huge pages).
struct Guest {
  std::string uuid;
  std::string name;
};

/// What the last completed measurement window gained (for status).
struct Gain {
  std::int64_t ms = 0;
  std::int64_t pages_sharing = 0; ///< growth of pages_sharing (may be negative)
  std::optional<std::uint64_t> pages_scanned;
  std::optional<std::int64_t> general_profit; ///< growth of general_profit, bytes
  std::uint64_t full_scans = 0;
};

/// Restores KSM's tunables from `prior_file` (written by a controller when it took KSM over)
/// and removes the file. Returns what was restored; nullopt when there was no file.
/// Throws backend::KsmError (the file is then kept).
std::optional<backend::KsmKnobs> restore_prior(const backend::Ksm& ksm,
                                               const std::filesystem::path& prior_file);

class Controller {
public:
  /// `prior_file` keeps KSM's tunables as found while we manage it, so that a controller that
  /// was killed is still undone by the next one (or by `pagefusion manage off`).
  Controller(const backend::Ksm& ksm, std::filesystem::path prior_file, Tuning tuning = {});

  /// Every page-fusion guest running now (at start, after a reconnect to libvirtd).
  void set_guests(std::vector<Guest> guests, std::int64_t now_ms);
  void guest_started(const Guest& guest, std::int64_t now_ms);
  void guest_stopped(const std::string& uuid, std::int64_t now_ms);
  /// A guest's balloon moved; `actual_kib` is the memory it now has.
  void balloon_changed(const std::string& uuid, std::uint64_t actual_kib, std::int64_t now_ms);
  /// The page-fusion guests' memory on the host now: the sum of their QEMU RSS. It is the
  /// length of a full scan (what a burst is sized by), and its growth is new memory to merge.
  void guests_memory(std::uint64_t rss_kib, std::int64_t now_ms);
  /// Reads KSM's counters and ksmd's CPU time and decides. Returns the milliseconds until it
  /// wants the next tick. Throws backend::KsmError when KSM refuses a change.
  int tick(std::int64_t now_ms);
  /// Gives KSM back as found (no-op when not managing and no prior file is left).
  void release(std::int64_t now_ms, const std::string& reason);

  Mode mode() const { return m_mode; }
  Rate rate() const { return m_rate; }
  std::int64_t mode_since_ms() const { return m_mode_since; }
  const std::vector<Guest>& guests() const { return m_guests; }
  const std::deque<Decision>& decisions() const { return m_decisions; }
  const std::optional<Gain>& last_gain() const { return m_last_gain; }
  /// ksmd's CPU use over about the last `window_ms`, in % of one core.
  std::optional<double> ksmd_cpu_percent(std::int64_t window_ms = 10000) const;
  /// ksmd's CPU per page scanned, as last measured in a burst (else the assumed figure).
  double ns_per_page() const { return m_ns_per_page.value_or(m_t.assumed_ns_per_page); }
  /// KSM's tunables as found (while managing).
  const std::optional<backend::KsmKnobs>& prior() const { return m_prior; }
  /// Called with every decision as it is made (the daemon logs them).
  std::function<void(const Decision&)> on_decision;

private:
  struct Reading {
    std::int64_t at_ms = 0;
    backend::KsmCounters c;
    std::optional<std::uint64_t> ksmd_ns;
  };
  int tick_without_guests(std::int64_t now_ms);
  int tick_burst(const Reading& r, std::int64_t now_ms);
  int tick_idle(const Reading& r, std::int64_t now_ms);
  void cap_burst_cpu(std::int64_t now_ms);
  void measure_cost();
  /// The burst rate the work and the CPU budget call for, and why, in words.
  std::pair<Rate, std::string> sized_burst() const;
  void resize_burst(std::int64_t now_ms);
  /// Pages a full scan walks: the guests' RSS in pages (unknown without it).
  std::optional<std::uint64_t> work_pages() const;
  std::uint64_t grow_threshold_kib() const;
  void measure_burst_window(const Reading& r, std::int64_t now_ms);
  void burst(std::int64_t now_ms, const std::string& reason);
  void decide(Mode mode, Rate rate, std::int64_t now_ms, const std::string& reason);
  void take_control();
  std::optional<Reading> read(std::int64_t now_ms) const;
  Gain gain_between(const Reading& from, const Reading& to) const;
  std::string guest_name(const std::string& uuid) const;

  const backend::Ksm& m_ksm;
  std::filesystem::path m_prior_file;
  Tuning m_t;
  Mode m_mode = Mode::Unmanaged;
  Rate m_rate;
  std::int64_t m_mode_since = 0;
  std::int64_t m_rate_since = 0;
  std::optional<backend::KsmKnobs> m_prior;
  std::vector<Guest> m_guests;
  std::optional<std::int64_t> m_empty_since;
  std::vector<std::pair<std::string, std::uint64_t>> m_balloons; ///< uuid → lowest actual KiB
  std::deque<Decision> m_decisions;
  std::deque<Reading> m_history; ///< ~10 s of readings, for ksmd's CPU
  // Burst: when the last reason to burst came, the readings at scan boundaries, quiet scans.
  std::optional<Reading> m_trigger; ///< the reading when the last reason to burst came
  std::optional<Reading> m_scan_mark;
  std::optional<Reading> m_streak_start; ///< where the current run of quiet scans began
  int m_quiet = 0;
  int m_windows = 0; ///< measurement windows since the last reason to burst
  // Idle: the start of the current measurement window.
  std::optional<Reading> m_idle_mark;
  std::optional<Gain> m_last_gain;
  // The work: the guests' RSS and its lowest since the last burst or window, ksmd's cost per
  // page scanned, and the ceiling the CPU cap set in this burst.
  std::optional<std::uint64_t> m_rss_kib;
  std::optional<std::uint64_t> m_rss_low_kib;
  std::optional<double> m_ns_per_page;
  std::optional<std::uint64_t> m_capped_pages;
};

} // namespace vbm::pagefusion
