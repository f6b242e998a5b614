"""What operators and browsers ask of the process itself: liveness, readiness, metrics, and
the live page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from api.services import services
from orderflow import health, metrics

router = APIRouter()
LIVE_PAGE = Path(__file__).parent.parent / "static" / "live.html"


@router.get("/live", include_in_schema=False)
async def live_page() -> FileResponse:
    """A small live page: recent orders and one order's timeline, polling the API."""
    return FileResponse(LIVE_PAGE, media_type="text/html")


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is alive: answers without asking anything else."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """200 only when Kafka, the schema registry and Elasticsearch answer (checked
    concurrently, a second at most); 503 otherwise. The body names each one's state."""
    settings = services(request).settings
    dependencies = await health.states(
        health.checks(settings, "kafka", "schema_registry", "elasticsearch")
    )
    ready = health.ready(dependencies)
    return JSONResponse(
        {"ready": ready, "dependencies": dependencies}, status_code=200 if ready else 503
    )


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    """The API's series (orderflow/metrics.py) in the Prometheus text format."""
    return Response(metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})
