"""
Fill in one of the example configurations: its $placeholders become the
NAME=VALUE pairs given, and the file is written to standard output.

    python3 examples/fill.py examples/haproxy-send-proxy.cfg \
        mode=tcp 'frontend=*:80' backend=10.0.0.11:8080 send_proxy=send-proxy-v2 > haproxy.cfg

Run it with no values to list the placeholders of a file. ($$ in a file is a
literal $, as nginx variables are written.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from string import Template


def placeholders(template: Template) -> list[str]:
    """The placeholder names of C{template}, in order of first use."""
    names: list[str] = []
    for match in template.pattern.finditer(template.template):
        name = match.group("named") or match.group("braced")
        if name and name not in names:
            names.append(name)
    return names


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    path, pairs = Path(argv[0]), argv[1:]
    template = Template(path.read_text())
    names = placeholders(template)
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in names:
            print(
                f"fill: {pair!r}: expected NAME=VALUE, NAME one of {', '.join(names)}",
                file=sys.stderr,
            )
            return 2
        values[name] = value
    missing = [name for name in names if name not in values]
    if missing:
        print(f"fill: {path.name} needs values for: {', '.join(missing)}", file=sys.stderr)
        return 2
    sys.stdout.write(template.substitute(values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
