"""Vigil's Chalice application: wiring only.

Routes live in blueprints under `chalicelib/api`; scheduled functions and queue consumers call services.
Nothing here holds logic, and nothing here touches AWS at import.
"""

from chalice import Chalice

from chalicelib.api import docs
from chalicelib.api.compat import admin_security, core_auth, core_health
from chalicelib.api.edge import edge_middleware
from chalicelib.api.v1 import auth, health
from chalicelib.core.settings import get_settings

settings = get_settings()
app = Chalice(app_name="vigil", configure_logs=False)
app.register_middleware(edge_middleware, "http")

for blueprint in (health.bp, docs.bp, core_health.bp, auth.bp, admin_security.bp, core_auth.bp):
    app.register_blueprint(blueprint)
