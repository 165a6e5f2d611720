#!/bin/bash
# check-man-options.sh BIN MANDIR
#
# Keeps the man pages and the built-in help in step:
#   - every flag (--long or -x) that `BIN help <cmd>` prints, in its synopsis or its
#     Options section, must appear in MANDIR/vboxmanage-<cmd>.1.scd;
#   - every keyword of the synopses of `BIN help <cmd>` (a subcommand such as controlvm's
#     guestmemoryballoon or poweroff, a list type, a value such as on/off or headless)
#     must appear in vboxmanage-<cmd>.1.scd;
#   - every --flag in vboxmanage-<cmd>.1.scd must be one `BIN help <cmd>` prints, or a
#     global option (examples may use --connect);
#   - every global option (the global synopsis and the "Global options:" section of
#     `BIN help`) must appear in MANDIR/vboxmanage.1.scd, and every --flag there must be
#     a global option or an option of some command.
# `BIN help <cmd>` exits 1 by design (VirtualBox does that); that is not a failure here.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 BIN MANDIR" >&2
	exit 2
fi
bin=$1
mandir=$2
export IPRT_SCREEN_WIDTH=200 # one synopsis per line, whatever the terminal
export LC_ALL=C

# Flags in the text on stdin, one per line, sorted and unique: split the text at every
# character other than alphanumerics, '-' and '?', keep "--word" and "-x" tokens. So "64-bit"
# and "size-in-MB" are not flags, and "[-V|--version]" gives -V and --version.
flags() {
	tr -c '[:alnum:]?-' '\n' | grep -E '^(--[[:alpha:]]([[:alnum:]-]*[[:alnum:]])?|-[[:alpha:]?])$' |
		sort -u || true
}
long_flags() { flags | grep -E '^--' || true; }

# Keywords of the synopses of `help CMD` (text on stdin, program name PROG): the lowercase
# words of the "  PROG CMD ..." lines once <placeholders> and --option[=value] tokens are
# gone. "[--type= gui | headless ]" gives gui and headless; "<balloon-size>" gives nothing.
keywords() { # keywords PROG CMD
	awk -v prog="$1" -v cmd="$2" '$1 == prog && $2 == cmd {
		$1 = ""; $2 = ""
		gsub(/<[^>]*>/, " ")
		gsub(/--?[[:alnum:]-]+(=[^] |]*)?/, " ")
		gsub(/[][|.]/, " ")
		for (i = 1; i <= NF; i++) if ($i ~ /^[a-z][a-z0-9]*$/) print $i
	}' | sort -u
}

# Does FILE mention FLAG as a whole word?
mentions() {
	local re
	re=$(printf '%s' "$2" | sed 's/[?]/[?]/g')
	grep -qE -- "(^|[^[:alnum:]-])${re}([^[:alnum:]-]|\$)" "$1"
}

help_of() { # help_of [cmd]: the help text; exit codes 0 and 1 are both normal
	local out rc
	out=$("$bin" help "$@" 2>&1)
	rc=$?
	if [ "$rc" -gt 1 ]; then
		echo "FAIL: '$bin help $*' exited $rc" >&2
		return 1
	fi
	printf '%s\n' "$out"
}

failed=0
fail() {
	echo "FAIL: $*" >&2
	failed=1
}

global_help=$(help_of) || exit 1
# The first paragraph after the "Usage" line is the global synopsis; then the
# "Global options:" section up to the next blank line.
global=$(printf '%s\n' "$global_help" | awk '
	/^Usage/ { in_usage = 1; next }
	in_usage == 1 && /^$/ { in_usage = 2; next }
	in_usage == 2 { if (/^$/) in_usage = 3; else print }
	/^Global options:/ { in_opts = 1; next }
	in_opts { if (/^$/) in_opts = 0; else print }
' | flags)
if [ -z "$global" ]; then
	fail "no global options found in '$bin help'"
fi

# Commands: the word after the program name in each synopsis of `help`; the program name
# is the first word of the global synopsis.
prog=$(printf '%s\n' "$global_help" | awk '
	/^Usage/ { in_usage = 1; next }
	in_usage && /^  [^ ]/ { print $1; exit }
')
commands=$(printf '%s\n' "$global_help" | awk '
	/^Usage/ { in_usage = 1; next }
	in_usage && prog == "" && /^  [^ ]/ { prog = $1; next }
	prog != "" && $1 == prog && $2 !~ /^\[/ { print $2 }
' | sort -u)
if [ -z "$commands" ]; then
	fail "no commands found in '$bin help'"
fi

all_cmd_flags=""
for cmd in $commands; do
	page="$mandir/vboxmanage-$cmd.1.scd"
	if [ ! -f "$page" ]; then
		fail "$cmd: no man page $page"
		continue
	fi
	text=$(help_of "$cmd") || {
		failed=1
		continue
	}
	cmd_flags=$(printf '%s\n' "$text" | flags)
	all_cmd_flags=$(printf '%s\n%s\n' "$all_cmd_flags" "$cmd_flags")
	missing=""
	for f in $cmd_flags; do
		mentions "$page" "$f" || missing="$missing $f"
	done
	[ -z "$missing" ] || fail "$cmd: in '$bin help $cmd' but not in $page:$missing"
	words=$(printf '%s\n' "$text" | keywords "$prog" "$cmd")
	nowords=""
	for w in $words; do
		mentions "$page" "$w" || nowords="$nowords $w"
	done
	[ -z "$nowords" ] || fail "$cmd: keywords of '$bin help $cmd' not in $page:$nowords"
	missing="$missing$nowords"
	extra=""
	for f in $(long_flags <"$page"); do
		printf '%s\n%s\n' "$cmd_flags" "$global" | grep -qxF -- "$f" || extra="$extra $f"
	done
	[ -z "$extra" ] || fail "$cmd: in $page but not in '$bin help $cmd':$extra"
	[ -n "$missing$extra" ] ||
		echo "ok: $cmd ($(printf '%s\n' "$cmd_flags" | grep -c .) flags," \
			"$(printf '%s\n' "$words" | grep -c .) keywords)"
done

page="$mandir/vboxmanage.1.scd"
if [ -f "$page" ]; then
	missing=""
	for f in $global; do
		mentions "$page" "$f" || missing="$missing $f"
	done
	[ -z "$missing" ] || fail "global options not in $page:$missing"
	extra=""
	for f in $(long_flags <"$page"); do
		printf '%s\n%s\n' "$global" "$all_cmd_flags" | grep -qxF -- "$f" || extra="$extra $f"
	done
	[ -z "$extra" ] || fail "in $page but not an option of '$bin help':$extra"
	for cmd in $commands; do
		mentions "$page" "vboxmanage-$cmd" || {
			fail "$page does not refer to vboxmanage-$cmd(1)"
			extra="$extra vboxmanage-$cmd"
		}
	done
	[ -n "$missing$extra" ] || echo "ok: global ($(printf '%s\n' "$global" | wc -w) flags)"
else
	fail "no man page $page"
fi

exit "$failed"
