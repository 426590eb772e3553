/**
 * The app the traffic tests load (test/traffic-*.test.ts), and a load loop that knows exactly what it sent.
 * - `/boom` raises (uWSGI counts an exception and answers nothing; gunicorn answers 500),
 * - `/fail` answers 500 itself, `/slow?ms=N` sleeps N ms, anything else answers 200 `ok <pid>`.
 */
import { fetchText } from './uwsgi.js';

export const TRAFFIC_APP = `
import os, time
from urllib.parse import parse_qs

def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/boom":
        raise RuntimeError("hotpull traffic test: boom")
    if path == "/slow":
        time.sleep(int(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0]) / 1000.0)
    status = "500 Internal Server Error" if path == "/fail" else "200 OK"
    body = ("ok %d" % os.getpid()).encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`;

export interface LoadCount {
  /** requests that got an HTTP answer, by status */
  byStatus: Map<number, number>;
  /** requests that got no answer (a closed connection, a timeout) */
  unanswered: number;
  total: number;
}

/**
 * `concurrency` loops, each sending one GET at a time on a fresh connection until stopped; `pick(i)` gives the path
 * of the i-th request. Resolves, once stopped, after every request sent has finished.
 */
export function startLoad(
  baseUrl: string,
  concurrency: number,
  pick: (i: number) => string = () => '/',
): { sent: () => number; stop: () => Promise<LoadCount> } {
  let running = true;
  let next = 0;
  const count: LoadCount = { byStatus: new Map(), unanswered: 0, total: 0 };
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const result = await fetchText(`${baseUrl}${pick(next++)}`, 5000);
      count.total++;
      if ('status' in result) count.byStatus.set(result.status, (count.byStatus.get(result.status) ?? 0) + 1);
      else count.unanswered++;
    }
  });
  return {
    sent: () => next,
    async stop() {
      running = false;
      await Promise.all(loops);
      return count;
    },
  };
}

/** Polls `predicate` every 10 ms until it holds; throws after `timeoutMs` naming `what`. */
export async function until(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() >= deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
