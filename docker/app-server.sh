#!/bin/sh
# [program:uwsgi] of the image's supervisord.conf: the app server. APP_SERVER, when set, is the whole command
# (e.g. "gunicorn --config /app/gunicorn.conf.py"; then replace supervisord.conf for gunicorn's stop signal).
# Else uWSGI with the app's /app/uwsgi.ini, touch-reloaded by hotpull. Debian's uWSGI is modular and needs its
# python3 plugin; a pip-installed uWSGI (python:3.x-slim, a venv) has Python built in and no plugin to load.
set -eu
if [ -n "${APP_SERVER:-}" ]; then
  exec /bin/sh -c "exec $APP_SERVER"
fi
if [ -e /usr/lib/uwsgi/plugins/python3_plugin.so ]; then
  exec uwsgi --plugin python3 --ini /app/uwsgi.ini --touch-reload /app/uwsgi.ini
fi
exec uwsgi --ini /app/uwsgi.ini --touch-reload /app/uwsgi.ini
