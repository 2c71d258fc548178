"""Book maintenance: re-execute chapters, fetch the widget JavaScript, build the HTML, run the tests.

    python -m plasticity_sim.book execute [PATHS...]   # re-run chapters in place (default: all in _toc.yml)
    python -m plasticity_sim.book vendor               # fetch widget JS + MathJax for offline pages
    python -m plasticity_sim.book build                # vendor + jupyter-book build -W -n --keep-going
    python -m plasticity_sim.book test [PYTEST ARGS]   # the README's test command: every test, strict nbval

Why a script and not ``jupyter execute``: the book is built with ``execute_notebooks: "off"`` so readers
see exactly the outputs strict nbval verified, which means the committed outputs must be reproducible.
``execute`` therefore runs every notebook in *this* environment with the same thread count and hash
seed as the tests, stores widget state (the static HTML needs it), writes no timing metadata and
renames the random widget model ids to ids derived from the notebook path, so that re-executing an
unchanged chapter leaves ``git diff`` empty.

Explained in: book/intro.md (section "Running the book yourself")
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
import time
import urllib.request
from pathlib import Path

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
# Same environment for executing chapters as for testing them (see tests and .ci/run): one BLAS
# thread and a fixed hash seed keep printed numbers identical between the two.
EXEC_ENV = {"OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "TQDM_MININTERVAL": "1000"}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PYTEST_ARGS = ["-n", "2", "--dist", "loadfile", "--nbval", "--nbval-current-env",
               "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "no:cacheprovider", "-q"]


class BookError(Exception):
    """A user error: printed as one line, exit status 2."""


# --------------------------------------------------------------------------------------------------
# chapters listed in _toc.yml
def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """Every ``.ipynb`` chapter listed in ``_toc.yml``, in book order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = [toc["root"]]

    def walk(entries):  # jb-book: parts -> chapters -> sections, every level optional
        for e in entries or []:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    out = []
    for f in files:
        p = root / f
        if p.suffix == "" and (root / (f + ".ipynb")).exists():
            p = root / (f + ".ipynb")
        if p.suffix == ".ipynb":
            out.append(p)
    return out


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
    widgets = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    if widgets is not None and not widgets.get("state"):
        nb.metadata.pop("widgets")


def execute(paths: list[Path], *, timeout: int = 1800, quiet: bool = False) -> list[tuple[Path, float]]:
    """Re-execute notebooks in place. Every path is checked before anything runs or is written.

    Explained in: book/intro.md
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    for p in paths:
        if not p.is_file():
            raise BookError(f"notebook not found: {str(p)!r}")
        if p.suffix != ".ipynb":
            raise BookError(f"not a notebook (expected .ipynb): {str(p)!r}")
    os.environ.update(EXEC_ENV)
    os.environ.pop("MPLBACKEND", None)  # a non-inline backend would drop every figure output
    done = []
    for p in paths:
        t0 = time.perf_counter()
        nb = nbformat.read(p, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                store_widget_state=True, resources={"metadata": {"path": str(p.parent)}})
        try:
            client.execute()
        except CellExecutionError as e:
            raise BookError(f"{p}: a cell raised, notebook left unchanged:\n{e}") from None
        _clean(nb)
        raw = json.loads(nbformat.writes(nb))
        _stable_widget_ids(raw, str(p.resolve().relative_to(ROOT) if p.resolve().is_relative_to(ROOT) else p.name))
        write_bytes(p, json.dumps(raw, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        dt = time.perf_counter() - t0
        done.append((p, dt))
        if not quiet:
            print(f"executed {p} in {dt:.1f} s", flush=True)
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
    env = dict(os.environ, **EXEC_ENV)
    env.pop("MPLBACKEND", None)
    return subprocess.call([sys.executable, "-m", "pytest", *PYTEST_ARGS, *pytest_args], cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m plasticity_sim.book", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("execute", help="re-execute chapter notebooks in place")
    ex.add_argument("paths", nargs="*", type=Path, help="notebooks (default: every notebook in _toc.yml)")
    ex.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    vw = sub.add_parser("vendor", help="fetch the widget JS and MathJax for offline pages")
    vw.add_argument("--force", action="store_true")
    sub.add_parser("build", help="build the HTML book (strict)")
    sub.add_parser("test", help="run every test (the README's test command)")
    args, rest = ap.parse_known_args(argv)
    if rest and args.cmd != "test":
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.cmd == "execute":
            execute([p.resolve() for p in args.paths] or toc_notebooks(), timeout=args.timeout)
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
