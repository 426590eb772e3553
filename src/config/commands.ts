/**
 * What help and shell completion say about each command: the usage line, one summary line, and examples that
 * run as written (given a checkout, a daemon or a Docker host). The options of each command come from the
 * options table, which tags every option with the commands that read it.
 */
export interface CommandHelp {
  readonly usage: string;
  readonly summary: string;
  readonly examples: readonly string[];
  /** words the command takes besides options (completion offers them) */
  readonly words?: readonly string[];
}

/** Top-level commands in the order help lists them; `host` has sub-commands of its own. */
export const TOP_COMMANDS = [
  'run',
  'sync',
  'status',
  'fleet',
  'log',
  'pause',
  'resume',
  'approve',
  'rollback',
  'reset',
  'reload-config',
  'watch',
  'host',
  'supervisor-config',
  'demo',
  'completion',
  'version',
  'help',
] as const;
export type TopCommand = (typeof TOP_COMMANDS)[number];
export const HOST_SUBCOMMANDS = ['up', 'deploy', 'ls'] as const;

/** Top-level commands that read no option of the table. */
const OPTIONLESS = ['completion', 'version', 'help'] as const;
type WithOptions = Exclude<TopCommand, 'host' | (typeof OPTIONLESS)[number]>;
const readsOptions = (c: TopCommand): c is WithOptions =>
  c !== 'host' && !(OPTIONLESS as readonly string[]).includes(c);

/** The commands (and host sub-commands) an option can belong to: help and completion list it under these. */
export type CommandName = WithOptions | `host ${(typeof HOST_SUBCOMMANDS)[number]}`;
export const COMMAND_NAMES: readonly CommandName[] = TOP_COMMANDS.flatMap((c): CommandName[] =>
  c === 'host' ? HOST_SUBCOMMANDS.map((s) => `host ${s}` as const) : readsOptions(c) ? [c] : [],
);
export const SHELLS = ['bash', 'zsh', 'fish'] as const;

/** A help topic: a top-level command or a host sub-command (`host up`). */
export type HelpTopic = TopCommand | CommandName;

export const COMMAND_HELP: Readonly<Record<HelpTopic, CommandHelp>> = {
  run: {
    usage: 'hotpull run [options]',
    summary: 'follow the remote branch: poll, fast-forward, reload (the sidecar)',
    examples: [
      'hotpull run --repo /app --interval 2s',
      'hotpull run --repo /app --interval 1m30s --listen 9300 --webhook-secret-file /run/secrets/webhook',
      "hotpull run --repo /app --reload uwsgi-fifo:/run/app.fifo --health-url http://127.0.0.1:8000/ --health-expect '{short_sha}'",
    ],
  },
  sync: {
    usage: 'hotpull sync [options]',
    summary:
      'one sync and exit: 0 up to date or updated, 1 failed or blocked, 2 bad config; beside a running daemon (and with --now) the daemon does it',
    examples: [
      'hotpull sync --repo /app',
      'hotpull sync --repo /app --touch uwsgi.ini --health-url http://127.0.0.1:8000/',
      'hotpull sync --now --wait',
    ],
  },
  status: {
    usage: 'hotpull status [options]',
    summary: "show a running daemon's state and recent deploys: 0 live, 1 problem, 3 unreachable",
    examples: ['hotpull status', 'hotpull status --repo /app --json', 'hotpull status --url http://127.0.0.1:9300'],
  },
  fleet: {
    usage:
      'hotpull fleet [--peer URL]... [--peers-file FILE] [--peers dns:NAME:PORT|docker:LABEL[=VALUE]]... [options]',
    summary:
      "one table of every replica's revision, state and verdict, drift flagged: 0 all on one revision, 1 drift or a replica failing, 3 some unreachable",
    examples: [
      'hotpull fleet --peer http://10.0.0.5:9300 --peer http://10.0.0.6:9300 --drift-after 1m',
      'hotpull fleet --peers dns:app-headless.prod.svc.cluster.local:9300 --json',
      'hotpull fleet --peers-file /etc/hotpull/peers --peers docker:hotpull.listen --watch --interval 2s',
    ],
  },
  log: {
    usage: 'hotpull log [options]',
    summary: 'list the deploys recorded with the checkout, newest first, across restarts (--json); needs no daemon',
    examples: ['hotpull log --repo /app', 'hotpull log --repo /srv/app --layout atomic --json'],
  },
  pause: {
    usage: 'hotpull pause [--reason TEXT] [options]',
    summary: 'ask the running daemon to stop applying new revisions (polls go on; kept across restarts) until resume',
    examples: [
      "hotpull pause --reason 'release freeze'",
      'hotpull pause --repo /app',
      'hotpull pause --url http://127.0.0.1:9300',
    ],
  },
  resume: {
    usage: 'hotpull resume [options]',
    summary: "ask the running daemon to follow again (lifts a pause or a rollback's) and sync now",
    examples: ['hotpull resume', 'hotpull resume --repo /app', 'hotpull resume --url http://127.0.0.1:9300'],
  },
  approve: {
    usage: 'hotpull approve SHA [options]',
    summary: 'let the running daemon apply SHA (run --require-approval); kept across restarts, for that sha only',
    examples: ['hotpull approve 1a2b3c4', 'hotpull approve 1a2b3c4 --url http://127.0.0.1:9300'],
  },
  rollback: {
    usage: 'hotpull rollback [SHA] [options]',
    summary: 'back to SHA or the previous live revision, verified; rejects the revision left and pauses until resume',
    examples: [
      'hotpull rollback --url http://127.0.0.1:9300',
      'hotpull rollback 1a2b3c4 --url http://127.0.0.1:9300',
      'hotpull rollback --repo /app',
    ],
  },
  reset: {
    usage: 'hotpull reset [options]',
    summary:
      "the way out of diverged or dirty: the daemon saves the checkout's head and edits under refs/hotpull/backup/ and resets to the remote head",
    examples: ['hotpull reset', 'hotpull reset --repo /app', 'hotpull reset --url http://127.0.0.1:9300'],
  },
  'reload-config': {
    usage: 'hotpull reload-config [options]',
    summary:
      'ask the running daemon of a config file with apps: to read it again (apps added, removed, changed); a file with an error is refused and the running apps go on: 0 applied, 2 refused, 1 no daemon',
    examples: ['hotpull reload-config', 'hotpull reload-config --config /etc/hotpull/apps.yaml'],
  },
  watch: {
    usage: 'hotpull watch [options]',
    summary: 'dev mode: reload the app server when files in --repo change; run --watch also pulls',
    examples: [
      'hotpull watch --repo . --touch uwsgi.ini',
      'hotpull watch --reload command:"supervisorctl restart app" --ext py,html',
      'hotpull watch --poll auto --ignore media/ --debounce 300ms',
    ],
  },
  host: {
    usage: 'hotpull host up|deploy|ls [options]',
    summary:
      'on the Docker host: host up (start or replace the app container, idempotent), host deploy (pull the code, reload), host ls',
    examples: [
      'hotpull host up --name web --image myapp:1 --code /srv/web/code:/app --repo https://github.com/acme/web.git',
      'hotpull host deploy --code /srv/web/code --touch uwsgi.ini',
      'hotpull host ls',
    ],
    words: HOST_SUBCOMMANDS,
  },
  'host up': {
    usage: 'hotpull host up [options] [-- DOCKER-RUN-ARGS [-- COMMAND]]',
    summary:
      'start the app container (one an app of a file with apps:), or replace it when its image, mounts, ports, env or arguments changed (idempotent)',
    examples: [
      'hotpull host up --name web --image myapp:1 --code /srv/web/code:/app --repo https://github.com/acme/web.git',
      'hotpull host up --name web --image myapp:1 --code /srv/web/code:/app -p 127.0.0.1:8000:8000 -e DJANGO_DEBUG=0',
      'hotpull host up --config /etc/hotpull/apps.yaml -- --restart unless-stopped',
    ],
  },
  'host deploy': {
    usage: 'hotpull host deploy --code HOSTDIR [options]',
    summary:
      "fast-forward the code directory with the daemon's engine, then reload: 0 up to date or deployed, 1 failed or blocked",
    examples: [
      'hotpull host deploy --code /srv/web/code',
      'hotpull host deploy --code /srv/web/code --touch uwsgi.ini --json',
    ],
  },
  'host ls': {
    usage: 'hotpull host ls [options]',
    summary: 'list the containers hotpull runs here: name, image, status, the revision in the code directory',
    examples: ['hotpull host ls', 'hotpull host ls --json', 'hotpull host ls --docker-bin podman'],
  },
  'supervisor-config': {
    usage: 'hotpull supervisor-config [run options]',
    summary: 'print a [program:hotpull] section for supervisord.conf that runs hotpull run with the options given',
    examples: [
      'hotpull supervisor-config --repo /app --interval 2s',
      'hotpull supervisor-config --repo /app --listen 9300 > /etc/supervisor/conf.d/hotpull.conf',
    ],
  },
  demo: {
    usage: 'hotpull demo [keep]',
    summary: 'self-contained demo in a temp dir: remote, checkout, app, daemon, timed pushes',
    examples: ['hotpull demo', 'hotpull demo keep'],
    words: ['keep'],
  },
  completion: {
    usage: 'hotpull completion bash|zsh|fish',
    summary: 'print a shell completion script (commands, options per command, option values)',
    examples: [
      'source <(hotpull completion bash)',
      'hotpull completion zsh > "${fpath[1]}/_hotpull"',
      'hotpull completion fish > ~/.config/fish/completions/hotpull.fish',
    ],
    words: SHELLS,
  },
  version: {
    usage: 'hotpull version',
    summary: 'print the version (also -V, --version)',
    examples: ['hotpull version'],
  },
  help: {
    usage: 'hotpull help [COMMAND]',
    summary: "show a command's help (also hotpull COMMAND --help)",
    examples: ['hotpull help run', 'hotpull help host up'],
  },
};
