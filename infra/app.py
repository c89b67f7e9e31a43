"""CDK entry point: builds the stack of one stage (`-c stage=prod`, default `dev`).

Run by the CDK CLI from `infra/` (`infra/cdk.json` says how), or directly from the repository root with
`python -m infra.app`. Context: `stage`, `alarm_email` (subscribed to the alarm topic), `mail_sender` (the SES
identity Vigil sends from).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script (as `cdk` does), Python puts infra/ first on sys.path, where `import app` (chalice loading the
# Chalice app) would find this file. The repository root must come first, and infra/ not at all.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402

from infra.stack import StageOptions, VigilStack  # noqa: E402


@contextmanager
def scratch_directory() -> Iterator[None]:
    """Run in a temporary working directory: `chalice.cdk` leaves a copy of the whole package (tens of MB) in
    `./chalice.out` on every synth. Asset files are copied into the cloud assembly before this ends."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="vigil-chalice-") as work:
        os.chdir(work)
        try:
            yield
        finally:
            os.chdir(previous)


def main() -> None:
    """Synthesise the stack into the CLI's output directory (`cdk.out` next to cdk.json)."""
    outdir = os.environ.get("CDK_OUTDIR")
    if outdir:  # the CLI may pass it relative to its own directory, which the scratch directory would change
        os.environ["CDK_OUTDIR"] = str(Path(outdir).resolve())
    # chalice needs a region to name API Gateway's service principal; any commercial region gives the same one.
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        os.environ["AWS_DEFAULT_REGION"] = os.environ.get("CDK_DEFAULT_REGION") or "us-east-1"
    app = cdk.App()
    context = app.node.try_get_context
    options = StageOptions(
        stage=str(context("stage") or "dev"),
        source_dir=ROOT,
        mail_sender=context("mail_sender"),
        alarm_email=context("alarm_email"),
    )
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = cdk.Environment(account=account, region=region) if account and region else None
    with scratch_directory():
        VigilStack(app, options, env=env)
    app.synth()


if __name__ == "__main__":
    main()
