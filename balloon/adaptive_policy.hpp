#pragma once
// vboxkvm's balloon policy: take a guest's idle memory back slowly, give it back at once before
// the guest runs short.
//
//   guard     the free memory (usable: MemAvailable) each guest keeps, sized from its own
//             recent demand growth times the time a deflate takes to reach it (measured on it),
//             never below a floor (a few % of its RAM), never above a share of it;
//   deflate   when usable falls below the guard, the guest faults or swaps heavily, or its own
//             deflate-on-OOM fired (its balloon shrank by itself): enough back in one call for
//             twice the guard plus what it grows in the next seconds, then no inflating it for a
//             while (longer each time it repeats);
//   inflate   only guests whose statistics are fresh and whose usable memory has been steady,
//             in small steps, down to 1.25 × the guard, never below the floor (BalloonSizeMax,
//             MinMB); in demand mode only while the host needs memory, shared out by shares, and
//             given back slowly once the host has plenty again;
//   squeeze   a steady guest with free page reporting and page cache: down to a few MB of usable
//             memory for a moment (its kernel evicts the cache), then two guards back as free
//             memory, which the guest hands back to the host by itself;
//   host      states from MemAvailable, PSI (when the kernel has it) and swap-in, with hysteresis:
//             plenty, normal, pressure, critical; pressure makes steps larger.
// Every number is in Tuning, with the reason for it.

#include "balloon/policy.hpp"

#include <map>

namespace vbm::balloon {

enum class HostState { Plenty, Normal, Pressure, Critical };
std::string_view host_state_name(HostState s);

struct Tuning {
  // The guard: max(floor, peak growth × (detection + deflate time)), at most a share of RAM.
  /// What a guest keeps at least … A guest with less than 64 MB usable is short by the bench's
  /// measure (bench/autoballoon/analyze.py GUARD_KIB): with a 32 MB floor the policy parked idle
  /// guests at 48-64 MB usable, short and never given anything back (4 of 4 "crossings"
  /// unresolved in the idle scenario).
  std::uint64_t guard_floor_kib = 64 * k_mib;
  double guard_floor_share = 0.06; ///< … or this share of its RAM
  double guard_cap_share = 0.30;   ///< a guard never above this share of its RAM
  double detect_s = 1.5;           ///< statistics every 1 s, looked at every 0.25-1 s
  double deflate_s = 1.0;          ///< a deflate's time until measured on the guest
  /// Remembered growth halves every 20 s: a burst of 128 MB/s (the bench's warm-up) keeps the
  /// guard at its cap for ~20 s and at the floor after ~60 s. With 60 s it held a 384 MB guest's
  /// guard at 115 MB for 90 s, and the balloon took no more than free page reporting did.
  double rate_half_life_s = 20;
  // Inflating: down to 1.25 × guard, a step at a time, once at least min_change_kib is above it.
  // A deflate leaves 2 × guard, and the cooldown after it keeps the two from flapping.
  double inflate_to = 1.25;
  std::uint64_t step_kib = 32 * k_mib;           ///< per step, host fine
  std::uint64_t step_pressure_kib = 128 * k_mib; ///< per step, host under pressure
  std::uint64_t step_max_kib = 128 * k_mib;      ///< idle mode: at most this per step …
  std::uint64_t inflate_parts = 3;               ///< … and a third of what is above the target
  std::int64_t step_every_ms = 2000;
  std::int64_t steady_ms = 8000; ///< its demand (actual − usable) has not grown for this long
  std::int64_t fresh_ms = 3000;  ///< statistics older than this are stale
  std::uint64_t min_change_kib = 8 * k_mib;
  // After a guest ran short: no inflating it for this long, doubled if it repeats soon.
  std::int64_t cooldown_ms = 30000;
  std::int64_t cooldown_max_ms = 300000;
  // Running short besides the guard: major faults per second, swap-in.
  double fault_rate = 500;
  // Ticks.
  int hot_tick_ms = 250; ///< a guest near its guard, or something just happened
  int tick_ms = 1000;
  // Host states: MemAvailable % to enter / leave, PSI avg10 to enter.
  double critical_pct = 5, critical_leave_pct = 8;
  double pressure_pct = 15, pressure_leave_pct = 20;
  double plenty_pct = 40, plenty_leave_pct = 35;
  double psi_pressure = 10, psi_critical = 5; ///< some avg10, full avg10
  /// Demand mode: the host's MemAvailable it aims to keep (% of total) by inflating.
  double demand_target_pct = 20;
  // Squeezing the page cache of a guest with free page reporting. Its free pages go back to the
  // host by themselves, its page cache does not: a balloon that stops at 1.25 guards of usable
  // memory leaves that memory as cache (the guest's kernel gives the balloon free pages first
  // and evicts cache only when free runs out). Measured in the idle scenario of
  // bench_autoballoon.sh: 84 MB of each 384 MB guest's 153 MB resident was clean cache, free
  // 4 MB. So once a steady guest is within two guards, the balloon takes it down to
  // squeeze_to_kib of usable memory (the kernel evicts the cache to feed it) and, as soon as the
  // guest's next statistics show it landed, gives two guards back as free memory, which the
  // guest reports and the host no longer holds.
  /// Only when it holds this much more cache than a squeeze leaves (squeeze_to_kib).
  std::uint64_t squeeze_gain_kib = 16 * k_mib;
  /// Usable memory left for that moment. Under TCG a balloon inflates at 23-35 MB/s, so every
  /// MB below the 64 MB guard floor keeps the guest short ~40 ms longer: 16 MB held guests
  /// short 2.7 s (p99 of six squeezes), 32 MB leaves 12-20 MB more cache.
  std::uint64_t squeeze_to_kib = 32 * k_mib;
  /// … and while the host is under pressure (over its budget): a guest's cache is memory the
  /// host must find, so the squeeze goes down to what evicts nearly all of it. The guest's
  /// kernel evicts cache only once its free memory reaches its watermarks (~6 MB on a 384 MB
  /// guest): 32 MB left 29 MB of cache, 16 MB left 15, 8 MB leaves ~3 (bench all-spike).
  std::uint64_t squeeze_deep_to_kib = 8 * k_mib;
  /// It starts from at most this much above squeeze_to_kib: under TCG a squeeze of 160 MB took
  /// 4 s to land (the guest evicts as it goes) and left the guest short that long; 64-70 MB
  /// took 1.3-1.5 s. (A deep squeeze goes 24 MB further.)
  std::uint64_t squeeze_max_kib = 128 * k_mib;
  std::int64_t squeeze_every_ms = 60000;  ///< at most once a minute per guest
  std::int64_t squeeze_timeout_ms = 4000; ///< give back even if it never landed
  /// Our own inflate steps: the balloon's new size arrives (an event) before the guest's next
  /// statistics, so for a moment the guest seems to use more. Growth seen this soon after a
  /// step is not counted as its demand (it held idle guests at one step per 10 s: steady_ms).
  std::int64_t own_step_ms = 2500;
};

class AdaptivePolicy final : public Policy {
public:
  explicit AdaptivePolicy(Tuning tuning = {});
  std::int64_t decide(std::int64_t now_ms, const HostFigures& host, std::span<const Guest> guests,
                      std::vector<Action>& out) override;
  void forget(const std::string& uuid) override { m_tracks.erase(uuid); }
  GuestNote note(const std::string& uuid) const override;
  bool reacts_to_events() const override { return true; }
  void stopping(std::vector<Action>& out) override;
  HostState host_state() const { return m_host_state; }

private:
  struct Track {
    std::optional<std::int64_t> stats_s;     ///< the guest's stamp of the last statistics used
    std::int64_t fresh_at_ms = 0;            ///< when they arrived
    std::optional<std::uint64_t> used_kib;   ///< actual − usable then
    std::optional<std::uint64_t> actual_kib; ///< at the last look
    std::uint64_t self_deflated_kib = 0;     ///< what its deflate-on-OOM took since then
    double peak_rate = 0;                    ///< KiB/s, as of peak_at_ms
    std::int64_t peak_at_ms = 0;
    std::optional<std::uint64_t> major_faults;
    double fault_rate = 0;
    std::optional<std::uint64_t> swap_in_kib;
    bool swapping = false;
    std::optional<std::uint64_t> usable_kib;
    std::int64_t steady_since_ms = 0;
    std::int64_t cooldown_until_ms = 0;
    std::int64_t cooldown_ms = 0;
    std::int64_t last_short_ms = -1'000'000'000;
    std::int64_t last_step_ms = -1'000'000'000;
    std::optional<std::pair<std::int64_t, std::uint64_t>> deflating; ///< since, to target
    double deflate_s = 0;
    std::uint64_t guard_kib = 0;
    std::string state;
    struct Squeeze {
      std::int64_t since_ms = 0;
      std::uint64_t target_kib = 0;
      std::uint64_t max_kib = 0; ///< the guest's memory
      std::uint64_t to_kib = 0;  ///< the usable memory it leaves
    };
    std::optional<Squeeze> squeeze;
    std::int64_t squeezed_ms = -1'000'000'000;
    std::int64_t settle_until_ms = 0; ///< after a squeeze: its statistics may still show it …
    std::uint64_t settle_kib = 0;     ///< … usable down to about what it left
  };
  void observe(Track& t, const Guest& g, std::int64_t now_ms);
  std::uint64_t guard(const Track& t, const Guest& g, std::int64_t now_ms) const;
  double rate_now(const Track& t, std::int64_t now_ms) const;
  void update_host_state(const HostFigures& host);
  std::optional<std::string> running_short(const Track& t, const Guest& g,
                                           std::int64_t now_ms) const;
  bool squeezing(Track& t, const Guest& g, std::int64_t now_ms, std::vector<Action>& out);

  Tuning m_t;
  HostState m_host_state = HostState::Normal;
  std::map<std::string, Track> m_tracks;
};

} // namespace vbm::balloon
