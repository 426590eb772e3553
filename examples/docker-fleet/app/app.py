# The app of examples/docker-fleet: / and /health say which revision serves (hotpull's health check looks for
# {short_sha} in /health). VERSION is what `./fleet.sh push N` changes.
import os
import subprocess

VERSION = "1"
HERE = os.path.dirname(os.path.abspath(__file__))
SHA = subprocess.run(
    ["git", "-c", "safe.directory=*", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True
).stdout.strip()


def application(environ, start_response):
    body = ("ok version=%s sha=%s\n" % (VERSION, SHA)).encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
