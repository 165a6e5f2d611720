// VirtualBox's extra data: the store's extradata table (store/extradata_store.hpp), Main's
// rules over it (vm/extradata.hpp), and getextradata/setextradata (cli/extradata.cpp).

#include "store/extradata_store.hpp"
#include "store/migrations.hpp"
#include "store/settings_store.hpp"
#include "support/cli_fixture.hpp"
#include "support/temp_dir.hpp"
#include "vm/extradata.hpp"

#include <gmock/gmock.h>

#include <algorithm>
#include <sys/stat.h>

using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Pair;

namespace vbm::test {
namespace {

const store::VmKey k_vm{"h1", "u1"};

// Keys and values that would break anything that splices text into SQL, a format string or a
// LIKE pattern: they must come back byte for byte.
const std::vector<std::string> k_odd = {
    "plain",
    "it's \"quoted\"",
    "Ünïcödé 🐧 ключ",
    "100% %s %n %1$s {} {0}",
    "'; DROP TABLE extradata; --",
    "a_b%c",
    "line one\nline two\r\n",
    "back\\slash",
    " leading and trailing ",
    std::string("nul\0inside", 10),
    "\xff\xfe not UTF-8",
};

struct ExtraDataStoreTest : testing::Test {
  store::SettingsStore st{":memory:"};
  store::ExtraDataStore& xs = st.extradata();
};

TEST_F(ExtraDataStoreTest, OddKeysAndValuesRoundTrip) {
  for (const auto& key : k_odd) {
    for (const auto& value : k_odd) {
      ASSERT_TRUE(xs.set(k_vm, key, value));
      EXPECT_EQ(xs.get(k_vm, key), value) << key;
    }
  }
  EXPECT_EQ(xs.keys(k_vm).size(), k_odd.size());
  EXPECT_EQ(st.connection().query_int("SELECT count(*) FROM sqlite_master WHERE name = "
                                      "'extradata'"),
            1);
}

TEST_F(ExtraDataStoreTest, VeryLongValues) {
  std::string big(1 << 20, 'x');
  big[12345] = '\n';
  std::string long_key(4096, 'k');
  ASSERT_TRUE(xs.set(k_vm, long_key, big));
  EXPECT_EQ(xs.get(k_vm, long_key), big);
  EXPECT_THAT(xs.entries(k_vm), ElementsAre(Pair(long_key, big)));
}

TEST_F(ExtraDataStoreTest, AbsentIsNullopt) {
  EXPECT_EQ(xs.get(k_vm, "nothing"), std::nullopt);
  EXPECT_THAT(xs.entries(k_vm), IsEmpty());
}

TEST_F(ExtraDataStoreTest, EmptyOrAbsentValueDeletes) {
  xs.set(k_vm, "a", "1");
  xs.set(k_vm, "b", "2");
  EXPECT_TRUE(xs.set(k_vm, "a", ""));
  EXPECT_TRUE(xs.set(k_vm, "b", std::nullopt));
  EXPECT_EQ(xs.get(k_vm, "a"), std::nullopt);
  EXPECT_EQ(xs.get(k_vm, "b"), std::nullopt);
  EXPECT_THAT(xs.keys(k_vm), IsEmpty());
  EXPECT_EQ(st.connection().query_int("SELECT count(*) FROM extradata"), 0);
}

TEST_F(ExtraDataStoreTest, ReportsWhetherAnythingChanged) {
  EXPECT_TRUE(xs.set(k_vm, "k", "v"));
  EXPECT_FALSE(xs.set(k_vm, "k", "v")) << "the value it already has";
  EXPECT_TRUE(xs.set(k_vm, "k", "w"));
  EXPECT_TRUE(xs.set(k_vm, "k", std::nullopt));
  EXPECT_FALSE(xs.set(k_vm, "k", std::nullopt)) << "deleting a missing key";
  EXPECT_FALSE(xs.set(k_vm, "k", ""));
}

TEST_F(ExtraDataStoreTest, EmptyKeyIsAKeyEvenWithoutData) {
  ASSERT_TRUE(xs.set(k_vm, std::string_view{}, "v")); // a string_view with no data at all
  EXPECT_EQ(xs.get(k_vm, ""), "v");
  EXPECT_THAT(xs.keys(k_vm), ElementsAre(""));
}

TEST_F(ExtraDataStoreTest, KeysInByteOrder) {
  // strcmp order, as VirtualBox's std::map<Utf8Str>: upper case before lower case, a prefix
  // before what extends it, non-ASCII (bytes 0x80 and up) after ASCII.
  for (const char* key : {"b", "a", "B", "ä", "a/b", "ab", "A", "_", "~", "Z", "a0", "\x7f"}) {
    xs.set(k_vm, key, "v");
  }
  EXPECT_THAT(xs.keys(k_vm),
              ElementsAre("A", "B", "Z", "_", "a", "a/b", "a0", "ab", "b", "~", "\x7f", "ä"));
  auto keys = xs.keys(k_vm);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
}

TEST_F(ExtraDataStoreTest, ScopesAreSeparate) {
  const store::VmKey other_host{"h2", "u1"};
  const store::VmKey other_vm{"h1", "u2"};
  xs.set(store::k_global_scope, "k", "global");
  xs.set(k_vm, "k", "vm");
  xs.set(other_host, "k", "same uuid, other host");
  EXPECT_EQ(xs.get(store::k_global_scope, "k"), "global");
  EXPECT_EQ(xs.get(k_vm, "k"), "vm");
  EXPECT_EQ(xs.get(other_host, "k"), "same uuid, other host");
  EXPECT_EQ(xs.get(other_vm, "k"), std::nullopt);
  xs.set(k_vm, "k", std::nullopt);
  EXPECT_EQ(xs.get(store::k_global_scope, "k"), "global");
  EXPECT_THAT(xs.entries(store::k_global_scope), ElementsAre(Pair("k", "global")));
}

TEST_F(ExtraDataStoreTest, WrittenInsideAnUncommittedTransactionIsRolledBack) {
  {
    auto txn = st.begin_write();
    xs.set(k_vm, "k", "v");
  }
  EXPECT_EQ(xs.get(k_vm, "k"), std::nullopt);
}

TEST(ExtraDataReadOnly, ExistingStoreOnlyAndNeverWritten) {
  TempDir dir;
  auto sub = dir.path() / "vbox";
  EXPECT_FALSE(store::SettingsStore::open_existing_read_only(sub, 100)) << "no directory";
  ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
  EXPECT_FALSE(store::SettingsStore::open_existing_read_only(sub, 100)) << "no store file";
  EXPECT_FALSE(std::filesystem::exists(sub / "vboxkvm.db")) << "created nothing";
  {
    store::SettingsStore st(store::SettingsStore::prepare_path(sub));
    st.extradata().set(store::k_global_scope, "k", "v");
  }
  auto db = store::SettingsStore::open_existing_read_only(sub, 100);
  ASSERT_TRUE(db);
  store::ExtraDataStore xs(*db);
  EXPECT_EQ(xs.get(store::k_global_scope, "k"), "v");
  EXPECT_THROW(xs.set(store::k_global_scope, "k", "w"), store::StoreError);
  EXPECT_EQ(xs.get(store::k_global_scope, "k"), "v");
}

TEST(ExtraDataReadOnly, AStoreDirectoryOthersMayWriteIsNotRead) {
  TempDir dir;
  auto sub = dir.path() / "vbox";
  { store::SettingsStore st(store::SettingsStore::prepare_path(sub)); }
  ASSERT_EQ(chmod(sub.c_str(), 0777), 0);
  EXPECT_FALSE(store::SettingsStore::open_existing_read_only(sub, 100));
}

TEST(ExtraDataReadOnly, AnOlderStoreHasNoExtraData) {
  store::Connection db(":memory:", 100);
  store::migrate(db, store::migrations().first(4));
  EXPECT_THROW(store::ExtraDataStore xs(db), store::StoreError);
}

// vm/: Main's rules.

struct ExtraDataVmTest : testing::Test {
  store::SettingsStore st{":memory:"};
  vm::ExtraDataScope global = vm::ExtraDataScope::global();
  vm::ExtraDataScope vm1 = vm::ExtraDataScope::machine("h1", "u1");
  const vm::CallSite site{"SetExtraData(Bstr(a->argv[1]).raw(), Bstr(a->argv[2]).raw())",
                          "VBoxManageMisc.cpp", 1390};
};

TEST_F(ExtraDataVmTest, ControlCharactersAreThoseOfRTLocCIsCntrl) {
  for (std::string key : {"tab\there", "nl\n", "cr\r", "esc\x1b", "del\x7f", "unit\x1f"}) {
    EXPECT_TRUE(vm::has_control_character(key)) << key;
  }
  EXPECT_TRUE(vm::has_control_character(std::string("nul\0", 4)));
  for (std::string key : {"", "plain key", "~", "Ünïcödé", "€ 🐧", "\xc2\x80 (U+0080)", "\xff"}) {
    EXPECT_FALSE(vm::has_control_character(key)) << key;
  }
}

TEST_F(ExtraDataVmTest, AKeyWithAControlCharacterGetsNoValue) {
  try {
    vm::set_extradata(st, global, "bad\tkey", "v", site);
    FAIL() << "set";
  } catch (const vm::ApiError& e) {
    EXPECT_STREQ(e.what(), "Code NS_ERROR_INVALID_ARG (0x80070057) - Invalid argument value "
                           "(extended info not available)");
    EXPECT_THAT(e.detail_lines(),
                ElementsAre("Context: \"SetExtraData(Bstr(a->argv[1]).raw(), "
                            "Bstr(a->argv[2]).raw())\" at line 1390 of file VBoxManageMisc.cpp"));
    EXPECT_EQ(e.exit_code(), 1);
  }
  EXPECT_THROW(vm::set_extradata(st, vm1, "nl\n", "v"), vm::ApiError);
  EXPECT_THAT(vm::get_extradata_keys(st, global), IsEmpty());
  EXPECT_THAT(vm::get_extradata_keys(st, vm1), IsEmpty());
}

TEST_F(ExtraDataVmTest, WithoutACallSiteThereIsNoContextLine) {
  try {
    vm::set_extradata(st, global, "bad\tkey", "v");
    FAIL() << "set";
  } catch (const vm::ApiError& e) {
    EXPECT_THAT(e.detail_lines(), IsEmpty());
  }
}

TEST_F(ExtraDataVmTest, AKeyWithAControlCharacterMayBeDeleted) {
  // Only a non-empty value is checked: deleting is always allowed (and a no-op here, as such a
  // key can never have been set).
  EXPECT_FALSE(vm::set_extradata(st, global, "bad\tkey", std::nullopt, site));
  EXPECT_FALSE(vm::set_extradata(st, global, "bad\tkey", "", site));
  // A control character in the value is fine.
  EXPECT_TRUE(vm::set_extradata(st, global, "key", "tab\tand\nnewline", site));
  EXPECT_EQ(vm::get_extradata(st, global, "key"), "tab\tand\nnewline");
}

TEST_F(ExtraDataVmTest, GetSetEnumerate) {
  EXPECT_EQ(vm::get_extradata(st, vm1, "VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax"),
            std::nullopt);
  vm::set_extradata(st, vm1, "VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax", "2048");
  vm::set_extradata(st, vm1, "VBoxKVM/Balloon/x", "y");
  vm::set_extradata(st, global, "VBoxInternal/Guest/BalloonEnabled", "1");
  EXPECT_EQ(vm::get_extradata(st, vm1, "VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax"),
            "2048");
  EXPECT_THAT(
      vm::get_extradata_keys(st, vm1),
      ElementsAre("VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax", "VBoxKVM/Balloon/x"));
  EXPECT_THAT(vm::enumerate_extradata(st, global),
              ElementsAre(Pair("VBoxInternal/Guest/BalloonEnabled", "1")));
  EXPECT_TRUE(vm::set_extradata(st, vm1, "VBoxKVM/Balloon/x", ""));
  EXPECT_THAT(vm::get_extradata_keys(st, vm1),
              ElementsAre("VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax"));
}

TEST_F(ExtraDataVmTest, OddKeysAndValuesRoundTrip) {
  for (const auto& key : k_odd) {
    bool control = vm::has_control_character(key);
    for (const auto& value : k_odd) {
      if (control) {
        EXPECT_THROW(vm::set_extradata(st, vm1, key, value), vm::ApiError);
        continue;
      }
      vm::set_extradata(st, vm1, key, value);
      EXPECT_EQ(vm::get_extradata(st, vm1, key), value);
    }
  }
}

TEST_F(ExtraDataVmTest, ScopesOfVms) {
  FakeHypervisor hv;
  auto ref = hv.add("web01", "00000000-0000-4000-8000-000000000001").ref;
  auto scope = vm::ExtraDataScope::machine(hv, ref);
  EXPECT_EQ(scope.key.host, "fakehost");
  EXPECT_EQ(scope.key.uuid, "00000000-0000-4000-8000-000000000001");
  EXPECT_FALSE(scope.is_global());
  EXPECT_TRUE(global.is_global());
  EXPECT_THROW(vm::ExtraDataScope::machine("h", ""), std::invalid_argument);
}

// cli/: getextradata and setextradata on the fake host.

struct ExtraDataCliTest : CliTest {
  ExtraDataCliTest() {
    hv.add("off1", "00000000-0000-4000-8000-000000000001");
    hv.add("run1", "00000000-0000-4000-8000-000000000002");
    hv.run("run1");
    hv.add("global", "00000000-0000-4000-8000-000000000003");
  }
  std::optional<std::string> stored(const std::string& uuid, const std::string& key) {
    return st.extradata().get({uuid.empty() ? "" : "fakehost", uuid}, key);
  }
};

constexpr std::string_view k_get_usage =
    "Usage - View keyword values that are associated with a virtual machine or configuration:\n"
    "\n"
    "  VBoxManage getextradata <global | uuid | vmname> keyword | enumerate\n";
constexpr std::string_view k_set_usage =
    "Usage - Set a keyword value that is associated with a virtual machine or configuration:\n"
    "\n"
    "  VBoxManage setextradata <global | uuid | vmname> <keyword> [value]\n";

TEST_F(ExtraDataCliTest, NoArgumentsIsTheBriefUsageExit1) {
  EXPECT_EQ(run("getextradata"), 1);
  EXPECT_EQ(out.stdout_text, k_get_usage);
  EXPECT_EQ(run("setextradata"), 1);
  EXPECT_EQ(out.stdout_text, k_set_usage);
  EXPECT_EQ(out.stderr_text, "");
}

TEST_F(ExtraDataCliTest, WordCountsAreSyntaxErrorsExit2) {
  EXPECT_EQ(run("getextradata off1 k extra"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("\nVBoxManage: error: Incorrect number of parameters\n\n" +
                                         std::string(k_get_usage)));
  EXPECT_THAT(out.stderr_text, testing::StartsWith("vboxkvm Command Line Management Interface"));
  EXPECT_EQ(run("setextradata off1"), 2);
  EXPECT_THAT(out.stderr_text,
              HasSubstr("error: Not enough parameters\n\n" + std::string(k_set_usage)));
  EXPECT_EQ(run("setextradata global k v extra"), 2);
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Too many parameters\n\nUsage - Set"));
  EXPECT_THAT(uris_seen, IsEmpty()) << "no VM to find";
  EXPECT_EQ(out.stdout_text, "");
}

TEST_F(ExtraDataCliTest, SetextradataFindsTheVmBeforeCountingWords) {
  EXPECT_EQ(run("setextradata off1 k v extra"), 2);
  EXPECT_THAT(first_err_line(), HasSubstr("Interface Version"));
  EXPECT_THAT(out.stderr_text, HasSubstr("error: Too many parameters"));
  EXPECT_EQ(run("setextradata nosuch k v extra"), 1);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: Could not find a registered machine named 'nosuch'\n"
            "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component "
            "VirtualBoxWrap, interface IVirtualBox, callee nsISupports\n"
            "VBoxManage: error: Context: \"FindMachine(Bstr(a->argv[0]).raw(), "
            "machine.asOutParam())\" at line 1398 of file VBoxManageMisc.cpp\n");
  EXPECT_EQ(stored("00000000-0000-4000-8000-000000000001", "k"), std::nullopt);
}

TEST_F(ExtraDataCliTest, UnknownVmIsTheFindMachineFrameExit1) {
  EXPECT_EQ(run("getextradata nosuch k"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("\" at line 1338 of file VBoxManageMisc.cpp\n"));
  EXPECT_EQ(run("getextradata 00000000-0000-4000-8000-00000000000f"), 1);
  EXPECT_THAT(first_err_line(), HasSubstr("Could not find a registered machine with UUID "
                                          "{00000000-0000-4000-8000-00000000000f}"));
  EXPECT_EQ(run("setextradata nosuch k v"), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("\" at line 1398 of file VBoxManageMisc.cpp\n"));
  EXPECT_EQ(out.stdout_text, "");
}

TEST_F(ExtraDataCliTest, SetGetEnumerateDelete) {
  EXPECT_EQ(run("getextradata off1 installdate"), 0);
  EXPECT_EQ(out.stdout_text, "No value set!\n");
  EXPECT_EQ(run("setextradata off1 installdate 2006.01.01"), 0);
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
  EXPECT_EQ(run("getextradata off1 installdate"), 0);
  EXPECT_EQ(out.stdout_text, "Value: 2006.01.01\n");
  EXPECT_EQ(stored("00000000-0000-4000-8000-000000000001", "installdate"), "2006.01.01");
  EXPECT_EQ(run("setextradata {00000000-0000-4000-8000-000000000001} Zeta last"), 0);
  EXPECT_EQ(run("getextradata off1"), 0);
  EXPECT_EQ(out.stdout_text, "Key: Zeta, Value: last\nKey: installdate, Value: 2006.01.01\n");
  EXPECT_EQ(run("getextradata off1 enumerate"), 0);
  EXPECT_EQ(out.stdout_text, "Key: Zeta, Value: last\nKey: installdate, Value: 2006.01.01\n");
  EXPECT_EQ(run("setextradata off1 installdate"), 0);
  EXPECT_EQ(run_args({"setextradata", "off1", "Zeta", ""}), 0);
  EXPECT_EQ(run("getextradata off1 enumerate"), 0);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(run("setextradata off1 never-set"), 0) << "deleting a missing key";
  EXPECT_EQ(out.stdout_text + out.stderr_text, "");
}

TEST_F(ExtraDataCliTest, GlobalIsTheGlobalScopeEvenWithAVmOfThatName) {
  EXPECT_EQ(run("setextradata global VBoxInternal/Guest/BalloonEnabled 1"), 0);
  EXPECT_EQ(stored("", "VBoxInternal/Guest/BalloonEnabled"), "1");
  EXPECT_EQ(run("getextradata global"), 0);
  EXPECT_EQ(out.stdout_text, "Key: VBoxInternal/Guest/BalloonEnabled, Value: 1\n");
  EXPECT_THAT(uris_seen, IsEmpty()) << "the global scope needs no libvirt";
  // The VM named "global" by its UUID.
  EXPECT_EQ(run("getextradata 00000000-0000-4000-8000-000000000003"), 0);
  EXPECT_EQ(out.stdout_text, "");
  EXPECT_EQ(run("getextradata off1 VBoxInternal/Guest/BalloonEnabled"), 0);
  EXPECT_EQ(out.stdout_text, "No value set!\n");
}

TEST_F(ExtraDataCliTest, ARunningVmsExtraDataIsSetToo) {
  hv.calls.clear();
  EXPECT_EQ(run("setextradata run1 VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax 2048"), 0);
  EXPECT_EQ(stored("00000000-0000-4000-8000-000000000002",
                   "VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax"),
            "2048");
  EXPECT_THAT(hv.calls, IsEmpty()) << "nothing in libvirt changes";
}

TEST_F(ExtraDataCliTest, OddValuesArePrintedAsGiven) {
  EXPECT_EQ(run_args({"setextradata", "off1", "it's %s {}", "two\nlines 'q' \"dq\" ✓"}), 0);
  EXPECT_EQ(run_args({"getextradata", "off1", "it's %s {}"}), 0);
  EXPECT_EQ(out.stdout_text, "Value: two\nlines 'q' \"dq\" ✓\n");
  EXPECT_EQ(run("getextradata off1"), 0);
  EXPECT_EQ(out.stdout_text, "Key: it's %s {}, Value: two\nlines 'q' \"dq\" ✓\n");
}

TEST_F(ExtraDataCliTest, AControlCharacterInAKeyIsABareInvalidArgExit1) {
  EXPECT_EQ(run_args({"setextradata", "global", "bad\tkey", "v"}), 1);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: Code NS_ERROR_INVALID_ARG (0x80070057) - Invalid argument value "
            "(extended info not available)\n"
            "VBoxManage: error: Context: \"SetExtraData(Bstr(a->argv[1]).raw(), "
            "Bstr(a->argv[2]).raw())\" at line 1390 of file VBoxManageMisc.cpp\n");
  EXPECT_EQ(run_args({"setextradata", "off1", "bad\x7fkey", "v"}), 1);
  EXPECT_THAT(out.stderr_text, HasSubstr("\" at line 1412 of file VBoxManageMisc.cpp\n"));
  EXPECT_EQ(run_args({"setextradata", "off1", "bad\x7fkey"}), 0) << "deleting is allowed";
  EXPECT_EQ(run_args({"getextradata", "off1", "bad\tkey"}), 0) << "reading too";
  EXPECT_EQ(out.stdout_text, "No value set!\n");
}

TEST_F(ExtraDataCliTest, HelpIsTheFullHelpExit1) {
  EXPECT_EQ(run("help getextradata"), 1);
  EXPECT_THAT(out.stdout_text, HasSubstr(std::string(k_get_usage) + "\nArguments:\n"));
  EXPECT_EQ(run("help setextradata"), 1);
  EXPECT_THAT(out.stdout_text, HasSubstr(std::string(k_set_usage) + "\nArguments:\n"));
}

} // namespace
} // namespace vbm::test
