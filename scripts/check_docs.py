#!/usr/bin/env python3
"""Checks that the repository documents itself and points only inside itself.

Fails (exit status 1, one line per problem) when:

* a file of the repository refers to a design document outside it (the
  patterns in FORBIDDEN);
* a relative link in the Markdown files of MARKDOWN does not lead to an
  existing file, or its #anchor is not a heading of the target file
  (GitHub's anchors: lowercase, spaces to '-', punctuation dropped);
* a `docs/NAME.md#anchor` reference in a source file (SOURCE_SUFFIXES)
  names a missing file or anchor;
* a license file is missing.

http(s) links are not followed; `-v` lists them. Standard library only.
The files checked are those git knows (tracked, plus untracked files that
are not ignored) in a git checkout, else a walk of the tree that skips
target/, node_modules/ and .git.
"""

import glob
import os
import re
import subprocess
import sys
from urllib.parse import unquote

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# Spelled in pieces so that this file does not match itself.
FORBIDDEN = [
    ("shared" + "/SPEC").encode(),
    (".." + "/shared").encode(),
    ("SPEC" + " §").encode(),
]

# Markdown files whose links are checked (globs relative to the root; a
# pattern that matches nothing is fine).
MARKDOWN = [
    "README.md",
    "core/README.md",
    "CHANGELOG.md",
    "CONTRIBUTING.md",
    "docs/*.md",
    "bindings/*/README.md",
    "fuzz/README.md",
    "etcd/README.md",
    "monitoring/*.md",
    "scenarios/README.md",
]

LICENSES = ["LICENSE-MIT", "LICENSE-APACHE"]

SOURCE_SUFFIXES = (
    ".rs", ".h", ".c", ".cpp", ".js", ".ts", ".py", ".pyi", ".sh",
    ".toml", ".yml", ".yaml",
)

SKIP_DIRS = {"target", "node_modules", ".git"}

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"""<a\s+(?:name|id)\s*=\s*["']([^"']+)["']""", re.I)
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target); target optionally <...>, optional title.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
DOC_REF = re.compile(r"(?<![\w./-])((?:\.\./)*docs/[\w.-]+\.md)(#[\w-]*)?")


def repo_files():
    """Relative paths of the repository's files."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=True,
        ).stdout
        files = sorted({p for p in out.decode("utf-8", "surrogateescape").split("\0") if p})
        if files:
            return [p for p in files if not (set(p.split("/")[:-1]) & SKIP_DIRS)]
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for d, dirs, names in os.walk(ROOT):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
        for n in sorted(names):
            files.append(os.path.relpath(os.path.join(d, n), ROOT).replace(os.sep, "/"))
    return files


def read_bytes(rel):
    try:
        with open(os.path.join(ROOT, rel), "rb") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None  # deleted in the working tree, or a submodule


def slug(text):
    """GitHub's anchor for a heading's text."""
    text = INLINE_CODE.sub(lambda m: m.group(2), text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("*", "")
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def markdown_lines(text):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence):
                fence = None
            continue
        if fence is None:
            yield n, line


_anchor_cache = {}


def anchors(rel):
    """The anchors of the Markdown file `rel` (None if it cannot be read)."""
    if rel not in _anchor_cache:
        data = read_bytes(rel)
        if data is None:
            _anchor_cache[rel] = None
        else:
            found, seen = set(), {}
            for _, line in markdown_lines(data.decode("utf-8", "replace")):
                m = ATX.match(line)
                if m:
                    s = slug(m.group(2))
                    k = seen.get(s, 0)
                    seen[s] = k + 1
                    found.add(s if k == 0 else f"{s}-{k}")
                found.update(HTML_ID.findall(line))
            _anchor_cache[rel] = found
    return _anchor_cache[rel]


def resolve(base_dir, target):
    """A link target as a path relative to the root ('' for the root)."""
    if target.startswith("/"):
        path = target.lstrip("/")
    else:
        path = os.path.join(base_dir, target)
    return os.path.normpath(path).replace(os.sep, "/")


def check_target(where, base_dir, target, errors, what="link"):
    """Check `target`, found at `where` ("file:line"), relative to `base_dir`."""
    path, _, anchor = target.partition("#")
    path = unquote(path)
    rel = resolve(base_dir, path) if path else None
    if rel is not None:
        if rel == ".." or rel.startswith("../"):
            errors.append(f"{where}: {what} {target!r} leads outside the repository")
            return
        full = os.path.join(ROOT, rel)
        if not os.path.exists(full):
            errors.append(f"{where}: {what} {target!r}: no file {rel}")
            return
    else:
        rel = where.rsplit(":", 1)[0]  # "#anchor": the file itself
    if not anchor:
        return
    if not rel.endswith(".md"):
        if os.path.isdir(os.path.join(ROOT, rel)):
            errors.append(f"{where}: {what} {target!r}: an anchor on a folder")
        elif not re.fullmatch(r"L\d+(-L\d+)?", anchor):
            errors.append(f"{where}: {what} {target!r}: anchor on a file that is not Markdown")
        return
    found = anchors(rel)
    if found is None or unquote(anchor) not in found:
        errors.append(f"{where}: {what} {target!r}: no heading with anchor #{anchor} in {rel}")


def check_markdown(rel, errors, external):
    text = read_bytes(rel).decode("utf-8", "replace")
    base_dir = os.path.dirname(rel)
    for n, line in markdown_lines(text):
        where = f"{rel}:{n}"
        m = REF_DEF.match(line)
        targets = [m.group(1)] if m else []
        bare = INLINE_CODE.sub("", line)
        targets += INLINE_LINK.findall(bare)
        external.extend((where, u) for u in AUTOLINK.findall(bare))
        for t in targets:
            t = t.strip()
            if t.startswith("<") and t.endswith(">"):
                t = t[1:-1]
            if re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I):
                if t.lower().startswith(("http://", "https://")):
                    external.append((where, t))
                continue  # mailto: and the like
            if not t:
                errors.append(f"{where}: empty link target")
                continue
            check_target(where, base_dir, t, errors)


def main(argv):
    verbose = "-v" in argv
    os.chdir(ROOT)
    errors, external = [], []
    files = repo_files()

    # 1. No pointer to a design document outside the repository.
    for rel in files:
        data = read_bytes(rel)
        if data is None:
            continue
        for pat in FORBIDDEN:
            i = data.find(pat)
            while i >= 0:
                line = data.count(b"\n", 0, i) + 1
                errors.append(
                    f"{rel}:{line}: refers to {pat.decode()!r}, a document outside the "
                    "repository; point to docs/semantics.md or docs/architecture.md instead"
                )
                i = data.find(pat, i + len(pat))

    # 2. Relative links of the Markdown files resolve, anchors included.
    md = sorted({p.replace(os.sep, "/") for g in MARKDOWN for p in glob.glob(g)})
    for rel in md:
        check_markdown(rel, errors, external)

    # 3. docs/*.md references in source files resolve, anchors included.
    for rel in files:
        if not rel.endswith(SOURCE_SUFFIXES) or rel == "scripts/check_docs.py":
            continue
        data = read_bytes(rel)
        if data is None or b"docs/" not in data:
            continue
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            for m in DOC_REF.finditer(line):
                target = m.group(1) + (m.group(2) or "")
                if target.startswith("../"):
                    # Relative to the file, as Markdown would take it.
                    check_target(f"{rel}:{n}", os.path.dirname(rel), target, errors, "reference")
                else:
                    check_target(f"{rel}:{n}", "", target, errors, "reference")

    # 4. License files.
    for name in LICENSES:
        if not os.path.isfile(name):
            errors.append(f"{name}: missing (the repository must carry its license texts)")

    hosts = sorted({re.sub(r"^https?://([^/]+).*$", r"\1", u) for _, u in external})
    if verbose:
        for where, u in external:
            print(f"external link: {where}: {u}")
    print(
        f"check_docs: {len(files)} files, {len(md)} Markdown files checked; "
        f"{len(external)} external links not followed ({', '.join(hosts) or 'none'})",
        flush=True,
    )
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        print(f"check_docs: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
