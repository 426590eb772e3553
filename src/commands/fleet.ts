import { formatDuration } from '../duration.js';
import type { CommandContext } from './context.js';
import { configError, oneLine } from '../errors.js';
import { loadSecret } from '../http/secret.js';
import { peerOf, parsePeerSource } from '../fleet/peers.js';
import { fleetRound, watchFleet, watchPrinter } from '../fleet/round.js';
import { formatFleet, jsonView } from '../fleet/view.js';
import type { DiscoverWith } from '../fleet/discover.js';
import { redact } from '../redact.js';

/** `hotpull fleet`: 0 all on one revision, 1 drift or a replica failing, 3 some unreachable, 2 bad options. */
export async function fleetCommand({ config, env, stdout, signals, flags }: CommandContext): Promise<number> {
  // --watch on this command line only: a config file's `watch: true` is run's dev mode, not a reason to never exit
  const watch = flags?.watch === true;
  const urls = config.peer.map((u) => peerOf(u, '--peer'));
  const sources = config.peers.map(parsePeerSource);
  if (urls.length === 0 && sources.length === 0 && !config.peersFile)
    throw configError(
      'hotpull fleet needs peers: --peer URL (repeatable), --peers-file FILE, or --peers dns:NAME:PORT|docker:LABEL[=VALUE] (got none)',
    );
  const secret = await loadSecret(config);
  const using: DiscoverWith = {};
  // the docker adapter loads only for docker: peers
  if (sources.some((s) => s.kind === 'docker')) {
    const { DockerCli } = await import('../host/docker.js');
    const docker = new DockerCli({ bin: config.dockerBin, env });
    using.docker = () => docker;
  }
  const input = {
    urls,
    peersFile: config.peersFile,
    sources,
    timeoutMs: config.peerTimeout,
    secret,
    driftAfterMs: config.driftAfter,
  };
  const round = () => fleetRound(input, using);
  // the first round outside the loop: bad input (a bad line in the peers file) is exit 2, not a line retried
  const first = await round();
  if (!watch) {
    stdout.write(
      config.json ? `${JSON.stringify(jsonView(first), null, 2)}\n` : formatFleet(first, Date.parse(first.at)),
    );
    return first.exitCode;
  }
  const stop = new AbortController();
  for (const name of ['SIGINT', 'SIGTERM'] as const) signals.on(name, () => stop.abort());
  const printer = watchPrinter(stdout, config.json, config.interval);
  printer.print(first);
  return watchFleet(round, printer, {
    first,
    intervalMs: config.interval,
    signal: stop.signal,
    onError: (error) =>
      stdout.write(`hotpull fleet: ${redact(oneLine(error))}; asking again in ${formatDuration(config.interval)}\n`),
  });
}
