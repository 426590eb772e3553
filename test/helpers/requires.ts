/**
 * The one guard for tests that need something of the machine: a system server (uWSGI with its python3 plugin,
 * gunicorn, supervisord), root, a user namespace. CI provides them all (.ci/run, as root), so there a missing one
 * fails every test that needs it, at once and with the reason; elsewhere such a test is skipped with the reason in
 * its title. Never a bare `it.skip` or an early `return` under CI: a skip hides the `beforeAll` meant to fail the
 * run, a return counts as a pass, and either way the file exits 0 having tested nothing.
 */
import { it, type TestContext, type TestFunction, type TestOptions } from 'vitest';
import { gunicornMissing } from './gunicorn.js';
import { supervisorMissing } from './supervisord.js';
import { uwsgiMissing } from './uwsgi.js';
import { tinyproxyMissing } from './tinyproxy.js';

export const CI = process.env.CI === 'true';

/** Each server's probe: the same paths the fixtures start (UWSGI_BIN with UWSGI_PYTHON3_PLUGIN, GUNICORN_BIN, …). */
const PROBES = {
  uwsgi: uwsgiMissing,
  gunicorn: gunicornMissing,
  supervisord: supervisorMissing,
  tinyproxy: tinyproxyMissing,
} as const;
export type SystemServer = keyof typeof PROBES;

/** Why the servers cannot all run here (every reason, `; `-joined), or undefined if they can. */
export function serversMissing(needs: readonly SystemServer[]): string | undefined {
  const why = needs.map((name) => PROBES[name]()).filter((w): w is string => w !== undefined);
  return why.length > 0 ? why.join('; ') : undefined;
}

export type GuardedTest = (name: string, fn: TestFunction, options?: number | TestOptions) => void;

/** `it` for tests that need what `missing` says is missing (undefined: nothing is): a failure under CI, else a skip. */
export function itRequires(missing: string | undefined): GuardedTest {
  if (missing === undefined) return it;
  if (CI)
    return (name, _fn, options) =>
      it(
        name,
        () => {
          throw new Error(`${missing} (CI=true: what a test needs fails the run when missing, it is not skipped)`);
        },
        options,
      );
  return (name, fn, options) => it.skip(`${name} (skipped: ${missing})`, fn, options);
}

/** `it` for tests that need the system servers `needs`. */
export const itNeeds = (...needs: SystemServer[]): GuardedTest => itRequires(serversMissing(needs));

/** `it` for tests that need root (chown, mount, another uid). */
export const itAsRoot = (why: string): GuardedTest =>
  itRequires(process.getuid?.() === 0 ? undefined : `not root: ${why}`);

/** Inside a test, for a condition found only while it runs: fails under CI, else skips with the reason. */
export function skipUnlessCI(ctx: TestContext, why: string): never {
  if (CI) throw new Error(`${why} (CI=true: this fails the run, it is not skipped)`);
  ctx.skip(why);
  throw new Error('unreachable: ctx.skip throws');
}
