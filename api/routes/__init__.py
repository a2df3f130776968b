"""The API's routers, one module per resource; each defines ``router`` (an ``APIRouter``), included by
``api.app.create_app`` under `/api/v1` in this order."""

ROUTERS: tuple[str, ...] = (
    "auth",
    "admin",
    "quotas",
    "roles",
    "algorithms",
    "datasets",
    "releases",
    # Before "jobs": /jobs/custom must not be read as a job id.
    "custom_jobs",
    "jobs",
    "servings",
    "rollouts",
    "models",
    "model_aliases",
    "audit",
)
