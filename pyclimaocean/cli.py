"""Command-line launcher (typer).  Each command is a thin shell over the Python API: it parses
arguments, lazy-imports the package that does the work, and turns user errors into a one-line
message and a non-zero exit code (no traceback).

Exit codes: 0 success, 2 bad config / bad input, 3 numerical blow-up, 4 backend unavailable,
5 the optimizer did not converge (EKI/UKI: stopped early, by collapse or non-finite runs) or
the posterior was built at a point that is not a converged stationary point (outputs are still
written), 1 anything else.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .cli_common import (  # (EXIT_* and console re-exported: the names older code imports)
    EXIT_BACKEND,
    EXIT_BLOWUP,
    EXIT_CONFIG,
    EXIT_NOT_CONVERGED,
    console,
    fail,
    handle_errors,
    precheck,
)
from .cli_experiment import register as _register_experiment_commands

__all__ = ["app", "main", "EXIT_BACKEND", "EXIT_BLOWUP", "EXIT_CONFIG", "EXIT_NOT_CONVERGED",
           "console", "fail", "handle_errors"]

app = typer.Typer(
    name="pyclimaocean",
    help="Differentiable ocean / sea-ice / atmosphere experiments.\n\n"
    "Example: pyclimaocean run examples/column_free_convection.toml",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: "[calibration]" or "pyclimaocean[julia]" in help texts are not rich markup,
    # and boolean options show as flags (--force, --progress / --no-progress), not "<bool>"
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from ._version import __version__

        typer.echo(f"pyclimaocean {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True,
        help="print the package version and exit",
    ),
) -> None:
    """Differentiable ocean / sea-ice / atmosphere experiments.

    Example: pyclimaocean run examples/column_free_convection.toml
    """


# run / validate / ensemble / flow / examples: see cli_experiment.py
_register_experiment_commands(app, handle_errors)


@app.command()
@handle_errors
def assimilate(
    config: Path = typer.Argument(
        ..., help="twin-experiment TOML file (e.g. examples/l96_etkf.toml)"
    ),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="output directory (default: runs/<experiment.name>)"
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="override a config value, e.g. --set method.inflation=1.03 (repeatable)"
    ),
    force: bool = typer.Option(False, "--force", help="overwrite an existing output directory"),
) -> None:
    """Run a Lorenz-96 data-assimilation twin experiment; write netCDF, summary and figures.

    Example: pyclimaocean assimilate examples/l96_etkf.toml -o runs/etkf --set experiment.n_cycles=500
    """
    precheck(config, "assimilate", set_)
    from .assimilation.experiment import assimilate_from_file

    result = assimilate_from_file(config, output_dir, set_, force=force)
    s = result.summary
    score = f"time-mean analysis RMSE {s['analysis_rmse']:.4f}"
    if "analysis_rmse_window_end" in s:  # 4D-Var: a smoother score and the filter-comparable one
        score = (f"time-mean analysis RMSE {s['analysis_rmse_window_end']:.4f} at window ends "
                 f"(filter-comparable), {s['analysis_rmse_smoother']:.4f} over whole windows "
                 "(smoother)")
    console.print(
        f"[green]done[/green]: {s['method']} {score} "
        f"(free run {s['free_run_rmse']:.3f}, climatology {s['climatology_rmse']:.3f}); "
        f"wrote {', '.join(str(f) for f in result.files)}"
    )


@app.command()
@handle_errors
def train(
    config: Path = typer.Argument(
        ..., help="closure-training TOML file (e.g. examples/l96_train_online.toml)"
    ),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="output directory (default: runs/<experiment.name>)"
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="override a config value, e.g. --set training.n_steps=200 (repeatable)"
    ),
    force: bool = typer.Option(False, "--force", help="overwrite an existing output directory"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress lines"),
) -> None:
    """Train a neural closure of the one-scale Lorenz-96 model (offline or online); write the
    network, loss history, scores and figures.

    Example: pyclimaocean train examples/l96_train_online.toml -o runs/online --set training.n_steps=200
    """
    precheck(config, "train", set_)
    from .learning.experiment import train_from_file
    from .learning.training import TrainingDivergedError

    try:
        result = train_from_file(
            config, output_dir, set_, force=force, log=None if quiet else console.print
        )
    except TrainingDivergedError as err:
        fail(str(err), EXIT_BLOWUP)
    m = result.metrics
    console.print(
        f"[green]done[/green]: {m['mode']} {m['architecture']} closure; time to error "
        f"threshold {m['closure']['time_to_threshold']:.3f} MTU (no closure "
        f"{m['no_closure']['time_to_threshold']:.3f}, cubic {m['polynomial']['time_to_threshold']:.3f}); "
        f"wrote {', '.join(str(f) for f in result.files)}"
    )


@app.command()
@handle_errors
def calibrate(
    config: Path = typer.Argument(..., help="calibration TOML (a run config + [calibration])"),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="output directory (default: runs/<name>_calibration)"
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="override a config value, e.g. --set calibration.method=eki (repeatable)"
    ),
    force: bool = typer.Option(False, "--force", help="overwrite an existing output directory"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Calibrate model parameters against observations (adjoint gradients or EKI).

    Example: pyclimaocean calibrate examples/column_calibrate.toml -o runs/cal
    """
    precheck(config, "calibrate", set_)
    from .calibration.experiment import calibrate_from_file

    s = calibrate_from_file(config, output_dir, set_, force=force, progress=progress)
    for w in s.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    # EKI/UKI run a fixed number of updates by design: ending there is not a failure
    budget = s["method"] in ("eki", "uki") and s["message"].startswith("reached max_iterations")
    if not s.get("converged", True) and not budget:
        fail(f"{s['method']} did not converge: {s['message']} (data misfit {s['data_misfit']:.6g}; "
             f"outputs written: {', '.join(s['files'])})", EXIT_NOT_CONVERGED)
    console.print(
        f"[green]done[/green]: {s['method']} data misfit {s['data_misfit']:.6g} "
        f"({s['n_iterations']} iterations); wrote {', '.join(s['files'])}"
    )


@app.command()
@handle_errors
def landscape(
    config: Path = typer.Argument(..., help="calibration TOML (a run config + [calibration])"),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="output directory (default: runs/<name>_landscape)"
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="override a config value, e.g. --set closure.switch_width=0 (repeatable)"
    ),
    at: str = typer.Option(
        "initial", "--at", help="centre of the scans: initial (first guess), truth (twin) or "
        "optimum (run the config's calibration first)"
    ),
    directions: str = typer.Option("random", "--directions", help="random or coordinates"),
    n_random: int = typer.Option(3, "--n-random", help="number of random directions"),
    radius: float = typer.Option(0.05, "--radius", help="half-length of each scan (unconstrained units)"),
    n_points: int = typer.Option(41, "--n-points", help="samples per scan"),
    which: str = typer.Option("loss", "--which", help="loss or data_misfit"),
    seed: int = typer.Option(0, "--seed", help="seed of the random directions"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing output directory"),
) -> None:
    """Scan the calibration loss along lines through a point: discontinuities, AD vs finite
    differences, zero-sensitivity parameters.  Exit code 5 when the loss is discontinuous or the
    AD derivative disagrees with finite differences by more than 1e-3 (outputs still written).

    Example: pyclimaocean landscape examples/column_calibrate.toml --at truth -o runs/scan
    """
    precheck(config, "calibrate", set_)
    from .calibration.landscape import landscape_from_file

    s = landscape_from_file(config, output_dir, set_, at=at, directions=directions, n_random=n_random,
                            radius=radius, n_points=n_points, which=which, force=force, seed=seed)
    for m in s["messages"]:
        console.print(f"[yellow]warning:[/yellow] {m}", highlight=False, soft_wrap=True)
    n_jumps = sum(len(x["discontinuities"]) for x in s["scans"])
    text = (f"{len(s['scans'])} scans at {at}, {s['n_evaluations']} evaluations; "
            f"{n_jumps} discontinuities; max AD vs FD relative error {s['max_ad_fd_relative_error']:.2g}; "
            f"wrote {', '.join(s['files'])}")
    if not s["continuous"] or s["max_ad_fd_relative_error"] > 1e-3:
        fail(f"the {which} is not smooth here or its gradient is wrong: {text}", EXIT_NOT_CONVERGED)
    console.print(f"[green]done[/green]: {which} continuous; {text}")


@app.command()
@handle_errors
def infer(
    config: Path = typer.Argument(..., help="inference TOML (calibration config + [inference])"),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="output directory (default: runs/<name>_inference)"
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="override a config value, e.g. --set inference.method=svi (repeatable)"
    ),
    force: bool = typer.Option(False, "--force", help="overwrite an existing output directory"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Posterior uncertainty (Laplace at the MAP or SVI) with identifiability report.

    Example: pyclimaocean infer examples/column_infer.toml -o runs/post
    """
    precheck(config, "infer", set_)
    from .inference.experiment import infer_from_file

    s = infer_from_file(config, output_dir, set_, force=force, progress=progress)
    for w in s.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    if s.get("stationary") is False or not s.get("map", {}).get("converged", True):
        fail(f"the posterior was built at a point that is not a converged stationary point "
             f"(MAP search: {s.get('map', {}).get('message', '?')}); it is not trustworthy; "
             f"outputs written: {', '.join(s['files'])}", EXIT_NOT_CONVERGED)
    bad = s.get("identifiability", {}).get("not_identifiable", [])
    loose = s.get("identifiability", {}).get("imprecise", [])
    console.print(
        f"[green]done[/green]: {s['method']} posterior ({s['n_samples']} samples); "
        f"not identifiable: {', '.join(bad) if bad else 'none'}; "
        f"imprecise: {', '.join(loose) if loose else 'none'}; wrote {', '.join(s['files'])}"
    )


@app.command()
def version() -> None:
    """Print the package version."""
    from . import __version__

    typer.echo(__version__)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

_ = Path  # re-exported for command modules
