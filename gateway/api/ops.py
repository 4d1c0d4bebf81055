"""Operations endpoints: liveness, readiness (the database answers) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.deps import ReadinessDep
from gateway.api.problems import problem_response, problem_responses
from gateway.api.schemas import HealthOut

router = APIRouter(tags=["Operations"])


@router.get("/healthz", operation_id="healthz", summary="The process is alive", response_model=HealthOut)
async def healthz() -> HealthOut:
    """Always `ok` while the process serves requests (for a liveness probe); it checks nothing else."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="The gateway can serve: its database answers",
    response_model=HealthOut,
    responses=problem_responses("database_unavailable"),
)
async def readyz(readiness: ReadinessDep) -> HealthOut | JSONResponse:
    """`ok` when the database answers a query (for a readiness probe); 503 `database_unavailable` when not."""
    problem = await readiness.database_problem()
    if problem is not None:
        return problem_response(503, "database_unavailable", f"the database does not answer: {problem}")
    return HealthOut(status="ok")


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics() -> Response:
    """Request counts and latencies by route and status, and the process's own metrics, in Prometheus text."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
