#!/bin/bash
# check-man-options.sh BIN MANDIR
#
# Keeps the man pages and the program in step, for every command, from the one table the
# parser and completion read (`BIN __dump-cli`, cli/dump_cli.cpp):
#   - every command has MANDIR/vboxmanage-<cmd>.1.scd, and vboxmanage.1.scd refers to it;
#   - every option of a command and of its subcommands (each "--long" spelling and each
#     one-letter "-x"; VirtualBox's legacy "-word" spellings may be left out), every word its
#     value may be, every subcommand and every keyword (also those that stand where the VM
#     goes, such as getextradata's "global") appears in the command's page;
#   - every --flag a command's page names is an option of that command or a global option;
#   - every global option appears in vboxmanage.1.scd, and every --flag there is a global
#     option or an option of some command.
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 BIN MANDIR" >&2
	exit 2
fi
dump=$(mktemp)
trap 'rm -f "$dump"' EXIT
"$1" __dump-cli >"$dump" || {
	echo "FAIL: '$1 __dump-cli' failed" >&2
	exit 1
}
python3 - "$2" "$dump" <<'EOF'
import json, os, re, sys

mandir = sys.argv[1]
cli = json.load(open(sys.argv[2]))
failed = False

def fail(msg):
    global failed
    failed = True
    print("FAIL: " + msg)

def mentions(text, word):
    return re.search(r"(^|[^\w-])" + re.escape(word) + r"([^\w-]|$)", text) is not None

def long_flags(text):
    return set(re.findall(r"(?<![\w-])(--[A-Za-z][\w-]*[A-Za-z0-9])", text))

def required(opt):  # "--x" spellings and one-letter "-x"; legacy "-word" ones may be left out
    n = opt["name"]
    return n.startswith("--") or len(n) == 2

global_names = {o["name"] for o in cli["global_options"]}
all_names = set(global_names)
for cmd in cli["commands"]:
    name = cmd["name"]
    page = os.path.join(mandir, "vboxmanage-%s.1.scd" % name)
    if not os.path.exists(page):
        fail("%s: no man page %s" % (name, page))
        continue
    text = open(page).read()
    options = list(cmd["options"])
    words = list(cmd["words"]) + list(cmd.get("vm_words", []))
    for sub in cmd["subcommands"]:
        options += sub["options"]
        words += [sub["name"]] + sub["words"]
    names = {o["name"] for o in options}
    all_names |= names
    for o in options:
        words += o.get("values", [])
    missing = sorted({o["name"] for o in options if required(o) and not mentions(text, o["name"])})
    missing += sorted({w for w in words if not mentions(text, w)})
    if missing:
        fail("%s: not in %s: %s" % (name, page, " ".join(missing)))
    extra = sorted(f for f in long_flags(text) if f not in names and f not in global_names)
    if extra:
        fail("%s: %s names options the command does not have: %s" % (name, page, " ".join(extra)))
    if not missing and not extra:
        print("ok: %s (%d option spellings, %d words)" % (name, len(names), len(set(words))))

page = os.path.join(mandir, "vboxmanage.1.scd")
text = open(page).read()
missing = sorted(n for n in global_names if n.startswith("--") or len(n) == 2 if not mentions(text, n))
missing += ["vboxmanage-" + c["name"] for c in cli["commands"] if not mentions(text, "vboxmanage-" + c["name"])]
extra = sorted(f for f in long_flags(text) if f not in all_names)
if missing:
    fail("not in %s: %s" % (page, " ".join(missing)))
if extra:
    fail("%s names options no command has: %s" % (page, " ".join(extra)))
if not missing and not extra:
    print("ok: global (%d option spellings, %d commands)" % (len(global_names), len(cli["commands"])))
sys.exit(1 if failed else 0)
EOF
