#!/usr/bin/env python3
"""The man pages against what they describe, so that they cannot drift.

usage: man_pages.py render|cli|daemon|dbus

  render  each built page (L2WG_BUILD_DIR/doc) renders with `man --warnings -l` and
          `groff -ww -z` without a single warning
  cli     every subcommand, flag and exit status of the built l2wg (`l2wg --help` and
          `l2wg SUB --help`) is in l2wg(8), and every flag l2wg(8) names is a real one
  daemon  every option, log level and handled signal of the built l2wgd (`l2wgd --help`,
          daemon/main.cpp) is in l2wgd(8), and every option l2wgd(8) names is a real one
  dbus    every interface, method (with its arguments), signal, property (with its type and
          access) and error of dbus/net.l2wg1.xml is in l2wg-dbus(7), and the page names no
          member or error that is not there

Environment: L2WG_BUILD_DIR, L2WG_SOURCE_DIR (as the other tests get them).
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

SOURCE = os.environ.get("L2WG_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
BUILD = os.environ.get("L2WG_BUILD_DIR", "")
PAGES = ["l2wg.8", "l2wgd.8", "l2wg.conf.5", "l2wg-dbus.7"]

failures = []


def fail(what):
    failures.append(what)
    print("FAIL: " + what)


def page_source(page):
    with open(os.path.join(SOURCE, "doc", page + ".scd"), encoding="utf-8") as f:
        return f.read()


def sections(text):
    """scdoc '# HEADING' -> the lines under it (up to the next '# ')."""
    out, current = {}, None
    for line in text.splitlines():
        if line.startswith("# "):
            current = line[2:].strip()
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return result.returncode, result.stdout, result.stderr


def need_build():
    if not BUILD:
        sys.exit("man_pages.py: L2WG_BUILD_DIR is not set")


def check_render():
    need_build()
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    for page in PAGES:
        path = os.path.join(BUILD, "doc", page)
        if not os.path.isfile(path):
            fail(f"{path} was not built: is scdoc installed (scripts/deps.sh)? "
                 "Build the target l2wg_man")
            continue
        result = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", path],
                                capture_output=True, text=True, env=env, timeout=30)
        if result.returncode != 0 or result.stderr.strip():
            fail(f"man --warnings -l {page}: status {result.returncode}\n{result.stderr}")
        if len(result.stdout.splitlines()) < 20:
            fail(f"man -l {page} rendered almost nothing:\n{result.stdout}")
        # Leftover markup: scdoc turns *x* and _x_ into fonts; a stray one shows as text.
        for number, line in enumerate(result.stdout.splitlines(), 1):
            if re.search(r"\*[A-Za-z-]+\*", line):
                fail(f"{page}: rendered line {number} shows scdoc markup: {line.strip()}")
        result = subprocess.run(["groff", "-ww", "-z", "-t", "-man", path],
                                capture_output=True, text=True, env=env, timeout=30)
        if result.returncode != 0 or result.stderr.strip():
            fail(f"groff -ww -z {page}: status {result.returncode}\n{result.stderr}")
        print(f"ok: {page} renders without warnings")


def help_options(text):
    """The long options (and -h) of a CLI11 --help text, and its subcommands."""
    options, subcommands, part = set(), [], None
    for line in text.splitlines():
        if re.match(r"^[A-Z][a-z]+:$", line):
            part = line[:-1]
            continue
        if not line.startswith("  "):
            if line.strip():
                part = None
            continue
        if part == "Options":
            match = re.match(r"^  (?:(-\w),)?(--[a-z][a-z0-9-]*)", line)
            if match:
                options.update(o for o in match.groups() if o)
        elif part == "Subcommands":
            match = re.match(r"^  ([a-z][a-z0-9-]*)\s", line)
            if match:
                subcommands.append(match.group(1))
    return options, subcommands


def page_flags(text):
    return set(re.findall(r"\*(--?[a-z][a-z0-9-]*)\*", text))


def check_cli():
    need_build()
    l2wg = os.path.join(BUILD, "cli", "l2wg")
    status, top, err = run([l2wg, "--help"])
    if status != 0:
        fail(f"l2wg --help: status {status}: {err}")
        return
    options, subcommands = help_options(top)
    if len(subcommands) < 5:
        fail(f"l2wg --help lists too few subcommands to be parsed right: {subcommands}")
    real = {"": options}
    for sub in subcommands:
        status, text, err = run([l2wg, sub, "--help"])
        if status != 0:
            fail(f"l2wg {sub} --help: status {status}: {err}")
            continue
        real[sub], _ = help_options(text)

    page = page_source("l2wg.8")
    parts = sections(page)
    commands = "\n".join(parts.get("COMMANDS", []))
    documented_flags = page_flags(page)
    for sub in subcommands:
        if not re.search(rf"^\*{re.escape(sub)}\*", commands, re.M):
            fail(f"l2wg(8): subcommand {sub} has no entry in COMMANDS")
        elif sub not in "\n".join(parts.get("SYNOPSIS", [])):
            fail(f"l2wg(8): subcommand {sub} is not in the SYNOPSIS")
    options_text = "\n".join(parts.get("OPTIONS", []))
    for sub, flags in real.items():
        for flag in sorted(flags):
            # Each flag has its own entry, "*--flag*" at the start of a line, in OPTIONS.
            if not re.search(rf"^\*{re.escape(flag)}\*", options_text, re.M) and not re.search(
                    rf"^\*-h\*, \*{re.escape(flag)}\*", options_text, re.M) and flag != "-h":
                fail(f"l2wg(8): {('l2wg ' + sub).strip()} {flag} has no entry in OPTIONS")
            if flag not in documented_flags:
                fail(f"l2wg(8): {flag} (of l2wg {sub}) is not named")
    all_real = set().union(*real.values())
    for flag in sorted(documented_flags - all_real):
        fail(f"l2wg(8) names {flag}, which l2wg does not have")
    # Every flag of up is in the synopsis.
    synopsis = "\n".join(parts.get("SYNOPSIS", []))
    for flag in sorted(real.get("up", set()) - {"-h", "--help"}):
        if f"*{flag}*" not in synopsis:
            fail(f"l2wg(8): up {flag} is not in the SYNOPSIS")

    # The exit statuses of the footer, each an entry of EXIT STATUS.
    statuses = re.findall(r"^  (\d+) ", top.split("Exit status:", 1)[-1], re.M)
    if not statuses:
        fail("l2wg --help names no exit status")
    exit_text = "\n".join(parts.get("EXIT STATUS", []))
    documented_statuses = re.findall(r"^\*(\d+)\*$", exit_text, re.M)
    if sorted(documented_statuses) != sorted(statuses):
        fail(f"l2wg(8) EXIT STATUS has {documented_statuses}, l2wg --help {statuses}")
    if not failures:
        print(f"ok: l2wg(8) has {len(subcommands)} subcommands, {len(all_real)} flags and "
              f"exit statuses {', '.join(statuses)}")


def check_daemon():
    need_build()
    status, text, err = run([os.path.join(BUILD, "daemon", "l2wgd"), "--help"])
    if status != 0:
        fail(f"l2wgd --help: status {status}: {err}")
        return
    options, _ = help_options(text)
    page = page_source("l2wgd.8")
    parts = sections(page)
    options_text = "\n".join(parts.get("OPTIONS", []))
    for option in sorted(options - {"-h", "--help"}):
        if not re.search(rf"^\*{re.escape(option)}\*", options_text, re.M):
            fail(f"l2wgd(8): {option} has no entry in OPTIONS")
    if not re.search(r"^\*-h\*, \*--help\*$", options_text, re.M):
        fail("l2wgd(8): -h, --help has no entry in OPTIONS")
    for option in sorted(page_flags(page) - options):
        fail(f"l2wgd(8) names {option}, which l2wgd does not have")
    # --log-level's values, as the help shows them: {trace,debug,...}.
    levels = re.search(r"--log-level \S*\{([a-z,]+)\}", text)
    if not levels:
        fail("l2wgd --help shows no --log-level values")
    else:
        for level in levels.group(1).split(","):
            if f"*{level}*" not in options_text:
                fail(f"l2wgd(8): --log-level {level} is not documented")
    # Every signal main.cpp adds to its signalfd mask.
    with open(os.path.join(SOURCE, "daemon", "main.cpp"), encoding="utf-8") as f:
        main = f.read()
    handled = re.search(r"for \(int s : \{([A-Z, ]+)\}\) sigaddset", main)
    if not handled:
        fail("daemon/main.cpp: the signal mask was not found (update this test)")
    else:
        signals = "\n".join(parts.get("SIGNALS", []))
        for signal in re.findall(r"SIG[A-Z]+", handled.group(1)):
            if f"*{signal}*" not in signals:
                fail(f"l2wgd(8): {signal} (handled by daemon/main.cpp) is not in SIGNALS")
    if not failures:
        print(f"ok: l2wgd(8) has {sorted(options)}")


def dbus_lines(xml_path):
    """interface name -> the member lines l2wg-dbus(7) must have for it."""
    tree = ElementTree.parse(xml_path)
    out = {}
    for interface in tree.getroot().iter("interface"):
        lines = []
        for member in interface:
            name = member.get("name")
            if member.tag == "method":
                ins = [a for a in member.findall("arg") if a.get("direction", "in") == "in"]
                outs = [a for a in member.findall("arg") if a.get("direction") == "out"]
                line = f"*{name}*(" + ", ".join(f"{a.get('type')} _{a.get('name')}_" for a in ins) + ")"
                if outs:
                    line += " -> " + ", ".join(f"{a.get('type')} _{a.get('name')}_" for a in outs)
                lines.append(line)
            elif member.tag == "signal":
                args = member.findall("arg")
                lines.append(f"*{name}*(" + ", ".join(
                    f"{a.get('type')} _{a.get('name')}_" for a in args) + ")")
            elif member.tag == "property":
                lines.append(f"*{name}* ({member.get('type')}, {member.get('access')})")
        out[interface.get("name")] = lines
    return out


MEMBER_LINE = re.compile(r"^\*[A-Z][A-Za-z0-9]*\*(\(| \()")
ERROR_NAME = re.compile(r"\b(?:net\.l2wg1|org\.freedesktop\.DBus)\.Error\.[A-Za-z]+")


def check_dbus():
    xml_path = os.path.join(SOURCE, "dbus", "net.l2wg1.xml")
    expected = dbus_lines(xml_path)
    page = page_source("l2wg-dbus.7")
    parts = sections(page)
    for interface, lines in expected.items():
        section = parts.get(f"INTERFACE {interface}")
        if section is None:
            fail(f"l2wg-dbus(7) has no section INTERFACE {interface}")
            continue
        documented = [line for line in section if MEMBER_LINE.match(line)]
        for line in lines:
            if line not in documented:
                fail(f"l2wg-dbus(7), {interface}: missing (or with another signature) {line}")
        for line in documented:
            if line not in lines:
                fail(f"l2wg-dbus(7), {interface}: {line} is not in net.l2wg1.xml (as written)")
    for heading, section in parts.items():
        if heading.startswith("INTERFACE ") and heading[len("INTERFACE "):] not in expected:
            fail(f"l2wg-dbus(7) documents {heading}, which net.l2wg1.xml does not have")
        if not heading.startswith("INTERFACE "):
            for line in section:
                if MEMBER_LINE.match(line):
                    fail(f"l2wg-dbus(7), {heading}: a member line outside an interface: {line}")

    # Errors: what the XML names and what the daemon answers with (dbus/src/error_names.cpp).
    with open(xml_path, encoding="utf-8") as f:
        errors = set(ERROR_NAME.findall(f.read()))
    with open(os.path.join(SOURCE, "dbus", "src", "error_names.cpp"), encoding="utf-8") as f:
        errors |= set(ERROR_NAME.findall(f.read()))
    error_entries = set(re.findall(r"^\*(\S+\.Error\.[A-Za-z]+)\*$",
                                   "\n".join(parts.get("ERRORS", [])), re.M))
    for error in sorted(errors - error_entries):
        fail(f"l2wg-dbus(7): error {error} has no entry in ERRORS")
    for error in sorted(set(ERROR_NAME.findall(page)) - errors):
        fail(f"l2wg-dbus(7) names error {error}, which neither net.l2wg1.xml nor l2wgd has")
    if not failures:
        count = sum(len(lines) for lines in expected.values())
        print(f"ok: l2wg-dbus(7) matches net.l2wg1.xml: {len(expected)} interfaces, "
              f"{count} members, {len(errors)} errors")


def main():
    checks = {"render": check_render, "cli": check_cli, "daemon": check_daemon, "dbus": check_dbus}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        sys.exit(__doc__)
    checks[sys.argv[1]]()
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
