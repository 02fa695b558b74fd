#!/usr/bin/env python3
"""The book site: ``python book/build.py [--out dist/book]`` (``make book``).

Static HTML made from what is committed; nothing is executed:

* ``README.md`` is the home page (``index.html``); every Markdown page is rendered with
  mistune (the renderer nbconvert itself uses), its headings with GitHub's anchors, so
  links such as ``teaching.md#the-labs`` work in the book as on GitHub;
* each notebook is converted by nbconvert from its STORED outputs (``HTMLExporter``,
  JupyterLab's look, the template in ``book/templates/book/``): no script from the
  internet, solution cells in a closed ``<details>``, as they are collapsed in the
  notebook (the book is for instructors and readers, not a student handout);
* ``figures``: every PNG of the folders ``book/book.yml`` names, a section per folder.

Relative links are rewritten: a Markdown file or notebook of the book becomes its page,
any other existing file (the figures, ``LICENSE``...) is copied beside the pages, a
folder or a Markdown file outside the book points at the repository on GitHub, and an
external image (the Binder and Colab badges) becomes its text, so the site needs no
network.  A link to a file that does not exist stops the build with a message naming
it.  The parts and their files: ``book/book.yml``.
"""

from __future__ import annotations

import argparse
import glob
import html
import os
import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote

BOOK_DIR = Path(__file__).resolve().parent
REPO = BOOK_DIR.parent
MARKER = ".blurutils-book"  # marks a folder this script wrote (and may replace)
FIGURES = "figures"         # the generated page of reference figures
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
ATTR = re.compile(r"""(\s(?:href|src)=)(["'])(.*?)\2""", re.S)
IMG = re.compile(r"<img\b[^>]*>", re.I | re.S)


class BookError(Exception):
    """The book cannot be built as configured (a missing file, a broken link)."""


@dataclass
class Page:
    src: str    # repository-relative POSIX path, or FIGURES
    out: str    # book-relative POSIX path of the HTML file
    title: str  # plain text
    label: str  # its line in the navigation
    part: str


# --------------------------------------------------------------------------- config
def load_config(path: Path) -> dict:
    import yaml

    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(config, dict) or not config.get("parts"):
        raise BookError(f"{path}: expected a mapping with 'parts'")
    return config


def expand(pattern: str) -> list[str]:
    """Repository-relative files matching ``pattern`` (sorted); FIGURES as itself."""
    if pattern == FIGURES:
        return [FIGURES]
    found = sorted(glob.glob(pattern, root_dir=REPO))
    if not found:
        raise BookError(f"book/book.yml: {pattern!r} matches no file")
    return [PurePosixPath(p).as_posix() for p in found]


def plain(text: str) -> str:
    """Markdown or HTML inline text as plain text."""
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return html.unescape(re.sub(r"[`*_]", "", text)).strip()


def first_heading(markdown: str) -> str | None:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return plain(line[2:])
    return None


def make_pages(config: dict) -> list[Page]:
    import nbformat

    pages: list[Page] = []
    seen: set[str] = set()
    for part in config["parts"]:
        for pattern in part["files"]:
            for src in expand(pattern):
                if src in seen:
                    continue
                seen.add(src)
                if src == FIGURES:
                    pages.append(Page(src, "figures.html", "Figures", "Figures",
                                      part["title"]))
                    continue
                if src.endswith(".ipynb"):
                    nb = nbformat.read(REPO / src, as_version=4)
                    title = next((h for c in nb.cells if c.cell_type == "markdown"
                                  if (h := first_heading(c.source))), Path(src).stem)
                    label = title.split(":", 1)[0]
                elif src.endswith(".md"):
                    title = first_heading((REPO / src).read_text(encoding="utf-8")) or src
                    label = "Home" if src == "README.md" else title
                else:
                    raise BookError(f"book/book.yml: {src}: only .md and .ipynb files are pages")
                out = "index.html" if src == "README.md" else str(PurePosixPath(src).with_suffix(".html"))
                pages.append(Page(src, out, title, label, part["title"]))
    return pages


# --------------------------------------------------------------------------- links
class Linker:
    """Rewrites the relative links of the pages; collects the files to copy."""

    def __init__(self, pages: list[Page], repository: str):
        self.by_src = {p.src: p for p in pages}
        self.repository = repository.rstrip("/")
        self.assets: set[str] = set()
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def href(self, url: str, base: PurePosixPath, page: Page, where: str) -> str | None:
        """The new value of a link written in a file under ``base`` (repository-relative
        folder) and shown on ``page``; None to leave it as it is."""
        raw = html.unescape(url).strip()
        if not raw or raw.startswith(("#", "//")) or SCHEME.match(raw):
            return None
        path, _, fragment = raw.partition("#")
        path = unquote(path.split("?", 1)[0])
        target = self.locate(path, base)
        if target is None:
            rooted = self.locate(path, PurePosixPath("."))
            if rooted is None:
                self.problems.append(f"{where}: the link {raw!r} points at nothing")
                return None
            self.warnings.append(f"{where}: the link {raw!r} works only from the repository "
                                 f"root (fix it in the source; the book uses {rooted})")
            target = rooted
        full = REPO / target
        if target in self.by_src:
            out = self.by_src[target].out
        elif full.is_dir():
            readme = f"{target}/README.md" if target != "." else "README.md"
            if readme in self.by_src:
                out = self.by_src[readme].out
            else:
                return f"{self.repository}/{quote(target)}" + (f"#{fragment}" if fragment else "")
        elif target.endswith((".md", ".ipynb")):
            return f"{self.repository}/{quote(target)}" + (f"#{fragment}" if fragment else "")
        else:
            self.assets.add(target)
            out = target
        rel = os.path.relpath(out, PurePosixPath(page.out).parent.as_posix())
        return quote(PurePosixPath(rel).as_posix()) + (f"#{quote(fragment, safe='-_.~%')}" if fragment else "")

    @staticmethod
    def locate(path: str, base: PurePosixPath) -> str | None:
        """``path`` (relative to ``base``) as a repository-relative path, if it exists
        inside the repository."""
        joined = os.path.normpath(os.path.join(base.as_posix(), path))
        if joined.startswith(".."):
            return None
        if not (REPO / joined).exists():
            return None
        return PurePosixPath(joined).as_posix()

    def rewrite(self, text: str, base: PurePosixPath, page: Page) -> str:
        where = page.src if page.src != FIGURES else f"{FIGURES} ({base})"

        def image(match: re.Match) -> str:
            tag = match.group(0)
            src = re.search(r"""\ssrc=(["'])(.*?)\1""", tag, re.S)
            if src and (SCHEME.match(src.group(2)) and not src.group(2).startswith("data:")
                        or src.group(2).startswith("//")):
                alt = re.search(r"""\salt=(["'])(.*?)\1""", tag, re.S)
                label = alt.group(2) if alt and alt.group(2) else "image"
                return f'<span class="book-badge">{label}</span>'  # an external image: its text
            return tag

        def attribute(match: re.Match) -> str:
            new = self.href(match.group(3), base, page, where)
            if new is None:
                return match.group(0)
            return f"{match.group(1)}{match.group(2)}{html.escape(new)}{match.group(2)}"

        return ATTR.sub(attribute, IMG.sub(image, text))


# --------------------------------------------------------------------------- rendering
def markdown_to_html(text: str) -> str:
    """Markdown as HTML, the headings with GitHub's anchors (``id``)."""
    import mistune

    class Renderer(mistune.HTMLRenderer):
        def __init__(self):
            super().__init__(escape=False)
            self.slugs: Counter[str] = Counter()

        def heading(self, text: str, level: int, **attrs) -> str:
            slug = re.sub(r"[^\w\- ]", "", plain(text).lower()).replace(" ", "-")
            n = self.slugs[slug]
            self.slugs[slug] += 1
            slug = f"{slug}-{n}" if n else slug
            return f'<h{level} id="{slug}">{text}</h{level}>\n'

    render = mistune.create_markdown(renderer=Renderer(),
                                     plugins=["table", "strikethrough", "footnotes", "url"])
    return render(text)


def navigation(pages: list[Page], page: Page, title: str) -> str:
    here = PurePosixPath(page.out).parent.as_posix()

    def link(p: Page) -> str:
        return html.escape(PurePosixPath(os.path.relpath(p.out, here)).as_posix())

    index = next(p for p in pages if p.out == "index.html")
    lines = [f'<nav class="book-nav"><a class="book-title" href="{link(index)}">'
             f"{html.escape(title)}</a>"]
    part = None
    for p in pages:
        if p.part != part:
            if part is not None:
                lines.append("</ul>")
            part = p.part
            lines.append(f"<h2>{html.escape(part)}</h2><ul>")
        current = ' class="current" aria-current="page"' if p is page else ""
        lines.append(f'<li><a href="{link(p)}"{current}>{html.escape(p.label)}</a></li>')
    lines.append("</ul></nav>")
    return "\n".join(lines)


def pager(pages: list[Page], page: Page) -> str:
    here = PurePosixPath(page.out).parent.as_posix()
    i = pages.index(page)
    cells = []
    for j, arrow in ((i - 1, "← "), (i + 1, "")):
        if 0 <= j < len(pages):
            href = html.escape(PurePosixPath(os.path.relpath(pages[j].out, here)).as_posix())
            text = f"{arrow}{html.escape(pages[j].label)}" + (" →" if not arrow else "")
            cells.append(f'<a href="{href}" rel="{"prev" if arrow else "next"}">{text}</a>')
        else:
            cells.append("<span></span>")
    return f'<div class="book-pager">{"".join(cells)}</div>'


def css_link(page: Page) -> str:
    return PurePosixPath(os.path.relpath("book.css", PurePosixPath(page.out).parent.as_posix())).as_posix()


def markdown_page(body: str, page: Page, nav: str, pager_html: str, title: str,
                  banner: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            f"<title>{html.escape(page.title)} · {html.escape(title)}</title>\n"
            f'<link rel="stylesheet" href="{css_link(page)}">\n</head>\n'
            f'<body class="book-page">\n{nav}\n<main class="book-main book-markdown">\n'
            f"{banner}{body}\n{pager_html}\n</main>\n</body>\n</html>\n")


def notebook_page(page: Page, nav: str, pager_html: str, exporter) -> str:
    import nbformat

    nb = nbformat.read(REPO / page.src, as_version=4)
    banner = (f'<div class="book-banner">From <code>{html.escape(page.src)}</code> as committed: '
              "its stored outputs, nothing re-run. Solution cells are collapsed, as in the "
              "notebook.</div>")
    resources = {"metadata": {"name": page.title},
                 "book": {"nav": nav, "pager": pager_html, "banner": banner,
                          "css": css_link(page)}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def figures_body(config: dict, page: Page, linker: Linker) -> str:
    """The figures page: a section per folder, its README's first paragraph, its PNGs."""
    pngs: list[str] = []
    for pattern in config.get("figures", []):
        for src in expand(pattern):
            if src not in pngs:
                pngs.append(src)
    folders: dict[str, list[str]] = {}
    for src in pngs:
        folders.setdefault(PurePosixPath(src).parent.as_posix(), []).append(src)
    parts = ["<h1 id=\"figures\">Figures</h1>",
             "<p>The figures of the committed results (<code>reference_results/</code>), "
             "as the commands that made them wrote them; the numbers behind them are in "
             "<a href=\"docs/results.md\">Results in detail</a>.</p>"]
    for folder, files in folders.items():
        intro_file = next((REPO / folder / n for n in ("README.md", "REPORT.md")
                           if (REPO / folder / n).is_file()), None)
        heading, intro = folder, ""
        if intro_file is not None:
            text = intro_file.read_text(encoding="utf-8")
            heading = first_heading(text) or folder
            paragraphs = [b.strip() for b in re.split(r"\n\s*\n", text)
                          if b.strip() and not b.lstrip().startswith("#")]
            if paragraphs:
                intro = linker.rewrite(markdown_to_html(paragraphs[0]), PurePosixPath(folder), page)
        slug = re.sub(r"[^\w-]", "-", folder)
        parts.append(f'<h2 id="{slug}">{html.escape(heading)}</h2>')
        parts.append(f"<p><code>{html.escape(folder)}/</code></p>{intro}")
        for src in files:
            linker.assets.add(src)
            alt = PurePosixPath(src).stem.replace("_", " ")
            parts.append(f'<figure class="book-figure"><img src="{html.escape(src)}" '
                         f'alt="{html.escape(alt)}">'
                         f"<figcaption><code>{html.escape(src)}</code></figcaption></figure>")
    # The figures are copied as assets (above); the intro links go through the linker.
    return linker.rewrite("\n".join(parts[:2]), PurePosixPath("."), page) + "\n".join(parts[2:])


# --------------------------------------------------------------------------- build
def prepare_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise BookError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise BookError(f"{out} is not empty and was not written by book/build.py: "
                            "choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def build(out: Path, config_path: Path = BOOK_DIR / "book.yml", quiet: bool = False) -> dict:
    """Write the book into ``out``; return a summary (pages, files, warnings, seconds)."""
    from nbconvert import HTMLExporter

    start = time.perf_counter()
    config = load_config(config_path)
    title = config.get("title", "Book")
    pages = make_pages(config)
    if not any(p.out == "index.html" for p in pages):
        raise BookError("book/book.yml: README.md (the home page) is not in any part")
    linker = Linker(pages, config.get("repository", ""))
    exporter = HTMLExporter(template_name="book",
                            extra_template_basedirs=[str(BOOK_DIR / "templates")])
    rendered: dict[str, str] = {}
    for page in pages:
        nav, pager_html = navigation(pages, page, title), pager(pages, page)
        if page.src == FIGURES:
            text = markdown_page(figures_body(config, page, linker), page, nav, pager_html, title)
            rendered[page.out] = text
            continue
        base = PurePosixPath(page.src).parent
        if page.src.endswith(".ipynb"):
            text = notebook_page(page, nav, pager_html, exporter)
            # only the notebook's own part: the navigation's links are final already
            head, sep, rest = text.partition('<main class="book-main">')
            body, sep2, tail = rest.rpartition('<div class="book-pager">')
            text = head + sep + linker.rewrite(body, base, page) + sep2 + tail
        else:
            body = markdown_to_html((REPO / page.src).read_text(encoding="utf-8"))
            text = markdown_page(linker.rewrite(body, base, page), page, nav, pager_html, title)
        rendered[page.out] = text
    if linker.problems:
        raise BookError("broken links:\n  " + "\n  ".join(linker.problems))
    prepare_out(out)
    (out / MARKER).write_text("written by book/build.py (make book); replaced on each build\n")
    for name, text in rendered.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8")
    shutil.copyfile(BOOK_DIR / "book.css", out / "book.css")
    for asset in sorted(linker.assets):
        (out / asset).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / asset, out / asset)
    seconds = time.perf_counter() - start
    if not quiet:
        for warning in linker.warnings:
            print(f"book: warning: {warning}", file=sys.stderr)
        print(f"book: {len(pages)} pages and {len(linker.assets)} files -> "
              f"{out / 'index.html'} ({seconds:.0f} s)")
    return {"pages": [p.out for p in pages], "assets": sorted(linker.assets),
            "warnings": linker.warnings, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "book",
                        help="the folder to write (replaced; default dist/book)")
    parser.add_argument("--config", type=Path, default=BOOK_DIR / "book.yml")
    args = parser.parse_args(argv)
    try:
        build(args.out.resolve(), args.config)
    except BookError as exc:
        print(f"book: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
