"""The course as a static website: `cae-tutorial site`, with Colab / Binder links when given a repository.

The site is built with Sphinx, MyST-NB and sphinx-book-theme (the `site` extra) from the committed notebooks,
never re-executed, into a folder that opens with no network: MathJax, scripts, styles and fonts are copied in.
Only the Colab, Binder and repository links (`--repository`) point outside.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

#: The course's public repository: none is recorded, so the notebooks carry no launch links. `cae-tutorial site
#: --repository https://github.com/OWNER/NAME` gives the site its repository button and each page Colab and Binder
#: links to that repository.
REPOSITORY: str | None = None
#: The branch that the launch links open.
BRANCH = "main"
#: The file that marks a folder as a site written by build_site, so that a rebuild may replace it.
SITE_MARKER = ".cae-tutorial-site"
#: The text that `course.clean_for_commit` leaves where a widget was (a committed notebook keeps no widget state).
WIDGET_PLACEHOLDER = "[interactive epoch scrubber"
#: The tag of a code cell holding a worked solution: collapsed on the site.
SOLUTION_TAG = "solution"
#: The library modules in the order the course introduces them; any other module follows, alphabetically.
MODULE_ORDER = ("data", "datasets", "folders", "synthetic", "model", "losses", "metric_names", "keras_objects",
                "presets", "training", "results", "evaluation", "contract", "callbacks", "plots", "widgets", "app",
                "hardware", "quiet", "baseline", "pipeline", "distribute", "resume", "course", "cli", "errors", "site")

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_STATIC_MIME = ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "text/html")


def github_path(repository: str) -> str:
    """'owner/name' of a GitHub repository URL, as Colab and Binder address it."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?", repository or "")
    if not match:
        raise ValueError(f"--repository must be https://github.com/OWNER/NAME, got {repository!r}")
    return match.group(1)


def colab_url(notebook: str, repository: str) -> str:
    """The URL that opens notebooks/<notebook>.ipynb of the repository in Google Colab."""
    path = github_path(repository)
    return f"https://colab.research.google.com/github/{path}/blob/{BRANCH}/notebooks/{_stem(notebook)}.ipynb"


def binder_url(notebook: str, repository: str) -> str:
    """The URL that builds the repository on mybinder.org and opens notebooks/<notebook>.ipynb in JupyterLab."""
    path = github_path(repository)
    return f"https://mybinder.org/v2/gh/{path}/{BRANCH}?urlpath=lab/tree/notebooks/{_stem(notebook)}.ipynb"


def install_source(repository: str) -> str:
    """What pip installs on Colab: the repository's package, without its dependencies."""
    return f"cae-tutorial @ git+https://github.com/{github_path(repository)}@{BRANCH}"


def launch_cell(notebook: str, repository: str) -> str:
    """The markdown cell the site puts under each notebook's title: Colab and Binder links, and Colab's install."""
    return (f"[Open in Colab]({colab_url(notebook, repository)}) · [Launch Binder]({binder_url(notebook, repository)})"
            ": run this notebook in the browser with nothing installed. On Colab, first run "
            f"`%pip install --quiet --no-deps \"{install_source(repository)}\"` in a new cell "
            "(`--no-deps`: Colab's TensorFlow stays); Binder builds `environment.yml`.")


def _stem(notebook) -> str:
    """'04_training' from a name, a .py or an .ipynb path."""
    return Path(str(notebook)).name.split(".")[0]


# --- the site ---------------------------------------------------------------------------------------------------------

@dataclass
class Site:
    """A built site: its folder, the pages in reading order, the build's seconds and Sphinx's warnings."""

    path: Path
    pages: list[str]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"<Site {self.path}: {len(self.pages)} pages in {self.seconds:.1f} s, "
                f"{len(self.warnings)} warning(s)>")


def site_requirements() -> list[str]:
    """The modules of the `site` extra that are missing, as pip names."""
    import importlib.util

    needed = {"sphinx": "sphinx", "myst_nb": "myst-nb", "sphinx_book_theme": "sphinx-book-theme",
              "sphinx_copybutton": "sphinx-copybutton", "sphinx-mathjax-offline": "sphinx-mathjax-offline"}
    return [name for module, name in needed.items() if importlib.util.find_spec(module) is None]


def prepare_notebook(notebook, repository: str | None = None, name: str | None = None):
    """A copy of a committed notebook as the site shows it.

    - with a repository (and the notebook's name), Colab and Binder links under the title (launch_cell);

    - a widget view, which needs a kernel, gives way to the static image or HTML of the same output (the
      scrubber's output carries its evolution as a PNG); one with none says it needs a kernel;
    - a code cell tagged `solution` is collapsed, code and output (MyST-NB's `hide-cell`); `<details>` solutions
      stay collapsed as they are;
    - widget state is dropped, so no page loads a widget manager from the network.
    """
    notebook = copy.deepcopy(notebook)
    notebook.metadata.pop("widgets", None)
    if repository is not None:
        import nbformat

        if name is None:
            raise ValueError("prepare_notebook(repository=...) needs the notebook's name for its links")
        notebook.cells.insert(1, nbformat.v4.new_markdown_cell(launch_cell(name, repository)))
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and SOLUTION_TAG in tags and "hide-cell" not in tags:
            # Code and output behind one toggle (a hide-input of the notebook's would nest a second one).
            cell.metadata["tags"] = [t for t in tags if t not in ("hide-input", "hide-output")] + ["hide-cell"]
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            if _WIDGET_VIEW in data and any(mime in data for mime in _STATIC_MIME):
                data.pop(_WIDGET_VIEW)
            text = data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            if _WIDGET_VIEW in data or (set(data) == {"text/plain"} and text.startswith(WIDGET_PLACEHOLDER)):
                data.pop(_WIDGET_VIEW, None)
                data["text/plain"] = "[interactive widget: run the notebook to use it]"
    return notebook


_EMPHASIS = re.compile(r"(?<![\w*])(\*\*?)(?=[^\s*])([^*]+?)(?<=[^\s*])\1(?![\w*])")


def rst_safe(line: str) -> str:
    """A docstring line written as the package writes them (Markdown-like) made safe for reStructuredText.

    Outside `code`, a `|` is no substitution, `name_` no link target and a lone `*` (`*.py`, `ax.plot(*xs)`) no
    emphasis; *emphasis* and **strong** stay.
    """
    parts = re.split(r"(`[^`]*`)", line)
    for i in range(0, len(parts), 2):
        text = parts[i].replace("|", "\\|")
        text = re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)
        kept = []
        text = _EMPHASIS.sub(lambda m: kept.append(m.group(0)) or f"\0{len(kept) - 1}\0", text)
        text = text.replace("*", "\\*")
        parts[i] = re.sub(r"\0(\d+)\0", lambda m: kept[int(m.group(1))], text)
    return "".join(parts)


def _process_docstring(app, what, name, obj, options, lines) -> None:
    """autodoc hook: every docstring line through rst_safe."""
    lines[:] = [rst_safe(line) for line in lines]


def _mathjax_folder() -> Path:
    """MathJax 3 as the sphinx-mathjax-offline package ships it (scripts and fonts)."""
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the site needs sphinx-mathjax-offline: pip install -e '.[site]'")
    return Path(spec.origin).parent / "static" / "mathjax"


def _copy_mathjax(app, error) -> None:
    """build-finished hook: MathJax into _static/mathjax, so equations typeset with no network."""
    if error is None:
        from sphinx.util.fileutil import copy_asset

        copy_asset(str(_mathjax_folder()), str(Path(app.outdir) / "_static" / "mathjax"))


def sphinx_setup(app) -> dict:
    """What the generated conf.py's setup() does: docstrings made safe for reStructuredText, MathJax bundled.

    (sphinx-mathjax-offline's own extension does the same copy but does not declare itself safe for parallel
    reading, which would make Sphinx read the pages one at a time.)
    """
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _home_page(readme: str, notebooks: list[Path]) -> str:
    """index.md: the README, then the table of contents (hidden: the sidebar shows it)."""
    pages = "\n".join(f"notebooks/{path.stem}" for path in notebooks)
    return (readme.rstrip() + "\n\n```{toctree}\n:hidden:\n:caption: The course\n\n" + pages + "\n```\n\n"
            "```{toctree}\n:hidden:\n:caption: The library\n\nreference\n```\n")


def library_modules() -> list[str]:
    """The modules of cae_tutorial, in the course's order (MODULE_ORDER), then any others alphabetically."""
    package = Path(__file__).resolve().parent
    present = sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("_"))
    return [m for m in MODULE_ORDER if m in present] + [m for m in present if m not in MODULE_ORDER]


def _reference_page() -> str:
    """reference.md: every module's docstrings (autodoc), one section per module."""
    blocks = []
    for module in library_modules():
        blocks.append(f"## `cae_tutorial.{module}`\n\n```{{eval-rst}}\n.. automodule:: cae_tutorial.{module}\n"
                      "   :members:\n   :show-inheritance:\n```\n")
    return ("# Library reference\n\nThe package's modules in the order the course meets them, from their "
            "docstrings. `import cae_tutorial as cae` gives the names used in the notebooks.\n\n" + "\n".join(blocks))


_CONF = '''\
# Sphinx configuration written by cae_tutorial.site.build_site; edit that module, not this file.
import sys
sys.path.insert(0, {root!r})

project = "cae-tutorial"
author = "the cae-tutorial authors"
copyright = "the cae-tutorial authors"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx_copybutton"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_execution_mode = "off"                 # the committed outputs, never re-executed
nb_render_markdown_format = "myst"        # display(Markdown(...)) outputs keep their math
nb_merge_streams = True                   # one box for the lines a cell printed, as in Jupyter
nb_code_prompt_show = "Show the solution"  # only solution cells are collapsed (tag `solution`)
nb_code_prompt_hide = "Hide the solution"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True           # $$...$$ inside a paragraph, as Jupyter shows it
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]
mathjax_path = "mathjax/tex-chtml.js"     # copied from sphinx-mathjax-offline: typeset with no network
autodoc_member_order = "bysource"
autodoc_typehints = "description"
default_role = "literal"                  # `name` in a docstring is code, as in the notebooks
copybutton_exclude = ".linenos, .gp, .go"
html_theme = "sphinx_book_theme"
html_title = "cae-tutorial"
html_copy_source = True                   # the download button offers each notebook's .ipynb
html_show_sourcelink = False
html_context = {{"default_mode": "light"}}
html_theme_options = {{
    "repository_url": {repository!r},
    "repository_branch": {branch!r},
    "path_to_docs": "",
    "use_repository_button": {button!r},
    "use_download_button": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "navbar_persistent": [],              # one search box: the sidebar's
}}
html_static_path = ["_static"]


def setup(app):
    from cae_tutorial.site import sphinx_setup

    return sphinx_setup(app)


html_css_files = ["cae-site.css"]
'''

_CSS = """\
/* Figures at their own size: never stretched wider than they were drawn, shrunk only to fit the page. */
div.cell_output img { width: auto; max-width: 100%; height: auto; }
"""


def _check_output(output: Path) -> None:
    """Refuse to replace a folder that is not an earlier site: a user's files are never lost."""
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"--output {output} is a file; choose a folder for the site")
    if output.is_dir() and any(output.iterdir()) and not (output / SITE_MARKER).is_file():
        raise FileExistsError(f"--output {output} holds files that are not a site built by `cae-tutorial site`; "
                              "choose an empty or new folder")


def build_site(output: str | Path = "build/site", notebooks_dir: str | Path | None = None,
               readme: str | Path | None = None, jobs: int | None = None, log=None,
               repository: str | None = REPOSITORY) -> Site:
    """Build the course's website into `output` from the committed notebooks (no cell is executed).

    Pages: the README as home page, one page per notebook in order, the library reference (autodoc) and search.
    The site is built beside `output` and moved into place at the end, so `output` holds a complete site or the one
    it had. A folder that holds anything but an earlier site is refused. `log`: where Sphinx's messages go (a file
    object; default: discarded, warnings are returned in Site.warnings). `repository`: the course's GitHub URL,
    for a repository button and each page's Colab and Binder links (default REPOSITORY: none, no links).
    """
    from cae_tutorial.course import notebooks_dir as default_dir, read

    missing = site_requirements()
    if missing:
        raise ModuleNotFoundError(f"building the site needs {', '.join(missing)}: pip install -e '.[site]'")
    output = Path(output)
    _check_output(output)
    if repository is not None:
        github_path(repository)  # a wrong URL is one line now, not a site of broken links
    folder = Path(notebooks_dir) if notebooks_dir else default_dir()
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no course notebooks (NN_name.ipynb) in {folder}")
    readme = Path(readme) if readme else folder.parent / "README.md"
    if not readme.is_file():
        raise FileNotFoundError(f"{readme} not found: the home page is the README; pass readme=")
    started = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.building-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="cae-site-") as work:
        source = Path(work) / "source"
        (source / "notebooks").mkdir(parents=True)
        (source / "_static").mkdir()
        import nbformat

        for path in notebooks:
            nbformat.write(prepare_notebook(read(path), repository, path.stem), str(source / "notebooks" / path.name))
        (source / "index.md").write_text(_home_page(readme.read_text(), notebooks))
        (source / "reference.md").write_text(_reference_page())
        (source / "_static" / "cae-site.css").write_text(_CSS)
        root = str(Path(__file__).resolve().parent.parent)
        (source / "conf.py").write_text(_CONF.format(root=root, repository=repository or "",
                                                     button=repository is not None, branch=BRANCH))
        warnings_file = Path(work) / "warnings.txt"
        jobs = jobs or min(2, os.cpu_count() or 1)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                   TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
        command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", str(jobs), "-w", str(warnings_file),
                   str(source), str(staging)]
        try:
            done = subprocess.run(command, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
            if done.returncode:
                raise RuntimeError("Sphinx failed to build the site: " + (done.stderr.strip().splitlines() or ["?"])[-1])
            (staging / ".buildinfo").unlink(missing_ok=True)
            shutil.rmtree(staging / ".doctrees", ignore_errors=True)
            (staging / SITE_MARKER).write_text(json.dumps({"notebooks": [p.name for p in notebooks]}) + "\n")
            warnings = [line for line in warnings_file.read_text().splitlines() if line.strip()] \
                if warnings_file.exists() else []
            _replace(staging, output)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    pages = ["index.html", *[f"notebooks/{p.stem}.html" for p in notebooks], "reference.html", "search.html"]
    return Site(output, pages, time.perf_counter() - started, warnings)


def _replace(staging: Path, output: Path) -> None:
    """Move the finished site into place; an earlier site is moved aside first and removed only afterwards."""
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{uuid.uuid4().hex[:8]}"
        output.rename(old)
    try:
        staging.rename(output)
    except OSError:
        if old is not None:
            old.rename(output)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
