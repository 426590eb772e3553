"""Settings of the hotpull Django example.

The code is the git checkout on the volume (/app in the container); everything that differs between
machines or is secret comes from the environment (docker run -e / --env-file), never from the repository.
"""
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# The checkout: /app in the container, wherever the tests put it. Resolved, so with hotpull's atomic layout
# it is the release directory `current` pointed to when this worker started.
BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("set DJANGO_SECRET_KEY in the container's environment (docker run -e or --env-file)")

DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = ["hello"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

# Data never lives in the code checkout: a deploy must not touch it, and hotpull refuses to deploy over
# modified tracked files. Mount a second volume for it (docker run -v myapp-data:/data).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", "/data/db.sqlite3"),
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
