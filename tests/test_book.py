"""The book site (``make book``, ``book/build.py``) in a real browser.

The book is built into a temporary folder from the notebooks' stored outputs, served on
127.0.0.1 and crawled from ``index.html`` by Debian's Chromium through Playwright (as in
tests/test_browser.py): every page that a link reaches is opened.  Checks:

* every page loads (HTTP 200, no script error), and every HTML file of the book is
  reached by following links from the home page (no orphan);
* every image shows (``complete`` and ``naturalWidth > 0``), and each notebook page has
  at least as many images as the notebook has stored PNG outputs; the figures page has
  every PNG of ``reference_results/*/``;
* every internal link resolves: a page opens, any other file answers 200, and an anchor
  (``page.html#id``) names an element of its page;
* nothing is requested from outside the loopback server (the site works offline);
* the pages are the ones expected: the README, the ten notebooks with their titles, every
  ``docs/*.md`` and the figures page.

A control builds a broken copy (a figure and a notebook page deleted, a link bent) and
checks that the crawl reports each fault, so the checks above are not vacuous.

Skipped, with one line saying why, where Playwright or Chromium is missing
(``pip install playwright``; ``apt-get install chromium``).
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urldefrag, urlparse

import nbformat
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "book" / "build.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DOCS = sorted((REPO / "docs").glob("*.md"))
FIGURES = sorted((REPO / "reference_results").glob("*/*.png"))

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request on stderr
        pass


@contextmanager
def serve(folder: Path):
    """The base URL of an HTTP server on 127.0.0.1 serving ``folder``."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def build_book(out: Path) -> Path:
    done = subprocess.run([sys.executable, str(BUILD), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"book/build.py failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "index.html").is_file()
    return out


def notebook_title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise AssertionError(f"{path.name} has no title")


def markdown_title(path: Path) -> str:
    """The first ``# `` heading as the page shows it (no backticks or emphasis)."""
    line = next(t for t in path.read_text(encoding="utf-8").splitlines() if t.startswith("# "))
    return re.sub(r"[`*]", "", line[2:]).strip()


def stored_pngs(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in output.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_book(tmp_path_factory.mktemp("book") / "book")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def crawl(browser, base: str) -> SimpleNamespace:
    """Open every page reachable from ``base``/index.html; return what was found:
    ``pages`` {path: {title, h1, images}}, ``problems`` (one line each), ``external``
    (requests that left the loopback server)."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    external: list[str] = []

    def loopback_only(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    origin = urlparse(base).netloc
    queue, seen, files = [f"{base}/index.html"], {f"{base}/index.html"}, {}
    pages: dict[str, dict] = {}
    anchors: list[tuple[str, str, str]] = []  # (page URL, fragment, the linking page)
    ids: dict[str, set[str]] = {}
    problems: list[str] = []
    try:
        while queue:
            url = queue.pop(0)
            name = unquote(urlparse(url).path).lstrip("/")
            errors.clear()
            response = page.goto(url, wait_until="load")
            if response is None or not response.ok:
                problems.append(f"{name}: page does not load "
                                f"(HTTP {response.status if response else 'none'})")
                continue
            page.wait_for_function("[...document.images].every(i => i.complete)")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.getAttribute('src').slice(0, 80), "
                       "e.complete && e.naturalWidth > 0])")
            problems += [f"{name}: image {src!r} does not show" for src, ok in images if not ok]
            problems += [f"{name}: script error {e}" for e in errors]
            pages[name] = {"title": page.title(), "images": len(images),
                           "h1": page.eval_on_selector_all("h1", "els => els.map(e => e.textContent.trim())")}
            ids[url] = set(page.eval_on_selector_all(
                "[id], a[name]", "els => els.map(e => e.id || e.getAttribute('name'))"))
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                target, fragment = urldefrag(href)
                parsed = urlparse(target)
                if parsed.scheme not in ("http", "https") or parsed.netloc != origin:
                    continue  # an external link: not followed
                if fragment:
                    anchors.append((target, fragment, name))
                if parsed.path.endswith((".html", "/")):
                    if target not in seen:
                        seen.add(target)
                        queue.append(target)
                elif target not in files:
                    files[target] = context.request.get(target).status
                    if files[target] != 200:
                        problems.append(f"{name}: link to {unquote(parsed.path)} answers "
                                        f"HTTP {files[target]}")
        for target, fragment, where in anchors:
            # as a browser does: the fragment as written, or percent-decoded
            if target in ids and not {fragment, unquote(fragment)} & ids[target]:
                problems.append(f"{where}: anchor #{unquote(fragment)} is not on "
                                f"{urlparse(target).path}")
    finally:
        context.close()
    return SimpleNamespace(pages=pages, problems=problems, external=external)


@pytest.fixture(scope="module")
def crawled(book, browser) -> SimpleNamespace:
    with serve(book) as base:
        return crawl(browser, base)


def test_every_page_loads_with_its_images_and_links(crawled, book):
    assert crawled.problems == []
    assert crawled.external == [], "the book requested something from outside"
    on_disk = {p.relative_to(book).as_posix() for p in book.rglob("*.html")}
    assert set(crawled.pages) == on_disk, "pages that no link reaches, or links to no page"


def test_the_pages_are_the_readme_the_notebooks_docs_and_figures(crawled):
    assert len(NOTEBOOKS) == 10
    expected = ({"index.html", "figures.html"}
                | {f"notebooks/{p.stem}.html" for p in NOTEBOOKS}
                | {f"docs/{p.stem}.html" for p in DOCS})
    assert set(crawled.pages) == expected
    assert len(crawled.pages) == 2 + len(NOTEBOOKS) + len(DOCS)
    for path in NOTEBOOKS:
        page = crawled.pages[f"notebooks/{path.stem}.html"]
        title = notebook_title(path)
        assert title.startswith(path.stem[:2] + " ")  # "00 · Overview: ..."
        assert page["title"] == title
        assert title in [h.rstrip("¶").strip() for h in page["h1"]]
        assert page["images"] >= stored_pngs(path) > 0, path.name
    for page, source in [("index.html", REPO / "README.md"),
                         *((f"docs/{p.stem}.html", p) for p in DOCS)]:
        assert crawled.pages[page]["h1"][:1] == [markdown_title(source)], page
    assert crawled.pages["figures.html"]["images"] == len(FIGURES) > 0


def test_solutions_are_collapsed_and_nothing_reexecuted(book):
    """The notebook pages are the stored notebooks: solution cells inside a closed
    <details>, the stored outputs as they are (no new execution counts)."""
    for path in NOTEBOOKS:
        text = (book / "notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
        nb = nbformat.read(path, as_version=4)
        solutions = sum("solution" in c.metadata.get("tags", []) for c in nb.cells)
        assert text.count('<details class="book-solution">') == solutions, path.name
        assert "<details class=\"book-solution\" open" not in text
        counts = [c.execution_count for c in nb.cells
                  if c.cell_type == "code" and c.execution_count is not None]
        if counts:
            assert f"In\u00a0[{max(counts)}]:" in text  # the prompts as stored
            assert f"In\u00a0[{max(counts) + 1}]:" not in text


def test_the_crawl_sees_a_broken_book(book, browser, tmp_path):
    """Control: a missing figure, a missing notebook page and a link to nothing are each
    reported, so the checks above are not vacuous."""
    broken = tmp_path / "broken"
    shutil.copytree(book, broken)
    figure = next((broken / "reference_results").rglob("*.png"))
    figure.unlink()
    (broken / "notebooks" / "05_bidirectional_autoencoder.html").unlink()
    results = broken / "docs" / "results.html"
    results.write_text(results.read_text(encoding="utf-8")
                       .replace('href="authors-code.html', 'href="no-such-page.html', 1),
                       encoding="utf-8")
    with serve(broken) as base:
        found = crawl(browser, base)
    text = "\n".join(found.problems)
    assert any("does not show" in line and figure.name in line for line in found.problems), text
    assert "notebooks/05_bidirectional_autoencoder.html: page does not load (HTTP 404)" in text
    assert "docs/no-such-page.html: page does not load (HTTP 404)" in text
    assert "notebooks/05_bidirectional_autoencoder.html" not in found.pages
