"""`opsbook demo`: the whole loop on embedded defaults, on this machine, leaving nothing
behind. `stage` starts a throwaway PostgreSQL (or uses --database-url), lays out, seeds and
serves the sandbox app with the stand-ins its config points at (`profile`); a scenario
(`scenarios`: the `tour` of `drills`, or `outage`) then plays, and `watching` keeps
`opsbook serve`'s loop running on it, with `hints` that run as printed. `cli` is the
command, importing the rest only when it runs."""
