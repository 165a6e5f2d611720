// The page-fusion controller's decisions against a fake KSM sysfs tree, the daemon's wiring of
// libvirt events to it, and the pagefusion command and startvm's hand-over.

#include "backend/ksm.hpp"
#include "backend/local_host.hpp"
#include "pagefusion/controller.hpp"
#include "pagefusion/daemon.hpp"
#include "pagefusion/state.hpp"
#include "support/cli_fixture.hpp"
#include "support/fake_hypervisor.hpp"
#include "support/fake_ksm.hpp"
#include "sys/files.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace vbm::test {
namespace {

using pagefusion::Controller;
using pagefusion::Mode;
using testing::HasSubstr;

struct ControllerTest : testing::Test {
  FakeKsmTree tree;
  backend::Ksm ksm{tree.root()};
  std::filesystem::path prior = tree.root() / "ksm-prior";
  Controller ctl{ksm, prior};
  std::int64_t now = 1'000'000;

  /// Time passes by `ms` and the controller ticks; ksmd used `cpu_percent` of a core meanwhile.
  void advance(std::int64_t ms, double cpu_percent = 5.0) {
    now += ms;
    tree.set_ksmd_ns(tree.ksmd_ns() +
                     static_cast<std::uint64_t>(static_cast<double>(ms) * cpu_percent * 1e4));
    ctl.tick(now);
  }
  /// ksmd does a full scan of 100k pages merging `merged`, taking 500 ms (two ticks).
  void scan(std::int64_t merged) {
    advance(250);
    tree.scan(100000, merged);
    advance(250);
  }
  std::string last_reason() const { return ctl.decisions().back().reason; }
};

TEST_F(ControllerTest, TakesKsmOverWhenAPageFusionGuestStartsAndSavesWhatItFound) {
  ctl.tick(now);
  EXPECT_EQ(Mode::Unmanaged, ctl.mode());
  EXPECT_EQ("0", tree.get("run")) << "no guest, no KSM";

  ctl.guest_started({"u1", "web01"}, now);

  EXPECT_EQ(Mode::Burst, ctl.mode());
  EXPECT_EQ("1", tree.get("run"));
  EXPECT_EQ("4000", tree.get("pages_to_scan"));
  EXPECT_EQ("20", tree.get("sleep_millisecs"));
  EXPECT_EQ("0", tree.get("smart_scan")) << "a burst sees every page, however often it failed";
  EXPECT_EQ("none", tree.get("advisor_mode"));
  EXPECT_THAT(last_reason(), HasSubstr("page-fusion guest 'web01' started"));
  auto saved = backend::KsmKnobs::parse(sys::read_text_file(prior).value());
  EXPECT_EQ(0u, saved.run);
  EXPECT_EQ(100u, saved.pages_to_scan);
  EXPECT_EQ(20u, saved.sleep_millisecs);
  EXPECT_EQ(1u, saved.smart_scan);
  EXPECT_EQ("none", saved.advisor_mode);
}

TEST_F(ControllerTest, BacksOffToIdleOnceTwoFullScansGainNothing) {
  ctl.guest_started({"u1", "web01"}, now);
  scan(5000);
  scan(20000);
  scan(8000);
  scan(3000);
  scan(1000);
  scan(800);
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "still gaining";
  scan(300);
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "one quiet scan is not enough";
  scan(-3);
  ASSERT_EQ(Mode::Idle, ctl.mode());
  EXPECT_EQ("250", tree.get("pages_to_scan"));
  EXPECT_EQ("1000", tree.get("sleep_millisecs"));
  EXPECT_EQ("1", tree.get("run"));
  EXPECT_EQ("1", tree.get("smart_scan")) << "idle skips what never merges";
  EXPECT_EQ("merging stopped paying: the last 2 full scans merged 297 pages of 200000 scanned, "
            "general profit +0 MB",
            last_reason());
}

TEST_F(ControllerTest, AQuietScanIsOneThatGainsUnderAThousandthOfWhatItScanned) {
  ctl.guest_started({"u1", "web01"}, now);
  for (int i = 0; i < 10; ++i) {
    scan(150); // 0.15% of 100k: still paying
  }
  EXPECT_EQ(Mode::Burst, ctl.mode());
  scan(99);
  scan(99);
  EXPECT_EQ(Mode::Idle, ctl.mode());
}

TEST_F(ControllerTest, ScansThatAddUnderTwoPercentToWhatTheBurstMergedAreQuietToo) {
  tree.set("pages_sharing", 100000); // merged before this guest started
  ctl.guest_started({"u1", "web01"}, now);
  for (int i = 0; i < 6; ++i) {
    scan(5000); // the burst merges 30000
  }
  scan(1500); // under 2% of all that is shared, but 5% of what this burst merged: paying
  scan(1500);
  EXPECT_EQ(Mode::Burst, ctl.mode());
  scan(500); // 0.5% of the 100k scanned is more than 0.1%, but under 2% of 33000
  scan(500);
  EXPECT_EQ(Mode::Idle, ctl.mode());
}

TEST_F(ControllerTest, AJustStartedGuestIsStillBootingSoTheBurstLastsAtLeastFourSeconds) {
  ctl.guest_started({"u1", "web01"}, now);
  scan(0);
  scan(0);
  scan(0);
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "1.5 s after the start";
  for (int i = 0; i < 5; ++i) {
    scan(0);
  }
  EXPECT_EQ(Mode::Idle, ctl.mode()) << "4 s after the start";
}

TEST_F(ControllerTest, ABurstIsCappedAtItsShareOfACoreMeasuredFromKsmdsCpuTime) {
  ctl.guest_started({"u1", "web01"}, now);
  for (int i = 0; i < 4; ++i) {
    advance(250, 60.0);
  }
  EXPECT_EQ(Mode::Burst, ctl.mode());
  EXPECT_EQ("2000", tree.get("pages_to_scan")) << "60% of a core, cap 30%: half the pages";
  EXPECT_EQ("ksmd used 60% of a core, over the 30% a burst may use", last_reason());
  for (int i = 0; i < 40; ++i) {
    advance(250, 90.0);
  }
  EXPECT_EQ("500", tree.get("pages_to_scan")) << "never below the floor";
}

TEST_F(ControllerTest, IdleScanningThatFindsNewMergesBurstsAgain) {
  ctl.guest_started({"u1", "web01"}, now);
  for (int i = 0; i < 10; ++i) {
    scan(0);
  }
  ASSERT_EQ(Mode::Idle, ctl.mode());
  // 30 s of idle scanning (250 pages/s) that merges little: stay idle.
  tree.set("pages_scanned", tree.num("pages_scanned") + 7500);
  tree.set("pages_sharing", tree.num("pages_sharing") + 100);
  for (int i = 0; i < 6; ++i) {
    advance(5000, 0.03);
  }
  EXPECT_EQ(Mode::Idle, ctl.mode());
  // The next 30 s merge 2000 pages: there is more to merge.
  tree.set("pages_scanned", tree.num("pages_scanned") + 7500);
  tree.set("pages_sharing", tree.num("pages_sharing") + 2000);
  for (int i = 0; i < 6; ++i) {
    advance(5000, 0.03);
  }
  EXPECT_EQ(Mode::Burst, ctl.mode());
  EXPECT_EQ("4000", tree.get("pages_to_scan"));
  EXPECT_EQ("idle scanning merged 2000 pages (7 MB) in 30 s: there is more to merge",
            last_reason());
}

TEST_F(ControllerTest, ADeflatingBalloonBurstsAndAnInflatingOneDoesNot) {
  ctl.guest_started({"u1", "web01"}, now);
  for (int i = 0; i < 10; ++i) {
    scan(0);
  }
  ASSERT_EQ(Mode::Idle, ctl.mode());
  ctl.balloon_changed("u1", 1024 * 1024, now); // first report: the starting point
  ctl.balloon_changed("u1", 512 * 1024, now);  // inflated: memory left the guest
  EXPECT_EQ(Mode::Idle, ctl.mode());
  ctl.balloon_changed("u1", 520 * 1024, now); // 8 MB back: too little to bother
  EXPECT_EQ(Mode::Idle, ctl.mode());
  ctl.balloon_changed("u1", 530 * 1024, now); // 18 MB back in steps: enough
  EXPECT_EQ(Mode::Burst, ctl.mode());
  EXPECT_EQ("the balloon of 'web01' gave back 18 MB: new guest memory to merge", last_reason());
  ctl.balloon_changed("u1", 540 * 1024, now); // 10 MB more since that burst: not yet
  ctl.balloon_changed("u1", 1024 * 1024, now);
  EXPECT_EQ("the balloon of 'web01' gave back 494 MB: new guest memory to merge", last_reason());
  ctl.balloon_changed("u2", 4096 * 1024, now); // not a page-fusion guest of ours
  EXPECT_EQ(2u, std::count_if(ctl.decisions().begin(), ctl.decisions().end(), [](const auto& d) {
              return d.reason.find("balloon") != std::string::npos;
            }));
}

TEST_F(ControllerTest, GivesKsmBackExactlyAsFoundWhenTheLastGuestHasBeenGoneAFewSeconds) {
  tree.set("run", "0");
  tree.set("pages_to_scan", "123");
  tree.set("sleep_millisecs", "45");
  tree.set("smart_scan", "0");
  ctl.guest_started({"u1", "web01"}, now);
  ctl.guest_started({"u2", "web02"}, now);
  scan(100);
  ctl.guest_stopped("u1", now);
  advance(6000);
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "web02 still runs";
  ctl.guest_stopped("u2", now);
  advance(4000);
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "a guest may be restarting";
  advance(1000);
  ASSERT_EQ(Mode::Unmanaged, ctl.mode());
  EXPECT_EQ("0", tree.get("run"));
  EXPECT_EQ("123", tree.get("pages_to_scan"));
  EXPECT_EQ("45", tree.get("sleep_millisecs"));
  EXPECT_EQ("0", tree.get("smart_scan"));
  EXPECT_FALSE(std::filesystem::exists(prior));
  EXPECT_EQ(
      "no page-fusion guest has run for 5 s: KSM given back as found (run=0 pages_to_scan=123 "
      "sleep_millisecs=45 smart_scan=0 advisor_mode=none)",
      last_reason());
  ctl.guest_started({"u1", "web01"}, now);
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "and takes it over again for the next guest";
  EXPECT_EQ(123u, backend::KsmKnobs::parse(sys::read_text_file(prior).value()).pages_to_scan);
}

TEST_F(ControllerTest, AControllerThatWasKilledIsUndoneFromItsSavedTunables) {
  // A killed controller left its burst rate in sysfs and the admin's values in the file.
  tree.set("run", "1");
  tree.set("pages_to_scan", "4000");
  sys::write_file_atomic(prior, "run=0\npages_to_scan=77\nsleep_millisecs=200\n", 0600, true);
  ctl.set_guests({{"u1", "web01"}}, now);
  EXPECT_EQ(Mode::Burst, ctl.mode());
  EXPECT_EQ(77u, ctl.prior()->pages_to_scan) << "the file, not the killed controller's rate";
  ctl.set_guests({}, now);
  advance(5000);
  EXPECT_EQ(Mode::Unmanaged, ctl.mode());
  EXPECT_EQ("0", tree.get("run"));
  EXPECT_EQ("77", tree.get("pages_to_scan"));
  EXPECT_EQ("200", tree.get("sleep_millisecs"));

  // With no guest at all, release() alone undoes a leftover file.
  sys::write_file_atomic(prior, "run=0\npages_to_scan=88\n", 0600, true);
  tree.set("run", "1");
  Controller fresh(ksm, prior);
  fresh.release(now, "manage-ksm = no");
  EXPECT_EQ("88", tree.get("pages_to_scan"));
  EXPECT_EQ("0", tree.get("run"));
  EXPECT_FALSE(std::filesystem::exists(prior));
}

TEST_F(ControllerTest, ANewControllerWithNoGuestGivesBackWhatAKilledOneLeft) {
  // The killed controller's guests stopped too: the next controller (started by whichever
  // vboxmanage saw the leftover file) has no guest, and gives KSM back at its first tick.
  tree.set("run", "1");
  tree.set("pages_to_scan", "4000");
  sys::write_file_atomic(prior, "run=0\npages_to_scan=66\nsleep_millisecs=200\n", 0600, true);
  Controller fresh(ksm, prior);
  fresh.set_guests({}, now);
  fresh.tick(now);
  EXPECT_EQ("0", tree.get("run"));
  EXPECT_EQ("66", tree.get("pages_to_scan"));
  EXPECT_FALSE(std::filesystem::exists(prior));
  EXPECT_EQ(Mode::Unmanaged, fresh.mode());
  EXPECT_THAT(fresh.decisions().back().reason,
              testing::HasSubstr("a controller stopped without giving KSM back"));
}

TEST_F(ControllerTest, TheKernelsAdvisorIsTurnedOffWhileSteeringAndBackOnAfter) {
  tree.set("advisor_mode", "[scan-time] none");
  ctl.guest_started({"u1", "web01"}, now);
  EXPECT_EQ("none", tree.get("advisor_mode"));
  EXPECT_EQ("4000", tree.get("pages_to_scan"));
  ctl.release(now, "test");
  EXPECT_EQ("scan-time", tree.get("advisor_mode"));
  EXPECT_EQ("4000", tree.get("pages_to_scan")) << "pages_to_scan is the advisor's: not written";
}

TEST_F(ControllerTest, WorksOnAnOlderKernelWithoutTheOptionalFiles) {
  for (auto f : {"pages_scanned", "full_scans", "general_profit", "smart_scan", "advisor_mode"}) {
    tree.remove(f);
  }
  ctl.guest_started({"u1", "web01"}, now);
  EXPECT_EQ(Mode::Burst, ctl.mode());
  EXPECT_FALSE(std::filesystem::exists(tree.dir() / "smart_scan")) << "not created";
  EXPECT_FALSE(std::filesystem::exists(tree.dir() / "advisor_mode"));
  for (int i = 0; i < 8; ++i) {
    tree.set("pages_sharing", tree.num("pages_sharing") + 1000);
    advance(1000);
  }
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "2-s windows that gain";
  for (int i = 0; i < 8; ++i) {
    advance(1000);
  }
  EXPECT_EQ(Mode::Idle, ctl.mode());
  EXPECT_EQ("merging stopped paying: the last 4 s of scanning merged 0 pages", last_reason());
}

TEST_F(ControllerTest, SharingThatFallsIsNeverANegativeMergeCount) {
  ctl.guest_started({"u1", "web01"}, now);
  tree.set("pages_sharing", 50000);
  for (int i = 0; i < 16 && ctl.mode() == Mode::Burst; ++i) {
    tree.set("pages_sharing", tree.num("pages_sharing") - 300); // the guests write to merged pages
    advance(1000);
  }
  EXPECT_EQ(Mode::Idle, ctl.mode());
  EXPECT_THAT(last_reason(),
              testing::MatchesRegex(
                  ".* let sharing fall by [0-9]+ pages while the guests wrote to merged pages.*"));
  EXPECT_THAT(last_reason(), testing::Not(HasSubstr("merged -")));
}

TEST_F(ControllerTest, AKsmWithNothingToScanDoesNotBurstForever) {
  ctl.guest_started({"u1", "web01"}, now); // its memory is not registered with KSM (yet)
  for (int i = 0; i < 59; ++i) {
    advance(250, 0.0); // full_scans and pages_scanned stand still
  }
  EXPECT_EQ(Mode::Burst, ctl.mode());
  advance(250, 0.0);
  EXPECT_EQ(Mode::Idle, ctl.mode()) << "after three 5-s windows (the first one is partial)";
  EXPECT_EQ("merging stopped paying: the last 15 s of scanning merged 0 pages of 0 scanned, "
            "general profit +0 MB",
            last_reason());
}

TEST_F(ControllerTest, ATunableKsmRefusesIsAnErrorNamingIt) {
  std::filesystem::remove(tree.dir() / "pages_to_scan");
  std::filesystem::create_directory(tree.dir() / "pages_to_scan"); // writes fail (EISDIR)
  try {
    ctl.guest_started({"u1", "web01"}, now);
    FAIL() << "no error";
  } catch (const backend::KsmError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot set KSM's pages_to_scan to 4000"));
    EXPECT_THAT(e.what(), HasSubstr("Is a directory"));
  }
}

TEST_F(ControllerTest, KsmdCpuIsMeasuredFromSchedstat) {
  ctl.tick(now);
  advance(1000, 12.5);
  advance(1000, 12.5);
  ASSERT_TRUE(ctl.ksmd_cpu_percent());
  EXPECT_NEAR(12.5, *ctl.ksmd_cpu_percent(), 0.01);
  EXPECT_EQ(250'000'000u, ksm.ksmd_cpu_ns().value_or(0)) << "2 s at 12.5%";
}

// ---- bursts sized by the work: the guests' memory and ksmd's CPU per page -------------------

/// A ksmd for the fake tree: scans at the rate the controller wrote, `ns_per_page` of CPU a
/// page, a full scan every `work_pages`, and the pages each full scan merges from `merges`
/// (then none). The host's figures are the fake's: nothing here needs real memory.
struct ScalingTest : ControllerTest {
  std::uint64_t work_pages = 0;
  double ns_per_page = 500;
  std::vector<std::int64_t> merges;
  std::uint64_t position = 0;
  std::size_t scans_done = 0;

  void host_of(std::uint64_t guest_kib) {
    work_pages = guest_kib / 4;
    ctl.guests_memory(guest_kib, now);
  }
  /// `ms` of ksmd, the controller ticking every second (its 250 ms would only slow the test).
  void run_ksmd(std::int64_t ms) {
    for (std::int64_t t = 0; t < ms; t += 1000) {
      double pps = tree.get("run") == "1"
                       ? static_cast<double>(tree.num("pages_to_scan")) * 1000.0 /
                             static_cast<double>(tree.num("sleep_millisecs"))
                       : 0.0;
      auto scanned = static_cast<std::uint64_t>(pps);
      tree.set("pages_scanned", tree.num("pages_scanned") + scanned);
      tree.set_ksmd_ns(tree.ksmd_ns() +
                       static_cast<std::uint64_t>(static_cast<double>(scanned) * ns_per_page));
      for (position += scanned; position >= work_pages; position -= work_pages) {
        tree.set("full_scans", tree.num("full_scans") + 1);
        auto merged = scans_done < merges.size() ? merges[scans_done] : 0;
        ++scans_done;
        tree.set("pages_sharing",
                 static_cast<std::uint64_t>(static_cast<std::int64_t>(tree.num("pages_sharing")) +
                                            merged));
      }
      now += 1000;
      ctl.tick(now);
    }
  }
  double ksmd_cpu_percent_now() const { return ctl.ksmd_cpu_percent(1000).value_or(-1); }
};

constexpr std::uint64_t k_gib_kib = 1024ULL * 1024;

TEST_F(ScalingTest, ABurstScansTheGuestsMemoryOnceASecond) {
  host_of(3 * 150 * 1024); // three small guests: 450 MB, 115,200 pages
  ctl.guest_started({"u1", "web01"}, now);
  EXPECT_EQ("2304", tree.get("pages_to_scan")) << "115,200 pages a second, per 20 ms";
  EXPECT_EQ("20", tree.get("sleep_millisecs"));
  EXPECT_EQ("page-fusion guest 'web01' started; sized to the guests' 450 MB of memory: a full "
            "scan every 1 s",
            last_reason());
  host_of(3 * 300 * 1024); // the guests grew as they booted
  run_ksmd(2000);          // a rate is given 2 s to show what it costs
  EXPECT_EQ("4608", tree.get("pages_to_scan"));
  EXPECT_EQ("re-sized: sized to the guests' 900 MB of memory: a full scan every 1 s",
            last_reason());
  host_of(3 * 320 * 1024); // under 25% more: not worth a change
  run_ksmd(3000);
  EXPECT_EQ("4608", tree.get("pages_to_scan"));
}

TEST_F(ScalingTest, OnA256GiBHostTheCpuBudgetSetsThePaceFromKsmdsMeasuredCostPerPage) {
  host_of(256 * k_gib_kib); // 67,108,864 pages
  ctl.guest_started({"u1", "db01"}, now);
  EXPECT_EQ("4000", tree.get("pages_to_scan")) << "30% of a core at the assumed 1.5 us a page";
  EXPECT_THAT(last_reason(),
              HasSubstr("sized to the guests' 262144 MB of memory: as fast as 30% "
                        "of a core allows at 1.50 us a page (a full scan in 335.5 s)"));
  run_ksmd(2000); // ksmd really costs 0.5 us a page here
  EXPECT_NEAR(500.0, ctl.ns_per_page(), 1.0);
  EXPECT_EQ("12000", tree.get("pages_to_scan")) << "three times the pages for the same CPU";
  run_ksmd(2000);
  EXPECT_NEAR(30.0, ksmd_cpu_percent_now(), 0.5) << "the budget, not more";
  EXPECT_EQ(Mode::Burst, ctl.mode());
  ns_per_page = 1000; // merging makes every page dearer: the rate follows (over ~10 s)
  run_ksmd(12000);
  EXPECT_EQ("6000", tree.get("pages_to_scan"));
  EXPECT_NEAR(30.0, ksmd_cpu_percent_now(), 0.5);
}

TEST_F(ScalingTest, OnA256GiBHostAFullScanOfMinutesIsOneWindowNotAQuietStretch) {
  host_of(256 * k_gib_kib);
  // The first full scan only takes checksums; the second merges most, the third the rest.
  merges = {0, 20'000'000, 2'000'000, 1000, 500};
  ctl.guest_started({"u1", "db01"}, now);
  run_ksmd(100'000); // 100 s into the first scan (~112 s at 600,000 pages/s)
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "a scan in progress that has merged nothing yet";
  EXPECT_EQ(0u, scans_done);
  while (scans_done < 3) {
    run_ksmd(1000);
  }
  EXPECT_EQ(Mode::Burst, ctl.mode());
  EXPECT_EQ(22'000'000u, tree.num("pages_sharing"));
  while (scans_done < 5) {
    run_ksmd(1000);
  }
  run_ksmd(1000);
  ASSERT_EQ(Mode::Idle, ctl.mode()) << "two scans that merged under 0.1% of what they scanned";
  EXPECT_THAT(last_reason(), HasSubstr("the last 2 full scans merged 1500 pages"));
  EXPECT_EQ("250", tree.get("pages_to_scan"));
  // Every rate written fits KSM's pages_to_scan (an unsigned int).
  for (const auto& d : ctl.decisions()) {
    EXPECT_LE(d.rate.pages_to_scan, 4294967295u);
  }
}

TEST_F(ScalingTest, GuestsMemoryThatGrowsWakesAnIdleControllerByItsShareOfTheHost) {
  host_of(256 * k_gib_kib);
  ctl.guest_started({"u1", "db01"}, now);
  while (ctl.mode() == Mode::Burst) {
    run_ksmd(5000);
  }
  ASSERT_EQ(Mode::Idle, ctl.mode());
  ctl.guests_memory(257 * k_gib_kib, now);
  EXPECT_EQ(Mode::Idle, ctl.mode()) << "1 GiB more is under 1% of 256 GiB";
  ctl.guests_memory(256 * k_gib_kib, now); // some of it went again
  ctl.guests_memory(259 * k_gib_kib, now);
  ASSERT_EQ(Mode::Burst, ctl.mode()) << "3 GiB over the lowest since the last scan";
  EXPECT_THAT(last_reason(),
              HasSubstr("the guests' memory grew by 3072 MB: new memory to merge; sized to the "
                        "guests' 265216 MB of memory"));
}

TEST_F(ScalingTest, OnASmallHostSixteenMegabytesOfNewMemoryWakeIt) {
  host_of(512 * 1024);
  ctl.guest_started({"u1", "web01"}, now);
  while (ctl.mode() == Mode::Burst) {
    run_ksmd(1000);
  }
  ctl.guests_memory(512 * 1024 + 15 * 1024, now);
  EXPECT_EQ(Mode::Idle, ctl.mode());
  ctl.guests_memory(512 * 1024 + 16 * 1024, now);
  EXPECT_EQ(Mode::Burst, ctl.mode());
}

TEST_F(ScalingTest, MemoryArrivingDuringABurstKeepsItGoingThoughTheScansGainNothing) {
  host_of(512 * 1024); // 131,072 pages: a full scan a second
  ctl.guest_started({"u1", "web01"}, now);
  for (int i = 0; i < 20; ++i) {
    host_of((512 + 32 * static_cast<std::uint64_t>(i + 1)) * 1024); // the guest fills 32 MB/s
    run_ksmd(1000);
  }
  EXPECT_EQ(Mode::Burst, ctl.mode()) << "20 s of quiet scans while new memory kept coming";
  for (int i = 0; i < 4 && ctl.mode() == Mode::Burst; ++i) {
    run_ksmd(1000);
  }
  EXPECT_EQ(Mode::Idle, ctl.mode()) << "the filling stopped: two quiet scans";
}

// ---- the daemon: libvirt events in, decisions and the state file out ---------------------

struct DaemonTest : testing::Test {
  FakeKsmTree tree;
  backend::Ksm ksm{tree.root()};
  std::filesystem::path etc = tree.root() / "etc";
  pagefusion::HostPaths paths{etc, tree.root() / "run"};
  FakeHypervisor hv;
  std::int64_t now = 1'000'000;
  int connects = 0;
  std::vector<std::string> log;
  std::unique_ptr<pagefusion::Daemon> daemon;

  DaemonTest() {
    std::filesystem::create_directories(paths.run_dir);
    hv.local = true;
    hv.uri_value = "qemu:///system";
    hv.add("fusion", "00000000-0000-4000-8000-000000000001");
    hv.add("nofusion", "00000000-0000-4000-8000-000000000002").memory.nosharepages = true;
    hv.add("huge", "00000000-0000-4000-8000-000000000003").memory.hugepages = true;
    hv.add("later", "00000000-0000-4000-8000-000000000004");
  }
  void make(bool permanent = false) {
    daemon = std::make_unique<pagefusion::Daemon>(
        ksm, paths,
        pagefusion::Daemon::Hooks{[this] {
                                    ++connects;
                                    if (hv.connection_lost) {
                                      throw backend::BackendError("failed to connect", true);
                                    }
                                    return std::shared_ptr<backend::Hypervisor>(&hv, [](auto*) {});
                                  },
                                  [this] { return now; }, [this](int ms) { now += ms; },
                                  [this](const std::string& line) { log.push_back(line); }},
        permanent);
  }
  nlohmann::json state() const {
    return nlohmann::json::parse(sys::read_text_file(paths.state()).value());
  }
  backend::DomainEvent event(backend::DomainEvent::Kind kind, const std::string& name) {
    return {kind, *hv.find_vm(name)};
  }
};

TEST_F(DaemonTest, SteersKsmForTheRunningPageFusionGuestsOnly) {
  hv.run("fusion");
  hv.run("nofusion");
  hv.run("huge");
  make();
  EXPECT_TRUE(daemon->turn());
  EXPECT_TRUE(hv.watching);
  ASSERT_EQ(1u, daemon->controller().guests().size());
  EXPECT_EQ("fusion", daemon->controller().guests()[0].name);
  EXPECT_EQ(Mode::Burst, daemon->controller().mode());
  auto s = state();
  EXPECT_EQ("burst", s["mode"]);
  EXPECT_EQ(4000, s["rate"]["pages_to_scan"]);
  EXPECT_EQ("fusion", s["guests"][0]["name"]);
  EXPECT_EQ("page-fusion guest running: 'fusion'", s["decisions"].back()["reason"]);
  EXPECT_THAT(log.front(),
              HasSubstr("burst: 4000 pages / 20 ms: page-fusion guest running: 'fusion'"));
}

TEST_F(DaemonTest, SizesTheBurstByThePageFusionGuestsRssAndWakesWhenItGrows) {
  hv.run("fusion");
  hv.run("nofusion");
  hv.vms()[0].rss_kib = 400 * 1024;
  hv.vms()[1].rss_kib = 4000 * 1024; // not a page-fusion guest: not work
  make();
  EXPECT_TRUE(daemon->turn());
  EXPECT_EQ(2048, state()["rate"]["pages_to_scan"]) << "102,400 pages a second";
  EXPECT_THAT(log.front(), HasSubstr("burst: 2048 pages / 20 ms: page-fusion guest running: "
                                     "'fusion'; sized to the guests' 400 MB of memory"));
  for (int i = 0; i < 40 && daemon->controller().mode() == Mode::Burst; ++i) {
    now += 1000; // KSM's counters stand still: nothing registered, idle after three windows
    daemon->turn();
  }
  ASSERT_EQ(Mode::Idle, daemon->controller().mode());
  hv.vms()[0].rss_kib = 480 * 1024;
  now += 5000;
  daemon->turn();
  EXPECT_EQ(Mode::Burst, daemon->controller().mode());
  EXPECT_EQ("the guests' memory grew by 80 MB: new memory to merge; sized to the guests' 480 MB "
            "of memory: a full scan every 1 s",
            daemon->controller().decisions().back().reason);
}

TEST_F(DaemonTest, FollowsLifecycleEventsAndLeavesWhenTheLastGuestIsGone) {
  hv.run("fusion");
  make();
  EXPECT_TRUE(daemon->turn());
  EXPECT_EQ(1u, daemon->controller().decisions().size());
  hv.run("nofusion");
  hv.events.push_back(event(backend::DomainEvent::Kind::Started, "nofusion"));
  EXPECT_TRUE(daemon->turn());
  EXPECT_EQ(1u, daemon->controller().guests().size()) << "page fusion off: not ours";
  EXPECT_EQ(1u, daemon->controller().decisions().size());
  hv.run("later");
  hv.events.push_back(event(backend::DomainEvent::Kind::Started, "later"));
  EXPECT_TRUE(daemon->turn());
  EXPECT_EQ(Mode::Burst, daemon->controller().mode());
  EXPECT_EQ("page-fusion guest 'later' started", daemon->controller().decisions().back().reason);
  EXPECT_EQ("1", tree.get("run"));

  for (auto name : {"later", "fusion"}) {
    hv.power(*hv.find_vm(name), backend::PowerAction::PowerOff);
    hv.events.push_back(event(backend::DomainEvent::Kind::Stopped, name));
  }
  EXPECT_TRUE(daemon->turn());
  EXPECT_TRUE(daemon->controller().guests().empty());
  now += 5000;
  EXPECT_FALSE(daemon->turn()) << "nothing left to do";
  EXPECT_EQ(Mode::Unmanaged, daemon->controller().mode());
  EXPECT_EQ("0", tree.get("run"));
  EXPECT_EQ("unmanaged", state()["mode"]);
  EXPECT_LE(*std::max_element(hv.waits.begin(), hv.waits.end()), 1000) << "waits stay short";
}

TEST_F(DaemonTest, APermanentDaemonStaysForTheNextGuest) {
  make(true);
  EXPECT_TRUE(daemon->turn());
  now += 60000;
  EXPECT_TRUE(daemon->turn());
}

TEST_F(DaemonTest, ManageKsmNoGivesKsmBackAndEndsTheDaemon) {
  hv.run("fusion");
  make();
  EXPECT_TRUE(daemon->turn());
  ASSERT_EQ("1", tree.get("run"));
  std::filesystem::create_directories(etc);
  pagefusion::write_manage_ksm(paths.settings(), false);
  std::filesystem::last_write_time(paths.settings(), std::filesystem::file_time_type::clock::now() +
                                                         std::chrono::seconds(5)); // a new mtime
  EXPECT_FALSE(daemon->turn());
  EXPECT_EQ("0", tree.get("run"));
  EXPECT_THAT(daemon->controller().decisions().back().reason, HasSubstr("manage-ksm = no in"));
  EXPECT_FALSE(state()["manage_ksm"]);
}

TEST_F(DaemonTest, KeepsKsmAsItIsWhileLibvirtdIsAwayAndResyncsWhenBack) {
  hv.run("fusion");
  make();
  EXPECT_TRUE(daemon->turn());
  hv.connection_lost = true;
  EXPECT_TRUE(daemon->turn());
  EXPECT_FALSE(daemon->connected());
  EXPECT_THAT(log.back(), HasSubstr("lost libvirtd"));
  EXPECT_TRUE(daemon->turn()) << "reconnecting fails: retry later";
  EXPECT_EQ("1", tree.get("run")) << "the guests still run: KSM keeps merging";
  hv.connection_lost = false;
  hv.run("later"); // started while we were away: no event for it
  EXPECT_TRUE(daemon->turn());
  EXPECT_TRUE(daemon->connected());
  EXPECT_EQ(2u, daemon->controller().guests().size());
  EXPECT_EQ("page-fusion guest running: 'later'", daemon->controller().decisions().back().reason);
}

TEST_F(DaemonTest, StopGivesKsmBack) {
  hv.run("fusion");
  make();
  daemon->turn();
  daemon->stop("the controller stopped (SIGTERM)");
  EXPECT_EQ("0", tree.get("run"));
  EXPECT_EQ("100", tree.get("pages_to_scan"));
  EXPECT_EQ("unmanaged", state()["mode"]);
}

TEST_F(DaemonTest, ARemoteOrNonQemuConnectionIsRefused) {
  for (auto [local, uri] :
       {std::pair{false, "qemu+ssh://host/system"}, {true, "test:///default"}}) {
    hv.local = local;
    hv.uri_value = uri;
    make();
    try {
      daemon->turn();
      ADD_FAILURE() << "no error for " << uri;
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr("is not this host's QEMU"));
    }
  }
}

// ---- the pagefusion command and startvm's hand-over -----------------------------------------

struct PageFusionCliTest : CliTest {
  FakeKsmTree tree;
  std::vector<std::string> handed;
  PageFusionCliTest() {
    setenv("VBOXKVM_ETC_DIR", (tree.root() / "etc").c_str(), 1);
    setenv("VBOXKVM_RUN_DIR", (tree.root() / "run").c_str(), 1);
    std::filesystem::create_directories(tree.root() / "run");
    services.host_root = tree.root();
    services.ensure_pagefusiond = [this](const std::string& uri) {
      handed.push_back(uri);
      return std::string("4242");
    };
    hv.local = true;
    hv.uri_value = "qemu:///system";
    hv.add("web01", "00000000-0000-4000-8000-0000000000a1");
    hv.add("private", "00000000-0000-4000-8000-0000000000a2").memory.nosharepages = true;
  }
  ~PageFusionCliTest() override {
    unsetenv("VBOXKVM_ETC_DIR");
    unsetenv("VBOXKVM_RUN_DIR");
  }
};

TEST_F(PageFusionCliTest, StartvmHandsAPageFusionGuestToTheController) {
  EXPECT_EQ(0, run("startvm web01"));
  EXPECT_EQ(std::vector<std::string>{"qemu:///system"}, handed);
  EXPECT_EQ("", out.stderr_text);
  EXPECT_EQ(0, run("startvm private"));
  EXPECT_EQ(1u, handed.size()) << "page fusion off";
}

TEST_F(PageFusionCliTest, StartvmLeavesKsmAloneWhenTheAdminSaidNoOrTheHostIsRemote) {
  EXPECT_EQ(0, run("pagefusion manage off"));
  EXPECT_EQ(0, run("startvm web01"));
  EXPECT_TRUE(handed.empty());
  run("controlvm web01 poweroff");
  EXPECT_EQ(0, run("pagefusion manage on"));
  hv.local = false;
  EXPECT_EQ(0, run("startvm web01"));
  EXPECT_TRUE(handed.empty());
  run("controlvm web01 poweroff");
  hv.local = true;
  hv.uri_value = "test:///default"; // an in-process test driver has no QEMU, no KSM to steer
  EXPECT_EQ(0, run("startvm web01"));
  EXPECT_TRUE(handed.empty());
}

TEST_F(PageFusionCliTest, StartvmWarnsButStartsWhenTheControllerCannotBeStarted) {
  services.ensure_pagefusiond = [](const std::string&) -> std::string {
    throw std::runtime_error("cannot create '/run/vboxkvm': Permission denied");
  };
  EXPECT_EQ(0, run("startvm web01"));
  EXPECT_THAT(out.stdout_text, HasSubstr("has been successfully started"));
  EXPECT_EQ("VBoxManage: warning: page fusion for 'web01' is not managed: cannot create "
            "'/run/vboxkvm': Permission denied\n",
            out.stderr_text);
}

TEST_F(PageFusionCliTest, ManageWritesTheSettingAndKeepsTheFilesOtherLines) {
  EXPECT_EQ(0, run("pagefusion manage off"));
  EXPECT_EQ("vboxkvm leaves KSM alone now; KSM is as found: run=0 pages_to_scan=100 "
            "sleep_millisecs=20 smart_scan=1 advisor_mode=none.\n",
            out.stdout_text);
  auto file = tree.root() / "etc/pagefusion.conf";
  EXPECT_FALSE(pagefusion::read_settings(file).manage_ksm);
  std::ofstream(file, std::ios::app) << "# mine\n";
  EXPECT_EQ(0, run("pagefusion manage on"));
  EXPECT_TRUE(pagefusion::read_settings(file).manage_ksm);
  auto text = sys::read_text_file(file).value();
  EXPECT_THAT(text, HasSubstr("# mine\n"));
  EXPECT_EQ(1, std::count(text.begin(), text.end(), '='));
  EXPECT_TRUE(handed.empty()) << "no page-fusion guest runs";
  EXPECT_EQ("vboxkvm will steer KSM while page-fusion guests run, from the next one started.\n",
            out.stdout_text);
  hv.run("web01");
  EXPECT_EQ(0, run("pagefusion manage on"));
  EXPECT_EQ(1u, handed.size());
  EXPECT_EQ("vboxkvm now steers KSM while page-fusion guests run (controller pid 4242).\n",
            out.stdout_text);
}

TEST_F(PageFusionCliTest, ManageOffUndoesAControllerThatWasKilled) {
  tree.set("run", "1");
  tree.set("pages_to_scan", "4000");
  sys::write_file_atomic(tree.root() / "run/ksm-prior", "run=0\npages_to_scan=64\n", 0600, true);
  EXPECT_EQ(0, run("pagefusion manage off"));
  EXPECT_EQ("0", tree.get("run"));
  EXPECT_EQ("64", tree.get("pages_to_scan"));
  EXPECT_FALSE(std::filesystem::exists(tree.root() / "run/ksm-prior"));
}

TEST_F(PageFusionCliTest, BadWordsAreSyntaxErrors) {
  EXPECT_EQ(2, run("pagefusion manage maybe"));
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Invalid value 'maybe': on or off"));
  EXPECT_EQ(2, run("pagefusion manage"));
  EXPECT_EQ(2, run("pagefusion manage on off"));
  EXPECT_EQ(2, run("pagefusion bogus"));
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Invalid subcommand 'bogus'"));
  EXPECT_EQ(2, run("pagefusion status --xml"));
  EXPECT_FALSE(std::filesystem::exists(tree.root() / "etc/pagefusion.conf")) << "nothing written";
}

TEST_F(PageFusionCliTest, ABadSettingsFileIsNamedWithItsLine) {
  std::filesystem::create_directories(tree.root() / "etc");
  std::ofstream(tree.root() / "etc/pagefusion.conf") << "# x\nmanage-ksm = maybe\n";
  EXPECT_EQ(1, run("pagefusion manage off"));
  EXPECT_THAT(first_err_line(),
              HasSubstr("pagefusion.conf:2: manage-ksm must be yes or no, not 'maybe'"));
  EXPECT_EQ(0, run("pagefusion status"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("Management:                  " + (tree.root() / "etc").string() +
                        "/pagefusion.conf:2: manage-ksm must be yes or no"));
}

TEST_F(PageFusionCliTest, StatusSaysWhatKsmDoesInPlainWords) {
  tree.set("run", "1");
  tree.set("pages_shared", "7662");
  tree.set("pages_sharing", "38095");
  tree.set("general_profit", "151551296");
  tree.set("full_scans", "80");
  tree.set_ksmd_ns(4'210'000'000);
  on_sleep = [this] { tree.set_ksmd_ns(tree.ksmd_ns() + 1'000'000); }; // 1 ms per 500 ms
  hv.run("web01");
  hv.run("private");
  EXPECT_EQ(0, run("pagefusion status"));
  EXPECT_EQ(
      "Page fusion (KSM) on this host\n"
      "State:                       running, not steered by vboxkvm\n"
      "Scan rate:                   100 pages every 20 ms (5000 pages/s)\n"
      "Smart scan:                  on\n"
      "Pages shared:                7662\n"
      "Pages sharing:               38095 (148 MB saved)\n"
      "General profit:              144 MB\n"
      "Full scans:                  80\n"
      "ksmd CPU:                    0.20% of one core over the last 500 ms; 4.21 s since boot\n"
      "Management:                  manage-ksm = yes (" +
          (tree.root() / "etc/pagefusion.conf").string() +
          ")\n"
          "Page-fusion guests:          1\n"
          "  web01                      merged pages unknown\n",
      out.stdout_text);

  EXPECT_EQ(0, run("pagefusion status --json"));
  auto j = nlohmann::json::parse(out.stdout_text);
  EXPECT_EQ(38095, j["ksm"]["pages_sharing"]);
  EXPECT_EQ(38095ull * 4096, j["ksm"]["saved_bytes"].get<std::uint64_t>());
  EXPECT_EQ(1, j["ksm"]["run"]);
  EXPECT_FALSE(j["controller"]["running"]);
  EXPECT_TRUE(j["controller"]["manage_ksm"]);
  EXPECT_EQ("web01", j["guests"][0]["name"]);
  EXPECT_NEAR(0.2, j["ksmd"]["cpu_percent"].get<double>(), 0.001);
}

TEST_F(PageFusionCliTest, StatusShowsTheDecisionsOfTheControllerThatRanLast) {
  pagefusion::StateFile last;
  last.updated_ms = 1;
  last.decisions.push_back({1700000000000,
                            pagefusion::Mode::Unmanaged,
                            {100, 20},
                            "no page-fusion guest has run for 5 s"});
  pagefusion::write_state(tree.root() / "run/pagefusion.json", last);
  EXPECT_EQ(0, run("pagefusion status"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("State:                       stopped, not steered by vboxkvm\n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("Last decisions (of the controller that ran last):\n"
                        "  2023-11-14T22:13:20.000  unmanaged   100 pages /   20 ms  no "
                        "page-fusion guest has run for 5 s\n"));
  EXPECT_EQ(0, run("pagefusion status --json"));
  EXPECT_EQ(1u, nlohmann::json::parse(out.stdout_text)["controller"]["decisions"].size());
}

TEST_F(PageFusionCliTest, AStateFileThatIsNotOursIsNoState) {
  // Edited by hand, or written by another version: status carries on without it.
  for (std::string text : {R"({"version": 1, "mode": "burst", "decisions": [{"at_ms": "x"}]})",
                           R"({"version": 99, "mode": "burst"})", "not json"}) {
    sys::write_file_atomic(tree.root() / "run/pagefusion.json", text, 0644, false);
    EXPECT_EQ(0, run("pagefusion status")) << text;
    EXPECT_THAT(out.stdout_text, testing::Not(HasSubstr("decisions"))) << text;
    EXPECT_EQ(0, run("pagefusion status --json")) << text;
    EXPECT_TRUE(nlohmann::json::parse(out.stdout_text)["controller"]["decisions"].empty()) << text;
  }
}

TEST(PageFusionStateFile, RoundTripsEveryField) {
  pagefusion::StateFile s;
  s.pid = 42;
  s.updated_ms = 7;
  s.manage_ksm = false;
  s.uri = "qemu:///system";
  s.connected = true;
  s.mode = pagefusion::Mode::Idle;
  s.mode_since_ms = 5;
  s.rate = {250, 1000};
  s.ksmd_cpu_percent = 0.5;
  s.guests = {{"u1", "web 'one'"}};
  s.last_gain = pagefusion::Gain{3000, -12, 4096, -8192, 2};
  s.prior = "run=0\n";
  s.decisions = {{1, pagefusion::Mode::Burst, {4000, 20}, "a guest started"}};
  auto back = pagefusion::StateFile::from_json(s.to_json());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(s.to_json(), back->to_json());
  EXPECT_EQ("web 'one'", back->guests.at(0).name);
  EXPECT_EQ(-12, back->last_gain->pages_sharing);
}

TEST_F(PageFusionCliTest, StatusRefusesARemoteHost) {
  hv.local = false;
  EXPECT_EQ(1, run("pagefusion status"));
  EXPECT_THAT(first_err_line(),
              HasSubstr("pagefusion shows the KSM of this host, and 'qemu:///system' is "
                        "another host: run it there"));
}

TEST_F(PageFusionCliTest, StatusOnAKernelWithoutKsm) {
  std::filesystem::remove_all(tree.dir());
  EXPECT_EQ(1, run("pagefusion status"));
  EXPECT_EQ(
      "VBoxManage: error: this kernel has no KSM (/sys/kernel/mm/ksm): page fusion cannot work on "
      "this host\n",
      out.stderr_text);
}

} // namespace
} // namespace vbm::test
