"""The WSGI callable uWSGI loads (uwsgi.ini: module = mysite.wsgi:application).

uWSGI finds this module through `pythonpath = /app` (the checkout on the volume); Django finds its
settings through DJANGO_SETTINGS_MODULE, a module name resolved on that same sys.path.
"""
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()

# Import the URLconf, and so every view, now rather than at the first request: a worker then runs one
# revision of the code from start to end, and a deploy that breaks an import fails while uWSGI loads the
# app (every request answers 500, hotpull's health check sees it and rolls back) instead of later.
get_resolver().url_patterns
