"""HTTP surface: FastAPI routers, request/response schemas, authentication and problem+json errors."""
