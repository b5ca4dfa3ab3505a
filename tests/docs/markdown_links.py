#!/usr/bin/env python3
"""Every relative link of the repository's Markdown files resolves inside the repository.

usage: markdown_links.py [SOURCE_DIR]   (default: L2WG_SOURCE_DIR, else this file's ../..)

Checks each *.md git knows or would add (git ls-files --cached --others --exclude-standard; every *.md under the tree when git is not there):
inline links and images [text](target) and reference definitions [id]: target. A target with a
scheme (https:, mailto:) is not followed; one that is relative must name a file or directory
that exists, and stay inside the repository (a clone has nothing outside it). Anchors (#...)
are stripped; code spans and fenced blocks are skipped.
"""
import os
import re
import subprocess
import sys

root = os.path.realpath(
    sys.argv[1] if len(sys.argv) > 1 else
    os.environ.get("L2WG_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", ".."))

INLINE = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_files():
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard", "--", "*.md"],
                             capture_output=True, check=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("build")]
        found += [os.path.relpath(os.path.join(directory, n), root) for n in names if n.endswith(".md")]
    return found


def links(text):
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = re.sub(r"`[^`]*`", "", line)
        for match in INLINE.finditer(line):
            yield number, match.group(1)
        match = REFERENCE.match(line)
        if match:
            yield number, match.group(1)


def main():
    failures = checked = 0
    files = markdown_files()
    for relative in files:
        path = os.path.join(root, relative)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for number, target in links(text):
            if not target or target.startswith("#") or SCHEME.match(target):
                continue
            checked += 1
            target_path = target.split("#", 1)[0]
            resolved = os.path.realpath(os.path.join(os.path.dirname(path), target_path))
            if os.path.commonpath([resolved, root]) != root:
                print(f"FAIL: {relative}:{number}: {target} leads out of the repository")
                failures += 1
            elif not os.path.exists(resolved):
                print(f"FAIL: {relative}:{number}: {target} does not exist")
                failures += 1
    print(f"{len(files)} Markdown file(s), {checked} relative link(s), {failures} broken")
    sys.exit(1 if failures or not files else 0)


if __name__ == "__main__":
    main()
