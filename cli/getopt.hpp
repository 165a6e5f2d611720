#pragma once
// A re-implementation of the parts of IPRT's RTGetOpt that VBoxManage's grammar depends on
// (spec §1.3-§1.4): `--opt value`, `--opt=value`, `--opt:value`, case-sensitive names, values
// taken even when they start with '-', `--` ending options, strict uint32 and on/off values, and
// VirtualBox's error wording. CLI11 cannot express these, and scripts depend on every one.

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::cli {

enum class ArgKind { None, String, UInt32, OnOff };

struct OptDef {
  std::string_view name; ///< as typed, dashes included: "--memory", "-l", "-details"
  int id;                ///< what next() reports for it
  ArgKind kind;
  /// The words its value may be (completion, __dump-cli); on/off ones need none.
  std::span<const std::string_view> values = {};
};

/// One parsed argument. `def` is null for a non-option word (text holds the word).
struct OptItem {
  const OptDef* def = nullptr;
  std::string text;      ///< the value as typed, or the non-option word
  std::uint32_t u32 = 0; ///< for ArgKind::UInt32
  bool on = false;       ///< for ArgKind::OnOff
};

/// A parse failure, worded as errorGetOpt words it ("Unknown option: --x", …).
class GetOptError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class GetOpt {
public:
  GetOpt(std::span<const std::string> args, std::span<const OptDef> defs)
      : m_args(args), m_defs(defs) {}
  /// The next option or word; nullopt at the end. Throws GetOptError.
  std::optional<OptItem> next();

private:
  std::span<const std::string> m_args;
  std::span<const OptDef> m_defs;
  size_t m_pos = 0;
  bool m_options_done = false;
  std::string m_short_rest; ///< the letters left of a compressed short option word (`-ls`)
};

/// The option `arg` names: "--opt", or "--opt=VALUE" / "--opt:VALUE" for one that takes a value
/// (then `inline_value` is set to VALUE). Null when `arg` is no option of `defs`.
const OptDef* match_option(std::string_view arg, std::span<const OptDef> defs,
                           std::optional<std::string_view>* inline_value = nullptr);

/// What IPRT's RTStrToUInt64Ex returned: VINF_SUCCESS or the warning/error it gave.
enum class RtStatus {
  Success,
  NegativeUnsigned,
  NumberTooBig,
  TrailingChars,
  TrailingSpaces,
  NoDigits
};
struct RtNumber {
  std::uint64_t value = 0;
  RtStatus status = RtStatus::Success;
};
/// THE number parser: IPRT's RTStrToUInt64Ex(text, &end, base) (strtonum.cpp). A run of signs
/// before the digits is folded, '+' resetting the sign and '-' flipping it (`--512` and `-+512`
/// are 512; `-512`, `+-512` and `-0` are negative, VWRN_NEGATIVE_UNSIGNED). Base 0 is 0x… hex,
/// 0 and an octal digit octal, else decimal; base 16 skips a 0x prefix.
RtNumber rt_str_to_uint64(std::string_view text, unsigned base);
/// RTStrToUInt32Ex/Full(text, base) == VINF_SUCCESS: the value, or nullopt for any warning.
std::optional<std::uint32_t> rt_str_to_uint32(std::string_view text, unsigned base);

/// RTGetOpt's RTGETOPT_REQ_UINT32: RTStrToUInt32Full(…, 10), then the 0x fallback: "512",
/// "0512", "+512", "--512", "0x200" (modifyvm, balloonctrl).
std::optional<std::uint32_t> parse_uint32_getopt(std::string_view text);
/// RTStrToUInt32Ex(…, 0): auto base, so "0x10" is hex, "0100" octal (64), "08" decimal
/// (controlvm guestmemoryballoon).
std::optional<std::uint32_t> parse_uint32_auto(std::string_view text);
/// RTStrToUInt32Full(…, 10): decimal only (metrics --period/--samples).
std::optional<std::uint32_t> parse_uint32_decimal(std::string_view text);
/// RTGetOptArgvFromString with RTGETOPTARGV_CNV_QUOTE_BOURNE_SH (a response file's words):
/// blanks, tabs, newlines and CRs separate; '…' is literal; "…" takes \" \\ \` \$ and
/// \newline, and any other \x as "x (IPRT's quirk); \x outside quotes is x; no comments, no
/// expansion; an unterminated quote ends at the end of the text; '' is an empty word.
std::vector<std::string> split_bourne_sh(std::string_view text);
/// RTGETOPT_REQ_BOOL_ONOFF: "on"/"off" in any case.
std::optional<bool> parse_on_off(std::string_view text);

} // namespace vbm::cli
