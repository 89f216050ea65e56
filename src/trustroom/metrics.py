"""Prometheus metrics of one process, in a registry of its own (nothing global at import)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "trustroom_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "trustroom_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs = Counter(
            "trustroom_jobs_total",
            "Background job runs by task and outcome.",
            ["task", "outcome"],
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.job_latency = Histogram(
            "trustroom_job_duration_seconds", "Background job run time by task.", ["task"], registry=self.registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # `labels()` takes a lock and builds a key on each call; the children are cached
        # per (method, route, status), a small set (route templates, not paths).
        children = self._request_children.get((method, route, status))
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._request_children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_job(self, task: str, outcome: str, seconds: float) -> None:
        self.jobs.labels(task, outcome).inc()
        self.job_latency.labels(task).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
