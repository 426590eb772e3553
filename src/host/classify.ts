/**
 * docker's (and podman's) stderr → one line that says what is wrong and what to do. Pure, so each message is
 * asserted word for word; the raw output stays on the error for the log.
 */
export type DockerProblem =
  'daemon-unreachable' | 'permission-denied' | 'image-missing' | 'port-in-use' | 'not-shared' | 'other';

export interface ProblemContext {
  /** the docker sub-command that failed, e.g. "run", "pull" */
  action: string;
  image?: string;
  hostDir?: string;
  dockerHost?: string;
}

const PATTERNS: ReadonlyArray<[DockerProblem, RegExp]> = [
  [
    'permission-denied',
    /permission denied while trying to connect to the docker daemon|dial unix [^:]+: connect: permission denied/i,
  ],
  [
    'daemon-unreachable',
    /cannot connect to the docker daemon|is the docker daemon running|error during connect|cannot connect to podman|unable to connect to podman|connection refused.*docker\.sock|docker\.sock: connect: no such file/i,
  ],
  [
    'not-shared',
    /mounts denied|is not shared from (the )?(host|os x|macos)|not known to docker|drive is not shared|file sharing/i,
  ],
  ['port-in-use', /port is already allocated|address already in use|bind: .*in use/i],
  [
    'image-missing',
    /no such image|unable to find image|pull access denied|repository does not exist|manifest unknown|manifest for .* not found|image not known|not found: manifest unknown|reference does not exist/i,
  ],
];

export function classify(stderr: string): DockerProblem {
  return PATTERNS.find(([, pattern]) => pattern.test(stderr))?.[0] ?? 'other';
}

/** The lines of docker's stderr worth showing: errors kept, warnings and usage hints dropped. */
export function dockerGist(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^WARNING\b/i.test(l) && !/^See '.* --help'\.?$/.test(l) && !/^Run '.* --help'/.test(l));
  return lines
    .slice(-3)
    .join(' | ')
    .replace(/^(docker: )?Error response from daemon: /i, '');
}

function portOf(stderr: string): string | undefined {
  return (
    /(?:Bind for|listen \w+) \[?[0-9a-f:.]*\]?:(\d+)/i.exec(stderr)?.[1] ??
    /:(\d+): bind: address already in use/.exec(stderr)?.[1]
  );
}

export function problemMessage(problem: DockerProblem, stderr: string, context: ProblemContext): string {
  switch (problem) {
    case 'daemon-unreachable':
      return `cannot reach the Docker daemon${context.dockerHost ? ` at DOCKER_HOST=${context.dockerHost}` : ''}: is dockerd (or the Podman service) running, and is DOCKER_HOST right?`;
    case 'permission-denied':
      return 'permission denied on the Docker socket: run as root or as a member of the docker group';
    case 'image-missing':
      return context.action === 'pull'
        ? `image ${context.image ?? ''} could not be pulled: ${dockerGist(stderr)}`
        : `image ${context.image ?? ''} is not on this Docker host: build or pull it first, or add --pull`;
    case 'port-in-use': {
      const port = portOf(stderr);
      return `host port ${port ?? '(see -p)'} is already in use: stop what listens there or publish another host port with -p`;
    }
    case 'not-shared':
      return `${context.hostDir ?? 'the code directory'} is not shared with the Docker VM: Docker Desktop and docker-machine can mount only folders shared with their VM; move it under a shared folder such as /Users on macOS, or add it under Settings → Resources → File sharing`;
    case 'other':
      return `docker ${context.action} failed: ${dockerGist(stderr) || 'no output'}`;
  }
}

/** The one line for a failed docker command. */
export function dockerFailureMessage(stderr: string, context: ProblemContext): string {
  return problemMessage(classify(stderr), stderr, context);
}

/**
 * docker-machine (VirtualBox) mounts a folder the VM does not share as an empty directory, without an error:
 * warn before starting when the code is outside the folders it shares by default.
 */
export function vmShareWarning(
  hostDir: string,
  env: Readonly<Record<string, string | undefined>>,
  platform: string,
): string | undefined {
  if (!env.DOCKER_MACHINE_NAME) return undefined;
  const shared = platform === 'darwin' ? ['/Users/'] : platform === 'win32' ? ['C:\\Users\\', '/c/Users/'] : undefined;
  if (!shared || shared.some((p) => hostDir.startsWith(p))) return undefined;
  return `${hostDir} is outside the folders docker-machine ${env.DOCKER_MACHINE_NAME} shares with its VM (${shared.join(', ')}): the container would see an empty directory; move the code under ${shared[0]}`;
}
