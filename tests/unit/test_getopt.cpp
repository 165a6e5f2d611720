// The RTGetOpt re-implementation (spec §1.3-§1.4) and UUID parsing (§1.6).

#include "backend/hypervisor.hpp"
#include "cli/getopt.hpp"
#include "cli/usage.hpp"

#include <gtest/gtest.h>

namespace vbm::test {
namespace {

using cli::ArgKind;
using cli::GetOpt;
using cli::GetOptError;
using cli::OptDef;

constexpr OptDef k_defs[] = {
    {"--num", 1, ArgKind::UInt32},
    {"--flag", 2, ArgKind::OnOff},
    {"--str", 3, ArgKind::String},
    {"-l", 4, ArgKind::None},
};

std::vector<cli::OptItem> parse(std::vector<std::string> args) {
  GetOpt g(args, k_defs);
  std::vector<cli::OptItem> out;
  while (auto i = g.next()) {
    out.push_back(*i);
  }
  return out;
}

std::string error_of(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const GetOptError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(GetOpt, ValueFormsAndOrder) {
  auto items = parse({"--num", "5", "--num=6", "--num:7", "word", "-l", "--str", "-x"});
  ASSERT_EQ(items.size(), 6u);
  EXPECT_EQ(items[0].u32, 5u);
  EXPECT_EQ(items[1].u32, 6u);
  EXPECT_EQ(items[2].u32, 7u);
  EXPECT_EQ(items[3].def, nullptr);
  EXPECT_EQ(items[3].text, "word");
  EXPECT_EQ(items[4].def->id, 4);
  EXPECT_EQ(items[5].text, "-x"); // the next word is the value even when it starts with '-'
}

TEST(GetOpt, DoubleDashEndsOptions) {
  auto items = parse({"--", "--num", "-l"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].def, nullptr);
  EXPECT_EQ(items[0].text, "--num");
}

TEST(GetOpt, Errors) {
  EXPECT_EQ(error_of({"--nope"}), "Unknown option: --nope");
  EXPECT_EQ(error_of({"--Num", "1"}), "Unknown option: --Num"); // case-sensitive names
  EXPECT_EQ(error_of({"--nu", "1"}), "Unknown option: --nu");   // no abbreviations
  EXPECT_EQ(error_of({"--flag", "yes"}), "Unknown option: yes");
  EXPECT_EQ(error_of({"--num"}), "--num: RTGetOpt: Command line option needs argument.");
  EXPECT_EQ(error_of({"--num", "12x"}), "Invalid argument format: 12x");
  // RTGetOpt's compressed short options: `-l=3` is -l, then the unknown "option" =3.
  EXPECT_EQ(error_of({"-l=3"}), "Unknown option: =3");
  EXPECT_EQ(error_of({"-lx"}), "Unknown option: x");
  EXPECT_EQ(error_of({"-x"}), "Unknown option: -x");
}

constexpr OptDef k_short_defs[] = {
    {"-a", 1, ArgKind::None},
    {"-b", 2, ArgKind::None},
    {"-n", 3, ArgKind::UInt32},
    {"-details", 4, ArgKind::None},
};

std::vector<int> ids_of(std::vector<std::string> args, std::vector<std::uint32_t>* nums = nullptr) {
  GetOpt g(args, k_short_defs);
  std::vector<int> ids;
  while (auto i = g.next()) {
    ids.push_back(i->def ? i->def->id : 0);
    if (nums && i->def && i->def->kind == ArgKind::UInt32) {
      nums->push_back(i->u32);
    }
  }
  return ids;
}

TEST(GetOpt, CompressedShortOptions) {
  // RTGetOpt (getopt.cpp): a long match first, then `-xyz` as -x -y -z; a short option that
  // takes a value takes the rest of the word (after one ':' or '='), or the next word.
  EXPECT_EQ(ids_of({"-ab"}), (std::vector<int>{1, 2}));
  EXPECT_EQ(ids_of({"-ba", "-a"}), (std::vector<int>{2, 1, 1}));
  EXPECT_EQ(ids_of({"-details"}), (std::vector<int>{4})); // not -d -e -t …
  std::vector<std::uint32_t> nums;
  EXPECT_EQ(ids_of({"-an5", "-n=6", "-n:7", "-n", "8", "-an", "9"}, &nums),
            (std::vector<int>{1, 3, 3, 3, 3, 1, 3}));
  EXPECT_EQ(nums, (std::vector<std::uint32_t>{5, 6, 7, 8, 9}));
}

TEST(GetOpt, AShortOptionWithoutItsValueIsNamedByItsLongName) {
  // errorGetOpt prints RTGETOPTDEF::pszLong: `showvminfo VM -l` says `--log: …`; a long
  // spelling of its own (modifyvm's --largepages) is named as typed.
  constexpr OptDef defs[] = {{"--log", 1, ArgKind::UInt32},
                             {"-l", 1, ArgKind::UInt32},
                             {"--largepages", 2, ArgKind::String}};
  auto error = [&](std::vector<std::string> args) {
    GetOpt g(args, defs);
    try {
      while (g.next()) {
      }
    } catch (const GetOptError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(error({"-l"}), "--log: RTGetOpt: Command line option needs argument.");
  EXPECT_EQ(error({"--largepages"}), "--largepages: RTGetOpt: Command line option needs argument.");
}

TEST(GetOpt, SignRunsFoldAsIprtDoes) {
  // RTStrToUInt64Ex (strtonum.cpp): '+' resets the sign, '-' flips it; a negative value is
  // VWRN_NEGATIVE_UNSIGNED, which every VBoxManage caller refuses (even -0).
  for (const char* ok : {"--512", "-+512", "+--512", "++512", "----512", "+-+512"}) {
    EXPECT_EQ(cli::parse_uint32_getopt(ok), 512u) << ok;
    EXPECT_EQ(cli::parse_uint32_auto(ok), 512u) << ok;
    EXPECT_EQ(cli::parse_uint32_decimal(ok), 512u) << ok;
  }
  for (const char* neg : {"-512", "+-512", "---512", "-0", "-+-0", "-"}) {
    EXPECT_FALSE(cli::parse_uint32_getopt(neg).has_value()) << neg;
    EXPECT_FALSE(cli::parse_uint32_auto(neg).has_value()) << neg;
    EXPECT_FALSE(cli::parse_uint32_decimal(neg).has_value()) << neg;
  }
  EXPECT_EQ(cli::rt_str_to_uint64("+-512", 10).status, cli::RtStatus::NegativeUnsigned);
  EXPECT_EQ(cli::rt_str_to_uint64("--", 10).status, cli::RtStatus::NoDigits);
  EXPECT_EQ(cli::rt_str_to_uint64("12 ", 10).status, cli::RtStatus::TrailingSpaces);
  EXPECT_EQ(cli::rt_str_to_uint64("12MB", 10).status, cli::RtStatus::TrailingChars);
  EXPECT_EQ(cli::rt_str_to_uint64("99999999999999999999", 10).status, cli::RtStatus::NumberTooBig);
  // Signs before 0x: base 0 reads hex after the signs; RTGetOpt's 0x fallback needs the raw
  // text to start with "0x".
  EXPECT_EQ(cli::parse_uint32_auto("--0x10"), 16u);
  EXPECT_FALSE(cli::parse_uint32_getopt("--0x10").has_value());
  EXPECT_FALSE(cli::parse_uint32_decimal("0x10").has_value());
  EXPECT_EQ(cli::parse_uint32_auto("-+0100"), 64u);
}

TEST(GetOpt, Uint32Rules) {
  EXPECT_EQ(cli::parse_uint32_getopt("512"), 512u);
  EXPECT_EQ(cli::parse_uint32_getopt("0512"), 512u);
  EXPECT_EQ(cli::parse_uint32_getopt("+512"), 512u);
  EXPECT_EQ(cli::parse_uint32_getopt("++512"), 512u);
  EXPECT_EQ(cli::parse_uint32_getopt("0x200"), 512u);
  EXPECT_EQ(cli::parse_uint32_getopt("0X200"), 512u);
  EXPECT_EQ(cli::parse_uint32_getopt("4294967295"), 4294967295u);
  for (const char* bad : {"", "-1", "512MB", "512 ", " 512", "4294967296", "+0x200", "1e3", "0x"}) {
    EXPECT_FALSE(cli::parse_uint32_getopt(bad).has_value()) << bad;
  }
}

TEST(GetOpt, OnOffAnyCase) {
  EXPECT_EQ(cli::parse_on_off("ON"), true);
  EXPECT_EQ(cli::parse_on_off("Off"), false);
  EXPECT_FALSE(cli::parse_on_off("1").has_value());
  EXPECT_FALSE(cli::parse_on_off("true").has_value());
}

TEST(ResponseFile, BourneShellSplitting) {
  // RTGetOptArgvFromString(…, RTGETOPTARGV_CNV_QUOTE_BOURNE_SH, NULL) (getoptargv.cpp).
  using V = std::vector<std::string>;
  EXPECT_EQ(cli::split_bourne_sh("  list\t-l \r\n vms\n"), (V{"list", "-l", "vms"}));
  EXPECT_EQ(cli::split_bourne_sh("'a b' \"c d\" e\\ f"), (V{"a b", "c d", "e f"}));
  EXPECT_EQ(cli::split_bourne_sh("'it''s' '' x"), (V{"its", "", "x"}));
  EXPECT_EQ(cli::split_bourne_sh("'$x \\n'"), (V{"$x \\n"}));                 // '…' is literal
  EXPECT_EQ(cli::split_bourne_sh("\"\\\" \\\\ \\$ \\`\""), (V{"\" \\ $ `"})); // "\"" etc.
  EXPECT_EQ(cli::split_bourne_sh("\"a\\nb\""), (V{"a\"nb"})); // IPRT's quirk: \n in "…" is "n
  EXPECT_EQ(cli::split_bourne_sh("# not a comment"), (V{"#", "not", "a", "comment"}));
  EXPECT_EQ(cli::split_bourne_sh("\"unterminated  x"), (V{"unterminated  x"}));
  EXPECT_EQ(cli::split_bourne_sh("a\\"), (V{"a"}));
  EXPECT_EQ(cli::split_bourne_sh(""), V{});
  EXPECT_EQ(cli::split_bourne_sh("a b"), (V{"a", "b"}));
}

TEST(Uuid, ShapesAndNil) {
  EXPECT_EQ(backend::parse_uuid("{6EBC2119-DE35-467B-A695-047EB2E424F5}"),
            "6ebc2119-de35-467b-a695-047eb2e424f5");
  EXPECT_EQ(backend::parse_uuid("6ebc2119-de35-467b-a695-047eb2e424f5"),
            "6ebc2119-de35-467b-a695-047eb2e424f5");
  EXPECT_FALSE(backend::parse_uuid("00000000-0000-0000-0000-000000000000").has_value());
  EXPECT_FALSE(backend::parse_uuid("{6ebc2119-de35-467b-a695-047eb2e424f5").has_value());
  EXPECT_FALSE(backend::parse_uuid("6ebc2119de35467ba695047eb2e424f5").has_value());
  EXPECT_FALSE(backend::parse_uuid("my-vm").has_value());
}

TEST(Usage, WrapsLikeIprtAt79Columns) {
  // The spec's rendering of metrics setup at 80 columns (§1.5).
  EXPECT_EQ(cli::wrap_synopsis("VBoxManage metrics setup [--list] [--period seconds] [--samples "
                               "count] [* | host | vmname metric-list]",
                               80),
            "  VBoxManage metrics setup [--list] [--period seconds] [--samples count] [* |\n"
            "      host | vmname metric-list]\n");
  EXPECT_EQ(cli::wrap_synopsis("VBoxManage metrics collect [--detach] [--list] [--period=seconds] "
                               "[--samples=count] [* | host | vmname metric-list]",
                               80),
            "  VBoxManage metrics collect [--detach] [--list] [--period=seconds]\n"
            "      [--samples=count] [* | host | vmname metric-list]\n");
}

} // namespace
} // namespace vbm::test
