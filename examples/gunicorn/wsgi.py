"""gunicorn's entry point (gunicorn.conf.py: wsgi_app = "wsgi:application"): imports the app, and survives
an app that fails to import.

Why: when a new worker cannot import its app, gunicorn does not just lose that worker, it halts altogether
("Worker failed to boot"), so a broken deploy would take the site down until someone restarts it. Here a
failed import is logged and every request answers 500 instead, as uWSGI does: hotpull's health check sees
it, restores the last good commit and sends another HUP. Keep this file small and rarely changed: an error
in it is not caught.
"""
import sys
import traceback

try:
    from app import application
except Exception:
    traceback.print_exc()
    sys.stderr.flush()

    def application(environ, start_response):
        body = b"the deployed code failed to import; see the log\n"
        start_response("500 Internal Server Error", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
