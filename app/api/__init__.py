"""The HTTP API (FastAPI): one router per resource, bearer tokens, object-level authorization."""

from app.api.app import create_app

__all__ = ["create_app"]
