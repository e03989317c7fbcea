"""Build the documentation gallery: one page per example, with its figures.

Runs every bundled TOML example through the command line with small settings (``--set``, the
:data:`SMALL` table) into a scratch directory, copies its figures into ``docs/gallery/NAME/``
(shrunk to at most :data:`MAX_BYTES` each) and writes ``docs/gallery/NAME.md`` (description,
the command that runs it, the settings used here, the command's summary line, the figures and
the config file) and ``docs/gallery/index.md``.  Scripts get a page with their description
and source.

    python tools/build_gallery.py                 # every example (a few minutes on 2 cores)
    python tools/build_gallery.py l96_etkf qg_eddy   # only these

The pages and figures are committed; ``mkdocs build --strict`` checks them.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from pyclimaocean.cli_experiment import example_description, example_verb

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GALLERY = ROOT / "docs" / "gallery"
MAX_BYTES = 150_000
TIMEOUT_S = 900

#: small settings of each TOML example for the gallery (the full runs take longer)
SMALL: dict[str, list[str]] = {
    "basin_munk_gyre": [],
    "basin_acc_sector": [],
    "column_free_convection": ["grid.nz=32"],
    "column_wind_deepening": ["grid.nz=32"],
    "column_diurnal_cycle": ["grid.nz=24"],
    "column_seasonal_cycle": ["grid.nz=32", "time.dt=7200.0"],
    "column_observed_forcing": ["grid.nz=32"],
    "column_calibrate": ["grid.nz=8", "time.stop_time=43200", "calibration.max_iterations=100"],
    "column_infer": ["grid.nz=8", "time.stop_time=43200"],
    "l96_run": ["time.stop_time=10.0"],
    "l96_calibrate": [],
    "l96_etkf": ["experiment.n_cycles=600", "experiment.spinup_cycles=100"],
    "l96_letkf": ["experiment.n_cycles=600", "experiment.spinup_cycles=100"],
    "l96_4dvar": ["experiment.n_cycles=200", "experiment.spinup_cycles=40"],
    "l96_train_offline": ["training.n_steps=300"],
    "l96_train_online": ["training.n_steps=60", "training.pretrain_offline_steps=200"],
    "qg_eddy": [],
    "seaice_arctic_column": [],
    "seaice_arctic_column_winton": [],
    "coupled_arctic_column": ["time.stop_time=31104000.0", "time.dt=10800.0"],
    "coupled_polar_basin": [],
}


def shrink_png(src: Path, dest: Path) -> None:
    """Copy a PNG, shrunk (width ≤ 1000 px, then a 256-colour palette) to ≤ MAX_BYTES."""
    image = Image.open(src).convert("RGB")
    for width in (1000, 800, 640, 480):
        im = image
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
        buf = io.BytesIO()
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
        if buf.tell() <= MAX_BYTES:
            break
    dest.write_bytes(buf.getvalue())


def run_example(path: Path, scratch: Path) -> tuple[str, list[Path], float, int]:
    """Run one TOML example through the CLI: (summary line, figures, seconds, exit code)."""
    verb = example_verb(path).split()[-1]
    out = scratch / path.stem
    cmd = [sys.executable, "-m", "pyclimaocean.cli", verb, str(path), "-o", str(out), "--force"]
    if verb in ("run", "calibrate", "infer"):
        cmd.append("--no-progress")
    if verb == "train":
        cmd.append("--quiet")
    for s in SMALL[path.stem]:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    # a wide console: rich must not wrap the summary line
    env = {**os.environ, "COLUMNS": "1000", "MPLBACKEND": "Agg"}
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    seconds = time.perf_counter() - t0
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if line.startswith(("done", "error"))),
                   lines[-1] if lines else "").replace(str(scratch), "runs")
    summary = summary.split("; wrote ")[0].split(" wrote ")[0].rstrip(" ;,")
    figures = sorted(out.rglob("*.png")) if out.is_dir() else []
    return summary, figures, seconds, res.returncode


def page(path: Path, summary: str | None, figures: list[str], seconds: float | None,
         code: int | None) -> str:
    verb = example_verb(path)
    lang = "toml" if path.suffix == ".toml" else "python"
    out = [f"# {path.stem}", "", example_description(path) or "", "",
           f"Run it: `{verb} examples/{path.name}`", ""]
    if summary is not None:
        settings = " ".join(f"--set {s}" for s in SMALL.get(path.stem, []))
        out += ["For this page it ran with smaller settings"
                + (f" (`{settings}`)" if settings else "") + f", in {seconds:.0f} s of wall time on a shared 2-core machine"
                + (f", exit code {code}" if code else "") + ":", "",
                "```text", summary.replace("done: ", "", 1), "```", ""]
    elif path.suffix == ".toml":
        out += ["*(not run for the gallery yet: `python tools/build_gallery.py "
                f"{path.stem}`, after adding its small settings to the script's SMALL table)*", ""]
    for fig in figures:
        out += [f"![{Path(fig).stem}]({fig})", ""]
    out += [f"## `examples/{path.name}`", "", f"```{lang}", f'--8<-- "examples/{path.name}"',
            "```", ""]
    return "\n".join(out)


def tracked_examples() -> dict[str, Path]:
    """``{name: path}`` of the examples committed to git (a page includes its file)."""
    listed = subprocess.run(["git", "ls-files", "examples"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    paths = [ROOT / p for p in listed]
    return {p.stem: p for p in sorted(paths)
            if p.suffix in (".toml", ".py") and not p.name.startswith(("_", "."))}


def main(names: list[str]) -> None:
    examples = tracked_examples()
    GALLERY.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in examples.items():
            summary = seconds = code = None
            figures: list[str] = []
            run = path.suffix == ".toml" and name in SMALL and (not names or name in names)
            if names and name not in names and (GALLERY / f"{name}.md").exists():
                continue  # not asked for: keep its committed page
            if run:
                summary, pngs, seconds, code = run_example(path, Path(tmp))
                print(f"{name}: {seconds:.0f} s, exit {code}: {summary[:120]}", flush=True)
                folder = GALLERY / name
                if folder.exists():
                    shutil.rmtree(folder)
                if pngs:
                    folder.mkdir()
                for png in pngs:
                    shrink_png(png, folder / png.name)
                    figures.append(f"{name}/{png.name}")
            elif (GALLERY / name).is_dir():  # not re-run: keep its committed figures
                figures = [f"{name}/{p.name}" for p in sorted((GALLERY / name).glob("*.png"))]
            (GALLERY / f"{name}.md").write_text(page(path, summary, figures, seconds, code))
    index = ["# Gallery", "",
             "Every bundled example (`pyclimaocean examples` lists them; `pyclimaocean examples "
             "copy NAME .` copies one). The figures come from running each example with small "
             "settings (`python tools/build_gallery.py`).", "",
             "| example | run with | what it shows |", "|---|---|---|"]
    for name, path in examples.items():
        text = example_description(path).replace("|", "\\|")
        index.append(f"| [{name}]({name}.md) | `{example_verb(path)}` | {text} |")
    (GALLERY / "index.md").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
