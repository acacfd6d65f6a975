"""What every CLI command shares: the settings, one service per run, JSON and Rich output, clean errors."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from app.service import CommitmentService, WriteResult
from app.settings import Settings

console = Console()
errors = Console(stderr=True)


@dataclass
class Runtime:
    """Held on the Typer context: the settings from the environment and `--db`, and the service built on them."""

    settings: Settings
    _service: CommitmentService | None = field(default=None, repr=False)

    def service(self) -> CommitmentService:
        if self._service is None:
            self._service = CommitmentService(self.settings)
        return self._service

    def close(self) -> None:
        if self._service is not None:
            self._service.close()


def runtime(ctx: typer.Context) -> Runtime:
    state = ctx.find_root().obj
    assert isinstance(state, Runtime)
    return state


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def fail(message: str) -> NoReturn:
    """Bad input: one line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


def validation_message(error: ValidationError) -> str:
    """A pydantic error as one readable line: `field: problem; field: problem`."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "input"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def build(model: type[BaseModel], values: dict[str, Any]) -> Any:
    """Validate CLI values into a command; options left out are not sent, so the model's defaults apply."""
    return model.model_validate({k: v for k, v in values.items() if v is not None})


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def print_json_lines(values: Iterable[Any]) -> None:
    """A JSON array written item by item, so long histories stream."""
    sys.stdout.write("[")
    for index, value in enumerate(values):
        sys.stdout.write(("\n  " if index == 0 else ",\n  ") + json.dumps(value, ensure_ascii=False, default=str))
    sys.stdout.write("\n]\n" if sys.stdout else "]\n")


def report_write(result: WriteResult, as_json: bool, what: str) -> None:
    if as_json:
        print_json(result.as_dict())
    else:
        console.print(f"[green]{what}[/green] {result.ref}: version {result.version}, position {result.position}")
