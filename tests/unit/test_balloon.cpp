// The balloon service's policies as pure functions of figures, the settings' resolution, and the
// service's loop on FakeHypervisor. VirtualBox's, Proxmox's and MOM's policies are checked
// against decisions computed by hand from their sources (and, for Proxmox and MOM, checked by
// running the originals: /work/research/balloon-baselines.md §1.9, §2.9).

#include "balloon/adaptive_policy.hpp"
#include "balloon/baseline_policies.hpp"
#include "balloon/service.hpp"
#include "balloon/vbox_policy.hpp"
#include "support/fake_hypervisor.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

namespace vbm::test {
namespace {

using balloon::Action;
using balloon::Guest;
using balloon::HostFigures;
using balloon::k_mib;
using testing::Contains;
using testing::HasSubstr;
using testing::Not;

constexpr std::uint64_t k_gib_bytes = 1024ULL * 1024 * 1024;

// ---- VBoxBalloonCtrl (VBoxModBallooning.cpp) ------------------------------------------------

struct VBoxTest : testing::Test {
  balloon::Options opt;
  std::vector<std::string> logged;
  std::unique_ptr<balloon::VBoxPolicy> policy() {
    auto p = std::make_unique<balloon::VBoxPolicy>(opt);
    p->log = [this](const std::string& l) { logged.push_back(l); };
    return p;
  }
  static std::uint64_t mib_bytes(std::uint64_t mb) { return mb * 1024 * 1024; }
};

// balloonGetDelta, the worked examples 1-10 and 15 of the notes (defaults inc 256, dec 128,
// lower limit 128, safety margin 1024; host available 8192 MB unless said).
TEST_F(VBoxTest, BalloonGetDeltaAsVirtualBoxComputesIt) {
  auto p = policy();
  auto avail = mib_bytes(8192);
  EXPECT_EQ(p->delta(300, 0, 1024, 0, avail), 128);           // 1: halving once
  EXPECT_EQ(p->delta(200, 0, 1024, 0, avail), 256);           // 2: 200 - 256 wraps: the full step
  EXPECT_EQ(p->delta(256, 0, 1024, 0, avail), 0);             // 3: 128 > 128 is false
  EXPECT_EQ(p->delta(2048, 900, 1000, 0, avail), 100);        // 5: clamped to the request
  EXPECT_EQ(p->delta(4096, 1000, 2000, 1000, avail), 0);      // 6: at the maximum
  EXPECT_EQ(p->delta(4096, 800, 2000, 500, avail), -128);     // 7: deflate toward the maximum
  EXPECT_EQ(p->delta(100, 512, 1024, 0, avail), -128);        // 8: low memory beats inflating
  EXPECT_EQ(p->delta(100, 100, 1024, 0, avail), 0);           // 9: no partial deflate
  EXPECT_EQ(p->delta(4096, 512, 0, 0, mib_bytes(1074)), -50); // 10: host safety margin
  EXPECT_EQ(p->delta(4096, 512, 0, 0, mib_bytes(900)), 0);    //     below the margin: nothing
  EXPECT_EQ(p->delta(4096, 512, 0, 0, std::nullopt), 0);      //     host unreadable: nothing
  EXPECT_EQ(p->delta(127, 255, 0, 0, avail), -128);           // 15: 131071 kB free = 127 MB
  opt.inc_mb = 128;
  EXPECT_EQ(policy()->delta(140, 0, 1024, 0, avail), 8); // 4: halving down below 16
}

TEST_F(VBoxTest, ExtradataPrecedenceAndParsingAsVirtualBoxReadsThem) {
  auto p = policy();
  balloon::VBoxKeys keys;
  keys.global_enabled = "true"; // 12: the global key wins, and "true" reads as 0
  keys.vm_enabled = "1";
  EXPECT_FALSE(balloon::VBoxPolicy::enabled(keys));
  opt.max_mb = 1000;
  keys = {};
  keys.global_size_max = "abc"; // 13: a global value masks --balloon-max even when it reads 0
  EXPECT_EQ(policy()->max_size(keys), 0u);
  keys = {};
  keys.vm_size_max = "0400"; // 14: the new key first, and a leading 0 is octal
  keys.vm_legacy_size_max = "2048";
  EXPECT_EQ(balloon::VBoxPolicy::requested_size(keys), 256u);
  keys.vm_size_max.reset();
  EXPECT_EQ(balloon::VBoxPolicy::requested_size(keys), 2048u);
  EXPECT_EQ(balloon::vbox_to_uint32("512MB"), 512u);
  EXPECT_EQ(balloon::vbox_to_uint32("0x200"), 512u);
  EXPECT_EQ(balloon::vbox_to_uint32("08"), 8u);
  EXPECT_EQ(balloon::vbox_to_uint32("-1"), 4294967295u);
  EXPECT_EQ(balloon::vbox_to_uint32("4294967297"), 1u);
  EXPECT_EQ(balloon::vbox_to_uint32(" 512"), 0u);
}

Guest vbox_guest(std::uint64_t free_mb, std::uint64_t balloon_mb, const balloon::VBoxKeys& keys) {
  Guest g;
  g.figures.uuid = "u1";
  g.figures.name = "vm1";
  g.figures.max_kib = 8192 * k_mib;
  g.figures.actual_kib = g.figures.max_kib - balloon_mb * k_mib;
  g.figures.unused_kib = free_mb * k_mib;
  g.target_kib = g.figures.actual_kib;
  g.settings.vbox = keys;
  return g;
}

TEST_F(VBoxTest, APassAtOnceThenEveryIntervalWithVirtualBoxsLogLines) {
  auto p = policy();
  HostFigures host{16 * 1024 * k_mib, 8 * 1024 * k_mib, 8 * 1024 * k_mib, {}, {}, {}};
  balloon::VBoxKeys keys;
  keys.vm_size_max = "1024";
  std::vector<Guest> guests{vbox_guest(300, 0, keys)};
  std::vector<Action> out;
  EXPECT_EQ(p->decide(0, host, guests, out), 30001);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].target_kib, (8192u - 128) * k_mib); // example 1: +128 MB
  EXPECT_EQ(logged.back(), "[vm1] Inflating balloon by 128MB to 128MB ...");
  out.clear();
  EXPECT_EQ(p->decide(30000, host, guests, out), 1); // not "more than 30 s" yet
  EXPECT_TRUE(out.empty());
  guests[0].figures.unused_kib.reset(); // no statistics: skipped silently
  EXPECT_EQ(p->decide(30001, host, guests, out), 30001);
  EXPECT_TRUE(out.empty());
}

TEST_F(VBoxTest, TheMaximumWarningOnceAndDisabledForcesZero) {
  opt.max_mb = 1000;
  auto p = policy();
  HostFigures host{16 * 1024 * k_mib, 8 * 1024 * k_mib, 8 * 1024 * k_mib, {}, {}, {}};
  balloon::VBoxKeys keys;
  keys.vm_size_max = "2000";
  std::vector<Guest> guests{vbox_guest(4096, 1000, keys)};
  std::vector<Action> out;
  p->decide(0, host, guests, out);
  p->decide(40000, host, guests, out);
  EXPECT_EQ(std::count_if(logged.begin(), logged.end(),
                          [](const std::string& l) {
                            return l.find("exceeds set maximum") != std::string::npos;
                          }),
            1); // example 6: once per change of the request
  EXPECT_TRUE(out.empty());

  // Example 11: ballooning disabled for the VM: the balloon is forced to 0.
  logged.clear();
  keys.vm_enabled = "0";
  keys.vm_size_max = "512";
  std::vector<Guest> off{vbox_guest(2048, 0, keys)};
  opt.max_mb.reset();
  auto q = policy();
  q->decide(0, host, off, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].target_kib, 8192 * k_mib);
}

// ---- Proxmox (AutoBalloon.pm compute_alg1) ---------------------------------------------------

using Vm = balloon::ProxmoxPolicy::Vm;
constexpr std::int64_t MiB = 1048576;

Vm pve(const char* id, std::int64_t max, std::int64_t actual, std::int64_t min, std::int64_t free,
       std::int64_t shares = 1000) {
  return {id, actual * MiB, max * MiB, min * MiB, shares, free * MiB};
}

TEST(Proxmox, WorkedExamplesFromTheSource) {
  auto alg = [](std::vector<Vm> v, std::int64_t goal) {
    return balloon::ProxmoxPolicy::compute_alg1(v, goal, 100 * MiB);
  };
  using R = std::map<std::string, std::int64_t>;
  // E1: shrink; shares decide who gives.
  EXPECT_EQ(alg({pve("101", 4096, 4096, 1024, 2000), pve("102", 8192, 8192, 2048, 4000, 3000)},
                -300 * MiB),
            (R{{"101", 3996 * MiB}}));
  // E2: grow; the pressured VM first; partial progress: no fallback.
  EXPECT_EQ(alg({pve("101", 4096, 1024, 1024, 100), pve("102", 4096, 1024, 1024, 900)}, 500 * MiB),
            (R{{"101", 1124 * MiB}}));
  // E3: the dead band, strict.
  EXPECT_EQ(alg({pve("101", 4096, 2048, 1024, 100)}, 10 * MiB), R{});
  EXPECT_EQ(alg({pve("101", 4096, 2048, 1024, 100)}, 10 * MiB + 1), (R{{"101", 2058 * MiB + 1}}));
  // E4: nobody has free memory: fallback to all; shares 0 and no minimum are skipped.
  auto e4 = std::vector<Vm>{pve("101", 4096, 3072, 1024, 200),
                            pve("102", 4096, 2048, 2048, 10),
                            pve("103", 4096, 3072, 1024, 2000, 0),
                            {"104", 2048 * MiB, 4096 * MiB, {}, 1000, 10 * MiB}};
  EXPECT_EQ(alg(e4, -1000 * MiB), (R{{"101", 2972 * MiB}}));
  // E5: a grow request also shrinks a VM above its share.
  EXPECT_EQ(alg({pve("101", 8192, 6144, 1024, 100), pve("102", 8192, 1024, 1024, 100)}, 200 * MiB),
            (R{{"101", 6044 * MiB}, {"102", 1124 * MiB}}));
  // E6: the pressured VM at its max is shrunk in the fallback.
  EXPECT_EQ(alg({pve("101", 2048, 2048, 1024, 10), pve("102", 4096, 1024, 1024, 900)}, 150 * MiB),
            (R{{"101", 1948 * MiB}, {"102", 1124 * MiB}}));
}

TEST(Proxmox, UpstreamBalloontestVectors) {
  // test/balloontest.pl: MB(x) = x·10^6, GB(x) = x·10^9, maxchange MB(100).
  auto MB = [](std::int64_t x) { return x * 1000000; };
  auto GB = [](std::int64_t x) { return x * 1000000000; };
  std::vector<Vm> s1{{"100", GB(1), GB(2), GB(1), 2000, 0}, {"101", GB(1), GB(2), GB(1), 1000, 0}};
  auto run = [&](std::int64_t goal) {
    return balloon::ProxmoxPolicy::compute_alg1(s1, goal, MB(100));
  };
  using R = std::map<std::string, std::int64_t>;
  EXPECT_EQ(run(0), R{});
  EXPECT_EQ(run(MB(90)), (R{{"100", MB(1060)}, {"101", MB(1030)}}));
  EXPECT_EQ(run(MB(150)), (R{{"100", MB(1100)}, {"101", MB(1050)}}));
  EXPECT_EQ(run(MB(270)), (R{{"100", MB(1100)}, {"101", MB(1090)}}));
}

// ---- oVirt MOM with vdsm's policy ------------------------------------------------------------

using balloon::MomPolicy;

std::optional<double> mom_one(double host_free, double cur, double max, double min,
                              std::optional<double> unused, bool enabled = true) {
  std::deque<MomPolicy::HostSample> host{{host_free, 10000000}};
  std::map<std::string, std::deque<MomPolicy::GuestSample>> guests{
      {"g", {{cur, max, min, unused}}}};
  auto t = MomPolicy::evaluate(host, guests, enabled);
  if (!t || !t->contains("g")) {
    return std::nullopt;
  }
  return t->at("g");
}

TEST(Mom, WorkedExamplesFromVdsmsPolicy) {
  EXPECT_DOUBLE_EQ(*mom_one(5000000, 2097152, 4194304, 1048576, 1048576), 2202009.6); // M1
  EXPECT_DOUBLE_EQ(*mom_one(1000000, 4194304, 4194304, 1048576, 2097152), 3984588.8); // M2
  EXPECT_NEAR(*mom_one(400000, 2097152, 4194304, 524288, 97152), 1992294.4, 1e-6);    // M3
  EXPECT_FALSE(mom_one(1500000, 2097152, 4194304, 0, 102400).has_value());            // M4
  EXPECT_DOUBLE_EQ(*mom_one(1000000, 3145728, 4194304, 1048576, 1048576, false),
                   3303014.4000000004);                                                 // M5
  EXPECT_FALSE(mom_one(5000000, 4189304, 4194304, 1048576, 1048576).has_value());       // M6
  EXPECT_DOUBLE_EQ(*mom_one(5000000, 900000, 4194304, 1048576, std::nullopt), 1048576); // M7
  // M9: a guest without balloon figures discards the whole run.
  std::deque<MomPolicy::HostSample> host{{5000000, 10000000}};
  std::map<std::string, std::deque<MomPolicy::GuestSample>> guests{
      {"a", {{std::nullopt, std::nullopt, std::nullopt, std::nullopt}}},
      {"b", {{2097152, 4194304, 1048576, 1048576}}}};
  EXPECT_FALSE(MomPolicy::evaluate(host, guests, true).has_value());
}

TEST(Mom, AveragesHideTheCurrentPressure) {
  // M8: nine samples at 30% free and the latest at 5% average to 27.5%: no pressure seen.
  std::deque<MomPolicy::HostSample> host;
  for (int i = 0; i < 9; ++i) {
    host.push_back({3000000.0, 10000000});
  }
  host.push_back({500000.0, 10000000});
  std::map<std::string, std::deque<MomPolicy::GuestSample>> g{
      {"g", {{4194304, 4194304, 1048576, 2097152}}}};
  auto t = MomPolicy::evaluate(host, g, true);
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(t->contains("g"));
}

// ---- vboxkvm's policy ---------------------------------------------------------------------------

struct AdaptiveTest : testing::Test {
  balloon::AdaptivePolicy policy;
  HostFigures host{16 * 1024 * k_mib, 12 * 1024 * k_mib, 12 * 1024 * k_mib, {}, {}, {}};
  std::int64_t now = 0;
  std::int64_t stamp = 1000;
  Guest g;
  AdaptiveTest() {
    g.figures.uuid = "u1";
    g.figures.name = "web1";
    g.figures.max_kib = 1024 * k_mib;
    g.figures.actual_kib = 1024 * k_mib;
    g.target_kib = g.figures.actual_kib;
    g.settings.enabled = {true, "default", {}};
    g.settings.size_max_mb = {921, "default", {}};
    g.settings.shares = {1000, "default", {}};
  }
  /// One second: the guest reports `usable` MB, the policy decides, its targets are applied
  /// (the balloon follows at once).
  std::vector<Action> second(std::uint64_t usable_mb) {
    g.figures.usable_kib = usable_mb * k_mib;
    g.figures.stats_time_s = ++stamp;
    now += 1000;
    std::vector<Action> out;
    policy.decide(now, host, std::span<const Guest>(&g, 1), out);
    for (const auto& a : out) {
      g.target_kib = a.target_kib;
      g.figures.actual_kib = a.target_kib;
    }
    return out;
  }
  /// Seconds of a steady guest that uses `used` MB and holds up to 150 MB of page cache, until
  /// the policy squeezes it (a reason containing `what`): that target, or 0 after two minutes.
  std::uint64_t until_squeezed(std::uint64_t used, std::string_view what = "squeezing") {
    for (int s = 0; s < 120; ++s) {
      auto usable = g.figures.actual_kib / k_mib - used;
      g.figures.disk_caches_kib = std::min<std::uint64_t>(usable, 150) * k_mib;
      for (const auto& a : second(usable)) {
        if (a.reason.find(what) != std::string::npos) {
          return a.target_kib;
        }
      }
    }
    return 0;
  }
};

TEST_F(AdaptiveTest, AnIdleGuestIsInflatedInStepsDownToOneAndAQuarterGuards) {
  std::uint64_t used = 200; // MB the guest really uses; the rest is usable
  int changes = 0;
  for (int s = 0; s < 300; ++s) {
    auto acts = second(g.figures.actual_kib / k_mib - used);
    for (const auto& a : acts) {
      EXPECT_FALSE(a.urgent);
      EXPECT_LE(g.figures.max_kib - a.target_kib, 921 * k_mib) << "beyond BalloonSizeMax";
      ++changes;
    }
  }
  auto guard = *policy.note("u1").guard_kib;
  EXPECT_EQ(guard, 64 * k_mib); // the floor (more than 6% of 1 GB): no demand growth seen
  auto usable = g.figures.actual_kib - used * k_mib;
  EXPECT_GE(usable, guard * 5 / 4 - k_mib) << "it went below 1.25 guards";
  EXPECT_LE(usable, guard * 5 / 4 + 8 * k_mib) << "it stopped short of 1.25 guards";
  EXPECT_GT(changes, 5); // in steps of at most 128 MB
}

TEST_F(AdaptiveTest, ASpikeIsGivenBackInOneCallThenCoolsDown) {
  for (int s = 0; s < 200; ++s) {
    second(g.figures.actual_kib / k_mib - 200);
  }
  auto before = g.figures.actual_kib;
  // The guest's demand jumps by 300 MB in one second: usable falls below the guard.
  auto acts = second(10);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_TRUE(acts[0].urgent);
  EXPECT_THAT(acts[0].reason, HasSubstr("fell below its guard"));
  EXPECT_GT(acts[0].target_kib, before);
  // Cooling down: not inflated again for a while, even though usable is high again.
  for (int s = 0; s < 20; ++s) {
    for (const auto& a : second(g.figures.actual_kib / k_mib - 520)) {
      EXPECT_GE(a.target_kib, g.figures.actual_kib - k_mib) << "inflated while cooling down";
    }
  }
  EXPECT_THAT(policy.note("u1").state, HasSubstr("cooling down"));
  // The guard learned the growth: larger than the floor now.
  EXPECT_GT(*policy.note("u1").guard_kib, 1024 * k_mib * 6 / 100);
}

// A guest with free page reporting whose usable memory is mostly clean page cache: the balloon
// takes it down to a few MB for a moment (the guest's kernel evicts the cache to feed it), then,
// once the guest's statistics show it landed, gives two guards back as free memory. Without free
// page reporting free memory would stay on the host, so there is no squeeze.
TEST_F(AdaptiveTest, WithFreePageReportingTheCacheIsSqueezedOutAndGivenBackAsFreeMemory) {
  for (bool fpr : {false, true}) {
    SCOPED_TRACE(fpr ? "free page reporting" : "no free page reporting");
    policy = balloon::AdaptivePolicy{};
    g.free_page_reporting = fpr;
    g.figures.actual_kib = g.target_kib = g.figures.max_kib;
    std::uint64_t used = 200; // MB it really uses
    std::uint64_t cache = 0;  // MB of clean cache its usable memory holds
    std::vector<std::string> reasons;
    std::vector<std::int64_t> squeezes;
    std::uint64_t lowest = ~0ULL;
    for (int s = 0; s < 150; ++s) {
      auto usable = g.figures.actual_kib / k_mib - used;
      // 150 MB of cache at first, again after 40 s (it read files); a balloon leaves no more
      // cache than usable memory.
      cache = std::min<std::uint64_t>(usable, s == 0 || s == 40 ? 150 : cache);
      g.figures.disk_caches_kib = cache * k_mib;
      lowest = std::min(lowest, usable);
      for (const auto& a : second(usable)) {
        EXPECT_FALSE(a.urgent) << a.reason; // a squeeze is no shortage
        reasons.push_back(a.reason);
        if (a.reason.find("squeezing its page cache") != std::string::npos) {
          squeezes.push_back(now);
        }
      }
    }
    auto squeezed = std::count_if(reasons.begin(), reasons.end(), [](const std::string& r) {
      return r.find("squeezing its page cache") != std::string::npos;
    });
    auto given = std::count_if(reasons.begin(), reasons.end(), [](const std::string& r) {
      return r.find("squeezed out") != std::string::npos;
    });
    if (!fpr) {
      EXPECT_EQ(squeezed, 0);
      EXPECT_GE(lowest, 80u); // 1.25 guards of 64 MB
      continue;
    }
    ASSERT_EQ(squeezed, 2);
    EXPECT_GE(squeezes[1] - squeezes[0], 60000) << "at most once a minute";
    EXPECT_EQ(given, 2);
    EXPECT_EQ(lowest, 32u); // the squeeze's depth
    EXPECT_LE(cache, 32u) << "the cache stayed";
    // It ends with at least 1.25 guards usable, now free memory.
    EXPECT_GE(g.figures.actual_kib / k_mib - used, 80u);
  }
}

// While the host is under pressure the squeeze goes down to 8 MB usable (32 MB leaves ~29 MB of
// cache on a real guest, 8 MB ~3 MB), and it is given back as soon as the balloon got there.
// A guest whose deflate-on-OOM fires during a squeeze is short: it gets its memory back at once.
TEST_F(AdaptiveTest, UnderHostPressureTheSqueezeGoesDeeperAndEndsWhenTheGuestRunsShort) {
  host.available_kib = host.free_kib = host.total_kib / 10; // pressure
  g.free_page_reporting = true;
  std::uint64_t used = 200;
  auto squeezed_to = until_squeezed(used, "squeezing its page cache while the host is short");
  ASSERT_NE(squeezed_to, 0u);
  EXPECT_EQ(squeezed_to / k_mib - used, 8u) << "the deep squeeze leaves 8 MB usable";
  // Landed: the next look gives it back, without waiting for statistics that show it.
  g.figures.stats_time_s = stamp; // no new statistics
  now += 250;
  std::vector<Action> out;
  policy.decide(now, host, std::span<const Guest>(&g, 1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(out[0].reason, HasSubstr("squeezed out"));
  EXPECT_GE(out[0].target_kib, squeezed_to + 120 * k_mib); // 2 guards (128 MB) − the 8 MB left

  // The next squeeze, a minute on: the balloon is halfway when the guest's deflate-on-OOM fires.
  g.target_kib = g.figures.actual_kib = out[0].target_kib;
  squeezed_to = until_squeezed(used);
  ASSERT_NE(squeezed_to, 0u);
  g.figures.actual_kib = squeezed_to + 60 * k_mib; // the balloon is on its way …
  EXPECT_TRUE(second(g.figures.actual_kib / k_mib - used).empty()) << "it waits for it";
  g.figures.actual_kib += 4 * k_mib; // … and the guest's OOM notifier took 4 MB back
  auto acts = second(g.figures.actual_kib / k_mib - used);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_TRUE(acts[0].urgent);
  EXPECT_THAT(acts[0].reason, HasSubstr("deflate-on-OOM"));
  EXPECT_GE(acts[0].target_kib / k_mib - used, 128u) << "two guards usable again";
}

// A service that stops in the middle of a squeeze gives the guest its memory back: a squeeze
// is meant to last a moment, never to outlive the service.
TEST_F(AdaptiveTest, StoppingDuringASqueezeGivesTheMemoryBack) {
  g.free_page_reporting = true;
  auto squeezed_to = until_squeezed(200);
  ASSERT_NE(squeezed_to, 0u);
  std::vector<Action> out;
  policy.stopping(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].uuid, "u1");
  EXPECT_GE(out[0].target_kib, squeezed_to + 96 * k_mib); // 2 guards (128 MB) − the 32 MB left
  out.clear();
  policy.stopping(out);
  EXPECT_TRUE(out.empty()) << "given back once";
}

TEST_F(AdaptiveTest, ItsOwnDeflateOnOomCountsAsRunningShort) {
  for (int s = 0; s < 200; ++s) {
    second(g.figures.actual_kib / k_mib - 200);
  }
  g.figures.actual_kib += 4 * k_mib; // the guest's OOM notifier deflated 4 MB by itself
  auto acts = second(g.figures.actual_kib / k_mib - 200);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_TRUE(acts[0].urgent);
  EXPECT_THAT(acts[0].reason, HasSubstr("deflate-on-OOM"));
}

TEST_F(AdaptiveTest, DemandModeInflatesOnlyWhileTheHostNeedsMemory) {
  g.settings.mode = {balloon::Mode::Demand, "test", {}};
  for (int s = 0; s < 60; ++s) {
    EXPECT_TRUE(second(g.figures.actual_kib / k_mib - 200).empty()) << "the host has plenty";
  }
  host.available_kib = host.total_kib / 10; // pressure
  host.free_kib = host.available_kib;
  bool inflated = false;
  for (int s = 0; s < 20; ++s) {
    for (const auto& a : second(g.figures.actual_kib / k_mib - 200)) {
      inflated |= a.target_kib < g.figures.max_kib && !a.urgent;
    }
  }
  EXPECT_TRUE(inflated);
  EXPECT_EQ(policy.host_state(), balloon::HostState::Pressure);
}

// Thousands of random traces: whatever the guest does, the policy never sets a target below the
// floor or beyond BalloonSizeMax, never inflates a guest that is under its guard, and always
// gives memory back to a guest under its guard while there is any to give.
TEST(AdaptiveInvariants, HoldOverRandomTraces) {
  std::mt19937 rng(12345);
  for (int trace = 0; trace < 2000; ++trace) {
    balloon::AdaptivePolicy policy;
    std::uniform_int_distribution<int> mem_mb(256, 4096);
    Guest g;
    g.figures.uuid = "u";
    g.figures.name = "g";
    g.figures.max_kib = static_cast<std::uint64_t>(mem_mb(rng)) * k_mib;
    g.figures.actual_kib = g.figures.max_kib;
    g.target_kib = g.figures.actual_kib;
    g.settings.enabled = {true, "t", {}};
    auto max_mb = g.figures.max_kib / k_mib;
    g.settings.size_max_mb = {
        std::uniform_int_distribution<std::uint64_t>(0, max_mb)(rng), "t", {}};
    g.settings.min_mb = {std::uniform_int_distribution<std::uint64_t>(0, max_mb / 2)(rng), "t", {}};
    g.settings.mode = {rng() % 2 ? balloon::Mode::Idle : balloon::Mode::Demand, "t", {}};
    g.free_page_reporting = rng() % 2 == 0; // squeezes its page cache
    HostFigures host{8192 * k_mib, 0, 0, {}, {}, {}};
    std::uint64_t floor = std::max(
        g.figures.max_kib - std::min(g.figures.max_kib, g.settings.size_max_mb.value * k_mib),
        g.settings.min_mb.value * k_mib);
    double used = static_cast<double>(max_mb) * 0.2;
    std::int64_t now = 0;
    std::optional<std::int64_t> squeezing_since;
    std::int64_t released = -1'000'000;
    for (int s = 0; s < 200; ++s) {
      // Demand wanders, sometimes jumps; the host moves between plenty and critical.
      used = std::clamp(used + std::normal_distribution<double>(0, 8)(rng) +
                            (rng() % 50 == 0 ? static_cast<double>(max_mb) * 0.3 : 0.0),
                        0.0, static_cast<double>(max_mb));
      host.available_kib = host.free_kib =
          std::uniform_int_distribution<std::uint64_t>(0, 8192)(rng) * k_mib;
      auto used_kib = static_cast<std::uint64_t>(used) * k_mib;
      g.figures.usable_kib = g.figures.actual_kib > used_kib ? g.figures.actual_kib - used_kib : 0;
      g.figures.disk_caches_kib =
          std::uniform_int_distribution<std::uint64_t>(0, *g.figures.usable_kib)(rng);
      g.figures.stats_time_s = s;
      now += 250 + static_cast<std::int64_t>(rng() % 1000);
      std::vector<Action> out;
      policy.decide(now, host, std::span<const Guest>(&g, 1), out);
      auto guard = *policy.note("u").guard_kib;
      for (const auto& a : out) {
        ASSERT_LE(a.target_kib, g.figures.max_kib);
        if (a.target_kib < g.figures.actual_kib) { // inflating
          ASSERT_GE(a.target_kib, floor) << "below the floor";
          ASSERT_GE(*g.figures.usable_kib, guard) << "inflated a guest under its guard";
        }
      }
      // A squeeze holds a guest under its guard on purpose, for a moment only; for 2.2 s after
      // it, statistics that still show it (usable down to what it left) are taken as stale.
      bool squeezing = policy.note("u").state == "squeezing its page cache";
      squeezing_since = squeezing ? squeezing_since.value_or(now) : std::optional<std::int64_t>{};
      ASSERT_LE(now - squeezing_since.value_or(now), 5000) << "a squeeze outlasted its timeout";
      for (const auto& a : out) {
        if (a.reason.find("squeezed out") != std::string::npos) {
          released = now;
        }
      }
      bool settling = now - released < 2200 && *g.figures.usable_kib <= 40 * k_mib; // 32 + 8
      if (*g.figures.usable_kib < guard && g.figures.actual_kib < g.figures.max_kib &&
          g.settings.enabled.value && !squeezing && !settling) {
        ASSERT_TRUE(std::any_of(out.begin(), out.end(),
                                [&](const Action& a) {
                                  return a.target_kib > g.figures.actual_kib ||
                                         a.target_kib >= g.target_kib;
                                }))
            << "a guest under its guard got nothing back: usable " << *g.figures.usable_kib
            << " guard " << guard << " actual " << g.figures.actual_kib << " target "
            << g.target_kib << " max " << g.figures.max_kib << " step " << s;
      }
      for (const auto& a : out) {
        g.target_kib = a.target_kib;
      }
      g.figures.actual_kib = g.target_kib; // the balloon follows
    }
  }
}

// ---- settings --------------------------------------------------------------------------------

TEST(BalloonSettings, CommandLineThenVmThenGlobalThenDefault) {
  std::map<std::pair<std::string, std::string>, std::string> data{
      {{"", std::string(balloon::k_key_guest_size_max)}, "300"},
      {{"vm", std::string(balloon::k_key_size_max)}, "200"},
      {{"", std::string(balloon::k_key_min)}, "64"},
      {{"vm", std::string(balloon::k_key_shares)}, "many"},
      {{"", std::string(balloon::k_key_policy)}, "vbox"},
  };
  balloon::ExtraDataReader read = [&](const std::string& uuid,
                                      std::string_view key) -> std::optional<std::string> {
    auto it = data.find({uuid, std::string(key)});
    return it == data.end() ? std::nullopt : std::optional(it->second);
  };
  balloon::Options opt;
  auto s = balloon::resolve(opt, read, "vm", 1024 * k_mib);
  EXPECT_EQ(s.size_max_mb.value, 200u);
  EXPECT_THAT(s.size_max_mb.source, HasSubstr("per-VM"));
  EXPECT_EQ(s.min_mb.value, 64u);
  EXPECT_THAT(s.min_mb.source, HasSubstr("global"));
  EXPECT_EQ(s.shares.value, 1000u); // "many" is noted and ignored
  EXPECT_THAT(s.shares.note, HasSubstr("'many', not a number"));
  EXPECT_EQ(s.policy.value, balloon::PolicyKind::VBox);
  EXPECT_TRUE(s.enabled.value);
  opt.max_mb = 100;
  opt.policy = balloon::PolicyKind::Adaptive;
  s = balloon::resolve(opt, read, "vm", 1024 * k_mib);
  EXPECT_EQ(s.size_max_mb.value, 100u);
  EXPECT_THAT(s.size_max_mb.source, HasSubstr("command line"));
  EXPECT_EQ(s.policy.value, balloon::PolicyKind::Adaptive);
  data.clear();
  s = balloon::resolve({}, read, "vm", 1024 * k_mib);
  EXPECT_EQ(s.size_max_mb.value, 920u); // below 90% of 1024 MB
  EXPECT_THAT(balloon::explain(s).front(), HasSubstr("enabled"));
}

// ---- the service on FakeHypervisor
// -----------------------------------------------------------------

struct ServiceTest : testing::Test {
  std::shared_ptr<FakeHypervisor> hv = std::make_shared<FakeHypervisor>();
  TempDir dir{"vbm-balloon"};
  std::int64_t now = 1700000000000;
  std::vector<std::string> logged;
  std::map<std::string, std::string> extradata;
  balloon::Options options;
  std::unique_ptr<balloon::Service> service;
  std::uint64_t used_kib = 200 * k_mib; ///< what the guests' workloads hold

  void start() {
    service = std::make_unique<balloon::Service>(
        options,
        balloon::Service::Hooks{
            [this] { return hv; }, [this] { return now; }, [this](int ms) { now += ms; },
            [this](const std::string& l) { logged.push_back(l); },
            [this](const std::string& uuid, std::string_view key) -> std::optional<std::string> {
              auto it = extradata.find(uuid + "|" + std::string(key));
              return it == extradata.end() ? std::nullopt : std::optional(it->second);
            },
            [] {
              return HostFigures{16 * 1024 * k_mib, 8 * 1024 * k_mib, 8 * 1024 * k_mib, {}, {}, {}};
            },
            dir / "state.json"});
  }
  void seconds(int n) {
    for (int i = 0; i < n * 4; ++i) {
      now += 250;
      for (auto& v : hv->vms()) {
        if (v.state == backend::VmState::Running && v.driver) {
          ++v.stats_time;
          if (v.usable_kib) {
            v.usable_kib = v.actual_kib > used_kib ? v.actual_kib - used_kib : 0;
          }
        }
      }
      hv->tick();
      service->turn();
    }
  }
};

TEST_F(ServiceTest, ManagesRunningGuestsTurnsStatisticsOnAndInflatesAnIdleOne) {
  hv->add("g1", "00000000-0000-4000-8000-000000000001", 1024);
  hv->run("g1").usable_kib = 800 * k_mib;
  start();
  seconds(60);
  EXPECT_THAT(hv->calls, testing::Contains("set_memory_stats_period g1 1"));
  EXPECT_LT(hv->vm("g1").actual_kib, 1024 * k_mib) << "an idle guest was not inflated";
  auto state = balloon::read_state(dir / "state.json");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->guests.size(), 1u);
  EXPECT_EQ(state->guests[0].name, "g1");
  EXPECT_GT(state->changes, 0u);
  EXPECT_THAT(state->decisions.back().reason, HasSubstr("inflated by"));
}

TEST_F(ServiceTest, ASpikeIsGivenBackInOneCallAndItsReactionTimeIsRecorded) {
  hv->add("g1", "00000000-0000-4000-8000-000000000001", 1024);
  hv->run("g1").usable_kib = 800 * k_mib;
  start();
  seconds(120);
  auto inflated = hv->vm("g1").actual_kib;
  ASSERT_LT(inflated, 1024 * k_mib - 128 * k_mib) << "not inflated enough to test a spike";
  used_kib = inflated - 20 * k_mib; // a spike: 20 MB usable left
  hv->calls.clear();
  seconds(10);
  auto deflates = std::count_if(hv->calls.begin(), hv->calls.end(), [](const std::string& c) {
    return c.starts_with("set_live_balloon_target");
  });
  EXPECT_EQ(deflates, 1) << "the spike took more than one call: "
                         << testing::PrintToString(hv->calls) << testing::PrintToString(logged);
  EXPECT_GT(hv->vm("g1").actual_kib, inflated + 64 * k_mib);
  auto state = balloon::read_state(dir / "state.json");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->reaction_ms.size(), 1u)
      << "the balloon passed half way in one sample: still a reaction";
  // From the decision to the balloon's arrival: the fake balloon's own travel time (a step per
  // 250 ms tick) plus at most one look (1 s) to see it there.
  auto moved = hv->vm("g1").actual_kib - inflated;
  EXPECT_LE(state->reaction_ms[0],
            static_cast<std::int64_t>((moved / hv->balloon_step_kib + 1) * 250 + 1000));
  EXPECT_EQ(state->urgent_changes, 1u);
  EXPECT_THAT(state->decisions.back().reason, HasSubstr("fell below its guard"));
}

TEST_F(ServiceTest, ABalloonWithoutADriverIsMarkedNotRespondingAndLeftAlone) {
  hv->add("g2", "00000000-0000-4000-8000-000000000002", 1024);
  hv->run("g2").driver = false;
  start();
  seconds(30);
  auto state = balloon::read_state(dir / "state.json");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->guests.at(0).state, "not responding");
  EXPECT_THAT(state->guests.at(0).why, HasSubstr("virtio_balloon"));
  EXPECT_EQ(
      std::count_if(hv->calls.begin(), hv->calls.end(),
                    [](const std::string& c) { return c.starts_with("set_live_balloon_target"); }),
      0)
      << "a not-responding balloon was pushed";
}

TEST_F(ServiceTest, AGuestOnHugePagesOrWithoutABalloonDeviceIsDisabledWithTheReason) {
  hv->add("g1", "00000000-0000-4000-8000-000000000001", 1024).memory.hugepages = true;
  hv->add("g2", "00000000-0000-4000-8000-000000000002", 1024).memory.balloon_device = false;
  hv->run("g1").usable_kib = 800 * k_mib;
  hv->run("g2").usable_kib = 800 * k_mib;
  hv->calls.clear();
  start();
  seconds(60);
  EXPECT_TRUE(hv->calls.empty()) << testing::PrintToString(hv->calls);
  auto state = balloon::read_state(dir / "state.json");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->guests.size(), 2u);
  EXPECT_EQ(state->guests[0].state, "disabled");
  EXPECT_THAT(state->guests[0].why, HasSubstr("huge pages"));
  EXPECT_EQ(state->guests[1].state, "disabled");
  EXPECT_THAT(state->guests[1].why, HasSubstr("no balloon device"));
}

TEST_F(ServiceTest, ABalloonThatDoesNotMoveIsMarkedNotRespondingAndItsTargetPutBack) {
  hv->add("g1", "00000000-0000-4000-8000-000000000001", 1024);
  auto& v = hv->run("g1");
  v.usable_kib = 800 * k_mib;
  hv->balloon_step_kib = 0; // the driver reports, but never moves the balloon (hung)
  start();
  seconds(60);
  auto state = balloon::read_state(dir / "state.json");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->guests.at(0).state, "not responding");
  EXPECT_THAT(state->guests.at(0).why, HasSubstr("did not move"));
  EXPECT_EQ(hv->vm("g1").target_kib, hv->vm("g1").actual_kib) << "the target was not put back";
}

TEST_F(ServiceTest, BalloonGroupsSelectTheGuestsAndLeaveTheOthersAlone) {
  // VBoxBalloonCtrl parses --balloon-groups and ignores it; here it selects by VBoxKVM/Groups.
  hv->add("g1", "00000000-0000-4000-8000-000000000001", 1024);
  hv->add("g2", "00000000-0000-4000-8000-000000000002", 1024);
  hv->run("g1").usable_kib = 800 * k_mib;
  hv->run("g2").usable_kib = 800 * k_mib;
  extradata["00000000-0000-4000-8000-000000000001|VBoxKVM/Groups"] = "/web, /test";
  options.groups = balloon::split_groups("/test");
  hv->calls.clear();
  start();
  seconds(60);
  EXPECT_LT(hv->vm("g1").actual_kib, 1024 * k_mib) << "the guest in /test was not managed";
  EXPECT_EQ(hv->vm("g2").actual_kib, 1024 * k_mib) << "the guest in / was ballooned";
  EXPECT_THAT(hv->calls, Not(Contains(HasSubstr("g2")))) << "the guest in / was touched";
  auto state = balloon::read_state(dir / "state.json");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->guests.size(), 1u);
  EXPECT_EQ(state->guests[0].name, "g1");

  // Taken out of the group at run time: left as it is from then on.
  extradata.erase("00000000-0000-4000-8000-000000000001|VBoxKVM/Groups");
  auto calls = hv->calls.size();
  seconds(30);
  EXPECT_EQ(hv->calls.size(), calls) << "a guest taken out of the group was still managed";
  EXPECT_THAT(logged, Contains(HasSubstr("[g1] no longer in --balloon-groups")));
}

TEST_F(ServiceTest, SurvivesLibvirtdGoingAwayAndComingBack) {
  hv->add("g1", "00000000-0000-4000-8000-000000000001", 1024);
  hv->run("g1").usable_kib = 800 * k_mib;
  start();
  seconds(5);
  hv->connection_lost = true;
  seconds(2);
  EXPECT_FALSE(service->connected());
  EXPECT_THAT(logged, testing::Contains(HasSubstr("lost libvirtd")));
  hv->connection_lost = false;
  seconds(5);
  EXPECT_TRUE(service->connected());
  EXPECT_THAT(logged, testing::Contains(HasSubstr("watching test:///fake (1 running guest)")));
}

TEST_F(ServiceTest, DryRunDecidesButChangesNothing) {
  options.dryrun = true;
  hv->add("g1", "00000000-0000-4000-8000-000000000001", 1024);
  hv->run("g1").usable_kib = 800 * k_mib;
  start();
  seconds(30);
  auto state = balloon::read_state(dir / "state.json");
  ASSERT_TRUE(state.has_value());
  EXPECT_GT(state->changes, 0u);
  EXPECT_FALSE(state->decisions.back().applied);
  EXPECT_EQ(hv->vm("g1").actual_kib, 1024 * k_mib);
}

} // namespace
} // namespace vbm::test
