"""The example app: what is deployed (version and git sha) on /, and a health check for hotpull on /healthz."""
import os
import subprocess

from version import VERSION

HERE = os.path.dirname(os.path.abspath(__file__))


def deployed_sha():
    """The commit of the checkout when this worker imported the code (hotpull's healthExpect: "{short_sha}")."""
    try:
        result = subprocess.run(
            # The volume may belong to another uid than the app's: git then calls it "dubious ownership".
            ["git", "-c", "safe.directory=%s" % HERE, "rev-parse", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


# Read once, at import: the revision this worker runs, not whatever the checkout holds by now.
SHA = deployed_sha()


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/healthz":
        body = "ok version=%s sha=%s\n" % (VERSION, SHA)
    else:
        body = "version=%s sha=%s pid=%d\n" % (VERSION, SHA, os.getpid())
    data = body.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]
