#pragma once
// Where all text goes. Commands never touch stdout/stderr directly, so tests can capture both.

#include <string>
#include <string_view>

namespace vbm::cli {

class Output {
public:
  /// `prog` is the program's name as invoked (argv[0]'s file name), used in message prefixes.
  explicit Output(std::string prog) : m_prog(std::move(prog)) {}
  virtual ~Output() = default;
  virtual void out(std::string_view text) = 0;
  virtual void err(std::string_view text) = 0;
  /// Pushes stdout's text out now; false once it cannot be written (a closed pipe).
  virtual bool flush() { return true; }

  const std::string& prog() const { return m_prog; }
  /// `<prog>: error: <line>` on stderr, for every line of `msg` (RTMsgError).
  void error(std::string_view msg);
  /// `<prog>: warning: <line>` on stderr, for every line of `msg` (RTMsgWarning).
  void warning(std::string_view msg);

private:
  void prefixed(std::string_view kind, std::string_view msg);
  std::string m_prog;
};

/// The process's real stdout and stderr.
class StdOutput final : public Output {
public:
  using Output::Output;
  void out(std::string_view text) override;
  void err(std::string_view text) override;
  bool flush() override;
  /// At exit: flushes stdout and returns why what was written to it was lost ("" if it was
  /// not): a write error, or a stdout that was closed when the program started. A reader that
  /// went away (EPIPE: `| head`) is not an error.
  std::string finish(bool stdout_was_closed);

private:
  bool m_wrote = false;
  int m_errno = 0; ///< the first write error
};

/// Captures both streams in strings (tests).
class StringOutput final : public Output {
public:
  StringOutput() : Output("VBoxManage") {}
  void out(std::string_view text) override { stdout_text += text; }
  void err(std::string_view text) override { stderr_text += text; }
  std::string stdout_text;
  std::string stderr_text;
};

} // namespace vbm::cli
