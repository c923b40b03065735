"""Griffe extension for the documentation build (not part of the package).

The docstrings of jaxloss are Google style (``Args:``, ``Returns:``,
``Examples:``), with a few reStructuredText constructs that ``help()`` and
Sphinx read well but Markdown does not. This extension rewrites them into the
Markdown that mkdocstrings renders, once, when griffe loads the package:

- ``.. math:: X`` (with indented continuation lines) -> a ``$$ ... $$`` block,
  ``:math:`x``` -> ``$x$`` (both rendered by ``pymdownx.arithmatex``);
- ``:func:`jaxloss.x```, ``:class:``, ``:mod:``, ``:meth:``, ... -> a link to
  the documented object when there is one, else inline code;
- ``text::`` followed by an indented block, and ``.. code-block:: python`` ->
  a fenced code block;
- simple reStructuredText tables (``=== ===`` borders) -> Markdown tables.

It also makes the names that ``jaxloss/__init__.py`` imports from its private
modules public, so that ``::: jaxloss`` renders every exported function
without a hand-kept list (griffe treats imported names as private unless the
module has an ``__all__``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

PACKAGE = "jaxloss"

_ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|attr|data|exc|obj):`~?([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")


def _is_border(line: str) -> bool:
    """A simple-table border: runs of ``=`` separated by spaces, at least two columns."""
    s = line.strip()
    return len(s) > 2 and set(s) == {"=", " "} and s[0] == s[-1] == "="


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines: list[str], start: int, min_indent: int) -> tuple[list[str], int]:
    """The lines from ``start`` indented deeper than ``min_indent`` (blank lines inside kept)."""
    out: list[str] = []
    i = start
    while i < len(lines):
        line = lines[i]
        if line.strip() and _indent(line) <= min_indent:
            break
        out.append(line)
        i += 1
    while out and not out[-1].strip():
        out.pop()
        i -= 1
    return out, i


def _dedent(lines: list[str]) -> list[str]:
    width = min((_indent(x) for x in lines if x.strip()), default=0)
    return [x[width:] for x in lines]


def _table(lines: list[str], start: int) -> tuple[list[str], int] | None:
    """A simple RST table starting at ``start`` as Markdown rows, and the line after it."""
    if not _is_border(lines[start]):
        return None
    pad = " " * _indent(lines[start])
    border = lines[start]
    cols = [(c.start(), c.end()) for c in re.finditer(r"=+", border)]
    rows: list[list[str]] = []
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if _is_border(line):
            i += 1
            break
        if not line.strip():
            i += 1
            continue
        cells = []
        a = cols[0][0]
        for k in range(len(cols)):
            b = cols[k + 1][0] if k + 1 < len(cols) else len(line)
            # Text that overruns its column's border pushes the cut to the next space.
            while 0 < b < len(line) and line[b - 1] != " " and line[b] != " ":
                b += 1
            cells.append(line[a:b].strip())
            a = b
        if rows and not cells[0]:
            # A continuation line: its text belongs to the row above.
            rows[-1] = [f"{x} {y}".strip() for x, y in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
        i += 1
    else:
        return None
    if not rows:
        return None
    # Header-less simple tables: an empty header row keeps the Markdown valid.
    out = [pad + "| " + " | ".join(" " for _ in cols) + " |", pad + "|" + "---|" * len(cols)]
    out += [pad + "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return out, i


class RstToMarkdown(griffe.Extension):
    """Rewrites the reStructuredText bits of jaxloss docstrings into Markdown."""

    def __init__(self) -> None:
        super().__init__()
        self._public: set[str] = set()

    # -- loading ---------------------------------------------------------------

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != PACKAGE:
            return
        for name, member in pkg.members.items():
            if name.startswith("_") or not member.is_alias:
                continue
            target = member.target_path
            if target.startswith(PACKAGE + "._"):
                member.public = True
                self._public.add(name)
        self._walk(pkg, set())

    def _walk(self, obj: Any, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = self.convert(obj.docstring.value, obj)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)

    # -- conversion ------------------------------------------------------------

    def _ref(self, match: re.Match[str], obj: Any) -> str:
        text = match.group(2).strip()
        target = self._resolve(text, obj)
        if target is None:
            return f"`{text}`"
        return f"[`{text}`][{target}]"

    def _resolve(self, text: str, obj: Any) -> str | None:
        parts = text.split(".")
        last = parts[-1]
        if text in (PACKAGE, f"{PACKAGE}.compat") or re.fullmatch(rf"{PACKAGE}\.compat\.[a-z_0-9]+", text):
            return text
        if parts[0] == PACKAGE and len(parts) >= 2 and last in self._public:
            return f"{PACKAGE}.{last}"
        if len(parts) == 1:
            if last in self._public:
                return f"{PACKAGE}.{last}"
            # A name of the docstring's own module (e.g. a compat twin).
            module = obj if obj.is_module else obj.module
            member = module.members.get(last)
            if member is not None and not member.is_alias and not last.startswith("_"):
                return f"{module.path}.{last}"
        return None

    def convert(self, text: str, obj: Any) -> str:
        lines = text.splitlines()
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            ind = " " * _indent(line)
            if stripped.startswith(".. math::"):
                first = stripped[len(".. math::"):].strip()
                body, i = _block(lines, i + 1, _indent(line))
                math = ([first] if first else []) + [x.strip() for x in body if x.strip()]
                out += ["", ind + "$$", *(ind + x for x in math), ind + "$$", ""]
                continue
            if stripped.startswith(".. code-block::") or stripped.startswith(".. code::"):
                lang = stripped.split("::", 1)[1].strip() or "python"
                body, i = _block(lines, i + 1, _indent(line))
                out += [ind + "```" + lang, *(ind + x for x in _dedent(body)), ind + "```"]
                out = self._strip_leading_blank(out, ind + "```" + lang)
                continue
            if stripped.endswith("::") and not stripped.startswith(".."):
                body, nxt = _block(lines, i + 1, _indent(line))
                if any(x.strip() for x in body):
                    head = line.rstrip()[:-2].rstrip()
                    if head.strip():
                        out.append(head + ":")
                    out += ["", ind + "```python", *(ind + x for x in _dedent(body)), ind + "```"]
                    out = self._strip_leading_blank(out, ind + "```python")
                    i = nxt
                    continue
            table = _table(lines, i)
            if table is not None:
                rows, i = table
                if out and out[-1].strip():
                    out.append("")
                out += rows
                if i < len(lines) and lines[i].strip():
                    out.append("")
                continue
            out.append(line)
            i += 1
        text = "\n".join(out)
        text = _MATH_ROLE.sub(lambda m: f"${m.group(1).strip()}$", text)
        return _ROLE.sub(lambda m: self._ref(m, obj), text)

    @staticmethod
    def _strip_leading_blank(out: list[str], fence: str) -> list[str]:
        # Remove the blank lines between an opening fence and the code.
        k = len(out) - 1
        while k >= 0 and out[k] != fence:
            k -= 1
        j = k + 1
        while j < len(out) and not out[j].strip():
            del out[j]
        if k > 0 and out[k - 1].strip():
            out.insert(k, "")
        return out
