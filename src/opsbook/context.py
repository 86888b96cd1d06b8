"""What a CLI invocation shares between its commands: the config file, the store, the clock."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import typer

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config, ConfigError, find_config, load_config, mask_text
from opsbook.config.secrets import remember, secrets_of
from opsbook.console import Exit, err, fail, literal, safe, shell_word
from opsbook.notify import service as notify
from opsbook.store import Store, open_store
from opsbook.store.engine import StoreUrlError, display_url, failure_reason
from opsbook.store.turns import Patience


@dataclass
class AppContext:
    config_option: Path | None = None
    database_url_option: str | None = None
    clock: Clock = SYSTEM_CLOCK
    # Whether a person is at a terminal to answer a question; None: stdin says. Tests set
    # it to drive a real prompt through CliRunner's input, as they inject the clock.
    interactive: bool | None = None
    _config: Config | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    def at_terminal(self) -> bool:
        """Whether a question can be asked and answered here."""
        return sys.stdin.isatty() if self.interactive is None else self.interactive

    def config_path(self) -> Path | None:
        return find_config(self.config_option)

    def hint(self, command: str) -> str:
        """`opsbook COMMAND` as a person should type it next: with the config this run
        used when it was named (--config or $OPSBOOK_CONFIG), so a hint never acts on the
        config of whatever folder it is pasted in."""
        if self.config_option is None:
            return f"opsbook {command}"
        path = shell_word(str(self.config_option.expanduser().absolute()))
        return f"opsbook --config {path} {command}"

    def config(self, *, required: bool = False) -> Config:
        """Load the config once; bad config stops the command (exit 2) before it acts."""
        if self._config is not None:
            return self._config
        path = self.config_path()
        if path is None:
            if required:
                _no_config()
            self._config = Config()  # what needs no state (runbook list) runs on defaults
            return self._config
        try:
            self._config = load_config(path)
            remember(secrets_of(self._config))
        except ConfigError as exc:
            for issue in exc.issues:
                err.print(literal(issue))
            count = len(exc.issues)
            files = ", ".join(dict.fromkeys(issue.file for issue in exc.issues)) or str(path)
            err.print(
                f"[bold red]{count} problem{'s' if count != 1 else ''}[/] in {safe(files)}; "
                "nothing was changed"
            )
            raise typer.Exit(Exit.BAD_INPUT) from None
        return self._config

    def target_url(self) -> str:
        """The watched app's database: --database-url, else database.url in the config."""
        if self.database_url_option:
            return self.database_url_option
        config = self.config()
        configured = config.database.url
        if configured is None:
            off = config.off_reason("database")
            fix = (
                f"{safe(off)}: set it in the environment or .env"
                if off
                else "set database.url in opsbook.yaml"
            )
            err.print(f"[bold red]error:[/] no target database: {fix}, or pass --database-url")
            raise typer.Exit(Exit.BAD_INPUT)
        return configured.reveal()

    def store(self, *, person: bool = True) -> Store:
        """The state store. A person's command (every one but `serve`) goes before the
        server's bulk work and says so when it has to wait for the store."""
        if self._store is None:
            # With no config the store would be the default ./opsbook.db, made empty on the
            # spot: "0 incidents open" from a store nobody uses is a false all-clear.
            if self.config_path() is None:
                _no_config()
            config = self.config()
            try:
                self._store = open_store(
                    config.store.url.reveal(),
                    base_dir=config.base_dir,
                    waiting=Patience(_say_waiting) if person else None,
                )
            except StoreUrlError as exc:
                err.print(f"[bold red]error:[/] {safe(exc)}")
                raise typer.Exit(Exit.BAD_INPUT) from None
            # Every incident change made through this store queues its notifications.
            notify.attach(self._store, config)
        return self._store

    def store_failed(self, error: BaseException) -> NoReturn:
        """One line for a state store that cannot be used (see engine.is_store_failure):
        which store, what its database said, and what was left undone. Exit 1."""
        config = self.config()
        where = display_url(config.store.url.reveal(), base_dir=config.base_dir)
        reason = mask_text(failure_reason(error), config.store.url.secret_parts())
        if self._store is None or self._store.committed == 0:
            outcome = "nothing was changed"
        else:
            outcome = "the change under way was not saved (earlier ones were)"
        fail(f"opsbook's state store (store.url) {where}: {reason}; {outcome}", Exit.FOUND)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _no_config() -> NoReturn:
    err.print(
        "[bold red]error:[/] no opsbook.yaml here or in $OPSBOOK_CONFIG: pass --config FILE"
        " or run opsbook init"
    )
    raise typer.Exit(Exit.BAD_INPUT)


def _say_waiting() -> None:
    err.print("waiting for the store (another opsbook process is writing)...")


def app_context(ctx: typer.Context) -> AppContext:
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj
