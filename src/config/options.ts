import type { ReloadSpec } from '../reload/spec.js';
import type { CommandName } from './commands.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** A change-aware deploy rule from the config's `onChange` list. */
export interface ChangeRule {
  /** globs over repo-relative paths; a glob without a slash matches the file name in any directory */
  paths: readonly string[];
  /** commands run in the checkout after the files are updated and before the reload */
  run: readonly string[];
  /** changes a code deploy cannot carry (Dockerfile, apt.txt): do not deploy, a rebuild is needed */
  hold: boolean;
  timeoutMs: number;
}

/**
 * The table every option is derived from: the CLI flag, the HOTPULL_* environment name, the config-file key,
 * the commands it belongs to, its typed default, the help text and the validation rule. Per-command help, shell
 * completion, the `Config` type and its defaults all come from here: adding an option means adding one row.
 */
export type OptionKind =
  | 'string'
  | 'remote'
  | 'path'
  | 'duration'
  | 'enum'
  | 'boolean'
  | 'url'
  | 'reloads'
  | 'rules'
  | 'listen'
  | 'count'
  | 'globs'
  | 'extensions'
  | 'strings';

/** What a validated value of each kind is. */
export interface KindValue {
  string: string;
  remote: string;
  path: string;
  duration: number;
  enum: string;
  boolean: boolean;
  url: string;
  reloads: readonly ReloadSpec[];
  rules: readonly ChangeRule[];
  listen: ListenAddress;
  count: number;
  globs: readonly string[];
  extensions: readonly string[];
  strings: readonly string[];
}

/** What a default computed at start may depend on. */
export interface DefaultContext {
  cwd: string;
  isTTY: boolean;
}

interface BaseSpec {
  /** config-file key (camelCase); the flag is its kebab-case form, the env name HOTPULL_ + UPPER_SNAKE */
  readonly key: string;
  /** the commands that read it; 'all' for the global options (log level and format, config file) */
  readonly commands: readonly CommandName[] | 'all';
  readonly placeholder?: string;
  readonly values?: readonly string[];
  /** smallest accepted duration, ms */
  readonly min?: number;
  /** largest accepted duration, ms */
  readonly max?: number;
  readonly description: string;
  /** the description under one command, where the option means something else there (host up --repo) */
  readonly describeFor?: Partial<Record<CommandName, string>>;
  /**
   * Shown in help and README instead of the formatted `default`: for a default computed at start (uwsgi.ini when
   * present) or better said in words; without either, the option has no default.
   */
  readonly defaultText?: string;
  /** options read from the command line and environment only, never from a config file */
  readonly noConfigKey?: boolean;
  /** options only a config file can hold (structured values) */
  readonly configOnly?: boolean;
  /** secrets: read from the environment only (never a flag, which `ps` shows, nor a config file) */
  readonly envOnly?: boolean;
  /** a boolean whose flag is --no-<key> (sets false) */
  readonly negatedFlag?: boolean;
  /** the value a flag given alone stands for (`--poll` = `--poll on`) */
  readonly bareValue?: string;
  /** the flag may be repeated; env and config take a list */
  readonly multiple?: boolean;
  /** a one-letter alias for the flag, e.g. p for -p */
  readonly short?: string;
}

/** One row; `default` is typed by the kind: the value the option has when nothing sets it. */
export type OptionSpec = {
  [K in OptionKind]: BaseSpec & {
    readonly kind: K;
    readonly default?: KindValue[K] | ((at: DefaultContext) => KindValue[K]);
  };
}[OptionKind];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

// Groups of commands. supervisor-config writes a `hotpull run` command line, so it takes what run takes.
const RUN = ['run', 'supervisor-config'] as const;
/** the commands that run the sync engine on a checkout */
const ENGINE = ['run', 'sync', 'rollback', 'host deploy', 'supervisor-config'] as const;
/** the commands that ask a running daemon (its listener) to do something */
const CONTROL = ['pause', 'resume', 'approve', 'rollback', 'reset'] as const;
/** the commands that find the daemon of a checkout (--repo, else the working directory) */
const ASKING = ['status', 'sync', ...CONTROL] as const;
/** the commands that reload an app server */
const RELOADING = [...ENGINE, 'watch'] as const;
/** the commands that talk to a git remote */
const REMOTE = [...ENGINE, 'host up'] as const;
const WATCHING = ['watch', ...RUN] as const;

export const OPTIONS = [
  {
    key: 'repo',
    kind: 'path',
    commands: [...ENGINE, 'watch', 'log', 'host up', ...ASKING],
    placeholder: 'DIR',
    description: 'the git checkout to keep deployed',
    describeFor: {
      'host up': 'the URL to clone into an empty --code directory',
      watch: 'the directory to watch',
      status: 'the checkout whose daemon to ask (over its operator socket, no secret needed)',
      pause: 'the checkout whose daemon to ask (over its operator socket, no secret needed)',
      resume: 'the checkout whose daemon to ask (over its operator socket, no secret needed)',
      reset: 'the checkout whose daemon to ask (over its operator socket, no secret needed)',
    },
    default: ({ cwd }) => cwd,
    defaultText: 'current directory',
  },
  {
    key: 'remote',
    kind: 'remote',
    commands: ENGINE,
    placeholder: 'NAME|URL',
    description: 'remote name of the checkout, or a URL',
    default: 'origin',
  },
  {
    key: 'branch',
    kind: 'string',
    commands: REMOTE,
    placeholder: 'NAME',
    description: 'branch to follow',
    defaultText: "the checkout's upstream branch",
  },
  {
    key: 'interval',
    kind: 'duration',
    commands: [...RUN, 'fleet'],
    min: 100,
    placeholder: 'DURATION',
    description: 'poll period (500ms, 2s, 1m30s); each poll gets ~10% random jitter',
    describeFor: { fleet: 'fleet --watch: how often the peers are asked' },
    default: 5000,
  },
  {
    key: 'layout',
    kind: 'enum',
    commands: [...ENGINE, 'log', ...ASKING],
    values: ['in-place', 'atomic'],
    placeholder: 'in-place|atomic',
    description:
      'in-place: fast-forward the checkout; atomic: each revision a complete worktree under releases/, `current` switched by rename()',
    default: 'in-place',
  },
  {
    key: 'keep',
    kind: 'count',
    commands: ENGINE,
    placeholder: 'N',
    description: 'atomic: live releases kept for instant rollback (older ones pruned)',
    default: 3,
  },
  {
    key: 'depth',
    kind: 'count',
    commands: ENGINE,
    placeholder: 'N',
    description: 'atomic: shallow first clone of N commits',
    defaultText: 'full history',
  },
  {
    key: 'touch',
    kind: 'string',
    commands: RELOADING,
    placeholder: 'FILE',
    description: 'shorthand for --reload touch:FILE (uWSGI --touch-reload), relative to the repo',
    defaultText: 'uwsgi.ini when the repo has one',
  },
  {
    key: 'reload',
    kind: 'reloads',
    commands: RELOADING,
    multiple: true,
    placeholder: 'STRATEGY',
    description:
      'how to reload, repeatable, run in order: touch:FILE, uwsgi-fifo:PATH[:r|R|c|w], signal:PIDFILE[:SIG], command:"CMD", none (env: one value or a JSON list)',
    default: [],
    defaultText: 'touch:uwsgi.ini when the repo has one',
  },
  {
    key: 'reloadTimeout',
    kind: 'duration',
    commands: RELOADING,
    min: 100,
    placeholder: 'DURATION',
    description: 'time limit for a command: reload',
    default: 60_000,
  },
  {
    key: 'healthUrl',
    kind: 'url',
    commands: REMOTE,
    placeholder: 'URL',
    description: 'after a reload, poll this URL until it answers 2xx; only then is the deploy live',
  },
  {
    key: 'healthExpect',
    kind: 'string',
    commands: REMOTE,
    placeholder: 'TEXT',
    description: 'text the health answer must contain; {sha} and {short_sha} are replaced by the deployed revision',
  },
  {
    key: 'healthTimeout',
    kind: 'duration',
    commands: REMOTE,
    min: 100,
    placeholder: 'DURATION',
    description: 'how long a deploy may take to become healthy before it is rolled back',
    default: 30_000,
  },
  {
    key: 'healthSettle',
    kind: 'duration',
    commands: REMOTE,
    placeholder: 'DURATION',
    description: 'how long answers must stay good in a row before a deploy is live',
    default: 2000,
  },
  {
    key: 'rollback',
    kind: 'boolean',
    commands: ENGINE,
    negatedFlag: true,
    description: 'on failed verification, leave the new code in place and report instead of rolling back',
    default: true,
    defaultText: 'roll back',
  },
  {
    key: 'traffic',
    kind: 'string',
    commands: ENGINE,
    placeholder: 'SOURCE',
    description:
      "where real traffic is read, uwsgi-stats:ADDR (uWSGI's --stats) or access-log:FILE[:FORMAT]: every deploy's record says what it cost its users (requests, failed, latency, listen queue peak) from the reload to its verdict",
  },
  {
    key: 'trafficEvery',
    kind: 'duration',
    commands: ENGINE,
    min: 50,
    max: 60_000,
    placeholder: 'DURATION',
    description:
      '--traffic: how often the source is read (the listen queue is a level: its peak is what a reading saw)',
    default: 1000,
  },
  {
    key: 'bake',
    kind: 'duration',
    commands: ENGINE,
    min: 1000,
    placeholder: 'DURATION',
    description:
      'needs --traffic and --health-url: a verified deploy is judged on real traffic for DURATION against the same-length window before it, and rolled back when it fails (--bake-max-errors, --bake-max-latency); live only after it passes',
  },
  {
    key: 'bakeMaxErrors',
    kind: 'string',
    commands: ENGINE,
    placeholder: 'PERCENT',
    description:
      "--bake: the highest share of failed requests that passes (and a failure must be above the baseline's too)",
    default: '1%',
  },
  {
    key: 'bakeMaxLatency',
    kind: 'duration',
    commands: ENGINE,
    placeholder: 'DURATION',
    description:
      "--bake: the highest latency (the source's measure: uWSGI's mean, an access log's p99) that passes, and a failure must be above 2x the baseline's; without it latency is not judged",
  },
  {
    key: 'bakeMinRequests',
    kind: 'count',
    commands: ENGINE,
    placeholder: 'N',
    description: '--bake: fewer requests than N in the bake window judge nothing (inconclusive)',
    default: 50,
  },
  {
    key: 'bakeInconclusive',
    kind: 'enum',
    commands: ENGINE,
    values: ['live', 'rollback'],
    description: '--bake: what an inconclusive bake does (said in status and history either way)',
    default: 'live',
  },
  {
    key: 'verifySignatures',
    kind: 'boolean',
    commands: ENGINE,
    description:
      'deploy only revisions signed by a key --allowed-signers or --gpg-keyring allows: the fetched head (a tag followed with --ref: the tag) is verified before anything is staged; unsigned or signed by someone else is rejected until the branch moves',
    default: false,
    defaultText: 'off',
  },
  {
    key: 'allowedSigners',
    kind: 'path',
    commands: ENGINE,
    placeholder: 'FILE',
    description:
      "--verify-signatures with SSH signatures: an allowed-signers file (ssh-keygen's format, git's gpg.ssh.allowedSignersFile)",
  },
  {
    key: 'gpgKeyring',
    kind: 'path',
    commands: ENGINE,
    placeholder: 'DIR',
    description: '--verify-signatures with OpenPGP signatures: a GnuPG home directory whose public keys are allowed',
  },
  {
    key: 'after',
    kind: 'url',
    commands: RUN,
    placeholder: 'URL',
    description:
      "staged rollout: apply a revision only once this peer's /status (a hotpull listener, or a Service in front of canaries) says it serves it, verified, for --after-bake; one the peer rejected or rolled back is held",
  },
  {
    key: 'afterBake',
    kind: 'duration',
    commands: RUN,
    min: 0,
    placeholder: 'DURATION',
    description: '--after: how long the peer must have served a revision, verified, before it is applied here',
    defaultText: '1m',
  },
  {
    key: 'requireApproval',
    kind: 'boolean',
    commands: RUN,
    description:
      'a new revision waits for `hotpull approve SHA` (the operator route, with the bearer secret) before it is applied; the approval is kept with the checkout',
    default: false,
    defaultText: 'off',
  },
  {
    key: 'path',
    kind: 'strings',
    commands: ENGINE,
    multiple: true,
    placeholder: 'DIR',
    description:
      'monorepos: deploy only changes under DIR (relative to the repo root), repeatable; a push that changes nothing under the paths moves the tree without hooks, reload or notification, counted as skipped (env: one value or a JSON list)',
    default: [],
  },
  {
    key: 'sparse',
    kind: 'boolean',
    commands: ENGINE,
    description:
      'with --path: the checkout holds only the paths and the files at the repo root (git sparse-checkout, cone mode), in both layouts',
    default: false,
    defaultText: 'off',
  },
  {
    key: 'imageRevision',
    kind: 'string',
    commands: ENGINE,
    placeholder: 'SHA',
    description:
      'the commit the running image was built from (a build arg); hold rules compare against it, so a rebuilt image releases held changes',
  },
  {
    key: 'onChange',
    kind: 'rules',
    commands: ENGINE,
    configOnly: true,
    description: 'config file only: rules over changed paths, [{ paths, run | hold, timeout }]',
    default: [],
  },
  {
    key: 'syncTimeout',
    kind: 'duration',
    commands: ENGINE,
    min: 100,
    placeholder: 'DURATION',
    description: 'time limit for one ls-remote or fetch',
    default: 60_000,
  },
  {
    key: 'backoffMax',
    kind: 'duration',
    commands: RUN,
    min: 100,
    placeholder: 'DURATION',
    description: 'longest wait between retries while the remote is failing',
    default: 120_000,
  },
  {
    key: 'safetyPoll',
    kind: 'duration',
    commands: RUN,
    min: 100,
    placeholder: 'DURATION',
    description:
      'once a webhook has arrived, poll only this often (never faster than --interval), back to --interval when a poll finds a push no webhook announced',
    default: 300_000,
  },
  {
    key: 'onDiverged',
    kind: 'enum',
    commands: ENGINE,
    values: ['stop', 'reset'],
    placeholder: 'stop|reset',
    description:
      'when the remote was force-pushed: stop and report, or save the old head under refs/hotpull/backup/ and reset',
    default: 'stop',
  },
  {
    key: 'onDirty',
    kind: 'enum',
    commands: ENGINE,
    values: ['stop', 'reset'],
    placeholder: 'stop|reset',
    description:
      'when tracked files were changed in the checkout: stop and report, or save them under refs/hotpull/backup/ and reset',
    default: 'stop',
  },
  {
    key: 'watch',
    kind: 'boolean',
    commands: [...RUN, 'fleet'],
    description: 'run: also reload when files in the checkout change (dev mode, as hotpull watch does)',
    describeFor: {
      fleet:
        'ask again every --interval: the table redrawn in place on a terminal, changed rows as lines otherwise (the flag only: not HOTPULL_WATCH nor a config file, which mean run --watch)',
    },
    default: false,
  },
  {
    key: 'ignore',
    kind: 'globs',
    commands: WATCHING,
    multiple: true,
    placeholder: 'GLOB',
    description:
      'watch: changes not to reload for, repeatable; globs relative to the repo, no slash = a name at any depth, trailing slash = a directory (env: one value or a JSON list)',
    default: [],
    defaultText: '.git/, __pycache__/, *.pyc, node_modules/, .venv/, venv/, editor swap files, the reload file',
  },
  {
    key: 'ext',
    kind: 'extensions',
    commands: WATCHING,
    placeholder: 'EXT[,EXT]',
    description: 'watch: only files with these extensions count, e.g. py,html (new and deleted directories still do)',
    default: [],
    defaultText: 'every file',
  },
  {
    key: 'debounce',
    kind: 'duration',
    commands: WATCHING,
    placeholder: 'DURATION',
    description: 'watch: wait this long after the last change so a burst (git checkout, save all) gives one reload',
    default: 150,
  },
  {
    key: 'poll',
    kind: 'enum',
    commands: WATCHING,
    values: ['off', 'on', 'auto'],
    bareValue: 'on',
    placeholder: 'off|on|auto',
    description:
      'watch: on (or --poll alone) = poll for changes instead of inotify (Docker Desktop and WSL2 bind mounts deliver no events); auto = probe the mount at start and poll when no event arrives',
    default: 'off',
  },
  {
    key: 'logLevel',
    kind: 'enum',
    commands: 'all',
    values: LOG_LEVELS,
    placeholder: 'LEVEL',
    description: 'log level',
    default: 'info',
  },
  {
    key: 'logFormat',
    kind: 'enum',
    commands: 'all',
    values: ['json', 'pretty'],
    placeholder: 'json|pretty',
    description: 'log format',
    default: ({ isTTY }) => (isTTY ? 'pretty' : 'json'),
    defaultText: 'pretty on a TTY, else json',
  },
  {
    key: 'listen',
    kind: 'listen',
    commands: [...RUN, 'status', 'sync', ...CONTROL],
    placeholder: '[HOST:]PORT',
    description: 'serve /webhook, /sync, /status, /healthz, /metrics; host 127.0.0.1 unless given',
    describeFor: {
      status: 'the daemon to ask, when --url is not given',
      sync: 'sync --now: the daemon to ask, when --url is not given',
    },
    defaultText: 'off',
  },
  {
    key: 'webhookSecretFile',
    kind: 'path',
    commands: [...RUN, 'sync', ...CONTROL, 'fleet'],
    placeholder: 'FILE',
    description: 'file holding the webhook secret (GitHub/Gitea HMAC key, GitLab token, bearer token)',
    describeFor: {
      fleet:
        "file holding the operators' bearer secret, sent to every peer as Authorization: Bearer (when peers need one)",
    },
  },
  {
    key: 'webhookSecret',
    kind: 'string',
    commands: [...RUN, 'sync', ...CONTROL, 'fleet'],
    envOnly: true,
    description: 'the webhook secret itself (environment only)',
    describeFor: { fleet: 'the bearer secret itself (environment only)' },
  },
  {
    key: 'sshKeyFile',
    kind: 'path',
    commands: REMOTE,
    placeholder: 'FILE',
    description:
      'ssh remotes: the private key to use, alone (a deploy key); hotpull builds the ssh command; a key you own must not be readable by group or others',
  },
  {
    key: 'sshKnownHostsFile',
    kind: 'path',
    commands: REMOTE,
    placeholder: 'FILE',
    description: "ssh remotes: known_hosts file pinning the server's host key; an unknown or changed key is refused",
    defaultText: '~/.ssh/known_hosts',
  },
  {
    key: 'username',
    kind: 'string',
    commands: REMOTE,
    placeholder: 'NAME',
    description:
      'http(s) remotes: the user name for --password-file or HOTPULL_PASSWORD (a GitHub token takes any, e.g. x-access-token)',
    defaultText: 'the user in the remote URL',
  },
  {
    key: 'passwordFile',
    kind: 'path',
    commands: REMOTE,
    placeholder: 'FILE',
    description:
      'http(s) remotes: file whose first line is the password or token; read again for every poll and fetch, so a rotated Secret works without a restart',
  },
  {
    key: 'password',
    kind: 'string',
    commands: REMOTE,
    envOnly: true,
    description: 'http(s) remotes: the password or token itself (environment only)',
  },
  {
    key: 'credentialHelper',
    kind: 'string',
    commands: REMOTE,
    placeholder: 'CMD',
    description:
      "http(s) remotes: a git credential helper, as git's credential.helper takes it (!shell snippet, /path/to/script, or NAME for git-credential-NAME)",
  },
  {
    key: 'url',
    kind: 'url',
    commands: ['status', 'sync', ...CONTROL],
    placeholder: 'URL',
    noConfigKey: true,
    description: 'the daemon to ask over TCP (where all but status need the webhook secret)',
    defaultText: "the checkout's daemon, through its operator socket; else http://<listen>",
  },
  {
    key: 'app',
    kind: 'string',
    commands: ['log', ...ASKING, 'host up'],
    placeholder: 'NAME',
    noConfigKey: true,
    description:
      'the app of a config file with apps: to act on (its checkout, its daemon); status without it lists every app; host up: the one app to bring up, without it every app',
  },
  {
    key: 'json',
    kind: 'boolean',
    commands: ['status', 'fleet', 'log', 'host ls', 'host up', 'host deploy'],
    noConfigKey: true,
    description:
      'status, log, host ls: print the raw JSON; host up, host deploy: print the result as one JSON object; fleet: the view as one JSON object (one a line with --watch)',
    default: false,
  },
  {
    key: 'now',
    kind: 'boolean',
    commands: ['sync'],
    noConfigKey: true,
    description: "sync: ask the running daemon (the checkout's, or --url) to sync now and return at once",
    default: false,
  },
  {
    key: 'name',
    kind: 'string',
    commands: ['host up'],
    placeholder: 'NAME',
    noConfigKey: true,
    description: 'host up: the container name',
  },
  {
    key: 'image',
    kind: 'string',
    commands: ['host up'],
    placeholder: 'IMAGE',
    description: 'host up: the image to run (compared by id: a new image behind the tag replaces the container)',
  },
  {
    key: 'code',
    kind: 'string',
    commands: ['host up', 'host deploy'],
    placeholder: 'HOSTDIR[:CONTAINERDIR]',
    description:
      'host up: the code directory on the host and where the container mounts it; host deploy: the checkout to update',
  },
  {
    key: 'pull',
    kind: 'boolean',
    commands: ['host up'],
    noConfigKey: true,
    description: 'host up: pull the image before comparing it with the running one',
    default: false,
  },
  {
    key: 'publish',
    kind: 'strings',
    commands: ['host up'],
    short: 'p',
    multiple: true,
    placeholder: 'HOSTPORT:PORT',
    description:
      'host up: publish a container port, [IP:]HOSTPORT:PORT[/udp], repeatable (env: one value or a JSON list)',
    default: [],
  },
  {
    key: 'env',
    kind: 'strings',
    commands: ['host up'],
    short: 'e',
    multiple: true,
    placeholder: 'NAME=VALUE',
    description: "host up: a variable of the container's environment, repeatable (env: one value or a JSON list)",
    default: [],
  },
  {
    key: 'envFile',
    kind: 'path',
    commands: ['host up'],
    placeholder: 'FILE',
    description: "host up: a file of NAME=VALUE lines for the container's environment (docker's --env-file format)",
  },
  {
    key: 'stopTimeout',
    kind: 'duration',
    commands: ['host up'],
    placeholder: 'DURATION',
    noConfigKey: true,
    description: 'host up: how long a replaced container gets to stop after SIGTERM before it is killed',
    default: 10_000,
  },
  {
    key: 'dockerBin',
    kind: 'string',
    commands: ['host up', 'host ls', 'fleet'],
    placeholder: 'PATH',
    noConfigKey: true,
    description: 'host: the docker CLI to run (podman works too); DOCKER_HOST is honoured',
    describeFor: { fleet: 'fleet --peers docker:…: the docker CLI to ask (podman works too); DOCKER_HOST is honoured' },
    default: 'docker',
  },
  {
    key: 'config',
    kind: 'path',
    commands: 'all',
    placeholder: 'FILE',
    description: 'the config file to read',
    defaultText: 'search hotpull.config.*, .hotpullrc*, package.json#hotpull',
    noConfigKey: true,
  },
  {
    key: 'notify',
    kind: 'strings',
    commands: RUN,
    multiple: true,
    placeholder: 'URL',
    description:
      'run: notify here (https:// signed JSON, or slack://, discord://, teams://, ntfy://, telegram://, gotify://) on live, rolled-back, rejected, held, blocked, failing, recovered, paused, resumed; repeatable; a URL holding a token belongs in the environment or the config file, not on the command line (env: one value or a JSON list)',
    default: [],
  },
  {
    key: 'notifyEvents',
    kind: 'strings',
    commands: RUN,
    multiple: true,
    placeholder: 'EVENT[,EVENT]',
    description: 'run: only these notification events (comma-separated or repeated)',
    default: [],
    defaultText: 'all',
  },
  {
    key: 'notifySecretFile',
    kind: 'path',
    commands: RUN,
    placeholder: 'FILE',
    description: 'run: file whose first line signs notifications (X-Hotpull-Signature-256: sha256=<HMAC of the body>)',
  },
  {
    key: 'notifySecret',
    kind: 'string',
    commands: RUN,
    envOnly: true,
    description: 'the notification signing secret itself (environment only)',
  },
  {
    key: 'notifyFailingAfter',
    kind: 'count',
    commands: RUN,
    placeholder: 'N',
    description: 'run: send `failing` after this many failed passes in a row (once, then `recovered`)',
    default: 3,
  },
  {
    key: 'notifyDedupe',
    kind: 'duration',
    commands: RUN,
    min: 0,
    placeholder: 'DURATION',
    description:
      'run: a failing or blocked notification repeating the same reason within this time is held back and counted, and said with the next one sent (0: send every one)',
    default: 5 * 60_000,
  },
  {
    key: 'onLive',
    kind: 'string',
    commands: RUN,
    placeholder: 'CMD',
    description:
      'run: a shell command run in the checkout after each deploy is live, with HOTPULL_SHA, HOTPULL_PREVIOUS_SHA, HOTPULL_DIR …; a failure is logged, never rolls back',
  },
  {
    key: 'onLiveTimeout',
    kind: 'duration',
    commands: RUN,
    min: 100,
    placeholder: 'DURATION',
    description: 'time limit for --on-live',
    default: 5 * 60_000,
  },
  {
    key: 'preflight',
    kind: 'strings',
    commands: ENGINE,
    multiple: true,
    placeholder: 'CMD',
    description:
      'a command run in the staged revision before anything serving sees it (cwd and HOTPULL_DIR: the staged tree; HOTPULL_SHA, HOTPULL_PREVIOUS_SHA), repeatable; a failure rejects the revision (env: one value or a JSON list)',
    default: [],
  },
  {
    key: 'canary',
    kind: 'string',
    commands: ENGINE,
    placeholder: 'CMD|auto',
    description:
      'an app server started from the staged revision on a free loopback port ({port}, {dir}, {tmp} replaced) and checked with the --health-url path and --health-expect before the reload; auto: derived from the uWSGI ini or gunicorn config',
  },
  {
    key: 'canaryTimeout',
    kind: 'duration',
    commands: ENGINE,
    min: 100,
    placeholder: 'DURATION',
    description: 'time limit for each --preflight command, and for the canary to answer well',
    default: 30_000,
  },
  {
    key: 'ref',
    kind: 'string',
    commands: ENGINE,
    placeholder: 'REF',
    description:
      "what to follow: a branch (as --branch), refs/tags/NAME or a tag name (pinned), a full sha (pinned, fetched once), or a tag pattern ('v*': the highest semver tag)",
    defaultText: '--branch',
  },
  {
    key: 'reason',
    kind: 'string',
    commands: ['pause'],
    placeholder: 'TEXT',
    noConfigKey: true,
    description: 'pause: why, shown in status and logs',
  },
  {
    key: 'wait',
    kind: 'boolean',
    commands: ['sync'],
    noConfigKey: true,
    description:
      'sync --now: wait for the pass it started and exit with its outcome (0 live or up to date, 1 otherwise)',
    default: false,
  },
  {
    key: 'peer',
    kind: 'strings',
    commands: ['fleet'],
    multiple: true,
    placeholder: 'URL',
    description:
      "fleet: a replica's listener (http://HOST:PORT, its /status is asked), repeatable (env: one value or a JSON list)",
    default: [],
  },
  {
    key: 'peersFile',
    kind: 'path',
    commands: ['fleet'],
    placeholder: 'FILE',
    description: 'fleet: a file of peer URLs, one a line (# comments), read again on every round',
  },
  {
    key: 'peers',
    kind: 'strings',
    commands: ['fleet'],
    multiple: true,
    placeholder: 'dns:NAME:PORT|docker:LABEL[=VALUE]',
    description:
      "fleet: peers found at each round: dns: every A and AAAA record of NAME (a Kubernetes headless Service), docker: each running container with the label, at its hotpull.listen label's port; repeatable (env: one value or a JSON list)",
    default: [],
  },
  {
    key: 'driftAfter',
    kind: 'duration',
    commands: ['fleet'],
    placeholder: 'DURATION',
    description: 'fleet: replicas on different revisions for longer than this are flagged (exit 1)',
    defaultText: '2 poll periods: twice the longest --interval the peers report (5s each when they do not say)',
  },
  {
    key: 'peerTimeout',
    kind: 'duration',
    commands: ['fleet', ...RUN],
    min: 100,
    placeholder: 'DURATION',
    description: 'fleet: time limit for each peer (DNS and docker lookups too); a peer past it is unreachable',
    describeFor: { run: 'run --after: time limit for each question to the peer (and its answer is cut at 1 MiB)' },
    default: 2000,
  },
] as const satisfies readonly OptionSpec[];

export type OptionKey = (typeof OPTIONS)[number]['key'];

/**
 * What a command that asks a running daemon to sync (`sync --now`, or `sync` beside a daemon) reads: where the
 * daemon is and how to ask it. The daemon runs the pass with its own options.
 */
export const ASKING_KEYS: ReadonlySet<string> = new Set([
  'app',
  'now',
  'wait',
  'url',
  'listen',
  'webhookSecretFile',
  'repo',
  'layout',
  'config',
  'logLevel',
  'logFormat',
]);

type Row = (typeof OPTIONS)[number];
type ValueOf<R extends Row> = R extends { kind: 'enum'; values: readonly (infer V)[] } ? V : KindValue[R['kind']];

/**
 * The validated values, typed from the table: an option with a default always has a value, the others may
 * be undefined. `Config` (load.ts) is this plus what loading adds.
 */
export type OptionValues = { readonly [R in Extract<Row, { default: unknown }> as R['key']]: ValueOf<R> } & {
  readonly [R in Exclude<Row, { default: unknown }> as R['key']]?: ValueOf<R>;
};

/** The default of an option, computed for this start; undefined when it has none. */
export function defaultOf(spec: OptionSpec, at: DefaultContext): unknown {
  return typeof spec.default === 'function' ? spec.default(at) : spec.default;
}

/** Whether `command` reads the option. */
export function appliesTo(spec: OptionSpec, command: CommandName): boolean {
  return spec.commands === 'all' || spec.commands.includes(command);
}
