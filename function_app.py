"""Azure Functions entry point (Python v2 model): one FunctionApp, every function from a blueprint.

Kept light on purpose: importing this module must stay well under a second
(the host imports it on every cold start), so blueprints import the
application lazily, inside their handlers.
"""

import azure.functions as func

from coprod.operating.telemetry import configure as configure_telemetry
from functions.admin import bp as admin_bp
from functions.health import bp as health_bp
from functions.notifications import bp as notifications_bp
from functions.pages import bp as pages_bp
from functions.status import bp as status_bp
from functions.sync import bp as sync_bp

configure_telemetry()  # only with APPLICATIONINSIGHTS_CONNECTION_STRING set; otherwise nothing is loaded
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
app.register_functions(sync_bp)
app.register_functions(pages_bp)
app.register_functions(status_bp)
app.register_functions(admin_bp)
app.register_functions(notifications_bp)
