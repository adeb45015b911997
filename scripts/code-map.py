#!/usr/bin/env python3
"""Regenerates ARCHITECTURE.md's code map and the line counts of its "Read first" list from
the source. The code map: every file below src/, its
non-test lines (up to its `#[cfg(test)]`; test files are left out) and its role, the first
sentence of its own `//!` comment. The section each file goes in is the one its top-level
module is declared in, in src/lib.rs.

    python3 scripts/code-map.py          # rewrite the tables in ARCHITECTURE.md
    python3 scripts/code-map.py --check  # exit 1 if they are out of date
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECTIONS = [
    ("The core", "### The core: the download path"),
    ("Around the core", "### Around the core"),
    ("Extras", "### Extras"),
]
CLI_HEADING = "### The command line and the crate"


def sections_of_modules():
    """Top-level module name -> heading, from the `// ─── X` comments in lib.rs."""
    headings, current = {}, CLI_HEADING
    for line in (ROOT / "src/lib.rs").read_text().splitlines():
        if line.startswith("// ───"):
            current = CLI_HEADING
            for start, heading in SECTIONS:
                if line[6:].lstrip(" ─").startswith(start):
                    current = heading
        match = re.match(r"pub mod (\w+);", line)
        if match:
            # The last section is "Extras, and the command line": `cli` has its own table.
            name = match.group(1)
            headings[name] = CLI_HEADING if name == "cli" else current
    return headings


def is_test(path):
    parts = path.relative_to(ROOT / "src").parts
    return path.name == "tests.rs" or "tests" in parts[:-1]


def describe(path):
    lines = path.read_text().splitlines()
    code = 0
    for line in lines:
        if line.strip() == "#[cfg(test)]":
            break
        code += 1
    doc = []
    for line in lines:
        if not line.startswith("//!"):
            break
        text = line[3:].strip()
        if not text:
            if doc:
                break
            continue
        doc.append(text)
    # The first sentence.
    role = re.split(r"(?<=[a-z)`])\. ", " ".join(doc), maxsplit=1)[0]
    role = re.sub(r"\[`([^`]+)`\](\([^)]*\))?", r"`\1`", role)
    role = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", role)
    return code, role.rstrip(".").replace("|", "\\|")


def tables():
    headings = sections_of_modules()
    rows = {heading: [] for _, heading in SECTIONS}
    rows[CLI_HEADING] = []
    for path in sorted((ROOT / "src").rglob("*.rs"), key=str):
        if is_test(path):
            continue
        rel = path.relative_to(ROOT / "src")
        top = rel.parts[0].removesuffix(".rs")
        heading = headings.get(top, CLI_HEADING)
        code, role = describe(path)
        rows[heading].append(f"| `{rel}` | {code} | {role} |")
    return rows


def rewrite(text, rows):
    for heading, lines in rows.items():
        pattern = re.compile(
            re.escape(heading) + r"\n\n\| file \| lines \| role \|\n\| --- \| ---: \| --- \|\n(\|.*\n)*"
        )
        table = f"{heading}\n\n| file | lines | role |\n| --- | ---: | --- |\n" + "\n".join(lines) + "\n"
        text, count = pattern.subn(lambda _: table, text)
        if count != 1:
            sys.exit(f"code-map: no table under '{heading}' in ARCHITECTURE.md")
    return text


def read_first(text):
    """The line counts in the `## Read first` list, and their total."""
    start = text.index("## Read first")
    end = text.index("\n## ", start + 1)
    section = text[start:end]
    counts = {}

    def count(match):
        path = match.group(1)
        counts[path] = describe(ROOT / "src" / path)[0]
        return f"`{path}` ({counts[path]})"

    section = re.sub(r"`([\w/]+\.rs)` \((\d+)\)", count, section)
    total = f"{len(counts)} files, {sum(counts.values()):,} non-test lines"
    section = re.sub(r"\d+ files, [\d,]+ non-test lines", total, section, count=1)
    return text[:start] + section + text[end:]


def main():
    doc = ROOT / "ARCHITECTURE.md"
    old = doc.read_text()
    new = read_first(rewrite(old, tables()))
    if "--check" in sys.argv[1:]:
        if new != old:
            sys.exit("ARCHITECTURE.md's code map is out of date: run python3 scripts/code-map.py")
        return
    doc.write_text(new)


if __name__ == "__main__":
    main()
