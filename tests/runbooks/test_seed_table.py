"""Issue 18, "done when": the built-ins read against the seed (../shared/seed/
operations-runbooks.md), step for step. Each row is a seed step (abbreviated), the
built-in and step that carries it, and what kind of step that is; a step left to a person
says why opsbook cannot do it. The steps of one runbook appear in the seed's order. The
two P0s the seed names without steps (data breach, payments down) and the steps opsbook
adds (opening the incident, scheduling the drill) are not rows: the seed says nothing of
them."""

from __future__ import annotations

import pytest

from opsbook.registry import default_registry
from opsbook.runbooks.loader import BUILTIN_DIR, load_runbook
from opsbook.runbooks.model import Runbook, Step

Row = tuple[str, str, str, str, str]  # seed step, runbook, step id, kind, why manual

# Kinds: "action:NAME" (a registered action), "sql", "check" (an HTTP probe), "command"
# (a shell command), "notify", "manual" (a person does it, with the reason).
SEED: list[Row] = [
    # P0: Complete Service Outage
    ("Acknowledge incident", "p0-outage", "acknowledge", "action:incident.acknowledge", ""),
    ("Check Vercel status", "p0-outage", "vercel_status", "action:watch.statuspage", ""),
    ("Check Supabase status", "p0-outage", "supabase_status", "action:watch.statuspage", ""),
    ("Review recent deployments", "p0-outage", "recent_deployments", "action:deploy.recent", ""),
    ("If deployment caused issue, rollback", "p0-outage", "rollback", "action:deploy.rollback", ""),
    ("If database issue: connections, disk", "p0-outage", "database", "action:db.status", ""),
    ("If database issue: CPU usage >90%?", "p0-outage", "cpu", "manual",
     "PostgreSQL does not report CPU: only Supabase's dashboard shows it"),
    ("Update status page: Investigating", "p0-outage", "status_page",
     "action:incident.update", ""),
    ("Communicate to customers (if >15 min)", "p0-outage", "customers", "manual",
     "a person decides what customers are told (serve emails org admins after 15 min)"),
    ("Resolution: once fixed", "p0-outage", "fixed", "manual",
     "only a person knows the fix is in"),
    ("Resolution: monitor for 15 minutes", "p0-outage", "monitoring",
     "action:incident.update", ""),
    ("Resolution: monitor for 15 minutes", "p0-outage", "monitored", "manual",
     "a person judges that the fix held"),
    ("Update status page: Resolved; all-clear email", "p0-outage", "resolve",
     "action:incident.resolve", ""),
    ("Schedule post-mortem within 24 hours", "p0-outage", "postmortem", "manual",
     "a person writes it; the step gives the command that drafts it"),
    # P1: Authentication Failures
    ("Check Clerk status", "p1-auth-failures", "clerk_status", "action:watch.statuspage", ""),
    ("Verify environment variables", "p1-auth-failures", "environment", "manual",
     "Vercel's environment is read in Vercel (opsbook holds no Vercel env access)"),
    ("Check Clerk webhook endpoint", "p1-auth-failures", "clerk_webhook", "check", ""),
    ("Verify JWT claims", "p1-auth-failures", "jwt_claims", "manual",
     "JWT templates live in Clerk's dashboard"),
    ("Test authentication flow", "p1-auth-failures", "auth_flow", "manual",
     "signing in with a test account is done in a browser"),
    ("If webhook issue: delivery logs, retry", "p1-auth-failures", "webhook_deliveries",
     "manual", "Clerk's delivery logs and retries are in its dashboard"),
    ("Mitigation: maintenance page if Clerk is down", "p1-auth-failures", "mitigation",
     "manual", "a person decides to put the maintenance page up"),
    # P1: Database Connection Errors
    ("Check connection pool", "p1-db-connections", "pool", "sql", ""),
    ("Kill idle connections", "p1-db-connections", "kill_idle", "action:db.terminate_idle", ""),
    ("Check slow queries", "p1-db-connections", "slow_queries", "sql", ""),
    ("Kill long-running query (if identified)", "p1-db-connections", "kill_query",
     "action:db.kill", ""),
    ("Upgrade Supabase plan (if persistent)", "p1-db-connections", "upgrade_plan", "manual",
     "a plan change is a person's decision, made in Supabase"),
    ("Add connection pooling (PgBouncer)", "p1-db-connections", "pgbouncer", "manual",
     "the app's DATABASE_URL is changed in the app's environment"),
    ("Prevention", "p1-db-connections", "prevention", "manual",
     "changes to the app's code"),
    # Production Deployment
    ("Checklist: feature flags configured", "deploy", "feature_flags", "manual",
     "only the team knows whether the release ships a feature behind a flag"),
    ("Checklist: tests, staging, migrations; tell #deploys", "deploy", "checklist",
     "action:deploy.check", ""),
    ("Merge to main", "deploy", "merge", "manual", "a person merges the release"),
    ("Monitor deployment (~3 minutes)", "deploy", "monitor", "manual",
     "the build is watched in Vercel's dashboard"),
    ("Verify deployment: health, version", "deploy", "verify", "action:deploy.verify", ""),
    ("Smoke test critical paths", "deploy", "verify", "action:deploy.verify", ""),
    ("Monitor errors (15 minutes)", "deploy", "verify", "action:deploy.verify", ""),
    # Rollback Procedure
    ("vercel promote the previous deployment; post in #deploys", "deploy-rollback",
     "rollback", "action:deploy.rollback", ""),
    # Database Migrations
    ("Backup database first", "db-migrate", "backup", "manual",
     "a dashboard backup is taken in Supabase (the push checks opsbook's own)"),
    ("Test on local instance first", "db-migrate", "local", "manual",
     "supabase db reset runs on a developer's machine"),
    ("Apply to production", "db-migrate", "push", "action:db.migrate", ""),
    ("Verify migration", "db-migrate", "verify", "sql", ""),
    ("Test affected queries", "db-migrate", "affected_queries", "manual",
     "which queries a migration touches is the author's knowledge"),
    ("Rollback migration (if it breaks production)", "db-migrate", "rollback_plan", "manual",
     "restoring production is a person's decision"),
    # Weekly Tasks
    ("Review Sentry errors", "weekly", "sentry", "manual",
     "Sentry is read in its dashboard (opsbook has no Sentry access)"),
    ("Check Supabase disk usage", "weekly", "disk_usage", "action:db.status", ""),
    ("Check table sizes (Useful Commands)", "weekly", "table_sizes", "sql", ""),
    ("Verify backup completion", "weekly", "backups", "action:backup.status", ""),
    ("Review pending security updates", "weekly", "security_updates", "manual",
     "a person judges which updates to take"),
    ("Check for unused indexes", "weekly", "unused_indexes", "action:db.indexes", ""),
    # Monthly Tasks
    ("Rotate API keys: which are due", "monthly", "keys_due",
     "action:maintenance.key_rotation", ""),
    ("Rotate API keys", "monthly", "rotate_keys", "manual",
     "keys are rotated in each provider's dashboard"),
    ("Review and archive old exports", "monthly", "exports", "manual",
     "exports are kept outside the database opsbook reaches"),
    ("pnpm outdated", "monthly", "outdated", "command", ""),
    ("pnpm update (patch versions)", "monthly", "patch_updates", "manual",
     "it changes the app's lockfile, which a person commits"),
    ("Update major versions manually", "monthly", "major_updates", "manual",
     "the seed says manually: each major version is reviewed"),
    ("pnpm audit", "monthly", "dependency_audit", "action:maintenance.dependency_audit", ""),
    ("pnpm audit --fix", "monthly", "audit", "manual",
     "it changes the app's dependencies, which a person reviews"),
    # Quarterly Tasks
    ("Review slow queries", "quarterly", "slow_queries", "action:db.top_statements", ""),
    ("Optimize slow queries", "quarterly", "optimize", "manual",
     "an index or a rewrite is a change to the app"),
    ("Refresh materialized views manually", "quarterly", "refresh_views",
     "action:db.refresh_views", ""),
    ("Archive old scenario attempts", "quarterly", "archive", "manual",
     "its own runbook (archive-old-attempts), started when a person chooses"),
    ("Penetration test (hire external firm)", "quarterly", "pentest", "manual",
     "hiring a firm"),
    ("DR drill", "quarterly", "dr_drill", "manual",
     "its own runbook (dr-drill), scheduled with the team"),
    # Archive Old Attempts
    ("Attempts >1 year old: how many", "archive-old-attempts", "candidates", "sql", ""),
    ("insert into archive; delete", "archive-old-attempts", "archive", "action:db.archive", ""),
    ("vacuum full (plain VACUUM ANALYZE here)", "archive-old-attempts", "archive",
     "action:db.archive", ""),
    ("(the move left nothing older)", "archive-old-attempts", "verify", "sql", ""),
    # DR Drill Checklist
    ("1. Take manual backup of production DB", "dr-drill", "drill", "action:backup.drill", ""),
    ("2. Create test Supabase project", "dr-drill", "drill", "action:backup.drill", ""),
    ("3. Restore backup to test project", "dr-drill", "drill", "action:backup.drill", ""),
    ("4. Deploy app pointing to test DB", "dr-drill", "drill", "action:backup.drill", ""),
    ("5. Verify data integrity", "dr-drill", "drill", "action:backup.drill", ""),
    ("6. Document any issues found", "dr-drill", "review", "manual",
     "a person gives each problem an owner"),
    ("7. Update runbooks", "dr-drill", "update_runbooks", "manual",
     "editing runbooks is a person's work"),
    # Issue: High Memory Usage
    ("Check for memory leaks in code", "high-memory", "leaks", "manual", "reading the code"),
    ("Optimize large data fetches (pagination)", "high-memory", "pagination", "manual",
     "a change to the app"),
    ("Clear caches periodically", "high-memory", "caches", "manual",
     "the app's caches are not opsbook's"),
    ("Upgrade Vercel plan for more memory", "high-memory", "upgrade", "manual",
     "a plan change is a person's decision, made in Vercel"),
    # Issue: Slow Dashboard Load
    ("Dashboard takes >5 seconds (the symptom)", "slow-dashboard", "measure",
     "action:deploy.smoke", ""),
    ("Refresh materialized views", "slow-dashboard", "refresh_views",
     "action:db.refresh_views", ""),
    ("Add indexes on frequently queried columns", "slow-dashboard", "indexes", "manual",
     "which columns is read from query plans by a person"),
    ("Cache dashboard data", "slow-dashboard", "cache", "manual", "a change to the app"),
    ("Lazy load non-critical widgets", "slow-dashboard", "lazy_load", "manual",
     "a change to the app"),
    # Issue: Voice Calls Failing
    ("Check Vapi status", "voice-calls-failing", "vapi_status", "action:watch.statuspage", ""),
    ("Verify VAPI_API_KEY is correct", "voice-calls-failing", "api_key", "manual",
     "the key lives in Vercel's environment"),
    ("Check browser mic permissions", "voice-calls-failing", "mic", "manual",
     "the user's browser"),
    ("Test with different browser/device", "voice-calls-failing", "other_browser", "manual",
     "another browser or device, in a person's hands"),
    ("Review /api/webhooks/vapi: deployed?", "voice-calls-failing", "vapi_webhook",
     "check", ""),
    ("Review /api/webhooks/vapi logs", "voice-calls-failing", "webhook_logs", "manual",
     "the logs are Vercel's"),
    # Issue: Emails Not Sending
    ("Check Resend dashboard for failures", "emails-not-sending", "resend", "manual",
     "Resend's dashboard"),
    ("Verify EMAIL_FROM domain is verified", "emails-not-sending", "email_from", "manual",
     "Resend's domain settings"),
    ("Check SPF/DKIM DNS records", "emails-not-sending", "dns", "action:watch.check", ""),
    ("Review email queue", "emails-not-sending", "queue", "manual",
     "the app's job queue is not opsbook's"),
    ("Test with personal email first", "emails-not-sending", "personal", "manual",
     "a person's own inbox"),
    # On-Call: After Incident
    ("Write post-mortem within 24 hours", "post-incident", "postmortem", "manual",
     "a person writes it; the step gives the command that drafts it"),
    ("Update runbooks with learnings", "post-incident", "runbooks", "manual",
     "editing runbooks is a person's work"),
    ("Create tickets for follow-up work", "post-incident", "tickets", "manual",
     "a person says what the follow-up is and who owns it"),
]  # fmt: skip


def kind(step: Step) -> str:
    if step.uses is not None:
        return f"action:{step.uses}"
    return {"http": "check", "run": "command"}.get(step.kind, step.kind)


@pytest.fixture(scope="module")
def builtins() -> dict[str, Runbook]:
    registry = default_registry()
    return {p.stem: load_runbook(p, registry=registry) for p in BUILTIN_DIR.glob("*.yaml")}


@pytest.mark.parametrize("name", sorted({row[1] for row in SEED}))
def test_the_runbook_carries_the_seeds_steps_in_order(
    builtins: dict[str, Runbook], name: str
) -> None:
    steps = builtins[name].steps
    position = {s.id: i for i, s in enumerate(steps)}
    rows = [row for row in SEED if row[1] == name]
    found = []
    for seed, _, step_id, expected, why in rows:
        assert step_id in position, f"{seed}: {name} has no step {step_id}"
        step = steps[position[step_id]]
        found.append((seed, kind(step)))
        # A step left to a person says why; one opsbook does has nothing to excuse.
        assert bool(why) == (expected == "manual"), seed
    assert found == [(row[0], row[3]) for row in rows]
    order = [position[row[2]] for row in rows]
    assert order == sorted(order), f"{name}: the seed's order is {[r[2] for r in rows]}"


def test_the_table_covers_every_builtin_with_seed_steps(builtins: dict[str, Runbook]) -> None:
    # data-breach and payments-down: the seed names these P0s but gives them no steps.
    assert {row[1] for row in SEED} == set(builtins) - {"data-breach", "payments-down"}
