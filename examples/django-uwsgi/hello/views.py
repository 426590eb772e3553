"""The example's two views: what is deployed (version and git sha) and a health check for hotpull."""
import os
import subprocess

from django.conf import settings
from django.http import HttpResponse

from .version import VERSION


def deployed_sha():
    """The commit of the checkout when this worker loaded the code (hotpull's healthExpect: "{short_sha}")."""
    try:
        result = subprocess.run(
            # The volume may belong to another uid than the app's: git then calls it "dubious ownership".
            ["git", "-c", "safe.directory=%s" % settings.BASE_DIR, "rev-parse", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


# Read once, at import: the revision this process runs, not whatever the checkout holds by now.
SHA = deployed_sha()


def index(request):
    return HttpResponse("version=%s sha=%s pid=%d\n" % (VERSION, SHA, os.getpid()), content_type="text/plain")


def healthz(request):
    return HttpResponse("ok version=%s sha=%s\n" % (VERSION, SHA), content_type="text/plain")
