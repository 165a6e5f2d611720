// metrics: the catalogue's patterns, aggregates and formats (spec §4), the grammar and output
// of the six subcommands (golden text from the spec), and the collector's sampling into the
// store's ring buffers, on FakeHypervisor and a fake /proc + /sys tree.

#include "cli/exit_codes.hpp"
#include "metrics/catalog.hpp"
#include "metrics/collector.hpp"
#include "support/cli_fixture.hpp"
#include "support/temp_dir.hpp"

#include <fmt/format.h>
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
  auto vm = metrics::full_metrics(metrics::ObjectKind::Vm);
  ASSERT_EQ(vm.size(), 15u * 4);
  // Machine::i_registerMetrics: after RAM/Usage/Used come Disk/Usage/Used and Net/Rate/{Rx,Tx}.
  EXPECT_EQ(vm[12].name(), "Disk/Usage/Used");
  EXPECT_EQ(vm[12].def.unit, Unit::MB);
  EXPECT_EQ(vm[12].def.description, "Actual size of all VM disks combined.");
  EXPECT_EQ(vm[16].name(), "Net/Rate/Rx");
  EXPECT_EQ(vm[20].name(), "Net/Rate/Tx");
  EXPECT_EQ(metrics::unit_name(vm[20].def.unit), "B/s");
  EXPECT_EQ(metrics::unit_max(vm[20].def.unit), 2147483647);
  auto bases = metrics::base_metrics(metrics::ObjectKind::Vm);
  EXPECT_EQ(bases, (std::vector<std::string>{"CPU/Load", "RAM/Usage", "Disk/Usage", "Net/Rate",
                                             "Guest/CPU/Load", "Guest/RAM/Usage"}));
}

// HostImpl::i_registerDiskMetrics (every load disk, then every usage disk) and
// HostNetworkInterface::i_registerMetrics (per interface: LinkSpeed, Load/Rx, Load/Tx).
TEST(MetricCatalog, HostDevicesHaveMetricsOfTheirOwn) {
  metrics::HostDevices dev{{"sda", "sdb"}, {"md0"}, {"eth1", "eth0"}};
  std::vector<std::string> names;
  for (const auto& m : metrics::catalog(metrics::ObjectKind::Host, dev)) {
    names.push_back(m.name);
  }
  ASSERT_EQ(names.size(), 14u + 2 + 1 + 2 * 3);
  EXPECT_EQ(
      std::vector<std::string>(names.begin() + 14, names.end()),
      (std::vector<std::string>{"Disk/sda/Load/Util", "Disk/sdb/Load/Util", "Disk/md0/Usage/Total",
                                "Net/eth1/LinkSpeed", "Net/eth1/Load/Rx", "Net/eth1/Load/Tx",
                                "Net/eth0/LinkSpeed", "Net/eth0/Load/Rx", "Net/eth0/Load/Tx"}));
  auto bases = metrics::base_metrics(metrics::ObjectKind::Host, dev);
  EXPECT_EQ(std::vector<std::string>(bases.begin() + 5, bases.end()),
            (std::vector<std::string>{"Disk/sda/Load", "Disk/sdb/Load", "Disk/md0/Usage",
                                      "Net/eth1/LinkSpeed", "Net/eth1/Load", "Net/eth0/LinkSpeed",
                                      "Net/eth0/Load"}));
  auto link = metrics::catalog(metrics::ObjectKind::Host, dev)[17];
  EXPECT_EQ(link.name, "Net/eth1/LinkSpeed");
  EXPECT_EQ(link.base, "Net/eth1/LinkSpeed"); // its own base, as toBaseName says
  EXPECT_EQ(metrics::unit_name(link.unit), "mbit/s");
  EXPECT_EQ(link.description, "Physical link speed.");
  EXPECT_EQ(metrics::base_of("Net/eth1/LinkSpeed:avg"), "Net/eth1"); // toBaseName, as CPU/MHz
  EXPECT_EQ(metrics::base_of("Disk/sda/Load/Util"), "Disk/sda/Load");
  // The metrics of a base metric, as the collector and the textfile find them.
  auto load = metrics::metrics_of_base(metrics::ObjectKind::Host, "Net/eth0/Load");
  ASSERT_EQ(load.size(), 2u);
  EXPECT_EQ(load[0].name, "Net/eth0/Load/Rx");
  EXPECT_EQ(load[0].device, "eth0");
  EXPECT_EQ(load[0].generic_name, "Net/Load/Rx");
  EXPECT_EQ(metrics::metrics_of_base(metrics::ObjectKind::Host, "Disk/vda/Usage")[0].name,
            "Disk/vda/Usage/Total");
  EXPECT_TRUE(metrics::metrics_of_base(metrics::ObjectKind::Host, "Disk/a/b/Load").empty());
  EXPECT_TRUE(metrics::metrics_of_base(metrics::ObjectKind::Host, "Disk//Load").empty());
  EXPECT_TRUE(metrics::metrics_of_base(metrics::ObjectKind::Vm, "Disk/vda/Load").empty());
  EXPECT_EQ(metrics::metrics_of_base(metrics::ObjectKind::Vm, "Net/Rate").size(), 2u);
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
    services.host_root = root.dir; // the host's disks and interfaces are the fake tree's
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

// A guest backed by the huge page pool: its hugetlbfs pages are not in QEMU's RSS, so on this
// host they are added (/proc/PID/status HugetlbPages).
TEST_F(MetricsTest, HugetlbfsPagesCountAsTheGuestsMemory) {
  hv.local = true;
  root.write("proc/4321/status", "Name:\tqemu\nVmRSS:\t  50000 kB\nHugetlbPages:\t  131072 kB\n");
  hv.run("vm1").rss_kib = 50000;
  ASSERT_EQ(run("metrics setup * RAM/VMM,RAM/Usage"), 0);
  beats(1);
  EXPECT_EQ(run("metrics query * RAM/VMM/Used,RAM/Usage/Used"), 0);
  EXPECT_THAT(out.stdout_text,
              HasSubstr("host            RAM/VMM/Used                             181072 kB\n"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("vm1             RAM/Usage/Used                           181072 kB\n"));
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
                      "vboxkvm_host_ram_usage_total_bytes{host=\"fakehost\",uri=\"test:///fake\"} "
                      "1024000000\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "vboxkvm_vm_ram_usage_used_bytes{host=\"fakehost\",uri=\"test:///fake\",vm=\"we\\\"ird\","
          "uuid=\"44444444-4444-4444-4444-444444444444\"} 2048\n"));
  EXPECT_THAT(text, Not(HasSubstr("cpu_load"))); // no CPU sample yet (first beat primes)
  // vboxkvm's own series, whatever is set up: host memory (no MemAvailable in this meminfo:
  // free + buffers + cached), every running guest's memory; no KSM counters, no KSM series.
  EXPECT_THAT(text, HasSubstr("vboxkvm_host_memory_total_bytes{host=\"fakehost\","
                              "uri=\"test:///fake\"} 1024000000\n"));
  EXPECT_THAT(text, HasSubstr("vboxkvm_host_memory_available_bytes{host=\"fakehost\","
                              "uri=\"test:///fake\"} 430080000\n"));
  EXPECT_THAT(text, HasSubstr("vboxkvm_vm_memory_max_bytes{host=\"fakehost\",uri=\"test:///fake\","
                              "vm=\"we\\\"ird\",uuid=\"44444444-4444-4444-4444-444444444444\"} "));
  EXPECT_THAT(text, HasSubstr("vboxkvm_vm_memory_actual_bytes{host=\"fakehost\""));
  EXPECT_THAT(text, Not(HasSubstr("ksm")));
  // KSM's saving and ksmd's CPU time (a counter) once the kernel has them.
  root.write("sys/kernel/mm/ksm/pages_sharing", "300\n");
  root.write("proc/77/comm", "ksmd\n");
  root.write("proc/77/schedstat", "2500000000 0 0\n");
  beats(1);
  text = collector.exposition();
  EXPECT_THAT(text, HasSubstr(fmt::format("vboxkvm_host_ksm_sharing_bytes{{host=\"fakehost\","
                                          "uri=\"test:///fake\"}} {}\n",
                                          300 * local.page_size_kib() * 1024)));
  EXPECT_THAT(text, HasSubstr("# TYPE vboxkvm_host_ksmd_cpu_seconds_total counter\n"
                              "vboxkvm_host_ksmd_cpu_seconds_total{host=\"fakehost\","
                              "uri=\"test:///fake\"} 2.5\n"));
  auto host = metrics::catalog(metrics::ObjectKind::Host, {{"sda"}, {"sda"}, {"eth0"}});
  EXPECT_EQ(metrics::prometheus_name(true, host[13]), "vboxkvm_host_fs_root_usage_free_bytes");
  EXPECT_EQ(metrics::prometheus_name(true, host[14]), "vboxkvm_host_disk_load_util_ratio");
  EXPECT_EQ(metrics::prometheus_name(true, host[16]), "vboxkvm_host_net_linkspeed_bytes_per_second");
  auto vm = metrics::catalog(metrics::ObjectKind::Vm);
  EXPECT_EQ(metrics::prometheus_name(false, vm[0]), "vboxkvm_vm_cpu_load_user_ratio");
  EXPECT_EQ(metrics::prometheus_name(false, vm[4]), "vboxkvm_vm_net_rate_rx_bytes_per_second");
}

// CollectorLinux::getDiskListByFs("/"): the mtab entry of "/", resolved through symlinks.
TEST(LocalHostDisks, NamedAsVirtualBoxNamesThem) {
  FakeRoot root;
  backend::LocalHost local{root.dir};
  EXPECT_TRUE(local.root_disks().usage.empty()); // no /etc/mtab
  root.write("dev/sda2", "");
  root.write("etc/mtab", "rootfs / rootfs rw 0 0\n/dev/sdb1 /boot ext4 rw 0 0\n"
                         "/dev/sda2 / ext4 rw 0 0\n");
  auto d = local.root_disks();
  EXPECT_EQ(d.usage, std::vector<std::string>{"sda"}); // trailing digits trimmed
  EXPECT_EQ(d.load, std::vector<std::string>{"sda"});
  // nvme0n1p2 -> nvme0n1p: VirtualBox trims digits only (that disk then has no size).
  root.write("dev/nvme0n1p2", "");
  std::filesystem::create_symlink("nvme0n1p2", root.dir / "dev/root");
  root.write("etc/mtab", "/dev/root / ext4 rw 0 0\n");
  EXPECT_EQ(local.root_disks().usage, std::vector<std::string>{"nvme0n1p"});
  // A device that does not resolve is skipped (overlay in a container): no disks.
  root.write("etc/mtab", "overlay / overlay rw 0 0\n/dev/gone / ext4 rw 0 0\n");
  EXPECT_TRUE(local.root_disks().usage.empty());
  // Software RAID: the md device's size, its members' load.
  root.write("dev/md0", "");
  root.write("etc/mtab", "/dev/md0 / ext4 rw 0 0\n");
  root.write("proc/mdstat", "Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n"
                            "      1048512 blocks [2/2] [UU]\n");
  d = local.root_disks();
  EXPECT_EQ(d.usage, std::vector<std::string>{"md0"});
  EXPECT_EQ(d.load, (std::vector<std::string>{"sdb", "sda"}));
  // LVM: the slaves of its dm device.
  root.write("dev/dm-0", "");
  std::filesystem::create_directories(root.dir / "dev/mapper");
  std::filesystem::create_symlink("../dm-0", root.dir / "dev/mapper/vg-root");
  root.write("sys/block/dm-0/slaves/sdb3", "");
  root.write("sys/block/dm-0/slaves/dm-1", "");
  root.write("etc/mtab", "/dev/mapper/vg-root / ext4 rw 0 0\n");
  d = local.root_disks();
  EXPECT_EQ(d.usage, (std::vector<std::string>{"dm-1", "sdb"}));
  EXPECT_EQ(d.load, d.usage);
  // Sizes and busy time.
  root.write("sys/block/sda/size", "2097152\n");
  EXPECT_EQ(local.disk_size_bytes("sda"), 1073741824u);
  EXPECT_EQ(local.disk_size_bytes("nvme0n1p"), std::nullopt);
  root.write("proc/diskstats", "   8       0 sda 1 2 3 4 5 6 7 8 9 1234 11 12\n"
                               "   8       1 sda1 1 2 3 4 5 6 7 8 9 99 11 12\n");
  EXPECT_EQ(local.disk_busy_ms("sda"), 1234u);
  EXPECT_EQ(local.disk_busy_ms("sdb"), std::nullopt);
}

// NetIfList: Ethernet interfaces of /proc/net/dev, not vboxnet*, the default route's first.
TEST(LocalHostNet, InterfacesCountersAndSpeed) {
  FakeRoot root;
  backend::LocalHost local{root.dir};
  root.write("proc/net/dev",
             "Inter-|   Receive                            |  Transmit\n"
             " face |bytes    packets errs drop fifo frame compressed multicast|bytes ...\n"
             "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
             "  eth0: 5000 10 0 0 0 0 0 0 7000 12 0 0 0 0 0 0\n"
             "  eth1: 1 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0\n"
             "vboxnet0: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  root.write("sys/class/net/lo/type", "772\n");
  root.write("sys/class/net/eth0/type", "1\n");
  root.write("sys/class/net/eth1/type", "1\n");
  root.write("sys/class/net/vboxnet0/type", "1\n");
  EXPECT_EQ(local.net_interfaces(), (std::vector<std::string>{"eth0", "eth1"}));
  root.write("proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
                               "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
                               "eth1\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n");
  EXPECT_EQ(local.net_interfaces(), (std::vector<std::string>{"eth1", "eth0"}));
  auto c = local.net_counters("eth0");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->rx_bytes, 5000u);
  EXPECT_EQ(c->tx_bytes, 7000u);
  EXPECT_EQ(local.net_counters("eth9"), std::nullopt);
  // Speed: only when up; "-1" (unknown) and a 10 Mbit link without carrier are none.
  root.write("sys/class/net/eth0/flags", "0x1003\n");
  root.write("sys/class/net/eth0/speed", "1000\n");
  EXPECT_EQ(local.link_speed_mbit("eth0"), 1000u);
  root.write("sys/class/net/eth0/speed", "-1\n");
  EXPECT_EQ(local.link_speed_mbit("eth0"), 0u);
  root.write("sys/class/net/eth0/speed", "10\n");
  root.write("sys/class/net/eth0/carrier", "0\n");
  EXPECT_EQ(local.link_speed_mbit("eth0"), 0u);
  root.write("sys/class/net/eth0/carrier", "1\n");
  EXPECT_EQ(local.link_speed_mbit("eth0"), 10u);
  root.write("sys/class/net/eth0/flags", "0x1002\n"); // down
  EXPECT_EQ(local.link_speed_mbit("eth0"), 0u);
}

// getInterfaceInfo (NetIf-linux.cpp) for `list bridgedifs`: the last IPv6 line of the
// interface in /proc/net/if_inet6 wins; wireless = the sysfs directory exists.
TEST_F(MetricsTest, LocalHostInterfaceAddresses) {
  root.write("proc/net/if_inet6", "fe8000000000000000fcfffffe000001 02 40 20 80     eth0\n"
                                  "20010db8000000000000000000000042 03 40 00 80     eth1\n"
                                  "fd000000000000000000000000000002 02 30 00 80     eth0\n");
  root.write("sys/class/net/wlan0/wireless/.keep", "");
  auto eth0 = local.interface_addresses("eth0");
  EXPECT_EQ(eth0.ipv6_address, "fd00::2");
  EXPECT_EQ(eth0.ipv6_prefix, 48u);
  EXPECT_FALSE(eth0.wireless);
  EXPECT_EQ(local.interface_addresses("eth1").ipv6_address, "2001:db8::42");
  auto wlan = local.interface_addresses("wlan0");
  EXPECT_EQ(wlan.ipv6_address, std::nullopt);
  EXPECT_TRUE(wlan.wireless);
  EXPECT_EQ(local.interface_addresses("../x").ipv6_address, std::nullopt);
}

// MachineDiskUsage and MachineNetRate (Guest::i_updateStats) on KVM: the disks' actual sizes
// in whole MB; bytes per second over all interfaces, from counters.
TEST_F(MetricsTest, VmDiskUsageAndNetRate) {
  auto& vm1 = hv.run("vm1");
  hv.run("vm2"); // no disks, no interfaces
  vm1.disks = {{"vda", 16 * 1048576 + 5}, {"vdb", 3 * 1048576 - 1}};
  vm1.nics = {{"vnet0", 1000, 500}, {"vnet1", 0, 0}};
  ASSERT_EQ(run("metrics setup --samples 5 * Disk/Usage,Net/Rate"), 0);
  beats(1); // the first reading of the counters only primes them
  vm1.nics = {{"vnet0", 3000, 1500}, {"vnet1", 1000, 0}};
  beats(1);
  EXPECT_EQ(run("metrics query * Disk/Usage/Used,Net/Rate/*:"), 0);
  EXPECT_EQ(out.stdout_text,
            std::string(k_query_header) +
                "vm1             Disk/Usage/Used                          18 MB, 18 MB\n"
                "vm1             Net/Rate/Rx                              3000 B/s\n"
                "vm1             Net/Rate/Tx                              1000 B/s\n"
                "vm2             Disk/Usage/Used                          0 MB, 0 MB\n"
                "vm2             Net/Rate/Rx                              0 B/s\n"
                "vm2             Net/Rate/Tx                              0 B/s\n");
  // vnet0's counters restart (a device re-created), vnet1 goes, vnet2 comes: each counts from 0.
  vm1.nics = {{"vnet0", 200, 100}, {"vnet2", 50, 20}};
  now += 1000; // two seconds since the last sample
  beats(1);
  EXPECT_EQ(run("metrics query vm1 Net/Rate/Rx,Net/Rate/Tx"), 0);
  EXPECT_THAT(out.stdout_text,
              HasSubstr("Net/Rate/Rx                              3000 B/s, 125 B/s"));
  EXPECT_THAT(out.stdout_text,
              HasSubstr("Net/Rate/Tx                              1000 B/s, 60 B/s"));
  // A disk without a figure this time (QEMU busy): no Disk/Usage sample rather than a wrong one.
  vm1.disks.push_back({"vdc", std::nullopt});
  // A failing read is one logged line; the other metrics' beat goes on next time.
  hv.fail_next("running_domain_io_stats", "boom");
  beats(1);
  beats(1);
  EXPECT_EQ(run("metrics query vm2 Net/Rate/Rx"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("0 B/s, 0 B/s, 0 B/s"));
  EXPECT_EQ(run("metrics query vm1 Disk/Usage/Used"), 0);
  EXPECT_THAT(out.stdout_text,
              HasSubstr("Disk/Usage/Used                          18 MB, 18 MB, 18 MB\n"));
}

// The host's disks and interfaces through the CLI (local connection, fake tree): listed with
// VirtualBox's names, sampled by the collector; a remote host has none.
TEST_F(MetricsTest, HostDiskAndNetMetrics) {
  root.write("dev/vda", "");
  root.write("etc/mtab", "/dev/vda / ext4 rw 0 0\n");
  root.write("sys/block/vda/size", "41943040\n"); // 20 GiB
  root.write("proc/diskstats", " 254 0 vda 1 2 3 4 5 6 7 8 9 1000 11\n");
  root.write("proc/net/dev", "  eth0: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  root.write("sys/class/net/eth0/type", "1\n");
  root.write("sys/class/net/eth0/flags", "0x1003\n");
  root.write("sys/class/net/eth0/speed", "100\n");
  EXPECT_EQ(run("metrics list host Disk/*:,Net/*:"), 0);
  EXPECT_EQ(out.stdout_text, std::string(k_list_header)); // not this machine's host: none
  hv.local = true;
  EXPECT_EQ(run("metrics list host Disk/*:,Net/*:"), 0);
  EXPECT_EQ(out.stdout_text,
            std::string(k_list_header) +
                "host            Disk/vda/Load/Util                       %             0     "
                "100000          0          0 Percentage of time disk was busy serving I/O "
                "requests.\n"
                "host            Disk/vda/Usage/Total                     MB            0 "
                "2147483647          0          0 Disk size.\n"
                "host            Net/eth0/LinkSpeed                       mbit/s          0 "
                "2147483647          0          0 Physical link speed.\n"
                "host            Net/eth0/Load/Rx                         %             0     "
                "100000          0          0 Percentage of network interface receive bandwidth "
                "used.\n"
                "host            Net/eth0/Load/Tx                         %             0     "
                "100000          0          0 Percentage of network interface transmit bandwidth "
                "used.\n");
  EXPECT_EQ(run("metrics setup --list host Disk/*,Net/*"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("host       Disk/vda/Load       \n"
                                         "host       Disk/vda/Usage      \n"
                                         "host       Net/eth0/LinkSpeed  \n"
                                         "host       Net/eth0/Load       \n"));
  beats(1); // primes the busy time and the byte counters
  root.write("proc/diskstats", " 254 0 vda 1 2 3 4 5 6 7 8 9 1250 11\n"); // busy 250 of 1000 ms
  // 100 Mbit/s carry 12,500,000 bytes a second: 1,250,000 received is 10%, 125 sent 0.001%.
  root.write("proc/net/dev", "  eth0: 1250000 0 0 0 0 0 0 0 125 0 0 0 0 0 0 0\n");
  beats(1);
  EXPECT_EQ(run("metrics query host Disk/*:,Net/*:"), 0);
  EXPECT_EQ(out.stdout_text,
            std::string(k_query_header) +
                "host            Disk/vda/Load/Util                       25.00%\n"
                "host            Disk/vda/Usage/Total                     20480 MB\n"
                "host            Net/eth0/LinkSpeed                       100 mbit/s\n"
                "host            Net/eth0/Load/Rx                         10.00%\n"
                "host            Net/eth0/Load/Tx                         0.00%\n");
  // The textfile: one family per metric, the device as a label.
  auto text = collector.exposition();
  EXPECT_THAT(
      text, HasSubstr("vboxkvm_host_disk_usage_total_bytes{host=\"fakehost\",uri=\"test:///fake\","
                      "device=\"vda\"} 21474836480\n"));
  EXPECT_THAT(
      text,
      HasSubstr("vboxkvm_host_net_linkspeed_bytes_per_second{host=\"fakehost\",uri=\"test:///fake\","
                "device=\"eth0\"} 12500000\n"));
  // An unplugged link: no speed, no load.
  root.write("sys/class/net/eth0/flags", "0x1002\n");
  beats(1);
  EXPECT_EQ(run("metrics query host Net/eth0/LinkSpeed,Net/eth0/Load/Rx"), 0);
  EXPECT_THAT(out.stdout_text, HasSubstr("Net/eth0/LinkSpeed                       100 mbit/s\n"));
  EXPECT_THAT(out.stdout_text, HasSubstr("Net/eth0/Load/Rx                         10.00%\n"));
}

} // namespace
} // namespace vbm::test
