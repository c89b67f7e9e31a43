"""Vigil's Chalice application: wiring only.

Routes live in blueprints under `chalicelib/api`; scheduled functions and queue consumers call services.
Nothing here holds logic, and nothing here touches AWS at import.
"""

from chalice import Chalice, Cron, Rate

from chalicelib.api import docs
from chalicelib.api.compat import (
    admin_bans,
    admin_security,
    core_auth,
    core_health,
    crowdsec,
    detector,
    detector_blocks,
    ioc,
)
from chalicelib.api.edge import edge_middleware
from chalicelib.api.routing import install_method_fallbacks
from chalicelib.api.v1 import auth, bans, detection, events, feeds, geo, health, targets, whitelist
from chalicelib.core.batch import process
from chalicelib.core.deps import get_container
from chalicelib.core.settings import get_settings

settings = get_settings()
app = Chalice(app_name="vigil", configure_logs=False)
app.register_middleware(edge_middleware, "http")

BLUEPRINTS = (
    health,
    docs,
    core_health,
    auth,
    admin_security,
    core_auth,
    bans,
    whitelist,
    geo,
    admin_bans,
    detector_blocks,
    ioc,
    feeds,
    detector,
    events,
    detection,
    targets,
    crowdsec,
)
for module in BLUEPRINTS:
    app.register_blueprint(module.bp)
install_method_fallbacks(app)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep_expired_decisions")
def sweep_expired_decisions(event):
    """End the decisions whose time is up (history, change stream) before DynamoDB's TTL gets to them."""
    return {"ended": len(get_container().decisions.sweep_expired())}


@app.schedule(Cron(5, 0, "*", "*", "?", "*"), name="snapshot_ioc_counters")
def snapshot_ioc_counters(event):
    """Seed 003's daily counters snapshot (just after midnight UTC)."""
    return get_container().iocs.snapshot_daily()


@app.on_sqs_message(queue=settings.ingest_retry_queue, batch_size=5, name="retry_ingest")
def retry_ingest(event):
    """Store batches whose first storage failed (they were accepted, so they must not be lost)."""
    container = get_container()
    return process(event, lambda record: container.ingest.retry(container.retry_queue.load(record["body"])))


@app.on_sqs_message(queue=settings.decisions_queue, batch_size=10, name="push_decisions")
def push_decisions(event):
    """Apply the change stream to every target (one transaction per target per batch) and mark feeds due."""
    report = get_container().pusher.handle([record.to_dict() for record in event])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failed]}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="reconcile_targets")
def reconcile_targets(event):
    """Compare every target with the decisions in force and repair the drift."""
    return get_container().reconciler.reconcile()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="publish_feeds")
def publish_feeds(event):
    """Publish the feeds when changes wait (debounced); a verifying publish every VIGIL_FEED_REFRESH_SECONDS."""
    return get_container().feed_publisher.run_scheduled()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="evaluate_windows")
def evaluate_windows(event):
    """Scenarios with long windows and cross-sensor correlation, evaluated over what ingest counted."""
    return get_container().responder.sweep()


@app.lambda_function(name="bootstrap_admin")
def bootstrap_admin(event, context):
    """Invoked once by the operator after the first deploy: roles, system whitelist and the first admin."""
    from chalicelib.auth.bootstrap import bootstrap_admin as bootstrap_first_admin  # noqa: PLC0415 - run once

    return bootstrap_first_admin(get_container(), event)
