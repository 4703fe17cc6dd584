"""Browser-facing hardening: security headers on every response, CORS for the allowed origins only, and the
client address taken through trusted proxies alone."""
import secrets

from flask import g
from werkzeug.middleware.proxy_fix import ProxyFix

from bookapi.extensions import cors

# A JSON response loads nothing, runs nothing and may not be framed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc load their bundles from this server; the pages' own inline script and styles carry a nonce
# drawn for each response. The ReDoc bundle adds style blocks that cannot know it, admitted by their hashes: empty
# ones, which styled-components then fills through the CSSOM (not subject to CSP), and perfect-scrollbar's
# stylesheet (the browser tests fail if an upgrade changes it). ReDoc searches in a worker started from a blob: URL
# and shows its vendor's logo from their CDN, as it always has (nothing else comes from another host); both
# UIs draw icons from data: URLs.
DOCS_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self' 'nonce-{nonce}'",
    "style-src 'self' 'nonce-{nonce}' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' "
    "'sha256-DLDPR1ic47WIdK2WyeLkblb/tm2mQH+Jt/NNhZWu1k0='",
    "img-src 'self' data: https://cdn.redoc.ly/redoc/logo-mini.svg",
    "connect-src 'self'",
    "worker-src blob:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
])
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
# What a page on an allowed origin may send: an account's bearer token and the headers the API reads
# (a preflight naming any other is answered without it, so the browser refuses the request).
CORS_ALLOW_HEADERS = [
    "Authorization", "Content-Type", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
    "X-Request-ID", "Idempotency-Key",
]
# What its script may read of a response, the rate-limit headers included.
CORS_EXPOSE_HEADERS = [
    "Location", "ETag", "Last-Modified", "Link", "Retry-After", "X-Request-ID", "RateLimit", "RateLimit-Policy",
    "Idempotent-Replayed",
]


def csp_nonce():
    """This response's CSP nonce, for a template's inline script or style; a page that asks for one gets the docs
    policy instead of the JSON one."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def init_app(app):
    add_security_headers(app)
    allow_cross_origin(app)
    trust_proxies(app)


def add_security_headers(app):
    common = COMMON_HEADERS
    if app.config["STRICT_TRANSPORT_SECURITY"]:
        common += (("Strict-Transport-Security", app.config["STRICT_TRANSPORT_SECURITY"]),)
    api_headers = (*common, ("Content-Security-Policy", API_POLICY))

    # One lookup and one extend: GET /books/{id} pays for nothing else here.
    @app.after_request
    def add_headers(response):
        nonce = g._get_current_object().get("csp_nonce")
        if nonce is None:
            response.headers.extend(api_headers)
        else:
            response.headers.extend((*common, ("Content-Security-Policy", DOCS_POLICY.format(nonce=nonce))))
        return response

    app.add_template_global(csp_nonce)


def allow_cross_origin(app):
    """CORS headers for the origins in ALLOWED_ORIGINS alone; any other origin gets none."""
    if app.config["ALLOWED_ORIGINS"]:
        cors.init_app(app, origins=app.config["ALLOWED_ORIGINS"], allow_headers=CORS_ALLOW_HEADERS,
                      expose_headers=CORS_EXPOSE_HEADERS)


def trust_proxies(app):
    """Take the client address from X-Forwarded-For through TRUSTED_PROXY_COUNT proxies, and not otherwise.

    Each proxy appends the address it received the request from, so only that many entries, counted from the
    right, can be believed; whatever the client itself sent is further left. The scheme stays gunicorn's to trust
    (FORWARDED_ALLOW_IPS), and the Host is the one the client asked for.
    """
    count = app.config["TRUSTED_PROXY_COUNT"]
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=0, x_host=0, x_port=0, x_prefix=0)
