"""OpenTelemetry traces: a server span per request, a child span per SQL statement and Redis command, exported over
OTLP (HTTP/protobuf) and configured by the standard ``OTEL_*`` variables (endpoint, service name, sampler, ratio).

Off unless those variables ask for an exporter (``Config.TRACING``): then nothing of OpenTelemetry is imported and
no request pays for it. On, it is set up in each process that serves: in each gunicorn worker after the fork
(gunicorn.conf.py's ``post_fork``), since the span processor's thread and the exporter's connections would not
survive a fork from the preloading master; in ``create_app`` anywhere else (``flask run``).
"""
import os
from contextlib import nullcontext

from bookapi import logs, reads
from bookapi.extensions import db

EXTENSION = "bookapi.tracing"


def under_gunicorn():
    # gunicorn's arbiter sets this before it loads (and may preload) the app.
    return os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/")


def init_app(app):
    if app.config["TRACING"] and not under_gunicorn():
        setup(app)


def exporter_from_environment():
    name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise RuntimeError(f"OTEL_TRACES_EXPORTER must be otlp, console or none, not {name!r}")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Endpoint, headers, timeout and compression come from OTEL_EXPORTER_OTLP_*.
    return OTLPSpanExporter()


def tracer_provider(app, exporter):
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from bookapi import __version__

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; the SDK's own fallback name says nothing to an operator.
    resource = Resource.create({SERVICE_VERSION: __version__})
    if resource.attributes[SERVICE_NAME].startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: app.config["SERVICE_NAME"]}))
    # The sampler comes from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; the batching from OTEL_BSP_*.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def current_trace_id():
    from opentelemetry.trace import format_trace_id, get_current_span

    context = get_current_span().get_span_context()
    return format_trace_id(context.trace_id) if context.is_valid else None


def setup(app, exporter=None):
    """Trace ``app``'s requests, its SQL and its Redis commands; ``exporter`` (else the one the environment names)
    receives the spans. The provider is kept in ``app.extensions`` for ``shutdown``."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.propagators import TraceResponsePropagator, set_global_response_propagator
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    provider = tracer_provider(app, exporter or exporter_from_environment())
    trace.set_tracer_provider(provider)
    # W3C traceparent is the SDK's default propagator (OTEL_PROPAGATORS); this adds the answer's traceresponse.
    set_global_response_propagator(TraceResponsePropagator())
    # Request metrics are Prometheus's (bookapi.metrics): the instrumentation's own would have no exporter, and its
    # SQL comment tags serve only SQLAlchemy's commenter, which is off (the request id is bookapi's own comment).
    # Both would be work on every request, sampled or not, for nothing.
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, meter_provider=NoOpMeterProvider(),
                                       enable_commenter=False)
    with app.app_context():
        engine = db.engine
    # The instrumentation declares SQLAlchemy < 2.1 only; the events it listens to are the same in 2.1, and
    # tests/test_tracing.py checks that every statement still gets its span. It also wraps SQLAlchemy's asyncio
    # engine, whose import needs greenlet (pinned in requirements.txt for that alone).
    SQLAlchemyInstrumentor().instrument(engines=[engine], tracer_provider=provider, skip_dep_check=True)
    reader = app.extensions[reads.EXTENSION]
    reader.span = statement_spans(provider.get_tracer(__name__), reader.engine.url)
    RedisInstrumentor().instrument(tracer_provider=provider)
    logs.current_trace_id = current_trace_id
    app.extensions[EXTENSION] = provider
    return provider


def statement_spans(tracer, url):
    """For the reads (bookapi.reads), which SQLAlchemy does not run: a client span per statement, as the SQLAlchemy
    instrumentation makes them, in a request whose span is sampled; nothing otherwise."""
    from opentelemetry.trace import SpanKind, get_current_span

    attributes = {"db.system": "postgresql", "db.name": url.database, "db.user": url.username,
                  "net.peer.name": url.host, "net.peer.port": url.port or 5432}

    def span(statement):
        if not get_current_span().is_recording():
            return nullcontext()
        return tracer.start_as_current_span(f"{statement.split(None, 1)[0]} {url.database}", kind=SpanKind.CLIENT,
                                            attributes={**attributes, "db.statement": statement})

    return span


def shutdown(app):
    """Export what is still buffered; gunicorn's ``worker_exit`` calls it (with whatever the worker loaded)."""
    provider = getattr(app, "extensions", {}).get(EXTENSION)
    if provider is not None:
        provider.shutdown()
