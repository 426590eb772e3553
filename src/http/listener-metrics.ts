/**
 * The listener's own series, appended to /metrics: what it refused before (or instead of) authenticating,
 * and how much of its allowance is in use. Kept apart from Metrics, which describes deploys.
 */
export interface ListenerGauges {
  connections: number;
  maxConnections: number;
  bufferedBytes: number;
}

export class ListenerCounters {
  private readonly refused = new Map<string, number>();

  refuse(reason: string): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }

  count(reason: string): number {
    return this.refused.get(reason) ?? 0;
  }

  render(gauges: ListenerGauges): string {
    const lines = [
      '# HELP hotpull_http_refused_total Connections and requests the listener refused, by reason.',
      '# TYPE hotpull_http_refused_total counter',
      ...[...this.refused].map(([reason, n]) => `hotpull_http_refused_total{reason="${reason}"} ${n}`),
      '# HELP hotpull_http_connections Open connections to the listener.',
      '# TYPE hotpull_http_connections gauge',
      `hotpull_http_connections ${gauges.connections}`,
      '# HELP hotpull_http_max_connections The connection cap (lowered when the fd limit is low).',
      '# TYPE hotpull_http_max_connections gauge',
      `hotpull_http_max_connections ${gauges.maxConnections}`,
      '# HELP hotpull_http_buffered_body_bytes Request body bytes buffered right now, across all connections.',
      '# TYPE hotpull_http_buffered_body_bytes gauge',
      `hotpull_http_buffered_body_bytes ${gauges.bufferedBytes}`,
    ];
    return `${lines.join('\n')}\n`;
  }
}
