"""The platform's HTTP API (`/api/v1`): FastAPI over the catalog services and the flow launcher, with bearer
tokens. ``api.app.create_app`` builds it; ``python -m api`` serves it (component ``api`` of `mlops up`)."""
