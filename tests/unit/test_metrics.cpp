// metrics: the catalogue's patterns, aggregates and formats (spec §4), the grammar and output
// of the six subcommands (golden text from the spec), and the collector's sampling into the
// store's ring buffers, on FakeHypervisor and a fake /proc + /sys tree.

#include "cli/exit_codes.hpp"
#include "metrics/catalog.hpp"
#include "metrics/collector.hpp"
#include "support/cli_fixture.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace vbm::test {
namespace {

using metrics::Aggregate;
using metrics::Unit;
using testing::HasSubstr;
using testing::Not;

TEST(MetricPattern, MatchesWholeNamesOnly) {
  EXPECT_TRUE(metrics::pattern_match("*", "RAM/Usage/Used:avg"));
  EXPECT_TRUE(metrics::pattern_match("RAM/Usage/Used", "RAM/Usage/Used"));
  EXPECT_FALSE(metrics::pattern_match("RAM/Usage", "RAM/Usage/Used")); // no prefix matching
  EXPECT_FALSE(metrics::pattern_match("ram/usage/used", "RAM/Usage/Used"));
  EXPECT_TRUE(metrics::pattern_match("RAM/*/Used", "RAM/Usage/Used"));
  EXPECT_TRUE(metrics::pattern_match("*/Used", "Guest/RAM/Usage/Used")); // '*' spans '/'
  EXPECT_TRUE(metrics::pattern_match("CPU/Load/Use?", "CPU/Load/User"));
  EXPECT_FALSE(metrics::pattern_match("CPU/Load/Use?", "CPU/Load/Use"));
  EXPECT_TRUE(metrics::pattern_match("*:avg", "CPU/Load/User:avg"));
  EXPECT_FALSE(metrics::pattern_match("*:avg", "CPU/Load/User:min"));
}

TEST(MetricPattern, TrailingColonExcludesAggregates) {
  EXPECT_TRUE(metrics::pattern_match("*:", "RAM/Usage/Used"));
  EXPECT_FALSE(metrics::pattern_match("*:", "RAM/Usage/Used:avg"));
  EXPECT_TRUE(metrics::pattern_match("RAM/Usage/Used:", "RAM/Usage/Used"));
  EXPECT_FALSE(metrics::pattern_match("RAM/Usage/Used:", "RAM/Usage/Used:max"));
  EXPECT_TRUE(metrics::pattern_match("RAM/*:", "RAM/VMM/Shared"));
  EXPECT_FALSE(metrics::pattern_match("RAM/*:", "RAM/VMM/Shared:min"));
}

TEST(MetricPattern, CommaSeparatedList) {
  metrics::MetricFilter f("CPU/MHz,RAM/Usage/Used:avg");
  EXPECT_TRUE(f.matches("CPU/MHz"));
  EXPECT_TRUE(f.matches("RAM/Usage/Used:avg"));
  EXPECT_FALSE(f.matches("RAM/Usage/Used"));
  EXPECT_FALSE(metrics::MetricFilter("").matches("CPU/MHz"));
  EXPECT_TRUE(metrics::MetricFilter("x,,*").matches("CPU/MHz"));
}

TEST(MetricAggregate, AvgRoundsDownMinMax) {
  std::vector<std::int64_t> v{1, 2, 2, 2};
  EXPECT_EQ(metrics::aggregate(Aggregate::Avg, v), 1); // 7 / 4
  EXPECT_EQ(metrics::aggregate(Aggregate::Min, v), 1);
  EXPECT_EQ(metrics::aggregate(Aggregate::Max, v), 2);
  EXPECT_EQ(metrics::aggregate(Aggregate::Avg, std::vector<std::int64_t>{}), std::nullopt);
}

TEST(MetricFormat, UnitsAndPercentages) {
  EXPECT_EQ(metrics::format_value(Unit::KB, 2048), "2048 kB");
  EXPECT_EQ(metrics::format_value(Unit::MB, 7), "7 MB");
  EXPECT_EQ(metrics::format_value(Unit::MHz, 2400), "2400 MHz");
  EXPECT_EQ(metrics::format_value(Unit::Percent, 12345), "12.34%"); // truncated, not rounded
  EXPECT_EQ(metrics::format_value(Unit::Percent, 999), "0.99%");
  EXPECT_EQ(metrics::format_value(Unit::Percent, 100000), "100.00%");
  EXPECT_EQ(metrics::format_value(Unit::Percent, 5), "0.00%");
}

TEST(MetricCatalog, BaseNamesAndListOrder) {
  EXPECT_EQ(metrics::base_of("RAM/Usage/Used"), "RAM/Usage");
  EXPECT_EQ(metrics::base_of("RAM/Usage/Used:avg"), "RAM/Usage");
  EXPECT_EQ(metrics::base_of("CPU/MHz"), "CPU/MHz");
  EXPECT_EQ(metrics::base_of("CPU/MHz:avg"), "CPU"); // VirtualBox's toBaseName does the same
  EXPECT_EQ(metrics::base_of("Net/eth0/LinkSpeed"), "Net/eth0/LinkSpeed");
  auto host = metrics::full_metrics(metrics::ObjectKind::Host);
  ASSERT_EQ(host.size(), 14u * 4);
  EXPECT_EQ(host[0].name(), "CPU/Load/User");
  EXPECT_EQ(host[1].name(), "CPU/Load/User:avg");
  EXPECT_EQ(host[3].name(), "CPU/Load/User:max");
  EXPECT_EQ(metrics::full_metrics(metrics::ObjectKind::Vm).size(), 12u * 4);
  auto bases = metrics::base_metrics(metrics::ObjectKind::Vm);
  EXPECT_EQ(bases, (std::vector<std::string_view>{"CPU/Load", "RAM/Usage", "Guest/CPU/Load",
                                                  "Guest/RAM/Usage"}));
}

// A fake machine root for LocalHost: /proc/meminfo, /proc/stat, /sys/kernel/mm/ksm, a QEMU
// pid file and its ksm_merging_pages.
struct FakeRoot {
  TempDir tmp{"vbm-root"};
  std::filesystem::path dir = tmp.path();
  FakeRoot() {
    write("proc/meminfo", "MemTotal:        1000000 kB\nMemFree:          100000 kB\n"
                          "Buffers:           20000 kB\nCached:           300000 kB\n");
    write("proc/stat", "cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
    write("sys/kernel/mm/ksm/pages_shared", "250\n");
    write("run/libvirt/qemu/vm1.pid", "4321");
    write("proc/4321/ksm_merging_pages", "1000\n");
  }
  void write(const std::string& rel, const std::string& text) {
    std::filesystem::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel) << text;
  }
};

struct MetricsTest : CliTest {
  FakeRoot root;
  backend::LocalHost local{root.dir};
  metrics::Collector collector{
      st, [this](const std::string&) -> backend::Hypervisor& { return hv; }, local};
  MetricsTest() {
    hv.add("vm1", "11111111-1111-1111-1111-111111111111", 1024);
    hv.add("vm2", "22222222-2222-2222-2222-222222222222", 512);
    hv.add("off", "33333333-3333-3333-3333-333333333333");
  }
  bool metrics_empty() {
    return st.connection().query_int("SELECT count(*) FROM metric_setup") == 0;
  }
  /// One collector beat per simulated second, `n` times.
  void beats(int n) {
    for (int i = 0; i < n; ++i) {
      collector.beat(now);
      now += 1000;
    }
  }
};

constexpr const char* k_list_header =
    "Object          Metric                                   Unit    Minimum    Maximum     "
    "Period      Count Description\n"
    "--------------- ---------------------------------------- ---- ---------- ---------- "
    "---------- ---------- -----------\n";
constexpr const char* k_query_header =
    "Object          Metric                                   Values\n"
    "--------------- ---------------------------------------- "
    "--------------------------------------------\n";

TEST_F(MetricsTest, NoSubcommandPrintsUsage) {
  EXPECT_EQ(run("metrics"), 1);
  EXPECT_THAT(out.stdout_text, HasSubstr("Usage - Monitor system resource usage:"));
}

TEST_F(MetricsTest, InvalidSubcommandIsASyntaxError) {
  EXPECT_EQ(run("metrics frob"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage: error: Invalid subcommand 'frob'"));
  EXPECT_THAT(out.stderr_text, HasSubstr("VBoxManage metrics setup [--list]"));
  EXPECT_EQ(run("metrics LIST"), 2); // case-sensitive
}

TEST_F(MetricsTest, PeriodAndSamplesValues) {
  EXPECT_EQ(run("metrics setup --period"), 2);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Missing argument to '--period'\n");
  EXPECT_EQ(run("metrics setup --period 0"), 2);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Invalid value for 'period' parameter: '0'\n");
  EXPECT_EQ(run("metrics collect --samples 0x10"), 2);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Invalid value for 'samples' parameter: '0x10'\n");
  EXPECT_EQ(run("metrics setup -samples 5x"), 2);
  EXPECT_EQ(run("metrics setup --period 99999999999"), 2);
  EXPECT_EQ(collector_starts, 0);
  EXPECT_TRUE(metrics_empty());
}

TEST_F(MetricsTest, EqualsFormIsTakenAsTheObject) {
  EXPECT_EQ(run("metrics setup --period=5"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Invalid machine name: '--period=5'\n");
  EXPECT_EQ(run("metrics query nosuchvm"), 1);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: Invalid machine name: 'nosuchvm'\n");
  EXPECT_TRUE(metrics_empty());
}

TEST_F(MetricsTest, ListBeforeSetupShowsZeroPeriodAndCount) {
  EXPECT_EQ(run("metrics list host RAM/Usage/Used,CPU/Load/User:avg"), 0);
  EXPECT_EQ(out.stdout_text,
            std::string(k_list_header) +
                "host            CPU/Load/User:avg                        %             0     "
                "100000          0          1 \n"
                "host            RAM/Usage/Used                           kB            0 "
                "2147483647          0          0 Physical memory currently occupied.\n");
}

TEST_F(MetricsTest, ListAllObjectsHostFirstThenRunningVms) {
  hv.run("vm2");
  hv.run("vm1");
  EXPECT_EQ(run("metrics list * RAM/Usage/Used"), 0);
  EXPECT_EQ(
      out.stdout_text,
      std::string(k_list_header) +
          "host            RAM/Usage/Used                           kB            0 2147483647     "
          "     0          0 Physical memory currently occupied.\n"
          "vm2             RAM/Usage/Used                           kB            0 2147483647     "
          "     0          0 Size of resident portion of VM process in memory.\n"
          "vm1             RAM/Usage/Used                           kB            0 2147483647     "
          "     0          0 Size of resident portion of VM process in memory.\n");
}

TEST_F(MetricsTest, VmThatIsNotRunningHasNoMetrics) {
  EXPECT_EQ(run("metrics list off"), 0);
  EXPECT_EQ(out.stdout_text, k_list_header);
  EXPECT_EQ(run("metrics setup --list off"), 0);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: No metrics match the specified filter!\n");
  EXPECT_EQ(out.stdout_text, "");
}

TEST_F(MetricsTest, SetupTakesBaseNames) {
  EXPECT_EQ(run("metrics setup --list host RAM/Usage/Used"), 0);
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: No metrics match the specified filter!\n");
  EXPECT_EQ(collector_starts, 0);
  EXPECT_EQ(run("metrics setup --list --period 2 --samples 3 host RAM/Usage"), 0);
  EXPECT_EQ(out.stdout_text, "The following metrics were modified:\n\n"
                             "Object     Metric\n"
                             "---------- --------------------\n"
                             "host       RAM/Usage           \n\n");
  EXPECT_EQ(collector_starts, 1);
  EXPECT_EQ(run("metrics list host RAM/Usage/Total*"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/Usage/Total                          kB            0 "
                                         "2147483647          2          3 "));
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/Usage/Total:avg                      kB            0 "
                                         "2147483647          2          1 \n"));
}

TEST_F(MetricsTest, WithoutListNothingIsPrinted) {
  EXPECT_EQ(run("metrics setup host Nothing"), 0);
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
  // Options after the object are the metric list, and later words are ignored.
  EXPECT_EQ(run("metrics setup host --list ignored"), 0);
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
}

TEST_F(MetricsTest, QueryRowsWithoutSamplesHaveNoValues) {
  EXPECT_EQ(run("metrics query host RAM/Usage/Used,RAM/Usage/Used:avg"), 0);
  EXPECT_EQ(out.stdout_text, std::string(k_query_header) +
                                 "host            RAM/Usage/Used                           \n"
                                 "host            RAM/Usage/Used:avg                       \n");
}

TEST_F(MetricsTest, CollectorSamplesHostMemoryIntoRingBuffers) {
  hv.local = true;
  ASSERT_EQ(run("metrics setup --period 1 --samples 3 host RAM/Usage"), 0);
  beats(1);
  root.write("proc/meminfo",
             "MemTotal: 1000000 kB\nMemFree: 200000 kB\nBuffers: 0 kB\nCached: 0 kB\n");
  beats(4); // 5 samples into a buffer of 3
  EXPECT_EQ(
      run("metrics query host RAM/Usage/Free,RAM/Usage/Used,RAM/Usage/Used:avg,RAM/Usage/Used:min"),
      0);
  EXPECT_EQ(out.stdout_text,
            std::string(k_query_header) +
                "host            RAM/Usage/Used                           800000 kB, 800000 kB, "
                "800000 kB\n"
                "host            RAM/Usage/Used:avg                       800000 kB\n"
                "host            RAM/Usage/Used:min                       800000 kB\n"
                "host            RAM/Usage/Free                           200000 kB, 200000 kB, "
                "200000 kB\n");
}

TEST_F(MetricsTest, AggregatesCoverTheBufferedSamples) {
  hv.local = true;
  ASSERT_EQ(run("metrics setup --samples 4 host RAM/Usage"), 0);
  for (int free : {100000, 200001, 300000}) {
    root.write("proc/meminfo", "MemTotal: 1000000 kB\nMemFree: " + std::to_string(free) + " kB\n");
    beats(1);
  }
  EXPECT_EQ(run("metrics query host RAM/Usage/Free*"), 0);
  EXPECT_THAT(
      out.stdout_text,
      HasSubstr("RAM/Usage/Free                           100000 kB, 200001 kB, 300000 kB\n"));
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/Usage/Free:avg                       200000 kB\n"));
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/Usage/Free:max                       300000 kB\n"));
}

TEST_F(MetricsTest, PeriodSpacesTheSamples) {
  hv.local = true;
  ASSERT_EQ(run("metrics setup --period 3 --samples 10 host RAM/Usage"), 0);
  beats(7); // t = 0, 3, 6
  EXPECT_EQ(run("metrics query host RAM/Usage/Total"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("1000000 kB, 1000000 kB, 1000000 kB\n"));
}

TEST_F(MetricsTest, SetupDiscardsSamplesEnableAndDisableKeepThem) {
  hv.local = true;
  ASSERT_EQ(run("metrics setup --samples 5 host RAM/Usage"), 0);
  beats(2);
  ASSERT_EQ(run("metrics disable host RAM/Usage"), 0);
  EXPECT_EQ(collector_starts, 1); // disable never starts the collector
  beats(3);                       // disabled: nothing sampled
  EXPECT_EQ(run("metrics query host RAM/Usage/Total"), 0);
  EXPECT_THAT(out.stdout_text,
              HasSubstr("RAM/Usage/Total                          1000000 kB, 1000000 kB\n"));
  ASSERT_EQ(run("metrics enable host RAM/Usage"), 0);
  beats(1);
  EXPECT_EQ(run("metrics query host RAM/Usage/Total"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("1000000 kB, 1000000 kB, 1000000 kB\n"));
  ASSERT_EQ(run("metrics setup --samples 5 host RAM/Usage"), 0);
  EXPECT_EQ(run("metrics query host RAM/Usage/Total"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/Usage/Total                          \n"));
}

TEST_F(MetricsTest, EnableWithoutSetupCollectsNothing) {
  EXPECT_EQ(run("metrics enable --list host CPU/MHz"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("host       CPU/MHz             \n"));
  EXPECT_FALSE(collector.beat(now)); // period 0: nothing being collected
  EXPECT_EQ(run("metrics list host CPU/MHz"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("MHz           0 2147483647          0          0 "));
}

TEST_F(MetricsTest, VmAndVmmFigures) {
  auto& vm1 = hv.run("vm1");
  vm1.rss_kib = 300000;
  vm1.actual_kib = 1024 * 1024 - 100 * 1024; // ballooned 100 MB
  auto& vm2 = hv.run("vm2");
  vm2.rss_kib = 600000;
  ASSERT_EQ(run("metrics setup host RAM/VMM"), 0);
  ASSERT_EQ(run("metrics setup vm1 Guest/RAM/Usage,RAM/Usage"), 0);
  beats(1);
  EXPECT_EQ(run("metrics query host RAM/VMM/*:"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/VMM/Used                             900000 kB\n"));
  // vm1: 946176 actual - 300000 rss; vm2: rss above actual counts 0
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/VMM/Free                             646176 kB\n"));
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/VMM/Ballooned                        102400 kB\n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("RAM/VMM/Shared                           \n")); // not local
  EXPECT_EQ(run("metrics query vm1 *:"), 0);
  EXPECT_THAT(out.stdout_text,
              HasSubstr("vm1             RAM/Usage/Used                           300000 kB\n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("vm1             Guest/RAM/Usage/Balloon                  102400 kB\n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("vm1             Guest/RAM/Usage/Free                     473088 kB\n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("vm1             Guest/RAM/Usage/Shared                   \n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("vm1             Guest/CPU/Load/User                      \n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("vm1             Guest/Pagefile/Usage/Total               \n"));
}

TEST_F(MetricsTest, LocalHostGivesKsmFigures) {
  hv.local = true;
  hv.run("vm1");
  ASSERT_EQ(run("metrics setup * RAM/VMM,Guest/RAM/Usage"), 0);
  beats(1);
  EXPECT_EQ(run("metrics query * RAM/VMM/Shared,Guest/RAM/Usage/Shared"), 0);
  EXPECT_EQ(out.stdout_text,
            std::string(k_query_header) +
                "host            RAM/VMM/Shared                           1000 kB\n"
                "vm1             Guest/RAM/Usage/Shared                   4000 kB\n");
}

TEST_F(MetricsTest, HostCpuLoadFromTickDeltas) {
  hv.local = true;
  ASSERT_EQ(run("metrics setup --samples 2 host CPU/Load"), 0);
  beats(1);                                                     // primes the counters
  root.write("proc/stat", "cpu  130 10 60 1000 0 0 0 0 0 0\n"); // +40 user, +10 kernel, +150 idle
  beats(1);
  EXPECT_EQ(run("metrics query host CPU/Load/*:"), 0);
  EXPECT_EQ(out.stdout_text,
            std::string(k_query_header) +
                "host            CPU/Load/User                            20.00%\n"
                "host            CPU/Load/Kernel                          5.00%\n"
                "host            CPU/Load/Idle                            75.00%\n");
}

TEST_F(MetricsTest, VmCpuLoadIsAShareOfTheHost) {
  hv.node.cpus = 2;
  auto& vm = hv.run("vm1");
  ASSERT_EQ(run("metrics setup vm1 CPU/Load"), 0);
  beats(1);
  vm.cpu_user_ns += 500'000'000; // half a CPU-second in one second on a 2-CPU host
  vm.cpu_system_ns += 100'000'000;
  beats(1);
  EXPECT_EQ(run("metrics query vm1 CPU/Load/*:"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("CPU/Load/User                            25.00%\n"));
  EXPECT_THAT(out.stdout_text, HasSubstr("CPU/Load/Kernel                          5.00%\n"));
}

TEST_F(MetricsTest, VmMetricsEndWithTheRun) {
  hv.run("vm1");
  ASSERT_EQ(run("metrics setup vm1 RAM/Usage"), 0);
  beats(1);
  EXPECT_TRUE(collector.beat(now));
  hv.power(hv.vm("vm1").ref, backend::PowerAction::PowerOff);
  EXPECT_FALSE(collector.beat(now)); // its setup was dropped: nothing left to collect
  hv.run("vm1");                     // a new run starts unconfigured
  EXPECT_EQ(run("metrics list vm1 RAM/Usage/Used"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("kB            0 2147483647          0          0 "));
  EXPECT_EQ(run("metrics query vm1 RAM/Usage/Used"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/Usage/Used                           \n"));
}

TEST_F(MetricsTest, RowsOfAnEarlierRunGoOneByOne) {
  hv.run("vm1");
  ASSERT_EQ(run("metrics setup vm1 RAM/Usage"), 0);
  hv.power(hv.vm("vm1").ref, backend::PowerAction::PowerOff);
  hv.run("vm1");
  ASSERT_EQ(run("metrics setup --period 4 vm1 CPU/Load"), 0); // this run's
  ASSERT_EQ(run("metrics enable vm1 Guest/RAM/Usage"), 0);
  EXPECT_TRUE(collector.beat(now)); // drops the earlier run's RAM/Usage only
  EXPECT_EQ(run("metrics list vm1 *:"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("vm1             CPU/Load/User                            "
                                         "%             0     100000          4          1 "));
  EXPECT_THAT(out.stdout_text, HasSubstr("vm1             RAM/Usage/Used                           "
                                         "kB            0 2147483647          0          0 "));
  ASSERT_EQ(run("metrics enable vm1 RAM/Usage"), 0); // a fresh, never set up row
  EXPECT_EQ(run("metrics list vm1 RAM/Usage/Used"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("kB            0 2147483647          0          0 "));
  EXPECT_EQ(
      st.connection().query_int("SELECT count(*) FROM metric_setup WHERE object LIKE '1111%'"), 3);
}

TEST_F(MetricsTest, AConnectionFailureIsLoggedAndRetried) {
  std::vector<std::string> logged;
  std::vector<std::string> failed;
  metrics::Collector c(
      st, [this](const std::string&) -> backend::Hypervisor& { return hv; }, local,
      [&](const std::string& m) { logged.push_back(m); },
      [&](const std::string& u) { failed.push_back(u); });
  ASSERT_EQ(run("metrics setup host RAM/VMM"), 0);
  hv.fail_next("running_domain_stats", "libvirtd went away");
  EXPECT_TRUE(c.beat(now));
  EXPECT_EQ(failed, std::vector<std::string>{"test:///fake"});
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_THAT(logged[0], HasSubstr("libvirtd went away"));
  c.beat(now + 1000);
  EXPECT_EQ(run("metrics query host RAM/VMM/Used"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("RAM/VMM/Used                             0 kB\n"));
}

TEST_F(MetricsTest, QueryJson) {
  hv.local = true;
  ASSERT_EQ(run("metrics setup --samples 2 host RAM/Usage"), 0);
  beats(2);
  ASSERT_EQ(run("metrics query --json host RAM/Usage/Total,RAM/Usage/Total:max"), 0);
  auto j = nlohmann::json::parse(out.stdout_text);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["object"], "host");
  EXPECT_TRUE(j[0]["uuid"].is_null());
  EXPECT_EQ(j[0]["metric"], "RAM/Usage/Total");
  EXPECT_EQ(j[0]["unit"], "kB");
  EXPECT_EQ(j[0]["values"], nlohmann::json({1000000, 1000000}));
  EXPECT_EQ(j[0]["times_ms"].size(), 2u);
  EXPECT_EQ(j[1]["values"], nlohmann::json({1000000}));
}

TEST_F(MetricsTest, CollectPrintsUntilInterruptedThenStopsCollecting) {
  hv.local = true;
  stop_after_sleeps = 25; // 100 ms sleeps: two 1-second periods and a half
  on_sleep = [this] {
    if (now % 1000 == 0) {
      collector.beat(now);
    }
  };
  now = 1700000000000; // 22:13:20.000 UTC
  // Interrupted (Ctrl-C): main() then ends vboxmanage by the signal, as VBoxManage ends.
  EXPECT_EQ(run("metrics collect host RAM/Usage/Used,CPU/MHz:avg"), cli::k_exit_interrupted);
  EXPECT_EQ(collector_starts, 1);
  EXPECT_EQ(out.stdout_text, "Time stamp   Object     Metric               Value\n"
                             "------------ ---------- -------------------- --------------------\n"
                             "22:13:21.000 host       CPU/MHz:avg          \n"
                             "22:13:21.000 host       RAM/Usage/Used       580000 kB\n"
                             "------------ ---------- -------------------- --------------------\n"
                             "22:13:22.000 host       CPU/MHz:avg          \n"
                             "22:13:22.000 host       RAM/Usage/Used       580000 kB\n"
                             "------------ ---------- -------------------- --------------------\n");
  EXPECT_FALSE(collector.beat(now)); // what collect set up is disabled again
}

TEST_F(MetricsTest, CollectDetachSaysWhoCollects) {
  EXPECT_EQ(run("metrics collect --detach --period 5 host RAM/VMM/Shared"), 0);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_THAT(out.stderr_text, HasSubstr("collector pid 4242"));
  EXPECT_THAT(out.stderr_text, Not(HasSubstr("will shutdown")));
  EXPECT_EQ(run("metrics list host RAM/VMM/Used"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("kB            0 2147483647          5          1 "));
}

TEST_F(MetricsTest, CollectThatAffectsNothingFails) {
  EXPECT_EQ(run("metrics collect --detach --list host CPU/MHz:avg"), 1); // base "CPU"
  EXPECT_EQ(out.stderr_text, "VBoxManage: error: No metrics match the specified filter!\n");
  EXPECT_EQ(collector_starts, 0);
}

TEST_F(MetricsTest, CollectWithAFilterMatchingNothingSetsUpEverything) {
  hv.run("vm1");
  EXPECT_EQ(run("metrics collect --detach --list host Nothing"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("host       FS/{/}/Usage        \n"));
  EXPECT_THAT(out.stdout_text, HasSubstr("vm1        Guest/RAM/Usage     \n"));
}

TEST_F(MetricsTest, PrometheusExposition) {
  hv.local = true;
  hv.add("we\"ird", "44444444-4444-4444-4444-444444444444");
  hv.run("we\"ird").rss_kib = 2;
  ASSERT_EQ(run("metrics setup * RAM/Usage,CPU/Load"), 0);
  beats(1);
  auto text = collector.exposition();
  EXPECT_THAT(
      text, HasSubstr("# HELP vboxkvm_host_ram_usage_total_bytes Total physical memory installed.\n"
                      "# TYPE vboxkvm_host_ram_usage_total_bytes gauge\n"
                      "vboxkvm_host_ram_usage_total_bytes{uri=\"test:///fake\"} 1024000000\n"));
  EXPECT_THAT(text,
              HasSubstr("vboxkvm_vm_ram_usage_used_bytes{uri=\"test:///fake\",vm=\"we\\\"ird\","
                        "uuid=\"44444444-4444-4444-4444-444444444444\"} 2048\n"));
  EXPECT_THAT(text, Not(HasSubstr("cpu_load"))); // no CPU sample yet (first beat primes)
  EXPECT_EQ(metrics::prometheus_name(true, "FS/{/}/Usage/Free"),
            "vboxkvm_host_fs_root_usage_free_bytes");
  EXPECT_EQ(metrics::prometheus_name(false, "CPU/Load/User"), "vboxkvm_vm_cpu_load_user_ratio");
}

} // namespace
} // namespace vbm::test
