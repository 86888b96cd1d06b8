"""One module per check kind; each exposes `async def run(check, ctx) -> CheckResult`."""
