"""What a sandbox instance needs to run; every value has an embedded default for the demo."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORT = 8300


@dataclass(frozen=True)
class SandboxSettings:
    database_url: str
    commit: str = "4f2c9e1a7b3d5c8e9f0a1b2c3d4e5f6a7b8c9d0e"
    admin_token: str = "sandbox-admin-token"
    # Svix secrets are `whsec_` + base64; this decodes to b"sandbox-clerk-signing-secret-0000".
    clerk_webhook_secret: str = "whsec_c2FuZGJveC1jbGVyay1zaWduaW5nLXNlY3JldC0wMDAw"
    stripe_webhook_secret: str = "whsec_sandbox_stripe_signing_secret"
    vapi_secret: str = "sandbox-vapi-server-secret"
    vercel_token: str = "sandbox-vercel-token"  # the fake Vercel API's (sandbox/vercel.py)
    # A test account's session cookie (Clerk's __session): with the signed-out fault on,
    # the signed-in pages answer only a request that carries it (opsbook's app.session).
    session_token: str = "sandbox-session-token"

    def secrets(self) -> list[str]:
        return [
            self.admin_token,
            self.clerk_webhook_secret,
            self.stripe_webhook_secret,
            self.vapi_secret,
            self.vercel_token,
            self.session_token,
        ]
