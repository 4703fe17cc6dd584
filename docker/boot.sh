#!/bin/sh
# The image's command: migrate, then serve. Arguments are passed on to gunicorn (the development override adds --reload).
set -eu

# Paths below are relative to the app, wherever it was copied (in the image, /app).
cd "$(dirname "$0")/.."
export FLASK_APP="${FLASK_APP:-wsgi}"
attempts="${DB_UPGRADE_ATTEMPTS:-30}"
delay="${DB_UPGRADE_DELAY:-2}"
case "$attempts" in
    '' | *[!0-9]* | 0)
        echo "boot: DB_UPGRADE_ATTEMPTS must be a positive integer, not '$attempts'" >&2
        exit 2
        ;;
esac

# The database container may still be starting; only the last failure's output is shown, to keep the log readable.
attempt=1
while ! output="$(flask db upgrade 2>&1)"; do
    if [ "$attempt" -ge "$attempts" ]; then
        printf '%s\n' "$output" >&2
        echo "boot: flask db upgrade failed (attempt $attempt/$attempts); giving up" >&2
        exit 1
    fi
    echo "boot: flask db upgrade failed (attempt $attempt/$attempts); retrying in ${delay}s" >&2
    attempt=$((attempt + 1))
    sleep "$delay"
done
printf '%s\n' "$output"

# Records past their expiry (refresh tokens, sign-outs, idempotency keys) would otherwise pile up.
flask purge || echo "boot: could not purge expired records; continuing" >&2

exec gunicorn --config gunicorn.conf.py "$@" wsgi:app
