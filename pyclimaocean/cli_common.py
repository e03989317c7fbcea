"""What every command of the launcher shares: the error console, exit codes, and the decorator
that turns the package's user-facing exceptions into a one-line message and an exit code."""

from __future__ import annotations

import typer
from rich.console import Console

__all__ = ["EXIT_BACKEND", "EXIT_BLOWUP", "EXIT_CODES", "EXIT_CONFIG", "EXIT_NOT_CONVERGED",
           "console", "exit_code", "fail", "handle_errors", "precheck"]

console = Console(stderr=True)

EXIT_CONFIG = 2
EXIT_BLOWUP = 3
EXIT_BACKEND = 4
EXIT_NOT_CONVERGED = 5


def fail(message: str, code: int) -> None:
    """Print a clear one-line error and exit with ``code``."""
    from rich.markup import escape

    # escaped: "[calibration]" or pip extras like "pyclimaocean[julia]" must survive
    console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False,
                  soft_wrap=True)
    raise typer.Exit(code)


#: the package's user-facing exceptions (by defining module and name, so that handling them
#: imports nothing: a class that was raised is already imported) -> exit code
EXIT_CODES = {
    "pyclimaocean.config.ConfigError": EXIT_CONFIG,
    "pyclimaocean.params.ParameterError": EXIT_CONFIG,
    "pyclimaocean.backends.base.BackendUnavailableError": EXIT_BACKEND,
    "pyclimaocean.simulation.simulation.BlowUpError": EXIT_BLOWUP,
}


def exit_code(err: BaseException) -> int | None:
    """The exit code of a user-facing exception (subclasses included), or ``None``."""
    if isinstance(err, FileExistsError):
        return EXIT_CONFIG
    for cls in type(err).__mro__:
        code = EXIT_CODES.get(f"{cls.__module__}.{cls.__qualname__}")
        if code is not None:
            return code
    return None


def handle_errors(func):
    """Decorator: map the package's user-facing exceptions to messages and exit codes
    (:data:`EXIT_CODES`; anything else propagates with its traceback)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValueError, RuntimeError, FileExistsError) as err:
            code = exit_code(err)
            if code is None:
                raise
            fail(str(err), code)

    return wrapper


def precheck(config, verb: str | None, overrides=()) -> None:
    """Fail fast, before a command imports JAX: CONFIG exists and is TOML, the ``--set``
    overrides parse, and (``verb`` given) it is a config for ``verb``, else the error names
    the right verb."""
    from .config import apply_overrides, check_verb, load_toml

    raw = apply_overrides(load_toml(config), overrides)
    if verb is not None:
        check_verb(raw, verb, str(config))
