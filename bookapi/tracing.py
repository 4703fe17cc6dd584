"""OpenTelemetry traces: a server span per request, a child span per SQL statement and Redis command, exported over
OTLP (HTTP/protobuf) and configured by the standard ``OTEL_*`` variables (endpoint, service name, sampler, ratio).

Off unless those variables ask for an exporter (``Config.TRACING``): then nothing of OpenTelemetry is imported and
no request pays for it. On, it is set up in each process that serves: in each gunicorn worker after the fork
(gunicorn.conf.py's ``post_fork``), since the span processor's thread and the exporter's connections would not
survive a fork from the preloading master; in ``create_app`` anywhere else (``flask run``).
"""
import os
from contextlib import nullcontext

from flask import request
from werkzeug.datastructures import Headers

from bookapi import __version__, logs, reads
from bookapi.extensions import db

EXTENSION = "bookapi.tracing"
# Where a request's server span and the token of its context wait for the end of the request.
SERVER_SPAN = "bookapi.server_span"


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
    from opentelemetry.instrumentation.propagators import TraceResponsePropagator, set_global_response_propagator
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    provider = tracer_provider(app, exporter or exporter_from_environment())
    trace.set_tracer_provider(provider)
    # W3C traceparent is the SDK's default propagator (OTEL_PROPAGATORS); this adds the answer's traceresponse.
    set_global_response_propagator(TraceResponsePropagator())
    server_spans(app, provider.get_tracer(__name__, __version__))
    with app.app_context():
        engine = db.engine
    # The instrumentation declares SQLAlchemy < 2.1 only; the events it listens to are the same in 2.1, and
    # tests/test_tracing.py checks that every statement still gets its span. It also wraps SQLAlchemy's asyncio
    # engine, whose import needs greenlet (pinned in requirements.txt for that alone).
    SQLAlchemyInstrumentor().instrument(engines=[engine], tracer_provider=provider, skip_dep_check=True)
    reader = app.extensions[reads.EXTENSION]
    reader.span = statement_spans(provider.get_tracer(__name__, __version__), reader.engine.url)
    RedisInstrumentor().instrument(tracer_provider=provider)
    logs.current_trace_id = current_trace_id
    app.extensions[EXTENSION] = provider
    return provider


def excluded_urls():
    """The URLs not to trace (OTEL_PYTHON_FLASK_EXCLUDED_URLS, else OTEL_PYTHON_EXCLUDED_URLS: comma-separated
    regular expressions searched in the full URL, as the Flask instrumentation reads them), or None for none."""
    from opentelemetry.util.http import parse_excluded_urls

    urls = os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS") or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
    return parse_excluded_urls(urls) if urls and urls.strip() else None


class ServerSpans:
    """A server span around each request, named by its method and route template, its caller's traceparent its
    parent, its traceresponse in the answer.

    What the Flask instrumentation does, in the order a sampled-out request pays least for: the sampler decides
    first, and a span that records nothing gets no attributes. The instrumentation collects a request's HTTP
    attributes twice and builds its URL before anything is sampled: with it, a book lookup sampled out cost 1.75
    times the instructions of an untraced one, against 1.14 times this way (README, "Traces"). The attributes are
    the WSGI instrumentation's own (the Flask one's too), in the semantic conventions it uses by default.
    """

    def __init__(self, tracer):
        from opentelemetry import context, propagate, trace
        from opentelemetry.instrumentation import propagators, wsgi
        from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
        from opentelemetry.util.http import sanitize_method

        self.tracer, self.excluded, self.route_attribute = tracer, excluded_urls(), HTTP_ROUTE
        # The modules' functions each hook calls, kept here: OpenTelemetry is imported only once tracing is on.
        self.sanitize_method, self.extract, self.server_kind = sanitize_method, propagate.extract, trace.SpanKind.SERVER
        self.attach, self.detach, self.in_context = context.attach, context.detach, trace.set_span_in_context
        self.response_propagator, self.wsgi = propagators.get_global_response_propagator, wsgi
        # Appended: the default setter reads each header first to merge its value in, a search of the headers per
        # header. Access-Control-Expose-Headers is a list, so a second line of it adds to the first (RFC 9110 5.3).
        self.add_header = propagators.FuncSetter(Headers.add)

    def start(self):
        current = request._get_current_object()
        environ = current.environ
        if self.excluded is not None and self.excluded.url_disabled(current.url):
            return
        rule = current.url_rule
        # A method HTTP does not define is the caller's to invent: one name ("HTTP") for them all, as the
        # semantic conventions ask, so that callers cannot mint span names.
        method = self.sanitize_method(current.method)
        method = "HTTP" if method == "_OTHER" else method
        parent = self.extract(environ, getter=self.wsgi.wsgi_getter)
        span = self.tracer.start_span(f"{method} {rule.rule}" if rule else method, context=parent,
                                      kind=self.server_kind)
        if span.is_recording():
            attributes = self.wsgi.collect_request_attributes(environ)
            if rule:
                attributes[self.route_attribute] = rule.rule
            span.set_attributes(attributes)
            # The request headers OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST names, if any.
            span.set_attributes(self.wsgi.collect_custom_request_headers_attributes(environ))
        environ[SERVER_SPAN] = span, self.attach(self.in_context(span, parent))

    def answer(self, response):
        found = request._get_current_object().environ.get(SERVER_SPAN)
        if found is None:
            return response
        span = found[0]
        if span.is_recording():
            # Its status too: an error for a 5xx.
            self.wsgi.add_response_attributes(span, response.status, [])
            span.set_attributes(self.wsgi.collect_custom_response_headers_attributes(response.headers.to_wsgi_list()))
        propagator = self.response_propagator()
        if propagator is not None:
            propagator.inject(response.headers, setter=self.add_header)
        return response

    def end(self, exception=None):
        found = request._get_current_object().environ.pop(SERVER_SPAN, None)
        if found is not None:
            span, token = found
            span.end()
            self.detach(token)


def server_spans(app, tracer):
    """``app``'s requests traced by ServerSpans.

    The span starts before the app's other request hooks, so that the account read of an authenticated request is
    one of its children, and takes its answer after them: the first before-request function and the last
    after-request one to run (those run last-registered first), put there through the app's documented lists of
    them. It ends with the first teardown function to run, registered last here (tracing is set up once the app
    is made), so that a teardown function that raises cannot leave it unended and its context attached to the
    worker for the requests after it."""
    spans = ServerSpans(tracer)
    app.before_request_funcs.setdefault(None, []).insert(0, spans.start)
    app.after_request_funcs.setdefault(None, []).insert(0, spans.answer)
    app.teardown_request(spans.end)


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
