"""Book maintenance: re-execute chapters, fetch the widget JavaScript, build the HTML, run the tests.

    python tools/book.py execute [PATHS...]   # re-run chapters in place (default: all in _toc.yml)
    python tools/book.py vendor               # fetch widget JS + MathJax for offline pages
    python tools/book.py build                # vendor + jupyter-book build -W -n --keep-going
    python tools/book.py test [PYTEST ARGS]   # the README's test command: every test, strict nbval

This is tooling of the source checkout, not part of the installed package: it fetches npm tarballs into
``_vendor/`` and reads ``_toc.yml``. From ``plasticity_sim`` it uses only the public
``plasticity_sim.atomic.write_bytes``.

Why a script and not ``jupyter execute``: the book is built with ``execute_notebooks: "off"`` so readers
see exactly the outputs strict nbval verified, which means the committed outputs must be reproducible.
``execute`` therefore runs every notebook in *this* environment with the arithmetic the tests pin
(``plasticity_sim.arithmetic.PINNED_ENV``: one thread, ATen/MKL/oneDNN on AVX2, a fixed hash seed),
stores widget state (the static HTML needs it), writes no timing metadata, merges split stream outputs
and renames the random widget model ids to ids derived from the notebook path, so that re-executing an
unchanged chapter leaves ``git diff`` empty.

Explained in: book/appendix_arithmetic.md
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from plasticity_sim.arithmetic import PINNED_ENV, pin_environment
from plasticity_sim.atomic import write_bytes

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "_vendor"
# Third-party JavaScript the pages need, fetched from the npm registry (pinned by npm's own sha512
# integrity string) so that pages work offline and with no CDN: the ipywidgets HTML manager (it bundles
# every widget model the book uses), require.js, and MathJax with its fonts.
# name -> (tarball URL, integrity, {member path or prefix in the tarball: destination under _vendor/})
VENDORED = {
    "html-manager": (
        "https://registry.npmjs.org/@jupyter-widgets/html-manager/-/html-manager-1.0.6.tgz",
        "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
        {"package/dist/embed-amd.js": "widgets/embed-amd.js"},
    ),
    "requirejs": (
        "https://registry.npmjs.org/requirejs/-/requirejs-2.3.7.tgz",
        "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
        {"package/require.js": "widgets/require.js"},
    ),
    "mathjax": (
        "https://registry.npmjs.org/mathjax/-/mathjax-3.2.2.tgz",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        {"package/es5/tex-mml-chtml.js": "mathjax/tex-mml-chtml.js",
         "package/es5/output/chtml/fonts/woff-v2/": "mathjax/output/chtml/fonts/woff-v2/"},
    ),
}
# Same environment for executing chapters as for testing them (root conftest.py pins the same for every
# pytest run): one thread, ATen/MKL/oneDNN on their AVX2 paths, a fixed hash seed; see
# plasticity_sim.arithmetic for why each entry is there.
EXEC_ENV = PINNED_ENV
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PYTEST_ARGS = ["-n", "2", "--dist", "loadfile", "--nbval", "--nbval-current-env",
               "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "no:cacheprovider", "-q"]


class BookError(Exception):
    """A user error: printed as one line, exit status 2."""


# --------------------------------------------------------------------------------------------------
# chapters listed in _toc.yml
def toc_pages(root: Path = ROOT) -> list[Path]:
    """Every page listed in ``_toc.yml`` (``.md`` or ``.ipynb`` source), in book order.

    A missing or malformed ``_toc.yml``, or an entry that names no file in the checkout, is a
    ``BookError`` naming it: a chapter silently left out would never be executed or tested.
    """
    import yaml

    path = root / "_toc.yml"
    if not path.is_file():
        raise BookError(f"{path} does not exist; run from a checkout of the book or pass the notebooks to execute")
    try:
        toc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BookError(f"{path} is not valid YAML ({first}); fix it or restore it with git checkout") from None
    if not isinstance(toc, dict) or not isinstance(toc.get("root"), str):
        raise BookError(f"{path} has no 'root' entry (a jb-book table of contents); fix it or restore it "
                        "with git checkout")
    files: list[str] = [toc["root"]]

    def walk(entries, where):  # jb-book: parts -> chapters -> sections, every level optional
        if entries is None:
            return
        if not isinstance(entries, list):
            raise BookError(f"{path}: {where} is not a list of entries")
        for e in entries:
            if not isinstance(e, dict):
                raise BookError(f"{path}: {where} holds {e!r}, not an entry with 'file:'")
            if "file" in e:
                if not isinstance(e["file"], str) or not e["file"].strip():
                    raise BookError(f"{path}: {where} has an entry with file {e['file']!r}")
                files.append(e["file"])
            walk(e.get("sections"), f"the sections of {e.get('file', e)!r}")

    walk(toc.get("chapters"), "chapters")
    parts = toc.get("parts", [])
    if not isinstance(parts, list):
        raise BookError(f"{path}: 'parts' is not a list")
    for part in parts:
        if not isinstance(part, dict):
            raise BookError(f"{path}: 'parts' holds {part!r}, not a part")
        walk(part.get("chapters"), f"part {part.get('caption', '?')!r}")
    out = []
    for f in files:
        p = root / f
        if p.suffix == "":
            found = [root / (f + ext) for ext in (".ipynb", ".md") if (root / (f + ext)).is_file()]
            if not found:
                raise BookError(f"{path}: entry {f!r} names no file (no {f}.ipynb or {f}.md); "
                                "fix the entry or add the chapter")
            p = found[0]
        elif not p.is_file():
            raise BookError(f"{path}: entry {f!r} names no file; fix the entry or add the chapter")
        out.append(p)
    return out


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """Every ``.ipynb`` chapter listed in ``_toc.yml``, in book order."""
    return [p for p in toc_pages(root) if p.suffix == ".ipynb"]


# --------------------------------------------------------------------------------------------------
# execute
def _canonical_widget_order(nb: dict) -> list[str]:
    """Widget model ids in an order that depends only on the widgets' structure and content.

    The kernel's comm order is not stable between runs, so: first every model reachable from the
    displayed outputs (depth-first through ``IPY_MODEL_`` references, keys sorted), then the models no
    output reaches (links, for instance), sorted by their content with already-named ids substituted.
    """
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    ref = re.compile(r"IPY_MODEL_([0-9a-f]{32})")
    order: list[str] = []

    def visit(mid: str) -> None:
        if mid in order:
            return
        order.append(mid)
        if mid in state:
            for child in ref.findall(json.dumps(state[mid].get("state", {}), sort_keys=True)):
                visit(child)

    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view:
                visit(view["model_id"])
    while len(order) < len(state):
        named = {mid: f"#{i}" for i, mid in enumerate(order)}

        def content(mid: str) -> str:
            return ref.sub(lambda m: named.get(m.group(1), "?"), json.dumps(state[mid], sort_keys=True))

        visit(min((m for m in state if m not in order), key=content))
    return order


def _stable_widget_ids(nb: dict, key: str) -> None:
    """Rename widget model ids (random UUIDs) to ids derived from ``key`` and the canonical order."""
    ids = _canonical_widget_order(nb)
    if not ids:
        return
    text = json.dumps(nb)
    mapping = {old: hashlib.sha1(f"{key}:{i}".encode()).hexdigest()[:32] for i, old in enumerate(ids)}
    pattern = re.compile("|".join(map(re.escape, mapping)))
    nb.clear()
    nb.update(json.loads(pattern.sub(lambda m: mapping[m.group(0)], text)))


def _clean(nb) -> None:
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        if not cell.get("id"):
            cell["id"] = f"cell-{i}"
        if cell.get("outputs"):
            # How a cell's prints are split into stream outputs depends on timing (when the kernel
            # flushed): merge consecutive outputs of one stream so re-execution writes the same file.
            merged = []
            for out in cell.outputs:
                if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                        and merged[-1].get("name") == out.get("name")):
                    merged[-1]["text"] = merged[-1]["text"] + out["text"]
                else:
                    merged.append(out)
            cell["outputs"] = merged
    widgets = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    if widgets is not None and not widgets.get("state"):
        nb.metadata.pop("widgets")


def _display(p: Path) -> str:
    """A notebook path as the user should read it: relative to the repository when inside it."""
    p = Path(p).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def _read_notebook(p: Path):
    """Read and validate one notebook; every problem becomes a one-line ``BookError``."""
    import nbformat

    if not p.is_file():
        raise BookError(f"notebook not found: {_display(p)!r}")
    if p.suffix != ".ipynb":
        raise BookError(f"not a notebook (expected .ipynb): {_display(p)!r}")
    text = p.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise BookError(f"{_display(p)}: the file is empty, not a notebook; restore it "
                        f"(git checkout -- {_display(p)}) or remove it from the command; nothing was run")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise BookError(f"{_display(p)}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                        f"fix or restore the file (git checkout -- {_display(p)}); nothing was run") from None
    if not isinstance(raw, dict) or "cells" not in raw or raw.get("nbformat") != 4:
        raise BookError(f"{_display(p)}: JSON but not a version-4 notebook (no 'cells' or nbformat != 4); "
                        f"fix or restore the file; nothing was run")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # noqa: BLE001 - nbformat raises several types; one line for all of them
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BookError(f"{_display(p)}: not a valid notebook ({first}); fix or restore the file; "
                        f"nothing was run") from None
    return nb


def execute(paths: list[Path], *, timeout: int = 1800, quiet: bool = False) -> list[tuple[Path, float]]:
    """Re-execute notebooks in place. Every path is read and validated before anything runs.

    A notebook is written only after all of its cells ran; a failing cell, a cell past ``timeout``
    seconds or a dead kernel stops the command with a one-line ``BookError`` (exit status 2) naming
    the notebook and cell, and leaves that notebook untouched (earlier notebooks stay written).

    Explained in: book/appendix_arithmetic.md
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise BookError(f"--timeout must be a positive whole number of seconds per cell, got {timeout!r}")
    notebooks = [(p, _read_notebook(p)) for p in paths]   # fail before the work: check every file first
    pin_environment()   # the kernels inherit it before they import torch
    done = []
    for p, nb in notebooks:
        t0 = time.perf_counter()
        current = {"index": None}

        def on_start(cell, cell_index, _current=current):
            _current["index"] = cell_index

        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                store_widget_state=True, resources={"metadata": {"path": str(p.parent)}},
                                on_cell_start=on_start)
        where = lambda: f"{_display(p)} cell {current['index']}"  # noqa: E731 - index of the cell in the file
        # The kernel's own stderr (ipykernel's warnings, its traceback when it is stopped) goes to a
        # scratch file, so that a failure ends in exactly one line of ours.
        with tempfile.TemporaryFile() as kernel_log:
            try:
                client.execute(stderr=kernel_log)
            except CellTimeoutError:
                raise BookError(f"{where()}: still running after {timeout} s (--timeout {timeout}); make the "
                                f"cell faster or pass a larger --timeout; notebook left unchanged") from None
            except DeadKernelError:
                raise BookError(f"{where()}: the kernel died (out of memory, a crash or os._exit in the "
                                f"cell); run the cell in Jupyter to see why; notebook left unchanged") from None
            except CellExecutionError as e:
                value = " ".join(str(e.evalue).split())[:300]
                raise BookError(f"{where()} raised {e.ename}: {value}; fix the cell (run it in Jupyter for "
                                f"the traceback); notebook left unchanged") from None
        _clean(nb)
        raw = json.loads(nbformat.writes(nb))
        _stable_widget_ids(raw, str(p.resolve().relative_to(ROOT) if p.resolve().is_relative_to(ROOT) else p.name))
        write_bytes(p, json.dumps(raw, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        dt = time.perf_counter() - t0
        done.append((p, dt))
        if not quiet:
            print(f"executed {_display(p)} in {dt:.1f} s", flush=True)
    return done


# --------------------------------------------------------------------------------------------------
# vendored JavaScript
def vendor(force: bool = False) -> list[Path]:
    """Download the pinned third-party JS (see ``VENDORED``) into ``_vendor/``.

    Each tarball is checked against npm's sha512 integrity string before anything is written, and each
    file is written atomically.
    """
    written = []
    for name, (url, integrity, members) in VENDORED.items():
        dests = [VENDOR_DIR / d for d in members.values()]
        if not force and all(d.exists() for d in dests):
            continue
        with urllib.request.urlopen(url, timeout=120) as r:
            blob = r.read()
        digest = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
        if digest != integrity:
            raise BookError(f"{url}: integrity mismatch (expected {integrity}, got {digest}); nothing written")
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for src, dest in members.items():
                for m in tar.getmembers():
                    if m.isfile() and (m.name == src or (src.endswith("/") and m.name.startswith(src))):
                        target = VENDOR_DIR / (dest + m.name[len(src):] if src.endswith("/") else dest)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        write_bytes(target, tar.extractfile(m).read())
                        written.append(target)
        print(f"vendored {name} from {url}")
    return written


# --------------------------------------------------------------------------------------------------
# build and test
def build(extra: list[str] | None = None) -> Path:
    """Fetch the widget JS if needed, then ``jupyter-book build . -W -n --keep-going``; return the HTML dir."""
    vendor()
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        raise BookError("jupyter-book not found: install the pinned requirements first (see README)")
    cmd = [jb, "build", str(ROOT), "-W", "-n", "--keep-going", *(extra or [])]
    rc = subprocess.call(cmd, cwd=ROOT)
    if rc != 0:
        raise BookError(f"book build failed (exit {rc}): {' '.join(cmd)}")
    html = ROOT / "_build" / "html"
    print(f"\nThe book is in {html}  (open {html / 'index.html'})")
    return html


def ensure_chromium() -> str | None:
    """Path of a system Chromium; installs Debian's ``chromium`` when running as root with apt."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing chromium (apt-get) for the browser test ...", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        return shutil.which("chromium")
    return None


def test(pytest_args: list[str]) -> int:
    """The README's test command: unit tests, strict nbval over book/, the strict build and the browser test."""
    if ensure_chromium() is None:
        print("warning: no chromium found and cannot install it (not root): the browser test will fail;"
              " install Debian's 'chromium' package", file=sys.stderr)
    env = dict(os.environ)
    pin_environment(env)
    return subprocess.call([sys.executable, "-m", "pytest", *PYTEST_ARGS, *pytest_args], cwd=ROOT, env=env)


def _timeout(text: str) -> int:
    """``--timeout`` value: a positive whole number of seconds (argparse prints the message, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number of seconds per cell, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/book.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("execute", help="re-execute chapter notebooks in place")
    ex.add_argument("paths", nargs="*", type=Path, help="notebooks (default: every notebook in _toc.yml)")
    ex.add_argument("--timeout", type=_timeout, default=1800, help="seconds per cell (a positive integer)")
    ex.add_argument("--quiet", action="store_true", help="print nothing on success")
    vw = sub.add_parser("vendor", help="fetch the widget JS and MathJax for offline pages")
    vw.add_argument("--force", action="store_true")
    sub.add_parser("build", help="build the HTML book (strict)")
    sub.add_parser("test", help="run every test (the README's test command)")
    args, rest = ap.parse_known_args(argv)
    if rest and args.cmd != "test":
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.cmd == "execute":
            execute([p.resolve() for p in args.paths] or toc_notebooks(), timeout=args.timeout, quiet=args.quiet)
        elif args.cmd == "vendor":
            vendor(force=args.force)
        elif args.cmd == "build":
            build()
        elif args.cmd == "test":
            return test(rest)
    except BookError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
