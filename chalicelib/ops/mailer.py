"""Email through SES, from templates kept in the repository.

A template is a text file whose first line is `Subject: ...`, then a blank line, then the body, with
`{placeholders}` filled from keyword arguments. The mailer is the only SES caller; a send that SES refuses
becomes a `DependencyError` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import DependencyError

TEMPLATES = Path(__file__).resolve().parent.parent / "auth" / "templates"


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


def render(template: str, **values: Any) -> tuple[str, str]:
    """(subject, body) of a template filled with `values`."""
    text = (TEMPLATES / f"{template}.txt").read_text(encoding="utf-8").format(**values)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"template {template} must start with a Subject line")
    return head.removeprefix("Subject: ").strip(), body.strip() + "\n"


class Mailer:
    def __init__(self, ses: Any, sender: str) -> None:
        self._ses = ses
        self._sender = sender

    def send(self, to: str, template: str, **values: Any) -> str:
        """Send a templated message; returns SES's message id."""
        subject, body = render(template, **values)
        try:
            answer = self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [to]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise DependencyError(f"email to {to} could not be sent: {type(exc).__name__}") from exc
        return str(answer["MessageId"])
