#pragma once
// Files in directories that matter for security: the settings store (a user's), /run/vboxkvm and
// /etc/vboxkvm (root's), and the Prometheus textfile directory (often another user's). Every file
// vboxmanage writes there is opened without following symlinks, and new files are created
// exclusively, so a planted symlink never makes vboxmanage write where someone else chooses.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace vbm::sys {

/// A whole (small) file, e.g. under /proc or /sys; nullopt when it cannot be read (errno says
/// why). `follow`: false refuses a symlink (the file is someone else's to plant).
std::optional<std::string> read_text_file(const std::filesystem::path& path, bool follow = true);

/// Replaces `path` with `text` so that a reader never sees half of it: a new temporary file
/// beside it (created exclusively: never an existing file or a symlink), then rename. `durable`:
/// fsync the file and its directory first. Throws vbm::Error naming the file.
void write_file_atomic(const std::filesystem::path& path, const std::string& text, unsigned mode,
                       bool durable);

/// Opens (creating it if missing, with `mode` whatever the umask) a file in a directory we own,
/// never through a symlink and only if it is a regular file. `flags` as open(2) (O_RDWR,
/// O_APPEND, …); O_CREAT, O_NOFOLLOW and O_CLOEXEC are added. Returns the descriptor; throws
/// vbm::Error naming the file, as `what` if given ("cannot open settings store '…': …").
int open_private_file(const std::filesystem::path& path, int flags, unsigned mode,
                      std::string_view what = {});

/// Who may write a directory.
enum class DirRule {
  /// Ours alone: owned by the effective user, no group or other write. The settings store, or
  /// root's /run/vboxkvm and /etc/vboxkvm (owned by root).
  Private,
  /// Writable by nobody but us and root: owned by us or root, no group or other write. A
  /// directory we write into for another program (node_exporter's textfile directory).
  OnlyUsAndRoot,
};

/// Creates the missing levels of `dir` with `mode` (whatever the umask), then checks `dir`
/// against `rule`. `what` names it in the message ("settings store directory"). Throws
/// vbm::Error with one line naming the directory, what is wrong and the fix.
void prepare_dir(const std::filesystem::path& dir, unsigned mode, DirRule rule,
                 const std::string& what);
/// Checks an existing `dir` against `rule` (as prepare_dir, without creating anything).
void check_dir(const std::filesystem::path& dir, DirRule rule, const std::string& what);

} // namespace vbm::sys
