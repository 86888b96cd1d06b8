"""Commands that answer at once: a warm process that has already imported opsbook.

Importing SQLAlchemy, pydantic and opsbook's configuration schema takes about a second on
a small machine, and `opsbook incident list` itself about a tenth of that. The `opsbook`
program (`client`) hands a short, everyday command (`client.QUICK`) to a server process of
the same user that holds those modules imported (`server`); it forks a child per command,
which takes the client's terminal (its standard input, output and error, passed over a
Unix socket), working directory, environment, umask and arguments, and runs the command
exactly as the program would. The client forwards its signals to the child and exits
with the child's status. Anything else, or anything unusual (no server yet, a stale one,
a socket folder another user could write), runs in the program itself, as before; the
first such run starts a server for the next, which exits after `server.IDLE` seconds
without a command. `OPSBOOK_SERVER=off` turns it off. Mercurial's chg is the model.
"""
