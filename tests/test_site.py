"""`cae-tutorial site`: the launch links' form (only with --repository), then the built site in a real browser.

The site is built once per session (no notebook is executed) and served by http.server on 127.0.0.1; headless
Chromium opens every page. Only the links' form can be checked here: nothing reaches Colab or Binder.
Screenshots of every page are kept in the test's temporary folder (printed).
"""

from __future__ import annotations

import functools
import html
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from cae_tutorial import site
from cae_tutorial.course import notebooks_dir

NOTEBOOKS = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]
REPO = notebooks_dir().parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


# --- the links ----------------------------------------------------------------------------------------------------

REPOSITORY = "https://github.com/someone/some-course"


def test_launch_links_have_the_documented_forms(monkeypatch):
    monkeypatch.setattr(site, "BRANCH", "main")
    assert site.colab_url("04_training", REPOSITORY) == \
        "https://colab.research.google.com/github/someone/some-course/blob/main/notebooks/04_training.ipynb"
    assert site.binder_url("notebooks/04_training.ipynb", REPOSITORY + ".git") == \
        "https://mybinder.org/v2/gh/someone/some-course/main?urlpath=lab/tree/notebooks/04_training.ipynb"
    assert site.install_source(REPOSITORY + "/") == "cae-tutorial @ git+https://github.com/someone/some-course@main"
    for wrong in ("https://gitlab.com/someone/some-course", "github.com/someone/some-course", None):
        with pytest.raises(ValueError, match="--repository must be https://github.com/OWNER/NAME"):
            site.colab_url("04_training", wrong)


def test_no_repository_is_recorded_and_no_notebook_links_to_a_placeholder():
    """No public repository exists yet: nothing may point at one (a link to github.com/OWNER/... is broken)."""
    assert site.REPOSITORY is None
    tomllib = pytest.importorskip("tomllib")
    assert "urls" not in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for path in [*NOTEBOOKS, *(p.with_suffix(".py") for p in NOTEBOOKS), REPO / "README.md"]:
        text = path.read_text()
        assert "OWNER/" not in text.replace("https://github.com/OWNER/NAME", "") and "google.colab" not in text, path


def test_the_site_adds_launch_links_only_when_given_a_repository():
    notebook = nbformat.read(NOTEBOOKS[3], as_version=4)
    plain = site.prepare_notebook(notebook)
    assert [c.source for c in plain.cells] == [c.source for c in notebook.cells]
    linked = site.prepare_notebook(notebook, REPOSITORY, NOTEBOOKS[3].stem)
    assert linked.cells[0].source == notebook.cells[0].source  # the title stays first
    launch = linked.cells[1].source
    assert launch == site.launch_cell(NOTEBOOKS[3].stem, REPOSITORY)
    assert f"]({site.colab_url(NOTEBOOKS[3].stem, REPOSITORY)})" in launch and \
        f"]({site.binder_url(NOTEBOOKS[3].stem, REPOSITORY)})" in launch
    assert f'%pip install --quiet --no-deps "{site.install_source(REPOSITORY)}"' in launch
    assert [c.source for c in linked.cells[2:]] == [c.source for c in notebook.cells[1:]]


def test_a_wrong_repository_is_one_line_before_any_build(tmp_path, capsys):
    from cae_tutorial.cli import main

    assert main(["site", "--output", str(tmp_path / "site"), "--repository", "https://gitlab.com/a/b"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cae-tutorial site: error: --repository must be https://github.com/OWNER/NAME") and \
        "\n" not in err
    assert not (tmp_path / "site").exists()


def test_binder_environment_installs_the_package():
    yaml = pytest.importorskip("yaml")
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    dependencies = environment["dependencies"]
    assert any(str(d).startswith("python=3.") for d in dependencies), "Binder needs a pinned Python"
    pip = next(d["pip"] for d in dependencies if isinstance(d, dict))
    assert any(line.startswith("-e .") for line in pip), "the package itself, from the repository"
    assert "jupyterlab" in dependencies, "the Binder link opens JupyterLab"


# --- preparing notebooks for the site --------------------------------------------------------------------------------

def test_solution_cells_are_collapsed_and_widgets_give_way_to_their_static_view():
    notebook = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell("print(1)", metadata={"tags": ["solution", "hide-input"]})
    widget = nbformat.v4.new_code_cell("w", outputs=[nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                              "image/png": "iVBORw0KGgo=", "text/plain": "w"})])
    placeholder = nbformat.v4.new_code_cell("scrubber", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/plain": site.WIDGET_PLACEHOLDER + ": run the notebook in Jupyter]"})])
    bare = nbformat.v4.new_code_cell("w2", outputs=[nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "y"}, "text/plain": "w2"})])
    notebook.cells = [solution, widget, placeholder, bare]
    notebook.metadata["widgets"] = {"state": {}}
    shown = site.prepare_notebook(notebook)
    assert shown.cells[0].metadata["tags"] == ["solution", "hide-cell"]
    assert set(shown.cells[1].outputs[0].data) == {"image/png", "text/plain"}
    for cell in shown.cells[2:]:  # a widget with no static view says it needs a kernel
        assert cell.outputs[0].data == {"text/plain": "[interactive widget: run the notebook to use it]"}
    assert "widgets" not in shown.metadata and "widgets" in notebook.metadata, "the original is left alone"


def test_docstrings_are_made_safe_for_restructuredtext():
    assert site.rst_safe("IoU = |pred ∩ true| / |pred ∪ true|") == r"IoU = \|pred ∩ true\| / \|pred ∪ true\|"
    assert site.rst_safe("records 201_, 202_ and `a|b_`") == r"records 201\_, 202\_ and `a|b_`"
    assert site.rst_safe("cae_tutorial/*.py, *emphasis* and **strong**") == \
        r"cae_tutorial/\*.py, *emphasis* and **strong**"


def test_site_refuses_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a site built by `cae-tutorial site`"):
        site.build_site(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


# --- the built site ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The course's site, built once from the committed notebooks plus one code cell tagged `solution`."""
    missing = site.site_requirements()
    if missing:
        pytest.skip(f"the site extra is not installed ({', '.join(missing)}): pip install -e '.[site]'")
    books = tmp_path_factory.mktemp("books")
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        if path == NOTEBOOKS[-1]:  # the form issue 20 may give solutions: a code cell tagged solution
            cell = nbformat.v4.new_code_cell("print('a worked solution as a code cell')",
                                             metadata={"tags": ["solution"]})
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a worked solution as a code cell\n")]
            cell.execution_count = 99
            notebook.cells.append(cell)
        nbformat.write(notebook, books / path.name)
    (books / "README.md").write_text((REPO / "README.md").read_text())
    built = site.build_site(tmp_path_factory.mktemp("site") / "site", notebooks_dir=books,
                            readme=books / "README.md", repository=REPOSITORY)
    print(built)
    return built


@pytest.mark.slow
def test_site_has_every_page_and_no_network_reference(built_site):
    root = built_site.path
    assert built_site.pages[0] == "index.html" and built_site.pages[1:1 + len(NAMES)] == [f"notebooks/{n}.html" for n in NAMES]
    for page in built_site.pages:
        assert (root / page).is_file(), page
    assert "Follow the course" in (root / "index.html").read_text()
    reference = (root / "reference.html").read_text()
    for module in ("data", "losses", "training", "widgets"):
        assert f'id="module-cae_tutorial.{module}"' in reference
    for path in root.rglob("*.html"):
        text = path.read_text()
        resources = re.findall(r'<(?:script|img|link|iframe|source)\b[^>]*\b(?:src|href)="((?:https?:)?//[^"]+)"',
                               text)
        assert not resources, f"{path.relative_to(root)} loads {resources[:3]}"
    for name in NAMES:
        text = (root / "notebooks" / f"{name}.html").read_text()
        assert f'href="{html.escape(site.colab_url(name, REPOSITORY))}"' in text and \
            f'href="{html.escape(site.binder_url(name, REPOSITORY))}"' in text
    assert f'href="{REPOSITORY}"' in (root / "index.html").read_text()  # the theme's repository button


@pytest.fixture(scope="session")
def served_site(built_site):
    """The site on http.server at 127.0.0.1 (a free port); stopped afterwards."""
    handler = functools.partial(_QuietHandler, directory=str(built_site.path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging each request."""

    def log_message(self, *args):
        pass


@functools.lru_cache(maxsize=None)
def _anchors(path: Path) -> set[str]:
    """The ids a page defines."""
    return set(re.findall(r'\bid="([^"]+)"', path.read_text()))


@pytest.mark.browser
@pytest.mark.slow
def test_every_page_in_a_browser(built_site, served_site, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    root, base = built_site.path, served_site
    pages = [p for p in built_site.pages if p != "search.html"] + ["genindex.html", "py-modindex.html"]
    outside, problems, links = [], [], set()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})

            def route(route):
                url = route.request.url
                if url.startswith(base) or url.startswith(("data:", "blob:")):
                    route.continue_()
                else:
                    outside.append(url)
                    route.abort()

            context.route("**/*", route)
            page = context.new_page()
            errors = []
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            for name in pages:
                errors.clear()
                page.goto(base + name, wait_until="load")
                page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)")
                page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
                shot = tmp_path / name.replace("/", "_").replace(".html", "")
                page.screenshot(path=str(shot.with_suffix(".png")))  # the first screen
                if name.startswith("notebooks/") or name == "index.html":  # and the whole page, lighter as JPEG
                    page.screenshot(path=str(shot.with_suffix(".full.jpg")), full_page=True, type="jpeg", quality=70)
                state = page.evaluate(_PAGE_STATE)
                problems += [f"{name}: console: {e}" for e in errors]
                problems += [f"{name}: image not loaded: {src[:80]}" for src in state["unloaded"]]
                problems += [f"{name}: image upscaled: {src[:80]}" for src in state["upscaled"]]
                problems += [f"{name}: raw math left: {text!r}" for text in state["raw_math"]]
                problems += [f"{name}: untypeset math element" for _ in range(state["untypeset"])]
                links.update(state["links"])
                if name.startswith("notebooks/"):
                    if not state["copy_buttons"]:
                        problems.append(f"{name}: no copy button on its code cells")
                    toggles = page.locator("details")
                    if toggles.count() == 0:
                        problems.append(f"{name}: no collapsed solution")
                    for i in range(toggles.count()):
                        toggle = toggles.nth(i)
                        if toggle.evaluate("d => d.open"):
                            problems.append(f"{name}: details #{i} starts open")
                        toggle.locator("summary").first.click()
                        opened = toggle.evaluate("d => d.open && d.offsetHeight > d.querySelector('summary').offsetHeight")
                        toggle.locator("summary").first.click()
                        if not opened or toggle.evaluate("d => d.open"):
                            problems.append(f"{name}: details #{i} does not open and close")
            # The scrubber's place in notebook 4 shows its static image.
            page.goto(base + "notebooks/04_training.html", wait_until="load")
            fallback = page.locator(f'img[src$="{_scrubber_picture_name()}"]').first
            fallback.scroll_into_view_if_needed()
            assert fallback.evaluate("img => img.complete && img.naturalWidth > 0")
            page.screenshot(path=str(tmp_path / "04_training_scrubber.png"))
            # A worked solution, opened.
            page.goto(base + f"notebooks/{NAMES[0]}.html", wait_until="load")
            solution = page.locator("details").first
            solution.locator("summary").click()
            solution.screenshot(path=str(tmp_path / "01_solution_opened.png"))
            # The tagged solution cell of the last notebook is collapsed, and opens.
            page.goto(base + f"notebooks/{NAMES[-1]}.html", wait_until="load")
            answer = page.get_by_text("a worked solution as a code cell").first
            assert not answer.is_visible(), "a solution cell starts collapsed, its output too"
            page.get_by_text("Show the solution").last.click()
            assert answer.is_visible()
            # Search, typed into the search box as a reader would.
            page.goto(base + "index.html", wait_until="load")
            page.locator("button.search-button__button:visible").first.click()  # opens the search dialog
            box = page.locator("#pst-search-dialog input[type=search]")
            box.fill("Dice")
            box.press("Enter")
            page.wait_for_url("**/search.html?q=Dice*")
            page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
            found = page.locator("#search-results ul.search li a").all_inner_texts()
            page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
            problems += [f"search.html: console: {e}" for e in errors]
        finally:
            browser.close()
    print(f"screenshots of every page: {tmp_path}")
    assert len(found) >= 3 and any(name.split("_", 1)[1].replace("_", " ")[:8].lower() in " ".join(found).lower()
                                   for name in NAMES), found
    for url in sorted(links):
        parts = urlsplit(url)
        if not url.startswith(base):
            continue
        target = root / unquote(parts.path[len(urlsplit(base).path):] or "index.html")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"broken link: {url}")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _anchors(target):
            problems.append(f"broken anchor: {url}")
    assert not outside, f"requests left 127.0.0.1: {sorted(set(outside))[:5]}"
    assert not problems, "\n".join(problems[:30])


_PAGE_STATE = r"""() => {
    const images = [...document.querySelectorAll('img')];
    const skip = el => el.closest('pre, code, script, style, mjx-container, .highlight, textarea');
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const raw = [];
    for (let node; (node = walker.nextNode());) {
        if (skip(node.parentElement)) continue;
        // math left as text: a $...$ pair, a TeX command or delimiter, or a lone $ beside typeset math (mispaired)
        const text = node.textContent;
        const match = text.match(/\$[^$\s][^$]*\$|\\\(|\\\[|\\(frac|text|sum|mathcal|epsilon)\b/);
        const typeset = n => n && n.nodeType === 1 && (n.matches('mjx-container') || n.querySelector('mjx-container'));
        if (match) raw.push(text.slice(Math.max(0, match.index - 40), match.index + 40));
        else if ((/\$\s*$/.test(text) && typeset(node.nextSibling)) || (/^\s*\$/.test(text) && typeset(node.previousSibling)))
            raw.push(text.slice(0, 80));
    }
    return {
        unloaded: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src),
        upscaled: images.filter(img => img.naturalWidth && img.width > img.naturalWidth + 1).map(img => img.src),
        raw_math: raw,
        untypeset: [...document.querySelectorAll('.math')].filter(el => !el.querySelector('mjx-container')
                                                                         && !el.closest('mjx-container')).length,
        copy_buttons: document.querySelectorAll('div.cell_input button.copybtn').length,
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    };
}"""


def test_cli_site_refuses_a_file_in_one_line(tmp_path, capsys):
    from cae_tutorial.cli import main

    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["site", "--output", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a file; choose a folder for the site" in err
    assert target.read_text() == "mine"


def _scrubber_picture_name() -> str:
    """The file name MyST-NB gives the static picture in notebook 4's scrubber output (the sha256 of its PNG)."""
    import base64
    import hashlib

    notebook = nbformat.read(REPO / "notebooks" / "04_training.ipynb", as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data and "epoch scrubber" in "".join(data.get("text/plain", "")):
                return hashlib.sha256(base64.b64decode("".join(data["image/png"]))).hexdigest() + ".png"
    raise AssertionError("notebook 4's scrubber output carries no static picture")
