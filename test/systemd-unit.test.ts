/**
 * examples/systemd: the unit for one hotpull on the host following many apps, checked by systemd's own tools
 * (`systemd-analyze verify` and `security --offline`, which need no running systemd), and its sample apps.yaml
 * by hotpull's config loader. Without systemd-analyze the tests skip locally and fail under CI=true.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { STOP_DEADLINE_MS } from '../src/commands/stop.js';
import { parseDuration } from '../src/duration.js';
import { tmpDir } from './helpers/git.js';
import { ROOT } from './helpers/hotpull.js';
import { itRequires } from './helpers/requires.js';

const DIR = path.join(ROOT, 'examples/systemd');
const UNIT = path.join(DIR, 'hotpull.service');
const INSTALLED = '/usr/local/bin/hotpull';

const analyze = (...args: string[]) =>
  execa('systemd-analyze', args, { reject: false, timeout: 20_000, env: { SYSTEMD_COLORS: '0', LANG: 'C.UTF-8' } });
const missing = await analyze('--version').then(
  (r) => (r.exitCode === 0 ? undefined : `systemd-analyze --version exited ${r.exitCode}`),
  (error: Error) => `systemd-analyze cannot run (apt-get install systemd): ${error.message.split('\n')[0]}`,
);
const itAnalyze = itRequires(missing);

/** `Key=value` lines of one section; a key given twice keeps both values, in order. */
function section(text: string, name: string): Map<string, string[]> {
  const entries = new Map<string, string[]>();
  let current = '';
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line.trim());
    if (header) current = header[1]!;
    const entry = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (current === name && entry) entries.set(entry[1]!, [...(entries.get(entry[1]!) ?? []), entry[2]!]);
  }
  return entries;
}

describe('examples/systemd/hotpull.service', () => {
  let text: string;
  let dir: string;
  /** the unit as installed but with ExecStart at this checkout's bin/hotpull: verify wants a binary that exists */
  let rendered: string;

  beforeAll(async () => {
    text = await fs.readFile(UNIT, 'utf8');
    dir = await tmpDir('hotpull-systemd-');
    rendered = path.join(dir, 'hotpull.service');
    await fs.writeFile(rendered, text.replaceAll(INSTALLED, path.join(ROOT, 'bin/hotpull')));
  });
  afterAll(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  itAnalyze('systemd-analyze verify accepts it without a word; a misspelt directive is named', async () => {
    expect(text).toContain(`ExecStart=${INSTALLED} run --config /etc/hotpull/apps.yaml\n`);
    const result = await analyze('verify', '--man=no', rendered);
    expect([result.exitCode, result.stderr, result.stdout]).toEqual([0, '', '']);
    // verify exits 0 on unknown keys and bad values alike: what shows it read the file is what it says
    const typo = path.join(dir, 'typo.service');
    await fs.writeFile(typo, (await fs.readFile(rendered, 'utf8')).replace('ProtectSystem=', 'ProtectSytem='));
    const warned = await analyze('verify', '--man=no', typo);
    expect(warned.stderr).toContain("Unknown key 'ProtectSytem' in section [Service]");
  });

  itAnalyze('systemd-analyze security rates its exposure at most 2.0 of 10', async () => {
    const result = await analyze('security', '--offline=true', '--no-pager', rendered);
    expect(result.exitCode).toBe(0);
    const level = /Overall exposure level for hotpull\.service: (\d+\.\d+)/.exec(result.stdout)?.[1];
    expect(Number(level)).toBeLessThanOrEqual(2);
  });

  it('is hardened, reloads with SIGHUP, and stops within what hotpull needs', () => {
    const unit = section(text, 'Unit');
    const service = section(text, 'Service');
    const one = (key: string) => service.get(key)?.join(' | ');
    expect(Object.fromEntries([...unit].filter(([k]) => k.startsWith('StartLimit')))).toEqual({
      StartLimitIntervalSec: ['120'],
      StartLimitBurst: ['5'],
    });
    expect({
      User: one('User'),
      DynamicUser: one('DynamicUser'),
      ProtectSystem: one('ProtectSystem'),
      ReadWritePaths: one('ReadWritePaths'),
      NoNewPrivileges: one('NoNewPrivileges'),
      PrivateTmp: one('PrivateTmp'),
      ProtectHome: one('ProtectHome'),
      CapabilityBoundingSet: one('CapabilityBoundingSet'),
      RestrictAddressFamilies: one('RestrictAddressFamilies'),
      SystemCallFilter: one('SystemCallFilter'),
      SystemCallErrorNumber: one('SystemCallErrorNumber'),
      Restart: one('Restart'),
      RestartPreventExitStatus: one('RestartPreventExitStatus'),
      ExecReload: one('ExecReload'),
      KillMode: one('KillMode'),
    }).toEqual({
      User: 'hotpull',
      DynamicUser: undefined,
      ProtectSystem: 'strict',
      ReadWritePaths: '/srv/apps',
      NoNewPrivileges: 'yes',
      PrivateTmp: 'yes',
      ProtectHome: 'yes',
      CapabilityBoundingSet: '',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
      SystemCallFilter: '@system-service | ~@privileged @resources',
      SystemCallErrorNumber: 'EPERM',
      Restart: 'on-failure',
      RestartPreventExitStatus: '2',
      ExecReload: '/bin/kill -HUP $MAINPID',
      KillMode: 'mixed',
    });
    // systemd's SIGKILL must not come before hotpull's own deadline, with room for the process to exit
    expect(parseDuration(one('TimeoutStopSec')!)).toBeGreaterThanOrEqual(STOP_DEADLINE_MS + 5000);
  });

  it('its apps.yaml loads: every checkout under ReadWritePaths, the webhook secret from LoadCredential', async () => {
    const file = path.join(DIR, 'apps.yaml');
    const config = await loadConfig({ flags: { config: file }, env: {}, cwd: dir, isTTY: false });
    const service = section(text, 'Service');
    expect(text).toContain('--config /etc/hotpull/apps.yaml');
    const [credential, source] = service.get('LoadCredential')![0]!.split(':');
    expect([config.webhookSecretFile, source]).toEqual([
      `/run/credentials/hotpull.service/${credential}`,
      '/etc/hotpull/webhook-secret',
    ]);
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 9300 });
    const writable = service.get('ReadWritePaths')!.flatMap((v) => v.split(/\s+/));
    expect(config.apps?.map((a) => a.name)).toEqual(['shop', 'blog', 'docs']);
    for (const app of config.apps ?? []) {
      expect(writable.some((w) => app.config.repo.startsWith(`${w}/`))).toBe(true);
      expect([app.config.image, app.config.code]).toEqual(['registry.example.com/acme/python-uwsgi:3.11', '/app']);
    }
  });
});
