"""Vigil's Chalice application: wiring only.

Routes live in blueprints under `chalicelib/api`; scheduled functions and queue consumers call services.
Nothing here holds logic, and nothing here touches AWS at import.
"""

from chalice import Chalice, Cron, Rate

from chalicelib.api import docs
from chalicelib.api.compat import admin_bans, admin_security, core_auth, core_health, detector_blocks, ioc
from chalicelib.api.edge import edge_middleware
from chalicelib.api.routing import install_method_fallbacks
from chalicelib.api.v1 import auth, bans, health, whitelist
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
    admin_bans,
    detector_blocks,
    ioc,
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
