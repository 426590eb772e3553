/** `--canary auto`, the pure derivation: table tests over uWSGI inis and gunicorn configs. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  deriveGunicornCanary,
  deriveUwsgiCanary,
  fillTemplate,
  parseUwsgiIni,
  readGunicornSettings,
  shellQuote,
} from '../src/deploy/canary-auto.js';
import { ROOT } from './helpers/hotpull.js';

const example = (file: string) => readFileSync(path.join(ROOT, 'examples', file), 'utf8');
const ok = <T extends object>(r: T | { error: string }): T => {
  if ('error' in r) throw new Error(r.error);
  return r;
};

describe('uWSGI ini → canary command', () => {
  it.each([
    {
      name: 'the Django example (touch-reload variant)',
      text: example('django-uwsgi/uwsgi.ini'),
      iniPath: '/app/uwsgi.ini',
      checkout: '/app',
      command:
        "uwsgi --plugins python3 --chdir '{dir}' --pythonpath '{dir}' --module mysite.wsgi:application --env DJANGO_SETTINGS_MODULE=mysite.settings " +
        "--virtualenv /venv --add-header 'Connection: close' --http-socket '127.0.0.1:{port}' --master --processes 1 --die-on-term --no-orphans",
      dropped: ['http-socket', 'touch-reload', 'disable-logging'],
    },
    {
      name: 'the Django example (chain reload variant): master FIFO and reload mercy dropped, lazy-apps kept',
      text: example('django-uwsgi/uwsgi-zero-downtime.ini'),
      iniPath: '/app/uwsgi-zero-downtime.ini',
      checkout: '/app',
      command:
        "uwsgi --plugins python3 --chdir '{dir}' --pythonpath '{dir}' --module mysite.wsgi:application --env DJANGO_SETTINGS_MODULE=mysite.settings " +
        "--virtualenv /venv --add-header 'Connection: close' --lazy-apps --http-socket '127.0.0.1:{port}' --master --processes 1 --die-on-term --no-orphans",
      dropped: ['http-socket', 'master-fifo', 'worker-reload-mercy', 'disable-logging'],
    },
    {
      name: '%d and %n: the directory of the ini, under the checkout, becomes the staged tree',
      text: '[uwsgi]\nchdir = %d\nwsgi-file = %dapp.py\nvirtualenv = %d.venv\nlogto = /var/log/%n.log\nsocket = /run/%n.sock\npidfile = /run/%n.pid\n',
      iniPath: '/srv/site/deploy/site.ini',
      checkout: '/srv/site',
      command:
        "uwsgi --chdir '{dir}/deploy/' --wsgi-file '{dir}/deploy/app.py' --virtualenv '{dir}/deploy/.venv' --http-socket '127.0.0.1:{port}' --master --processes 1 --die-on-term --no-orphans",
      dropped: ['logto', 'socket', 'pidfile'],
    },
    {
      name: 'no chdir: the staged tree is the working directory; a path outside the checkout stays',
      text: '[uwsgi]\nplugin = python3\nmodule = app:application\npythonpath = /opt/shared\nprocesses = 4\nmaster = true\ndaemonize = /var/log/uwsgi.log\nmaster-fifo = /run/u.fifo\n',
      iniPath: '/app/uwsgi.ini',
      checkout: '/app',
      command:
        "uwsgi --chdir '{dir}' --plugin python3 --module app:application --pythonpath /opt/shared --http-socket '127.0.0.1:{port}' --master --processes 1 --die-on-term --no-orphans",
      dropped: ['daemonize', 'master-fifo'],
    },
    {
      name: 'jobs that must not run twice (cron, attached daemons, spooler, mules) are dropped; /application is not under /app',
      text: '[uwsgi]\nwsgi-file = /application/app.py\ncron = 0 -1 -1 -1 -1 /app/backup.sh\nattach-daemon = celery worker\nspooler = /app/spool\nmule = /app/mule.py\nstats = 127.0.0.1:9191\nenable-threads = true\nlazy = false\n',
      iniPath: '/app/uwsgi.ini',
      checkout: '/app',
      command:
        "uwsgi --chdir '{dir}' --wsgi-file /application/app.py --enable-threads --http-socket '127.0.0.1:{port}' --master --processes 1 --die-on-term --no-orphans",
      dropped: ['cron', 'attach-daemon', 'spooler', 'mule', 'stats'],
    },
  ])('$name', ({ text, iniPath, checkout, command, dropped }) => {
    const derived = ok(deriveUwsgiCanary({ text, iniPath, checkout }));
    expect(derived.command).toBe(command);
    expect(derived.description).toContain(`uWSGI ini ${iniPath}`);
    expect(derived.description).toContain(`dropped ${dropped.join(', ')}`);
    expect(derived.description).toContain('1 worker on 127.0.0.1:{port}');
  });

  it.each([
    { text: '[uwsgi]\nmaster = true\n', error: 'names no app' },
    { text: '; nothing\n[other]\nmodule = x\n', error: 'no [uwsgi] section' },
  ])('refuses an ini it cannot make a canary of: $error', ({ text, error }) => {
    expect(deriveUwsgiCanary({ text, iniPath: '/app/u.ini', checkout: '/app' })).toEqual({
      error: expect.stringContaining(error),
    });
  });

  it('magic variables other than %d %p %s %n %e %c are left to uWSGI and named', () => {
    const derived = ok(
      deriveUwsgiCanary({
        text: '[uwsgi]\nmodule = app\nenv = HOME=%(home)\nenv = X=%k\n',
        iniPath: '/app/u.ini',
        checkout: '/app',
      }),
    );
    expect(derived.command).toContain("--env 'HOME=%(home)'");
    expect(derived.description).toContain('left to uWSGI: %( %k');
  });

  it('parses only the [uwsgi] section; bare keys are flags; comments skipped', () => {
    expect(parseUwsgiIni('[uwsgi]\n; c\n# c\nmaster\nmodule = a:b = c\n[uwsgi-other]\nx = 1\n')).toEqual([
      ['master', 'true'],
      ['module', 'a:b = c'],
    ]);
  });
});

describe('gunicorn → canary command', () => {
  it('the gunicorn example: config from the staged tree, production settings overridden on the command line', () => {
    const derived = ok(
      deriveGunicornCanary({
        configText: example('gunicorn/gunicorn.conf.py'),
        configPath: '/app/gunicorn.conf.py',
        checkout: '/app',
      }),
    );
    expect(derived.command).toBe(
      "gunicorn --config '{dir}/gunicorn.conf.py' --chdir '{dir}' --pythonpath '{dir}' --bind '127.0.0.1:{port}' --workers 1 --pid '{tmp}/gunicorn.pid' --error-logfile - --graceful-timeout 1",
    );
    expect(derived.description).toBe(
      'gunicorn config /app/gunicorn.conf.py (app wsgi:application): 1 worker on 127.0.0.1:{port}, chdir the staged tree; overridden bind, workers, pidfile, chdir, errorlog',
    );
  });

  it.each([
    {
      input: { checkout: '/app', app: 'wsgi:application' },
      tail: "--pid '{tmp}/gunicorn.pid' --error-logfile - --graceful-timeout 1 wsgi:application",
    },
    {
      input: { checkout: '/app', configText: 'daemon = True\nworkers = 8\n', configPath: '/app/g.py', app: 'wsgi:app' },
      tail: '--graceful-timeout 1 --no-daemon wsgi:app',
    },
  ])('an app path goes last; a daemonizing config is overridden ($tail)', ({ input, tail }) => {
    expect(ok(deriveGunicornCanary(input)).command.endsWith(tail)).toBe(true);
  });

  it('reads simple settings of a Python config file', () => {
    expect(
      Object.fromEntries(
        readGunicornSettings('bind = "0.0.0.0:8000"  # all\nworkers = 2\nwsgi_app = \'w:a\'\ndef f(): pass\n'),
      ),
    ).toEqual({
      bind: '0.0.0.0:8000',
      workers: '2',
      wsgi_app: 'w:a',
    });
  });
});

describe('templates', () => {
  it('fills {dir}, {port} and {tmp}; quoted placeholders keep a directory with spaces one word', () => {
    expect(
      fillTemplate(`x --chdir ${shellQuote('{dir}')} --bind ${shellQuote('127.0.0.1:{port}')} --pid {tmp}/p`, {
        dir: '/a b',
        port: 8123,
        tmp: '/t',
      }),
    ).toBe("x --chdir '/a b' --bind '127.0.0.1:8123' --pid /t/p");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
