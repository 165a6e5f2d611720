#pragma once
// Usage and help text in VirtualBox's layout (RTMsgRefEntry, spec §1.5).

#include <string>
#include <string_view>
#include <vector>

namespace vbm::cli {

struct CommandHelp {
  std::string_view name;
  std::string_view
      purpose; ///< refpurpose, e.g. "Change settings for a virtual machine that is stopped"
  std::vector<std::string> synopses; ///< each after "<prog> <name> "
  std::string details;               ///< option descriptions for `help <cmd>`
};

/// The three logo lines (the third blank).
std::string logo();
/// `<version>` as `--version` prints it: the VirtualBox version we follow, our own version
/// as the build tag, then the revision, like Debian's "7.0.14_Debianr161095".
std::string version_string();
/// IPRT's width: $IPRT_SCREEN_WIDTH, else the terminal's, else 80.
int screen_width();
/// "Usage - <Purpose>:", blank line, wrapped synopses; with a `scope` (a subcommand such as
/// "guestmemoryballoon"), "Usage:" and only the synopses of that subcommand.
std::string brief_usage(const CommandHelp& help, std::string_view prog, int width,
                        std::string_view scope = {});
/// Word-wraps one synopsis at width − 1: two spaces of indent, six on continuation lines.
std::string wrap_synopsis(std::string_view text, int width);

} // namespace vbm::cli
