/**
 * The table every option is derived from: the CLI flag, the HOTPULL_* environment name, the config-file key,
 * the help text and the validation rule. Adding an option means adding one row here.
 */
export type OptionKind = 'string' | 'remote' | 'path' | 'duration' | 'enum' | 'boolean' | 'url' | 'reloads' | 'rules' | 'listen' | 'count' | 'globs' | 'extensions' | 'strings';

export interface OptionSpec {
  /** config-file key (camelCase); the flag is its kebab-case form, the env name HOTPULL_ + UPPER_SNAKE */
  readonly key: string;
  readonly kind: OptionKind;
  readonly placeholder?: string;
  readonly values?: readonly string[];
  /** smallest accepted duration, ms */
  readonly min?: number;
  readonly description: string;
  /** shown in --help and README; undefined = no default (or computed at start) */
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

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const OPTIONS = [
  { key: 'repo', kind: 'path', placeholder: 'DIR', description: 'the git checkout to keep deployed (host up: the URL to clone into an empty --code directory)', defaultText: 'current directory' },
  { key: 'remote', kind: 'remote', placeholder: 'NAME|URL', description: 'remote name of the checkout, or a URL', defaultText: 'origin' },
  { key: 'branch', kind: 'string', placeholder: 'NAME', description: 'branch to follow', defaultText: "the checkout's upstream branch" },
  { key: 'interval', kind: 'duration', min: 100, placeholder: 'DURATION', description: 'poll period (500ms, 2s, 1m); each poll gets ~10% random jitter', defaultText: '5s' },
  { key: 'layout', kind: 'enum', values: ['in-place', 'atomic'], placeholder: 'in-place|atomic', description: 'in-place: fast-forward the checkout; atomic: each revision a complete worktree under releases/, `current` switched by rename()', defaultText: 'in-place' },
  { key: 'keep', kind: 'count', placeholder: 'N', description: 'atomic: live releases kept for instant rollback (older ones pruned)', defaultText: '3' },
  { key: 'depth', kind: 'count', placeholder: 'N', description: 'atomic: shallow first clone of N commits', defaultText: 'full history' },
  { key: 'touch', kind: 'string', placeholder: 'FILE', description: "shorthand for --reload touch:FILE (uWSGI --touch-reload), relative to the repo", defaultText: 'uwsgi.ini when the repo has one' },
  { key: 'reload', kind: 'reloads', multiple: true, placeholder: 'STRATEGY', description: 'how to reload, repeatable, run in order: touch:FILE, uwsgi-fifo:PATH[:r|R|c|w], signal:PIDFILE[:SIG], command:"CMD", none (env: one value or a JSON list)', defaultText: 'touch:uwsgi.ini when the repo has one' },
  { key: 'reloadTimeout', kind: 'duration', min: 100, placeholder: 'DURATION', description: 'time limit for a command: reload', defaultText: '1m' },
  { key: 'healthUrl', kind: 'url', placeholder: 'URL', description: 'after a reload, poll this URL until it answers 2xx; only then is the deploy live' },
  { key: 'healthExpect', kind: 'string', placeholder: 'TEXT', description: 'text the health answer must contain; {sha} and {short_sha} are replaced by the deployed revision' },
  { key: 'healthTimeout', kind: 'duration', min: 100, placeholder: 'DURATION', description: 'how long a deploy may take to become healthy before it is rolled back', defaultText: '30s' },
  { key: 'healthSettle', kind: 'duration', placeholder: 'DURATION', description: 'how long answers must stay good in a row before a deploy is live', defaultText: '2s' },
  { key: 'rollback', kind: 'boolean', negatedFlag: true, description: 'on failed verification, leave the new code in place and report instead of rolling back', defaultText: 'roll back' },
  { key: 'imageRevision', kind: 'string', placeholder: 'SHA', description: 'the commit the running image was built from (a build arg); hold rules compare against it, so a rebuilt image releases held changes' },
  { key: 'onChange', kind: 'rules', configOnly: true, description: 'config file only: rules over changed paths, [{ paths, run | hold, timeout }]' },
  { key: 'syncTimeout', kind: 'duration', min: 100, placeholder: 'DURATION', description: 'time limit for one ls-remote or fetch', defaultText: '60s' },
  { key: 'backoffMax', kind: 'duration', min: 100, placeholder: 'DURATION', description: 'longest wait between retries while the remote is failing', defaultText: '2m' },
  { key: 'onDiverged', kind: 'enum', values: ['stop', 'reset'], placeholder: 'stop|reset', description: 'when the remote was force-pushed: stop and report, or save the old head under refs/hotpull/backup/ and reset', defaultText: 'stop' },
  { key: 'onDirty', kind: 'enum', values: ['stop', 'reset'], placeholder: 'stop|reset', description: 'when tracked files were changed in the checkout: stop and report, or save them under refs/hotpull/backup/ and reset', defaultText: 'stop' },
  { key: 'watch', kind: 'boolean', description: 'run: also reload when files in the checkout change (dev mode, as hotpull watch does)', defaultText: 'off' },
  { key: 'ignore', kind: 'globs', multiple: true, placeholder: 'GLOB', description: 'watch: changes not to reload for, repeatable; globs relative to the repo, no slash = a name at any depth, trailing slash = a directory (env: one value or a JSON list)', defaultText: '.git/, __pycache__/, *.pyc, node_modules/, .venv/, venv/, editor swap files, the reload file' },
  { key: 'ext', kind: 'extensions', placeholder: 'EXT[,EXT]', description: 'watch: only files with these extensions count, e.g. py,html (new and deleted directories still do)', defaultText: 'every file' },
  { key: 'debounce', kind: 'duration', placeholder: 'DURATION', description: 'watch: wait this long after the last change so a burst (git checkout, save all) gives one reload', defaultText: '150ms' },
  { key: 'poll', kind: 'enum', values: ['off', 'on', 'auto'], bareValue: 'on', placeholder: 'off|on|auto', description: 'watch: on (or --poll alone) = poll for changes instead of inotify (Docker Desktop and WSL2 bind mounts deliver no events); auto = probe the mount at start and poll when no event arrives', defaultText: 'off' },
  { key: 'logLevel', kind: 'enum', values: LOG_LEVELS, placeholder: 'LEVEL', description: 'log level', defaultText: 'info' },
  { key: 'logFormat', kind: 'enum', values: ['json', 'pretty'], placeholder: 'json|pretty', description: 'log format', defaultText: 'pretty on a TTY, else json' },
  { key: 'listen', kind: 'listen', placeholder: '[HOST:]PORT', description: 'serve /webhook, /sync, /status, /healthz, /metrics; host 127.0.0.1 unless given', defaultText: 'off' },
  { key: 'webhookSecretFile', kind: 'path', placeholder: 'FILE', description: 'file holding the webhook secret (GitHub/Gitea HMAC key, GitLab token, bearer token)' },
  { key: 'webhookSecret', kind: 'string', envOnly: true, description: 'the webhook secret itself (environment only)' },
  { key: 'sshKeyFile', kind: 'path', placeholder: 'FILE', description: 'ssh remotes: the private key to use, alone (a deploy key); hotpull builds the ssh command; a key you own must not be readable by group or others' },
  { key: 'sshKnownHostsFile', kind: 'path', placeholder: 'FILE', description: "ssh remotes: known_hosts file pinning the server's host key; an unknown or changed key is refused", defaultText: '~/.ssh/known_hosts' },
  { key: 'username', kind: 'string', placeholder: 'NAME', description: 'http(s) remotes: the user name for --password-file or HOTPULL_PASSWORD (a GitHub token takes any, e.g. x-access-token)', defaultText: 'the user in the remote URL' },
  { key: 'passwordFile', kind: 'path', placeholder: 'FILE', description: 'http(s) remotes: file whose first line is the password or token; read again for every poll and fetch, so a rotated Secret works without a restart' },
  { key: 'password', kind: 'string', envOnly: true, description: 'http(s) remotes: the password or token itself (environment only)' },
  { key: 'credentialHelper', kind: 'string', placeholder: 'CMD', description: "http(s) remotes: a git credential helper, as git's credential.helper takes it (!shell snippet, /path/to/script, or NAME for git-credential-NAME)" },
  { key: 'url', kind: 'url', placeholder: 'URL', noConfigKey: true, description: 'status, sync --now: the daemon to ask', defaultText: 'http://<listen>' },
  { key: 'json', kind: 'boolean', noConfigKey: true, description: 'status, host ls: print the raw JSON; host up, host deploy: print the result as one JSON object' },
  { key: 'now', kind: 'boolean', noConfigKey: true, description: 'sync: ask the running daemon (--url) to sync now instead of syncing in this process' },
  { key: 'name', kind: 'string', placeholder: 'NAME', noConfigKey: true, description: 'host up: the container name' },
  { key: 'image', kind: 'string', placeholder: 'IMAGE', noConfigKey: true, description: 'host up: the image to run (compared by id: a new image behind the tag replaces the container)' },
  { key: 'code', kind: 'string', placeholder: 'HOSTDIR[:CONTAINERDIR]', noConfigKey: true, description: 'host up: the code directory on the host and where the container mounts it; host deploy: the checkout to update' },
  { key: 'pull', kind: 'boolean', noConfigKey: true, description: 'host up: pull the image before comparing it with the running one' },
  { key: 'publish', kind: 'strings', short: 'p', multiple: true, placeholder: 'HOSTPORT:PORT', noConfigKey: true, description: 'host up: publish a container port, [IP:]HOSTPORT:PORT[/udp], repeatable (env: one value or a JSON list)' },
  { key: 'env', kind: 'strings', short: 'e', multiple: true, placeholder: 'NAME=VALUE', noConfigKey: true, description: "host up: a variable of the container's environment, repeatable (env: one value or a JSON list)" },
  { key: 'envFile', kind: 'path', placeholder: 'FILE', noConfigKey: true, description: "host up: a file of NAME=VALUE lines for the container's environment (docker's --env-file format)" },
  { key: 'stopTimeout', kind: 'duration', placeholder: 'DURATION', noConfigKey: true, description: 'host up: how long a replaced container gets to stop after SIGTERM before it is killed', defaultText: '10s' },
  { key: 'dockerBin', kind: 'string', placeholder: 'PATH', noConfigKey: true, description: 'host: the docker CLI to run (podman works too); DOCKER_HOST is honoured', defaultText: 'docker' },
  { key: 'config', kind: 'path', placeholder: 'FILE', description: 'config file (default: search hotpull.config.*, .hotpullrc*, package.json#hotpull)', noConfigKey: true },
  { key: 'ref', kind: 'string', placeholder: 'REF', description: "what to follow: a branch (as --branch), refs/tags/NAME or a tag name (pinned), a full sha (pinned, fetched once), or a tag pattern ('v*': the highest semver tag)", defaultText: '--branch' },
  { key: 'reason', kind: 'string', placeholder: 'TEXT', noConfigKey: true, description: 'pause: why, shown in status and logs' },
  { key: 'wait', kind: 'boolean', noConfigKey: true, description: 'sync --now: wait for the pass it started and exit with its outcome (0 live or up to date, 1 otherwise)' },
] as const satisfies readonly OptionSpec[];

export type OptionKey = (typeof OPTIONS)[number]['key'];

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(key: string): string {
  return `HOTPULL_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}
