/**
 * The one guard for tests that need a system server (uWSGI with its python3 plugin, gunicorn, supervisord). CI
 * installs them all (.ci/run), so there a missing one fails every test that needs it, at once and with the
 * reason; elsewhere such a test is skipped with the reason in its title. Never a bare `it.skip` under CI: a skip
 * hides the `beforeAll` that was meant to fail the run, and the file exits 0.
 */
import { it, type TestFunction, type TestOptions } from 'vitest';
import { gunicornMissing } from './gunicorn.js';
import { supervisorMissing } from './supervisord.js';
import { uwsgiMissing } from './uwsgi.js';

export const CI = process.env.CI === 'true';

/** Each server's probe: the same paths the fixtures start (UWSGI_BIN with UWSGI_PYTHON3_PLUGIN, GUNICORN_BIN, …). */
const PROBES = { uwsgi: uwsgiMissing, gunicorn: gunicornMissing, supervisord: supervisorMissing } as const;
export type SystemServer = keyof typeof PROBES;

/** Why the servers cannot all run here (every reason, `; `-joined), or undefined if they can. */
export function serversMissing(needs: readonly SystemServer[]): string | undefined {
  const why = needs.map((name) => PROBES[name]()).filter((w): w is string => w !== undefined);
  return why.length > 0 ? why.join('; ') : undefined;
}

export type ServerTest = (name: string, fn: TestFunction, options?: number | TestOptions) => void;

/** `it` for tests that need `needs`: the test itself when they are here, else a failure under CI, else a skip. */
export function itNeeds(...needs: SystemServer[]): ServerTest {
  const missing = serversMissing(needs);
  if (missing === undefined) return it;
  if (CI)
    return (name, _fn, options) =>
      it(
        name,
        () => {
          throw new Error(`${missing} (CI=true: a missing system server fails the run, it is not skipped)`);
        },
        options,
      );
  return (name, fn, options) => it.skip(`${name} (skipped: ${missing})`, fn, options);
}
