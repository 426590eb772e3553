/**
 * Help, version, "did you mean" and the environment check, through the built CLI (what a user types) and the
 * pure modules behind it (tables).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIONS, appliesTo, defaultOf, type OptionSpec } from '../src/config/options.js';
import { envName, flagName } from '../src/config/names.js';
import { COMMAND_HELP, TOP_COMMANDS, type CommandName } from '../src/config/commands.js';
import { commandHelp, mainHelp, wrap } from '../src/config/help.js';
import { unknownEnvWarnings } from '../src/config/environment.js';
import { editDistance, suggest } from '../src/suggest.js';
import { loadConfig } from '../src/config/load.js';
import { main } from '../src/cli.js';
import { ROOT, runCli } from './helpers/hotpull.js';

const specs = OPTIONS as readonly OptionSpec[];
const longest = (text: string) => Math.max(...text.split('\n').map((l) => l.length));

describe('hotpull COMMAND --help', () => {
  it.each([
    ['run', ['--interval', '--listen', '--no-rollback', '--watch'], ['--image', '-p, --publish', '--now', '--name']],
    ['sync', ['--now', '--url', '--health-url'], ['--image', '--interval', '--debounce']],
    ['status', ['--url', '--json', '--listen', '--repo'], ['--image', '--interval']],
    ['watch', ['--ignore', '--ext', '--debounce', '--poll', '--touch'], ['--image', '--interval', '--health-url']],
    [
      'host up',
      ['--image', '-p, --publish', '-e, --env', '--stop-timeout', '--repo'],
      ['--interval', '--listen', '--now'],
    ],
    ['host deploy', ['--code', '--touch', '--json'], ['--image', '--publish', '--interval']],
    ['host ls', ['--json', '--docker-bin'], ['--image', '--repo']],
  ])('%s lists its own options only, the global ones, and examples', async (command, present, absent) => {
    const result = await runCli([...command.split(' '), '--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Usage: hotpull ${command}`));
    for (const flag of present) expect(result.stdout).toMatch(new RegExp(`^  ${flag}(\\s|$)`, 'm'));
    for (const flag of absent) expect(result.stdout).not.toMatch(new RegExp(`^  ${flag}(\\s|$)`, 'm'));
    expect(result.stdout).toMatch(/^  --log-level LEVEL/m);
    expect(result.stdout).toMatch(/^  -V, --version/m);
    expect(result.stdout).toContain(`Examples:\n  hotpull ${command}`);
    expect(longest(result.stdout)).toBeLessThanOrEqual(80);
  });

  it('host --help lists the sub-commands; help COMMAND is the same text as COMMAND --help', async () => {
    const host = await runCli(['host', '--help']);
    expect(host.stdout).toMatch(/^Sub-commands:\n {2}up {2,}start the app container/m);
    expect(host.stdout).toMatch(/^ {2}deploy /m);
    expect(host.stdout).toMatch(/^ {2}ls /m);
    expect(host.stdout).not.toMatch(/^ {2}--image/m);
    expect((await runCli(['help', 'host', 'up'])).stdout).toBe((await runCli(['host', 'up', '--help'])).stdout);
  });

  it('the options of each command are the table rows tagged with it, all of them', () => {
    const commands: CommandName[] = [
      'run',
      'sync',
      'status',
      'watch',
      'host up',
      'host deploy',
      'host ls',
      'supervisor-config',
    ];
    for (const command of commands) {
      const text = commandHelp(command, 200);
      for (const o of specs.filter((s) => s.commands !== 'all')) {
        const name = o.configOnly
          ? `${o.key} \\(config file\\)`
          : o.envOnly
            ? envName(o.key)
            : `(-\\w, )?--${o.negatedFlag ? 'no-' : ''}${flagName(o.key)}`;
        expect(new RegExp(`^  ${name}(\\s|$)`, 'm').test(text), `${command} --help and ${o.key}`).toBe(
          appliesTo(o, command),
        );
      }
    }
  });

  it('every command has 2-3 examples that start with hotpull and the command, and every run option a command', () => {
    for (const [topic, help] of Object.entries(COMMAND_HELP)) {
      if (topic === 'version' || topic === 'help') continue;
      expect(help.examples.length, topic).toBeGreaterThanOrEqual(2);
      expect(help.examples.length, topic).toBeLessThanOrEqual(3);
      for (const e of help.examples) expect(e, topic).toMatch(/(^|\bhotpull )/);
    }
    for (const o of specs) expect(o.commands === 'all' || o.commands.length > 0, o.key).toBe(true);
  });

  it('wraps to the terminal width: no line over it, at 60, 80 and 132 columns; long examples continue with a backslash', () => {
    for (const width of [60, 80, 132]) {
      for (const topic of [...TOP_COMMANDS, 'host up', 'host deploy', 'host ls'] as const)
        expect(longest(commandHelp(topic, width)), `${topic} at ${width}`).toBeLessThanOrEqual(width);
      expect(longest(mainHelp(width))).toBeLessThanOrEqual(width);
    }
    const run = commandHelp('run', 80);
    expect(run).toMatch(/^ {2}hotpull run --repo \/app --interval 1m30s .* \\\n {6}\S/m);
    expect(wrap('a b c', 3)).toEqual(['a b', 'c']);
    expect(wrap('abcdefgh', 3)).toEqual(['abc', 'def', 'gh']);
  });

  it('a TTY gets the help wrapped to its columns', async () => {
    let out = '';
    const stdout = { isTTY: true, columns: 100, write: (t: string) => (out += t) };
    const code = await main(
      ['run', '--help'],
      {},
      { stdout, stderr: { write: () => true }, signals: process, cwd: ROOT },
    );
    expect(code).toBe(0);
    expect(longest(out)).toBeLessThanOrEqual(100);
    expect(longest(out)).toBeGreaterThan(80);
  });

  it('hotpull --help: the command list and the global options only', async () => {
    const result = await runCli(['--help']);
    expect(result.exitCode).toBe(0);
    for (const name of TOP_COMMANDS) expect(result.stdout).toMatch(new RegExp(`^ {2}${name} `, 'm'));
    expect(result.stdout).toMatch(/^ {2}--config FILE/m);
    expect(result.stdout).not.toContain('--interval');
    expect(longest(result.stdout)).toBeLessThanOrEqual(80);
  });

  it('hotpull alone prints short usage to stdout and exits 0', async () => {
    const result = await runCli([]);
    expect([result.exitCode, result.stderr]).toEqual([0, '']);
    expect(result.stdout).toMatch(/^Usage: hotpull COMMAND \[options\]\nCommands: run, sync, status/);
    expect(result.stdout.split('\n').length).toBeLessThan(8);
  });

  it('-V, --version and version print the version of package.json', async () => {
    const { version } = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['-V'], ['--version'], ['version']]) {
      const result = await runCli(args);
      expect([result.exitCode, result.stdout, result.stderr], args.join(' ')).toEqual([0, version, '']);
    }
  });

  it('help says compound durations work, and they do (1m30s)', async () => {
    expect(commandHelp('run', 80)).toContain('1m30s');
    const config = await loadConfig({
      flags: { interval: '1m30s', healthTimeout: '1h5m' },
      env: {},
      cwd: ROOT,
      isTTY: false,
    });
    expect([config.interval, config.healthTimeout]).toEqual([90_000, 3_900_000]);
  });
});

describe('one typed default per option', () => {
  it('loading nothing gives each option its table default', async () => {
    const config = await loadConfig({ flags: {}, env: {}, cwd: ROOT, isTTY: false });
    for (const o of specs)
      expect((config as unknown as Record<string, unknown>)[o.key], o.key).toEqual(
        defaultOf(o, { cwd: ROOT, isTTY: false }),
      );
    expect([config.interval, config.repo, config.logFormat, config.rollback]).toEqual([5000, ROOT, 'json', true]);
    expect((await loadConfig({ flags: {}, env: {}, cwd: ROOT, isTTY: true })).logFormat).toBe('pretty');
  });

  it('help shows the default from the typed value (durations formatted)', () => {
    expect(commandHelp('run', 200)).toMatch(/--interval DURATION +poll period .*\(default: 5s; env HOTPULL_INTERVAL\)/);
    expect(commandHelp('run', 200)).toMatch(/--backoff-max DURATION .*\(default: 2m; env HOTPULL_BACKOFF_MAX\)/);
    expect(commandHelp('host up', 200)).toMatch(/--stop-timeout DURATION .*\(default: 10s; env HOTPULL_STOP_TIMEOUT\)/);
  });
});

describe('did you mean', () => {
  it.each([
    ['intreval', ['interval', 'ignore'], 'interval'],
    ['intervall', ['interval'], 'interval'],
    ['--health-ur', ['--health-url', '--health-expect'], '--health-url'],
    ['--health', ['--health-url', '--health-expect'], '--health-url'],
    ['intervalSeconds', ['repo', 'interval', 'ignore'], 'interval'],
    ['statsu', TOP_COMMANDS, 'status'],
    ['HOTPULL_INTERVALL', ['HOTPULL_INTERVAL', 'HOTPULL_LISTEN'], 'HOTPULL_INTERVAL'],
    ['frobnicate', TOP_COMMANDS, undefined],
    ['x', ['--interval'], undefined],
  ] as const)('%s → %s', (word, candidates, expected) => {
    expect(suggest(word, candidates)).toBe(expected);
  });

  it('edit distance counts a swap of neighbours once', () => {
    expect([
      editDistance('interval', 'intreval'),
      editDistance('abc', 'abc'),
      editDistance('', 'ab'),
      editDistance('kitten', 'sitting'),
    ]).toEqual([1, 0, 2, 3]);
  });
});

describe('HOTPULL_* variables no option reads', () => {
  it('are warned about, one line each, with a suggestion; known ones are not', () => {
    expect(
      unknownEnvWarnings({
        HOTPULL_INTERVALL: '2s',
        HOTPULL_ON_CHANGE: '[]',
        HOTPULL_PASSWORD: 'x',
        HOTPULL_WEBHOOK_SECRET: 'x',
        HOTPULL_NOTIFY_SECRET: 'x',
        HOTPULL_SHA: 'abc',
        HOTPULL_PREVIOUS_SHA: 'abc',
        HOTPULL_GIT_PASSWORD_FILE: '/x',
        HOTPULL_INTERVAL: '2s',
        HOTPULL_ZZZ: '1',
        PATH: '/bin',
      }),
    ).toEqual([
      'HOTPULL_INTERVALL is not a hotpull variable and is ignored (did you mean HOTPULL_INTERVAL?)',
      'HOTPULL_ON_CHANGE is ignored: onChange is read from a config file only',
      'HOTPULL_ZZZ is not a hotpull variable and is ignored',
    ]);
  });

  it('every HOTPULL_ name the source reads or sets is known', async () => {
    const names = new Set<string>();
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(file);
        else for (const m of (await fs.readFile(file, 'utf8')).matchAll(/\bHOTPULL_[A-Z][A-Z0-9_]*/g)) names.add(m[0]);
      }
    };
    await walk(path.join(ROOT, 'src'));
    expect(names.size).toBeGreaterThan(3);
    expect(unknownEnvWarnings(Object.fromEntries([...names].map((n) => [n, 'x'])))).toEqual([]);
  });

  it('the CLI warns on stderr at start and goes on', async () => {
    const result = await runCli(['status', '--url', 'http://127.0.0.1:9/'], { env: { HOTPULL_INTERVALL: '2s' } });
    expect(result.stderr.split('\n')[0]).toBe(
      'hotpull: warning: HOTPULL_INTERVALL is not a hotpull variable and is ignored (did you mean HOTPULL_INTERVAL?)',
    );
    expect(result.exitCode).toBe(3);
  });
});
