"""Email over SMTP (STARTTLS, implicit TLS, or a plain local relay), text and HTML parts.

Every message of one incident carries `In-Reply-To`/`References` to the incident's stable
key, so mail clients thread them. The `Message-ID` is the outbox message's key, the same
on every attempt: a repeat (opsbook killed between the server's 250 and recording it) is a
duplicate that receivers and mail stores recognise by its Message-ID; SMTP itself has no
way to refuse it, so this channel is at least once."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import html
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP

from opsbook.config.notify import EmailChannel, is_plain_address, plain_address
from opsbook.notify.channels.base import Answer, Outcome, SendContext, shown
from opsbook.notify.message import (
    CUSTOMER_KINDS,
    HEADLINES,
    NOTICE,
    PAGING_KINDS,
    Message,
    cut,
    due_text,
    many_lines,
    one_line,
)

SUBJECT_LIMIT = 200
# RFC 5322's atext: what the left side of a Message-ID may hold (no ':' or space).
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")


class Email:
    kinds = (
        frozenset({"trigger", "update", "acknowledge", "resolve", "test", NOTICE, *CUSTOMER_KINDS})
        | PAGING_KINDS
    )

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel

    @property
    def domain(self) -> str:
        return self.channel.from_.rpartition("@")[2]

    def build(self, message: Message, ctx: SendContext) -> EmailMessage:
        if message.kind in CUSTOMER_KINDS:
            return self._customer(message, ctx)
        if message.kind == NOTICE:
            return self._notice(message, ctx)
        incident = message.incident
        project = one_line(str(message.payload.get("project") or "opsbook"))
        title = one_line(str(incident.get("title", "")))
        test = "[TEST] " if message.is_test else ""
        # One subject for the incident's whole life: some clients thread by subject too.
        subject = f"{test}[{project}] Incident #{incident.get('id')}: {title}"
        thread = None if message.is_test else incident.get("key")
        mail = self._head(message, ctx, subject, ", ".join(self.recipients(message)), thread)
        lines = _lines(message)
        mail.set_content("\n".join(lines) + "\n")
        body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        mail.add_alternative(f"<!doctype html><html><body>{body}</body></html>", subtype="html")
        return mail

    def _customer(self, message: Message, ctx: SendContext) -> EmailMessage:
        """A customer email was rendered when it was queued (notify.customers): its one
        recipient is checked again here, so a row edited in the store cannot add one."""
        parts = message.payload.get("mail")
        if not isinstance(parts, dict):
            raise ValueError(f"customer email #{message.id} has no rendered mail")
        to = plain_address(str(parts.get("to", "")))
        mail = self._head(message, ctx, str(parts["subject"]), to, parts.get("thread"))
        mail.set_content(str(parts["text"]))
        mail.add_alternative(str(parts["html"]), subtype="html")
        return mail

    def _notice(self, message: Message, ctx: SendContext) -> EmailMessage:
        """`[project] notice: <its first line>`, the whole text as the body."""
        project = one_line(str(message.payload.get("project") or "opsbook"))
        lines = many_lines(message.text).splitlines() or [""]
        subject = f"[{project}] notice: {one_line(lines[0])}"
        mail = self._head(message, ctx, subject, ", ".join(self.channel.to), None)
        mail.set_content("\n".join(lines) + "\n")
        body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        mail.add_alternative(f"<!doctype html><html><body>{body}</body></html>", subtype="html")
        return mail

    def _head(
        self, message: Message, ctx: SendContext, subject: str, to: str, thread: object
    ) -> EmailMessage:
        """Headers every message shares. `thread` is the key of the incident's thread: every
        message of it answers the same root, so mail clients show one conversation."""
        mail = EmailMessage(policy=SMTP)
        mail["Subject"] = cut(one_line(subject), SUBJECT_LIMIT)
        mail["From"] = self.channel.from_
        mail["To"] = to
        mail["Date"] = email.utils.format_datetime(ctx.clock.now())
        mail["Message-ID"] = f"<{id_left(message.key)}@{self.domain}>"
        if thread:
            root = f"<{thread}@{self.domain}>"
            mail["In-Reply-To"] = root
            mail["References"] = root
        return mail

    def recipients(self, message: Message) -> list[str]:
        """The paged person's own address for an escalation message to a person; the
        channel's list for everything else. The address is checked again here: a comma
        or a line break in it would add recipients or headers."""
        address = str(message.page.get("email") or "")
        if message.page.get("person") and address:
            if not is_plain_address(address):
                raise ValueError(f"{one_line(address)!r} is not one plain email address")
            return [address]
        return list(self.channel.to)

    async def send(self, message: Message, ctx: SendContext) -> Answer:
        try:
            mail = self.build(message, ctx)
        except ValueError as exc:  # a recipient refused above: resending cannot help
            return Answer("failed", shown(str(exc)))
        return await asyncio.to_thread(self._deliver, mail)

    def _deliver(self, mail: EmailMessage) -> Answer:
        channel = self.channel
        where = f"{channel.smtp_host}:{channel.smtp_port}"
        try:
            with self._connect() as smtp:
                if channel.username:
                    password = channel.password.reveal() if channel.password else ""
                    smtp.login(channel.username, password)
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            # 4xx is the server's "try again later", 5xx is a refusal that will repeat.
            outcome: Outcome = "retry" if 400 <= exc.smtp_code < 500 else "failed"
            reply = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            return Answer(
                outcome, shown(f"{where} answered {exc.smtp_code} {reply}"), exc.smtp_code
            )
        except smtplib.SMTPRecipientsRefused as exc:
            return Answer("failed", shown(f"{where} refused the recipients: {exc.recipients}"))
        except ssl.SSLError as exc:
            return Answer("failed", shown(f"TLS with {where} failed: {exc}"))
        except (OSError, smtplib.SMTPException) as exc:
            return Answer("retry", shown(f"could not reach {where}: {exc}"))
        return Answer("delivered", f"250 accepted by {where}", 250)

    def _connect(self) -> smtplib.SMTP:
        channel = self.channel
        timeout = channel.timeout.total_seconds()
        context = ssl.create_default_context(cafile=channel.ca_file)
        if channel.security == "tls":
            return smtplib.SMTP_SSL(
                channel.smtp_host, channel.smtp_port, timeout=timeout, context=context
            )
        smtp = smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=timeout)
        try:
            if channel.security == "starttls":
                smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp


def id_left(key: str) -> str:
    """The key as a Message-ID's left side. Escalation's keys hold ':' and names with
    spaces (`page:1:5:0:2:DevOps Lead:email`): written as they are, the header is not a
    msg-id and readers cut it at the colon, so every page looked like one message `<page`.
    Such a key keeps its legible characters and gains a hash of the whole (still the same
    on every attempt, still distinct per key)."""
    if _ATEXT.fullmatch(key):
        return key
    legible = "-".join(_ATEXT.findall(key))[:100]
    return f"{legible}.{hashlib.sha256(key.encode()).hexdigest()[:24]}".lstrip(".")


def _lines(message: Message) -> list[str]:
    incident = message.incident
    lines = [
        f"{HEADLINES.get(message.kind, message.kind)}: {message.summary(SUBJECT_LIMIT * 5)}",
        f"Severity: {incident.get('severity')} {incident.get('label', '')}".rstrip(),
        f"Status: {incident.get('status')}",
        f"Due: {due_text(message.payload)}",
        f"Component: {one_line(str(incident.get('component') or '-'))}",
    ]
    lines += [f"Changed: {one_line(c)}" for c in message.changes]
    if message.text:
        lines += ["", *many_lines(message.text).splitlines()]
    if incident.get("url"):
        lines += ["", f"Open it: {incident['url']}"]
    return lines
