"""What every command of the launcher shares: the error console, exit codes, and the decorator
that turns the package's user-facing exceptions into a one-line message and an exit code."""

from __future__ import annotations

import typer
from rich.console import Console

__all__ = ["EXIT_BACKEND", "EXIT_BLOWUP", "EXIT_CONFIG", "EXIT_NOT_CONVERGED", "console", "fail",
           "handle_errors"]

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


def handle_errors(func):
    """Decorator: map the package's user-facing exceptions to messages and exit codes."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .backends.base import BackendUnavailableError
        from .config import ConfigError
        from .params import ParameterError
        from .simulation import BlowUpError

        try:
            return func(*args, **kwargs)
        except (ConfigError, ParameterError) as err:
            fail(str(err), EXIT_CONFIG)
        except BackendUnavailableError as err:
            fail(str(err), EXIT_BACKEND)
        except FileExistsError as err:
            fail(str(err), EXIT_CONFIG)
        except BlowUpError as err:
            fail(str(err), EXIT_BLOWUP)

    return wrapper


