import inspector from 'node:inspector';

/**
 * Imported first by the CLI, before anything that can take time. Node opens its debugger on 127.0.0.1:9229
 * when a process gets SIGUSR1 and no JavaScript listener is installed; anyone local (a neighbour container in
 * the pod) could then run code as hotpull. Listening for the signal turns that off; `run` later adds the handler
 * that syncs. An inspector opened anyway (a signal that came during Node's own start-up) is closed.
 */
process.on('SIGUSR1', () => undefined);

function closeInspector(): void {
  if (inspector.url()) inspector.close();
}
closeInspector();
// Node starts a signal-opened inspector on a thread of its own, later (seen at ~800 ms on Node 22): look again.
for (const ms of [250, 1000, 2500, 5000]) setTimeout(closeInspector, ms).unref();

/** A Node option that opens the inspector, given to hotpull: refused rather than run with a debugger open. */
export function inspectorOption(nodeOptions: string | undefined, execArgv: readonly string[]): string | undefined {
  const options = [...(nodeOptions ?? '').split(/\s+/), ...execArgv].filter(Boolean);
  return options.find((o) => /^--(inspect|inspect-brk|inspect-wait|debug|debug-brk)(=|$)/.test(o));
}
