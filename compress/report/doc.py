"""A report as a list of blocks (headings, paragraphs, tables, images), written as Markdown or self-contained HTML."""
from __future__ import annotations

from pathlib import Path


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def aligned_table(headers, rows, numeric=None) -> str:
    """A table for a terminal, laid out like `estimate`'s: padded columns, numbers right-aligned, a dashed rule.

    `numeric` says which columns to right-align; by default those whose every cell reads as a figure."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if numeric is None:
        numeric = [all(_numeric(row[i]) for row in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def _numeric(cell: str) -> bool:
    """A figure such as 0.8715, +1.2%, 363,108, 0.363 M, 12,912 B or '-' (no figure)."""
    head = cell.split(" ")[0].rstrip("%")
    return cell in ("-", "") or head.lstrip("+-").replace(",", "").replace(".", "", 1).isdigit()


def anchor(text: str) -> str:
    """A heading's anchor as GitHub makes it (lower case, punctuation dropped, spaces to hyphens), so one link works
    in report.md on GitHub and in report.html, whose headings get the same ids."""
    import re

    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


class Doc:
    """Headings, paragraphs (Markdown `code`, **bold** and [links](#anchor) only), tables, images, preformatted
    text (optionally one anchor per line) and a table of contents of the level-2 headings."""

    def __init__(self):
        self.blocks: list[tuple] = []

    def h(self, text: str, level: int = 2):
        self.blocks.append(("h", level, text))

    def p(self, text: str):
        self.blocks.append(("p", text))

    def table(self, headers, rows):
        self.blocks.append(("table", list(headers), [list(r) for r in rows]))

    def image(self, path, caption: str):
        self.blocks.append(("img", Path(path), caption))

    def pre(self, text: str, anchors=None):
        """anchors: one id per line (None: none), so a link can point at a line (a search tree's node)."""
        self.blocks.append(("pre", text, list(anchors) if anchors else None))

    def contents(self):
        """Here: a linked list of the document's level-2 headings, filled in when it is written."""
        self.blocks.append(("contents",))

    def moved(self, old: Path, new: Path) -> None:
        """Images drawn in `old` now live in `new` (the figures are drawn aside and swapped in once all are)."""
        self.blocks = [(b[0], Path(new) / b[1].relative_to(old), *b[2:]) if b[0] == "img" and Path(old) in b[1].parents
                       else b for b in self.blocks]

    def _headings(self) -> list[str]:
        return [b[2] for b in self.blocks if b[0] == "h" and b[1] == 2]

    def items(self, texts, ordered: bool = False):
        self.blocks.append(("list", list(texts), ordered))

    def text(self) -> str:
        """For a terminal: the Markdown, with its tables aligned instead of piped."""
        return self.markdown(table=aligned_table)

    def markdown(self, base: Path | None = None, table=markdown_table) -> str:
        out = []
        for kind, *rest in self.blocks:
            if kind == "h":
                out.append("#" * rest[0] + " " + rest[1])
            elif kind == "table":
                out.append(table(*rest))
            elif kind == "img":
                where = rest[0].relative_to(base) if base else rest[0]
                out.append(f"![{rest[1]}]({where.as_posix()})\n\n*{rest[1]}*")
            elif kind == "pre":
                out.append(_anchored_pre(*rest) if rest[1] else "```\n" + rest[0] + "\n```")
            elif kind == "list":
                out.append("\n".join(f"{f'{i}.' if rest[1] else '-'} {t}" for i, t in enumerate(rest[0], 1)))
            elif kind == "contents":
                out.append("**Contents**\n\n" + "\n".join(f"- [{t}](#{anchor(t)})" for t in self._headings()))
            else:
                out.append(rest[0])
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        import base64

        out = []
        for kind, *rest in self.blocks:
            if kind == "h":
                out.append(f'<h{rest[0]} id="{anchor(rest[1])}">{_inline(rest[1])}</h{rest[0]}>')
            elif kind == "table":
                head = "".join(f"<th>{_inline(str(h))}</th>" for h in rest[0])
                body = "".join("<tr>" + "".join(_cell_html(c) for c in row) + "</tr>" for row in rest[1])
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif kind == "img":
                data = base64.b64encode(rest[0].read_bytes()).decode("ascii")
                out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html_escape(rest[1])}">'
                           f"<figcaption>{_inline(rest[1])}</figcaption></figure>")
            elif kind == "pre":
                out.append(_anchored_pre(*rest) if rest[1] else f"<pre>{html_escape(rest[0])}</pre>")
            elif kind == "list":
                tag = "ol" if rest[1] else "ul"
                out.append(f"<{tag}>" + "".join(f"<li>{_inline(t)}</li>" for t in rest[0]) + f"</{tag}>")
            elif kind == "contents":
                out.append("<nav><strong>Contents</strong><ul>" + "".join(
                    f'<li><a href="#{anchor(t)}">{_inline(t)}</a></li>' for t in self._headings()) + "</ul></nav>")
            else:
                out.append(f"<p>{_inline(rest[0])}</p>")
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html_escape(title)}</title>"
                f"<style>{_CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;"
        "padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
        ".pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}"
        "img{max-width:100%}figure{margin:1em 0}figcaption{color:#555;font-size:0.9em}"
        "pre{background:#f6f8fa;padding:0.8em;overflow-x:auto;font-size:0.85em}code{background:#f0f0f0}")


def html_escape(text: str) -> str:
    import html

    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    import re

    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html_escape(text))
    text = re.sub(r"\[([^\]]+)\]\((#[\w-]+)\)", r'<a href="\2">\1</a>', text)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)


def _anchored_pre(text: str, anchors: list) -> str:
    """Preformatted lines each opened by an empty <a id>: raw HTML, which GitHub's Markdown keeps too."""
    return "<pre>" + "\n".join(f'<a id="{a}"></a>{html_escape(line)}' if a else html_escape(line)
                                for line, a in zip(text.splitlines(), anchors)) + "</pre>"


def _cell_html(value) -> str:
    text = str(value)
    css = {"PASS": ' class="pass"', "FAIL": ' class="fail"'}.get(text.split(" ")[-1], "")
    return f"<td{css}>{_inline(text)}</td>"


def ms(seconds: float) -> str:
    """A latency in milliseconds with 3 significant figures and no exponent: 38.7 ms, 1,230 ms, 0.0412 ms."""
    import math

    value = seconds * 1e3
    decimals = 2 - math.floor(math.log10(abs(value))) if value else 0
    return f"{round(value, decimals):,.{max(decimals, 0)}f} ms"
