import { AccessLogSource } from './access-log.js';
import type { TrafficSource } from './source.js';
import type { TrafficSpec } from './spec.js';
import { UwsgiStatsSource } from './uwsgi-stats.js';

/**
 * The source a --traffic spec names, opened: an access log's format recognized (a log no format reads, or that may
 * not be read, is a configuration error). Returns the line to say at start.
 */
export async function openTrafficSource(spec: TrafficSpec): Promise<{ source: TrafficSource; said: string }> {
  if (spec.kind === 'uwsgi-stats') {
    const source = new UwsgiStatsSource(spec.address);
    return { source, said: source.describe() };
  }
  const source = new AccessLogSource(spec.file, spec.format);
  return { source, said: await source.open() };
}
