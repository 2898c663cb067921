"""The REST API under /api/v1/, with OpenAPI at /api/v1/openapi.json and docs at /api/v1/docs."""

from ninja import NinjaAPI

from gatehouse import __version__
from gatehouse.core.api import errors
from gatehouse.core.api.auth import AUTH
from gatehouse.core.api.docs import StaticSwagger

api = NinjaAPI(
    title="Gatehouse API",
    version=__version__,
    description="People, teams, systems and the audit trail. Authenticate with `Authorization: Bearer <token>`.",
    auth=AUTH,
    urls_namespace="api",
    # validatorUrl off: the badge would load an image from swagger.io, which CSP refuses and we do not want.
    docs=StaticSwagger(settings={"persistAuthorization": True, "validatorUrl": None}),
    docs_url="/docs",
)
errors.install(api)

# Routers import the API's schemas and errors: registered after the API object exists.
from gatehouse.access.api import views as access_api  # noqa: E402
from gatehouse.access.api.requests import router as access_requests_router  # noqa: E402
from gatehouse.access.api.reviews import router as access_reviews_router  # noqa: E402
from gatehouse.access.api.tasks import grant_actions_router as access_grant_actions_router  # noqa: E402
from gatehouse.access.api.tasks import router as access_tasks_router  # noqa: E402
from gatehouse.audit.api.views import router as audit_router  # noqa: E402
from gatehouse.catalog.api.views import router as catalog_router  # noqa: E402
from gatehouse.desk.api.config import calendars_router, policies_router  # noqa: E402
from gatehouse.desk.api.guides import router as guides_router  # noqa: E402
from gatehouse.desk.api.views import queues_router, requests_router, rules_router, types_router  # noqa: E402
from gatehouse.directory.api.views import people_router, teams_router  # noqa: E402
from gatehouse.users.api.views import router as users_router  # noqa: E402

api.add_router("/people", people_router)
api.add_router("/teams", teams_router)
api.add_router("/systems", catalog_router)
api.add_router("/audit", audit_router)
api.add_router("/users", users_router)
api.add_router("/desk/requests", requests_router)
api.add_router("/desk/request-types", types_router)
api.add_router("/desk/queues", queues_router)
api.add_router("/desk/routing-rules", rules_router)
api.add_router("/desk/calendars", calendars_router)
api.add_router("/desk/sla-policies", policies_router)
api.add_router("/desk/guides", guides_router)
api.add_router("/access/requests", access_requests_router)
api.add_router("/access/entitlements", access_api.entitlements_router)
api.add_router("/access/grants", access_api.grants_router)
api.add_router("/access/grant-actions", access_grant_actions_router)
api.add_router("/access/bundles", access_api.bundles_router)
api.add_router("/access/lifecycle-events", access_api.events_router)
api.add_router("/access/tasks", access_tasks_router)
api.add_router("/access/reviews", access_reviews_router)
# --- endpoints: KPIs and exceptions ---
from gatehouse.endpoints.api.kpis import exceptions_router as endpoint_exceptions_router  # noqa: E402
from gatehouse.endpoints.api.kpis import kpis_router as endpoint_kpis_router  # noqa: E402

api.add_router("/endpoints/kpis", endpoint_kpis_router)
api.add_router("/endpoints/exceptions", endpoint_exceptions_router)
# --- endpoints: devices, mismatches, OS releases ---
from gatehouse.endpoints.api.devices import devices_router as endpoint_devices_router  # noqa: E402
from gatehouse.endpoints.api.devices import mismatches_router as endpoint_mismatches_router  # noqa: E402
from gatehouse.endpoints.api.devices import os_releases_router as endpoint_os_releases_router  # noqa: E402

api.add_router("/endpoints/devices", endpoint_devices_router)
api.add_router("/endpoints/mismatches", endpoint_mismatches_router)
api.add_router("/endpoints/os-releases", endpoint_os_releases_router)
from gatehouse.endpoints.api.devices import policies_router as endpoint_policies_router  # noqa: E402

api.add_router("/endpoints/policies", endpoint_policies_router)
# --- endpoints: feeds ---
from gatehouse.endpoints.api.feeds import feeds_router as endpoint_feeds_router  # noqa: E402

api.add_router("/endpoints/feeds", endpoint_feeds_router)
