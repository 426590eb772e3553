/**
 * `--canary auto`, pure: a canary command derived from the app server's own configuration. The command is a
 * template: `{dir}` (the staged tree), `{port}` (a free loopback port) and `{tmp}` (a private directory, removed after) are filled in.
 */

export interface DerivedCanary {
  /** shell command, with {dir}, {port} and {tmp} */
  command: string;
  /** one line: what was found, what was kept and dropped */
  description: string;
}

export interface UwsgiInput {
  /** the ini file's text (from the staged tree) */
  text: string;
  /** where production reads the ini: %d, %p … expand from it */
  iniPath: string;
  /** the served checkout: paths under it become {dir} */
  checkout: string;
}

/**
 * Options the canary must not share with production, or that make no sense for a throwaway server: listening
 * sockets (the canary gets its own), the master FIFO, pid files, daemonizing, reload triggers, logging, stats,
 * and jobs that would run a second time beside production's (cron, spooler, mules, attached daemons).
 */
const DROPPED = [
  /^(socket|s|uwsgi-socket|http-socket|https-socket|http|https|https2|fastcgi-socket|fastcgi-nph-socket|scgi-socket|scgi-nph-socket|suwsgi-socket|shared-socket|zerg|zerg-server)$/,
  /^(protocol|socket-protocol|chmod-socket|chmod|chown-socket|umask|vacuum|abstract-socket|reuse-port|listen|l|http-to|http-modifier1|http-keepalive|http-auto-chunked|http-timeout)$/,
  /^(master-fifo|pidfile|pidfile2|safe-pidfile|safe-pidfile2|daemonize|daemonize2|daemon|emperor|vassals|emperor-.*|stats|stats-server|stats-http|stats-push|carbon.*|metrics-.*)$/,
  /^(touch-.*|fs-reload|fs-brutal-reload|py-autoreload|python-autoreload|reload-on-.*|evil-reload-on-.*|reload-mercy|worker-reload-mercy|chain-reload-.*)$/,
  /^(logto|logto2|logger|logger-req|req-logger|log-.*|logfile-chown|logfile-chmod|disable-logging|memory-report|threaded-logger|log-master|log-reopen)$/,
  /^(processes|workers|p|cheaper|cheaper-.*|idle|die-on-idle|master|M|die-on-term|no-orphans|lazy)$/,
  /^(cron|cron2|unique-cron|legion-cron|spooler|spooler-.*|mule|mules|farm|attach-daemon|attach-daemon2|smart-attach-daemon|smart-attach-daemon2|attach-control-daemon|legion.*|subscribe-to|subscribe2|st|ss)$/,
  /^(ini|include|inherit|xml|yaml|json|yml)$/,
];

const dropped = (key: string) => DROPPED.some((re) => re.test(key));
/** Dropped, then set again the canary's way (not worth naming in the description). */
const RESET = /^(processes|workers|p|master|M|die-on-term|no-orphans)$/;

/** Single-quoted for sh unless plainly safe; placeholders are quoted too, so a {dir} with spaces stays one word. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

function parentDir(file: string): string {
  const dir = file.replace(/\/+[^/]*$/, '');
  return dir === '' ? '/' : dir;
}

/** uWSGI's config magic variables that depend on where the file is (the rest are left to uWSGI and reported). */
function expandMagic(value: string, iniPath: string): { value: string; unknown: string[] } {
  const dir = parentDir(iniPath);
  const base = iniPath.slice(dir.length + 1);
  const unknown: string[] = [];
  const expanded = value.replace(/%(.)/g, (whole, c: string) => {
    switch (c) {
      case 'd':
        return `${dir.replace(/\/$/, '')}/`;
      case 'p':
        return iniPath;
      case 's':
        return base;
      case 'n':
        return base.replace(/\.[^.]*$/, '');
      case 'e':
        return /\.([^.]*)$/.exec(base)?.[1] ?? '';
      case 'c':
        return dir.slice(dir.lastIndexOf('/') + 1);
      case '%':
        return '%';
      default:
        unknown.push(whole);
        return whole;
    }
  });
  return { value: expanded, unknown };
}

/** `/app` and `/app/x` become `{dir}` and `{dir}/x`; `/application` stays. */
function underCheckout(value: string, checkout: string): string {
  const root = checkout.replace(/\/+$/, '');
  if (root === '') return value;
  const escaped = root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return value
    .replace(new RegExp(`${escaped}(?=/|$|[\\s:;,'"=])`, 'g'), '{dir}')
    .replace(/\{dir\}\/(?=\s|$)/g, '{dir}');
}

/** `key = value` pairs of the [uwsgi] section, in order (uWSGI allows a key more than once). */
export function parseUwsgiIni(text: string, section = 'uwsgi'): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  let current: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      current = header[1]!.trim();
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    // a bare key is a boolean flag (`master` alone means master = true)
    if (eq < 0) pairs.push([line, 'true']);
    else pairs.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return pairs;
}

const BOOLEAN_TRUE = /^(true|1|yes|on)$/i;
const BOOLEAN_FALSE = /^(false|0|no|off)$/i;

/** A uWSGI canary: the production ini's app options, its own HTTP socket on {port}, one worker. */
export function deriveUwsgiCanary(input: UwsgiInput): DerivedCanary | { error: string } {
  const pairs = parseUwsgiIni(input.text);
  if (pairs.length === 0) return { error: `${input.iniPath} has no [uwsgi] section with options` };
  const args: string[] = [];
  const kept = new Set<string>();
  const drops = new Set<string>();
  const unknownMagic = new Set<string>();
  let sawChdir = false;
  let app = false;
  for (const [key, rawValue] of pairs) {
    if (dropped(key)) {
      if (!RESET.test(key)) drops.add(key);
      continue;
    }
    const magic = expandMagic(rawValue, input.iniPath);
    magic.unknown.forEach((m) => unknownMagic.add(m));
    const value = underCheckout(magic.value, input.checkout);
    if (key === 'chdir') sawChdir = true;
    if (/^(module|wsgi-file|file|wsgi|w|mount|callable|pymodule-alias)$/.test(key)) app = true;
    kept.add(key);
    if (BOOLEAN_FALSE.test(value)) continue;
    args.push(`--${key}`);
    if (!BOOLEAN_TRUE.test(value)) args.push(value);
  }
  if (!app) return { error: `${input.iniPath} names no app (module, wsgi-file, wsgi or mount)` };
  if (!sawChdir) args.unshift('--chdir', '{dir}');
  // die-on-term: uWSGI 2.0 takes SIGTERM for "reload"; no-orphans: the worker goes with the master
  args.push('--http-socket', '127.0.0.1:{port}', '--master', '--processes', '1', '--die-on-term', '--no-orphans');
  const command = ['uwsgi', ...args.map(shellQuote)].join(' ');
  const keptText = [...kept].filter((k) =>
    /^(plugins?|module|wsgi-file|wsgi|virtualenv|venv|home|pythonpath|chdir|env|lazy-apps)$/.test(k),
  );
  const magicNote = unknownMagic.size > 0 ? `; left to uWSGI: ${[...unknownMagic].join(' ')}` : '';
  const description =
    `uWSGI ini ${input.iniPath}: kept ${keptText.join(', ') || 'its options'}, paths under ${input.checkout} → the staged tree` +
    `${drops.size > 0 ? `; dropped ${[...drops].join(', ')}` : ''}; 1 worker on 127.0.0.1:{port}${magicNote}`;
  return { command, description };
}

export interface GunicornInput {
  /** gunicorn.conf.py's text, when the repo has one (a Python file: only simple `name = value` lines are read) */
  configText?: string;
  /** the config file as production names it */
  configPath?: string;
  checkout: string;
  /** the app, when there is no config file or it names none (wsgi_app) */
  app?: string;
}

/** `name = "value"` / `name = 'value'` / `name = 2` lines of a gunicorn config file. */
export function readGunicornSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([a-z_]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^#\s]+))\s*(?:#.*)?$/.exec(line);
    if (m) settings.set(m[1]!, m[2] ?? m[3] ?? m[4]!);
  }
  return settings;
}

/**
 * A gunicorn canary: the config file from the staged tree with every production-facing setting overridden on
 * the command line (which gunicorn ranks above the file): bind, workers, pid file, daemon, chdir, logging.
 */
export function deriveGunicornCanary(input: GunicornInput): DerivedCanary | { error: string } {
  const settings = input.configText === undefined ? new Map<string, string>() : readGunicornSettings(input.configText);
  const app = settings.get('wsgi_app') ?? input.app;
  const args: string[] = [];
  if (input.configPath) args.push('--config', underCheckout(input.configPath, input.checkout));
  const pythonpath = settings.get('pythonpath');
  args.push('--chdir', '{dir}');
  if (pythonpath) args.push('--pythonpath', underCheckout(pythonpath, input.checkout));
  else args.push('--pythonpath', '{dir}');
  args.push(
    '--bind',
    '127.0.0.1:{port}',
    '--workers',
    '1',
    '--pid',
    '{tmp}/gunicorn.pid',
    '--error-logfile',
    '-',
    '--graceful-timeout',
    '1',
  );
  if (settings.has('daemon')) args.push('--no-daemon');
  if (input.configPath === undefined && !app) return { error: 'no gunicorn.conf.py and no app path' };
  // the app named in the config file is used as it is; given on the command line it must come last
  if (app && (input.configPath === undefined || !settings.has('wsgi_app'))) args.push(app);
  const overridden = ['bind', 'workers', 'pidfile', 'daemon', 'chdir', 'errorlog'].filter((k) => settings.has(k));
  const description =
    `gunicorn ${input.configPath ? `config ${input.configPath}` : `app ${app}`}${app && input.configPath ? ` (app ${app})` : ''}: ` +
    `1 worker on 127.0.0.1:{port}, chdir the staged tree${overridden.length > 0 ? `; overridden ${overridden.join(', ')}` : ''}`;
  return { command: ['gunicorn', ...args.map(shellQuote)].join(' '), description };
}

/** {dir}, {port} and {tmp} filled in: the shell command of one canary. */
export function fillTemplate(template: string, values: { dir: string; port: number; tmp: string }): string {
  return template
    .replaceAll('{dir}', values.dir)
    .replaceAll('{port}', String(values.port))
    .replaceAll('{tmp}', values.tmp);
}
