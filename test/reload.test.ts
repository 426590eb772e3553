import { promises as fs } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseReloadSpec, describeSpec } from '../src/reload/spec.js';
import { FifoReloader } from '../src/reload/fifo.js';
import { SignalReloader } from '../src/reload/signal.js';
import { CommandReloader } from '../src/reload/command.js';
import { decideRules, type ChangeRule } from '../src/deploy/rules.js';
import { expandExpect } from '../src/deploy/verify.js';
import { loadConfig } from '../src/config/load.js';
import { tmpDir } from './helpers/git.js';

let dir: string;
afterEach(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('--reload specs', () => {
  it.each([
    ['touch:uwsgi.ini', { kind: 'touch', file: 'uwsgi.ini' }],
    ['uwsgi-fifo:/run/uwsgi.fifo', { kind: 'uwsgi-fifo', fifo: '/run/uwsgi.fifo', command: 'r' }],
    ['uwsgi-fifo:/run/uwsgi.fifo:c', { kind: 'uwsgi-fifo', fifo: '/run/uwsgi.fifo', command: 'c' }],
    ['signal:/run/gunicorn.pid', { kind: 'signal', pidfile: '/run/gunicorn.pid', signal: 'SIGHUP' }],
    ['signal:/run/app.pid:USR2', { kind: 'signal', pidfile: '/run/app.pid', signal: 'SIGUSR2' }],
    ['command:"supervisorctl restart app"', { kind: 'command', command: 'supervisorctl restart app' }],
    ['command:kill -HUP 1', { kind: 'command', command: 'kill -HUP 1' }],
    ['none', { kind: 'none' }],
  ])('%s', (text, spec) => {
    expect(parseReloadSpec(text)).toEqual(spec);
  });

  it.each([
    ['touch:', 'touch needs a file'],
    ['uwsgi-fifo:/run/f:x', 'uwsgi-fifo command must be one of r, R, c, w'],
    ['signal:/run/p.pid:NOPE', 'signal NOPE is not a signal name'],
    ['command:', 'command needs a command line'],
    ['restart', 'unknown strategy "restart"'],
  ])('rejects %s', (text, error) => {
    expect(parseReloadSpec(text)).toEqual({ error: expect.stringContaining(error) });
  });

  it('round-trips through describeSpec', () => {
    expect(describeSpec(parseReloadSpec('signal:/p:USR1') as never)).toBe('signal:/p:USR1');
  });

  it('config errors name the option and the bad strategy', async () => {
    dir = await tmpDir();
    const load = (flags: Record<string, unknown>, env: Record<string, string> = {}) =>
      loadConfig({ flags, env, cwd: dir, isTTY: false });
    await expect(load({ reload: ['touch:a', 'bounce'] })).rejects.toThrow(
      '--reload must be one of touch:FILE, uwsgi-fifo:PATH[:r|R|c|w], signal:PIDFILE[:SIGNAL], command:"CMD", none (got "bounce": unknown strategy "bounce")',
    );
    expect((await load({}, { HOTPULL_RELOAD: '["touch:a","uwsgi-fifo:/f:c"]' })).reload).toHaveLength(2);
    expect((await load({}, { HOTPULL_RELOAD: 'signal:/p' })).reload).toEqual([
      { kind: 'signal', pidfile: '/p', signal: 'SIGHUP' },
    ]);
    await expect(load({ healthUrl: 'localhost:8000/health' })).rejects.toThrow(
      '--health-url must be an http:// or https:// URL (got "localhost:8000/health")',
    );
    expect((await load({ rollback: false })).rollback).toBe(false);
    await expect(load({}, { HOTPULL_ROLLBACK: 'maybe' })).rejects.toThrow(
      'HOTPULL_ROLLBACK must be true or false (got "maybe")',
    );
  });

  it('onChange rules are validated with the path of the bad value', async () => {
    dir = await tmpDir();
    const file = path.join(dir, 'hotpull.config.json');
    const load = async (onChange: unknown) => {
      await fs.writeFile(file, JSON.stringify({ onChange }));
      return loadConfig({ flags: {}, env: {}, cwd: dir, isTTY: false });
    };
    expect(
      (await load([{ paths: 'requirements*.txt', run: 'pip install -r requirements.txt', timeout: '5m' }])).onChange,
    ).toEqual([
      { paths: ['requirements*.txt'], run: ['pip install -r requirements.txt'], hold: false, timeoutMs: 300_000 },
    ]);
    await expect(load([{ paths: ['Dockerfile'] }])).rejects.toThrow(
      `onChange[0] (in ${file}) must have exactly one of run: [commands] or hold: true (got {"paths":["Dockerfile"]})`,
    );
    await expect(
      load([
        { paths: ['x'], hold: true },
        { paths: [], run: 'x' },
      ]),
    ).rejects.toThrow(`onChange[1].paths (in ${file}) must be a string or a list of non-empty strings (got [])`);
    await expect(load([{ paths: 'x', run: 'y', timeout: 'soon' }])).rejects.toThrow(
      `onChange[0].timeout (in ${file}) must be a duration like 30s or 5m (got "soon")`,
    );
    await expect(load([{ paths: 'x', run: 'y', when: 'always' }])).rejects.toThrow(
      `onChange[0] (in ${file}) must use only the keys paths, run, hold, timeout (got "when")`,
    );
  });
});

describe('onChange rule decisions', () => {
  const rules: ChangeRule[] = [
    { paths: ['requirements*.txt'], run: ['pip install -r requirements.txt'], hold: false, timeoutMs: 1000 },
    { paths: ['**/migrations/*.py'], run: ['python manage.py migrate --noinput'], hold: false, timeoutMs: 1000 },
    { paths: ['Dockerfile', 'apt.txt'], run: [], hold: true, timeoutMs: 1000 },
  ];
  it('runs the matching commands in rule order', () => {
    const d = decideRules(rules, ['app/migrations/0002_x.py', 'requirements.txt', 'app/views.py']);
    expect(d.hold).toBeUndefined();
    expect(d.run.map((r) => r.command)).toEqual([
      'pip install -r requirements.txt',
      'python manage.py migrate --noinput',
    ]);
  });
  it('holds on infrastructure files, matching a bare name in any directory', () => {
    expect(decideRules(rules, ['docker/Dockerfile', 'app.py']).hold?.paths).toEqual(['docker/Dockerfile']);
    expect(decideRules(rules, ['app.py']).hold).toBeUndefined();
  });
  it('expands {sha} and {short_sha}', () => {
    expect(expandExpect('version={short_sha} full={sha}', 'abcdef1234567890')).toBe(
      'version=abcdef1 full=abcdef1234567890',
    );
  });
});

describe('reloaders: clear errors, never a hang', () => {
  it('uwsgi-fifo with no reader fails at once', async () => {
    dir = await tmpDir();
    const fifo = path.join(dir, 'master.fifo');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    await expect(new FifoReloader(fifo, 'r').reload()).rejects.toThrow(
      `uwsgi-fifo: cannot write to ${fifo}: no process is reading it (is the uWSGI master running?)`,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(new FifoReloader(path.join(dir, 'nope'), 'r').reload()).rejects.toThrow('does not exist');
    await fs.writeFile(path.join(dir, 'plain'), '');
    await expect(new FifoReloader(path.join(dir, 'plain'), 'r').reload()).rejects.toThrow('is not a FIFO');
  });

  it('uwsgi-fifo writes the command to a reader', async () => {
    dir = await tmpDir();
    const fifo = path.join(dir, 'master.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    let got = '';
    reader.stdout.on('data', (d: Buffer) => (got += d.toString()));
    // Listen before writing: cat may exit while reload() is still closing its handle (a CI run lost the event so).
    const closed = new Promise((r) => reader.on('close', r));
    // cat opens the FIFO some time after spawn; until then the write fails with 'no process is reading it'.
    for (const deadline = Date.now() + 20_000; ;) {
      const error = await new FifoReloader(fifo, 'c').reload().then(
        () => undefined,
        (e: Error) => e,
      );
      if (!error) break;
      if (!error.message.includes('no process is reading it') || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
    await closed;
    expect(got).toBe('c');
  });

  it('signal: missing, garbage and stale pid files are clear errors; a live pid gets the signal', async () => {
    dir = await tmpDir();
    const pidfile = path.join(dir, 'app.pid');
    await expect(new SignalReloader(pidfile, 'SIGHUP').reload()).rejects.toThrow(
      `signal: cannot read pid file ${pidfile}: it does not exist`,
    );
    await fs.writeFile(pidfile, 'hello\n');
    await expect(new SignalReloader(pidfile, 'SIGHUP').reload()).rejects.toThrow(
      'must hold a process id (got "hello")',
    );
    const gone = spawn('true');
    await new Promise((r) => gone.on('exit', r));
    await fs.writeFile(pidfile, `${gone.pid}\n`);
    await expect(new SignalReloader(pidfile, 'SIGHUP').reload()).rejects.toThrow(
      `no process ${gone.pid} (stale pid file)`,
    );

    const child = spawn('sh', ['-c', 'trap "echo got-usr1; exit 0" USR1; echo trapped; while :; do sleep 0.05; done']);
    let out = '';
    const trapped = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('trapped')) resolve();
      }),
    );
    await trapped; // a signal before the trap is set would end sh without the line
    await fs.writeFile(pidfile, `${child.pid}\n`);
    const exited = new Promise((r) => child.on('exit', r));
    await new SignalReloader(pidfile, 'SIGUSR1').reload();
    await exited;
    expect(out).toContain('got-usr1');
  });

  it('command: exit code and stderr are reported; the sha is passed in the environment', async () => {
    dir = await tmpDir();
    await expect(
      new CommandReloader('echo boom >&2; exit 3', dir, 5000, process.env).reload({ sha: 'b', previousSha: 'a' }),
    ).rejects.toThrow('command "echo boom >&2; exit 3" exited with code 3: boom');
    await expect(
      new CommandReloader('sleep 5', dir, 200, process.env).reload({ sha: 'b', previousSha: 'a' }),
    ).rejects.toThrow('timed out after 200ms');
    await new CommandReloader('echo "$HOTPULL_SHA" > out.txt', dir, 5000, process.env).reload({
      sha: 'cafe',
      previousSha: 'a',
    });
    expect(await fs.readFile(path.join(dir, 'out.txt'), 'utf8')).toBe('cafe\n');
  });
});
