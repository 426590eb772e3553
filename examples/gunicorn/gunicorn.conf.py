# gunicorn settings of the example, read from the checkout: gunicorn --config /app/gunicorn.conf.py.
# gunicorn reads this file again on every HUP.
#
# Where the code lives: /app is a git checkout on a volume (docker run -v HOSTDIR:/app), not a layer of the
# image; hotpull keeps it on the branch head. How Python finds it: chdir makes /app the working directory
# of the master and the workers, and pythonpath puts /app first on sys.path, so `wsgi`, `app` and
# `version` import from the checkout.
chdir = "/app"
pythonpath = "/app"
wsgi_app = "wsgi:application"

# Every interface inside the container; publish it with docker run -p 8000:8000.
bind = "0.0.0.0:8000"
workers = 2

# hotpull reloads with `signal:/run/app/gunicorn.pid:HUP`: gunicorn starts new workers, which import the new
# code, and stops the old ones gracefully. Keep the pid file outside the checkout.
pidfile = "/run/app/gunicorn.pid"

# No preload: with preload_app the master imports the app once and a HUP forks workers from that old copy.
preload_app = False

# SIGTERM (supervisorctl stop, docker stop): workers get this long to finish their requests.
graceful_timeout = 10

# Errors to stderr (Supervisor sends it to the container output); no access log line per request.
errorlog = "-"
accesslog = None
