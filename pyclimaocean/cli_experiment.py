"""Experiment commands of the launcher: ``run``, ``validate``, ``ensemble``, ``flow`` and
``examples`` (registered on :data:`pyclimaocean.cli.app`).

Each command is a thin shell over :mod:`pyclimaocean.experiment` or
:mod:`pyclimaocean.workflows`; errors become one-line messages and the exit codes of
:mod:`pyclimaocean.cli` (0 ok, 2 config, 3 blow-up, 4 backend unavailable, 1 other).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from .cli_common import EXIT_BLOWUP, EXIT_CONFIG, console, fail, precheck

__all__ = ["register", "examples_app", "bundled_examples", "examples_dir", "example_description",
           "example_verb"]

_OUTPUT = typer.Option(
    None, "--output-dir", "-o", help="experiment directory (default: runs/<experiment.name>)"
)
_SET = typer.Option(
    [], "--set", help="override a config value, e.g. --set grid.nz=32 (repeatable)"
)
_FORCE = typer.Option(
    False, "--force", help="overwrite an existing experiment directory (deletes it first)"
)
_RESUME = typer.Option(
    False, "--resume", help="continue an interrupted experiment from its last checkpoint"
)


def _command() -> list[str]:
    return ["pyclimaocean", *sys.argv[1:]]


def _console():
    return console


def _fail(message: str, code: int) -> None:
    fail(message, code)


# ---------------------------------------------------------------------------------------------
# run / validate
# ---------------------------------------------------------------------------------------------
def run(
    config: Path = typer.Argument(..., help="experiment TOML file"),
    output_dir: Path | None = _OUTPUT,
    set_: list[str] = _SET,
    force: bool = _FORCE,
    resume: bool = _RESUME,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Run an experiment and write its dataset, figures and report.

    \b
    Examples:
      pyclimaocean run examples/column_free_convection.toml -o runs/fc
      pyclimaocean run examples/column_free_convection.toml -o runs/fc --set grid.nz=32 --force
      pyclimaocean run examples/column_free_convection.toml -o runs/fc --resume   # after a crash
    """
    precheck(config, "run", set_)
    from .experiment import run_experiment

    result = run_experiment(
        config, output_dir, set_, force=force, resume=resume, progress=progress,
        command=_command(),
    )
    shown = [(k, v) for k, v in result.diagnostics.items() if k != "final_time"][:3]
    numbers = "; ".join(
        f"{result.labels.get(k, ('', k))[1]} {v:.4g} {result.labels.get(k, ('', ''))[0]}".strip()
        for k, v in shown
    )
    _console().print(
        f"[green]done[/green]: {escape(str(result.output_dir))} ({escape(numbers)}; see "
        f"{escape(str(result.output_dir / 'report.md'))})",
        soft_wrap=True,
    )


def validate(
    config: Path = typer.Argument(..., help="experiment TOML file"),
    output_dir: Path | None = _OUTPUT,
    set_: list[str] = _SET,
) -> None:
    """Dry run: validate CONFIG of any kind (run, calibrate, infer, assimilate, train), build
    its model, report what would run and which verb runs it; write nothing.

    \b
    Examples:
      pyclimaocean validate examples/column_free_convection.toml
      pyclimaocean validate examples/column_free_convection.toml --set time.dt=300
      pyclimaocean validate examples/column_calibrate.toml
      pyclimaocean validate examples/l96_etkf.toml
    """
    precheck(config, None, set_)
    from rich.table import Table

    from .experiment import validate_any

    kind, summary = validate_any(config, set_, output_dir)
    table = Table(title=escape(f"{config}: valid {kind} config"), show_header=False)
    if kind == "run":
        table.add_row("verb", "pyclimaocean run")
    for key, value in summary.items():
        table.add_row(escape(str(key)), escape(str(value)))
    Console(soft_wrap=True).print(table)
    out = Path(output_dir) if output_dir is not None else None
    if kind == "run" and out is not None and out.is_dir() and any(out.iterdir()):
        _console().print(
            f"note: {escape(str(out))} already holds files; `run` will need --force or --resume"
        )


# ---------------------------------------------------------------------------------------------
# ensemble
# ---------------------------------------------------------------------------------------------
_PERTURB = typer.Option(
    [], "--perturb", "-p",
    help="closure parameter to perturb, e.g. -p c_hi_c -p closure.c_lo_c (repeatable)",
)
_MEMBERS = typer.Option(16, "--members", "-n", min=1, help="number of members")
_SEED = typer.Option(0, "--seed", min=0, help="random seed of the parameter draws")
_METHOD = typer.Option(
    "prior", "--method",
    help="prior: draw from each parameter's prior (uniform on its bounds if none); "
    "relative: value * exp(spread * N(0,1))",
)
_SPREAD = typer.Option(0.2, "--spread", help="relative spread sigma of --method relative")
_ADDRESS = typer.Option(
    None, "--dask-address",
    help="address of a running Dask scheduler (tcp://host:8786); default: start a "
    "LocalCluster",
)
_WORKERS = typer.Option(2, "--workers", min=1, help="worker processes of the LocalCluster")
_VERBOSE = typer.Option(
    False, "--verbose", help="show Prefect's and Dask's INFO log lines (default: warnings only)")


def _report_ensemble(members: list[dict], out) -> None:
    bad = [m for m in members if m["status"] != "completed"]
    if bad:
        lines = "; ".join(f"member {m['member']}: {m['message']}" for m in bad[:3])
        _fail(f"{len(bad)} of {len(members)} ensemble members blew up ({lines}). "
              f"The others are in {out}.", EXIT_BLOWUP)
    _console().print(f"[green]done[/green]: {len(members)} members in {out} (see {out}/report.md)")


def ensemble(
    config: Path = typer.Argument(..., help="experiment TOML file"),
    perturb: list[str] = _PERTURB,
    members: int = _MEMBERS,
    seed: int = _SEED,
    method: str = _METHOD,
    spread: float = _SPREAD,
    output_dir: Path | None = _OUTPUT,
    set_: list[str] = _SET,
    force: bool = _FORCE,
    resume: bool = _RESUME,
    executor: str = typer.Option(
        "auto", "--executor",
        help="auto: in-process for small ensembles, a Prefect flow on Dask when it pays "
        "(many members, >= 2 cores, or --dask-address); in-process; dask"),
    sequential: bool = typer.Option(
        False, "--sequential", help="same as --executor in-process (no Prefect, no Dask)"),
    dask_address: str | None = _ADDRESS,
    workers: int = _WORKERS,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    verbose: bool = _VERBOSE,
) -> None:
    """Parameter-perturbation ensemble of CONFIG, in-process or as a Prefect flow on Dask.

    Each member perturbs the chosen closure parameters (drawn with --seed) and is written to
    OUTPUT_DIR/members/member_NNN; all are stacked in OUTPUT_DIR/ensemble.nc (bit for bit the
    same with either executor).  --executor auto (the default) runs small ensembles in this
    process and uses Dask when the parallel members repay its start-up (docs/workflows.md,
    "Choosing the executor").  Exit code 3 if a member blew up (the others are kept).

    \b
    Examples:
      pyclimaocean ensemble examples/column_free_convection.toml -p c_hi_c -p c_lo_c -n 16 -o runs/ens
      pyclimaocean ensemble examples/column_free_convection.toml -p c_hi_c -n 8 --sequential
      pyclimaocean ensemble examples/column_free_convection.toml -p c_hi_c --dask-address tcp://127.0.0.1:8786
      pyclimaocean ensemble examples/column_free_convection.toml -p c_hi_c -o runs/ens --resume
    """
    precheck(config, "run", set_)
    from .workflows.settings import choose_executor, quiet_logging

    if sequential and (executor not in ("auto", "in-process") or dask_address):
        asked = f"--dask-address {dask_address}" if dask_address else f"--executor {executor}"
        _fail(f"--sequential runs the members in this process; it cannot be combined with "
              f"{asked}. Drop one of them.", EXIT_CONFIG)
    try:
        chosen, why = choose_executor(members, executor="in-process" if sequential else executor,
                                      workers=workers, dask_address=dask_address)
    except ValueError as err:
        _fail(str(err), EXIT_CONFIG)
    if progress:
        _console().print(f"ensemble of {members} members: {chosen} ({why})", highlight=False)
    if chosen == "in-process":
        from .experiment import run_ensemble

        res = run_ensemble(config, output_dir, set_, parameters=perturb, members=members,
                           seed=seed, method=method, spread=spread, force=force, resume=resume,
                           progress=progress, command=_command())
        _report_ensemble(res.members, res.output_dir)
        return
    if not verbose:
        quiet_logging()
    from .workflows.launcher import launch

    res = launch("ensemble", dask_address=dask_address, n_workers=workers, config=str(config),
                 output_dir=str(output_dir) if output_dir else None, overrides=list(set_),
                 parameters=list(perturb), members=members, seed=seed, method=method,
                 spread=spread, force=force, resume=resume, progress=progress)
    _report_ensemble(res["members"], res["output_dir"])


# ---------------------------------------------------------------------------------------------
# flow
# ---------------------------------------------------------------------------------------------
def flow(
    name: str = typer.Argument(..., help="flow: run, ensemble, calibrate, infer or study"),
    config: Path = typer.Argument(..., help="experiment TOML file"),
    output_dir: Path | None = _OUTPUT,
    set_: list[str] = _SET,
    force: bool = _FORCE,
    resume: bool = typer.Option(
        False, "--resume", help="run a killed flow again: finished tasks are not recomputed"),
    perturb: list[str] = _PERTURB,
    members: int = _MEMBERS,
    seed: int = _SEED,
    method: str = _METHOD,
    spread: float = _SPREAD,
    param: list[str] = typer.Option(
        [], "--param", help="extra flow parameter key=value (TOML value), repeatable"),
    dask_address: str | None = _ADDRESS,
    workers: int = _WORKERS,
    progress: bool = typer.Option(
        True, "--progress/--no-progress",
        help="progress bar (ensemble members; optimisation in calibrate/infer)"),
    verbose: bool = _VERBOSE,
) -> None:
    """Run a Prefect flow over the Python API (offline; task results persisted in
    OUTPUT_DIR/.prefect so that `--resume` skips finished tasks).

    Set PREFECT_API_URL to record the run in a Prefect server; otherwise a temporary local
    API is used and nothing leaves the machine.

    \b
    Examples:
      pyclimaocean flow run examples/column_free_convection.toml -o runs/fc
      pyclimaocean flow ensemble examples/column_free_convection.toml -p c_hi_c -n 16 -o runs/ens
      pyclimaocean flow ensemble examples/column_free_convection.toml -p c_hi_c -o runs/ens --resume
      pyclimaocean flow calibrate examples/column_calibrate.toml -o runs/cal
      pyclimaocean flow study examples/column_calibrate.toml -o runs/study -n 16
    """
    verb = {"run": "run", "ensemble": "run", "calibrate": "calibrate", "infer": "infer",
            "study": "calibrate"}.get(name)
    if verb is not None:
        precheck(config, verb, set_)
    from .config import parse_override
    from .workflows.settings import quiet_logging

    if not verbose:
        quiet_logging()
    from .workflows.launcher import launch

    params: dict = {"config": str(config), "output_dir": str(output_dir) if output_dir else None,
                    "overrides": list(set_), "force": force, "resume": resume}
    if name == "ensemble":
        params.update(parameters=list(perturb), members=members, seed=seed, method=method,
                      spread=spread, progress=progress)
    elif name in ("calibrate", "infer"):
        params.update(progress=progress)
    elif name == "study":
        params.update(members=members, seed=seed)
    for text in param:
        key, value = parse_override(text)
        params[key] = value
    res = launch(name, dask_address=dask_address, n_workers=workers, **params)
    if isinstance(res, dict) and "members" in res:
        _report_ensemble(res["members"], res["output_dir"])
        return
    where = res.get("output_dir") if isinstance(res, dict) else None
    _console().print(f"[green]done[/green]: flow {name!r}" + (f" wrote {where}" if where else ""))


# ---------------------------------------------------------------------------------------------
# examples
# ---------------------------------------------------------------------------------------------
examples_app = typer.Typer(
    help="List the bundled example configs, or copy one to start from.\n\n"
    "Examples:  pyclimaocean examples  |  pyclimaocean examples copy column_free_convection .",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,  # plain help, as the root app (cli.py)
)


def examples_dir() -> Path:
    """Directory of the bundled examples (``pyclimaocean/examples`` in the installed package)."""
    from importlib import resources

    return Path(str(resources.files("pyclimaocean") / "examples"))


def bundled_examples() -> dict[str, Path]:
    """``{name: path}`` of the bundled example files (TOML configs and scripts)."""
    d = examples_dir()
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.iterdir())
            if p.suffix in (".toml", ".py") and not p.name.startswith(("_", "."))}


def example_description(path: Path) -> str:
    """The whole description of an example, as one line: the first paragraph of its leading
    comment block (TOML; the "Run:" command lines left out) or of its docstring (script)."""
    import ast

    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    if path.suffix == ".py":
        try:
            doc = ast.get_docstring(ast.parse(text)) or ""
        except SyntaxError:
            return ""
        return " ".join(doc.split("\n\n")[0].split())
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("#"):
            break
        s = s.lstrip("#").strip()
        if not s or s.startswith(("pyclimaocean ", "python ")):  # end of the first paragraph
            break
        if s.lower().startswith(("run:", "run with", "usage:")):
            continue
        lines.append(s)
    words = " ".join(lines).split()
    if words and words[-1].lower() in ("run:", "run"):  # "... Run:" followed by the command
        words = words[:-1]
    return " ".join(words)


def example_verb(path: Path) -> str:
    """The command that runs an example: ``pyclimaocean <verb>`` for a TOML config (from its
    tables, :func:`pyclimaocean.config.experiment_kind`), ``python`` for a script."""
    if path.suffix != ".toml":
        return "python"
    from .config import ConfigError, experiment_kind, load_toml

    try:
        return f"pyclimaocean {experiment_kind(load_toml(path))}"
    except ConfigError:
        return "?"


@examples_app.callback()
def examples_list(ctx: typer.Context) -> None:
    """List the bundled examples: name, the command that runs each, and what it shows."""
    if ctx.invoked_subcommand is not None:
        return
    import textwrap

    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    typer.echo("Bundled examples (copy one with: pyclimaocean examples copy NAME DEST)\n")
    for name, path in bundled_examples().items():
        typer.echo(f"{name}\n    run with: {example_verb(path)} {path.name}")
        typer.echo(textwrap.fill(example_description(path) or "(no description)", width=width,
                                 initial_indent="    ", subsequent_indent="    ") + "\n")


def examples_copy(
    name: str = typer.Argument(..., help="example name (see `pyclimaocean examples`)"),
    dest: Path = typer.Argument(Path("."), help="directory (or file name) to copy to"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
) -> None:
    """Copy a bundled example to DEST."""
    from .config import ConfigError

    found = bundled_examples()
    key = Path(name).stem
    if key not in found:
        raise ConfigError(
            f"example {name!r} does not exist. Examples are: {', '.join(found) or '(none)'}"
        )
    src = found[key]
    target = dest / src.name if dest.is_dir() or not dest.suffix else dest
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    _console().print(f"[green]copied[/green] {src.name} -> {target}")


def register(app: typer.Typer, handle_errors) -> None:
    """Add ``run``, ``validate``, ``ensemble``, ``flow`` and ``examples`` to ``app``, each
    wrapped in ``handle_errors`` (error -> message + exit code)."""
    for command in (run, validate, ensemble, flow):
        app.command()(handle_errors(command))
    examples_app.command("copy")(handle_errors(examples_copy))
    app.add_typer(examples_app, name="examples")
