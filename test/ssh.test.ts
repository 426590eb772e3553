/**
 * SSH remotes against a real sshd (Debian openssh-server) on a loopback port: deploy keys, pinned host keys,
 * and every refusal as one line that says what to do. Pure parts (the ssh command, message parsing) by table.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush, git, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { CLI, makeDaemon, makePipeline, runCli, spawnCli, waitFor } from './helpers/hotpull.js';
import { keygen, sshdMissing, startSshd, type Sshd } from './helpers/sshd.js';
import { freePort } from './helpers/uwsgi.js';
import {
  fingerprint,
  keyFileProblem,
  knownHostsName,
  offeredKey,
  sshCommand,
  sshFailure,
  sshFailureMessage,
  sshTarget,
} from '../src/git/ssh.js';
import { ensureCode } from '../src/host/code.js';

const CI = process.env.CI === 'true';
const missing = sshdMissing();
const title = (name: string) => (missing && !CI ? `${name} (skipped: ${missing})` : name);

describe('the ssh command and its messages (pure)', () => {
  it.each([
    [{}, {}, 'ssh -o BatchMode=yes'],
    [{}, { GIT_SSH_COMMAND: 'ssh -o ProxyJump=bastion' }, 'ssh -o ProxyJump=bastion'],
    [
      { keyFile: '/run/secrets/deploy_key' },
      {},
      'ssh -i /run/secrets/deploy_key -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o BatchMode=yes',
    ],
    [
      { keyFile: '/k/my key', knownHostsFile: '/k/known hosts' },
      {},
      `ssh -i '/k/my key' -o IdentitiesOnly=yes -o 'UserKnownHostsFile="/k/known hosts"' -o StrictHostKeyChecking=yes -o BatchMode=yes`,
    ],
    // the user's GIT_SSH_COMMAND comes first, so its options win (ssh keeps the first value of each)
    [
      { keyFile: '/k', knownHostsFile: '/kh' },
      { GIT_SSH_COMMAND: 'ssh -o StrictHostKeyChecking=accept-new' },
      'ssh -o StrictHostKeyChecking=accept-new -i /k -o IdentitiesOnly=yes -o UserKnownHostsFile=/kh -o StrictHostKeyChecking=yes -o BatchMode=yes',
    ],
    [
      { keyFile: '/k' },
      { GIT_SSH: '/usr/local/bin/my ssh' },
      "'/usr/local/bin/my ssh' -i /k -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o BatchMode=yes",
    ],
  ])('%j with %j → %s', (options, env, expected) => {
    expect(sshCommand(options, env)).toBe(expected);
  });

  it.each([
    ['ssh://root@127.0.0.1:2222/srv/app.git', { user: 'root', host: '127.0.0.1', port: 2222 }, '[127.0.0.1]:2222'],
    ['ssh://git@github.com/acme/web.git', { user: 'git', host: 'github.com', port: 22 }, 'github.com'],
    ['git@github.com:acme/web.git', { user: 'git', host: 'github.com', port: 22 }, 'github.com'],
    ['ssh://[::1]:2200/r.git', { user: undefined, host: '::1', port: 2200 }, '[::1]:2200'],
  ])('%s is %j, known as %s', (url, target, name) => {
    expect(sshTarget(url)).toEqual(target);
    expect(knownHostsName(sshTarget(url)!)).toBe(name);
  });

  it('reads what ssh refused from its noise', () => {
    expect(
      sshFailure(
        'No ED25519 host key is known for [127.0.0.1]:42222 and you have requested strict checking.\r\nHost key verification failed.\nfatal: Could not read from remote repository.',
      ),
    ).toEqual({ kind: 'unknown-host', keyType: 'ED25519' });
    expect(sshFailure('Host key verification failed.\nfatal: Could not read')).toEqual({
      kind: 'unknown-host',
      keyType: undefined,
    });
    const changed = [
      '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
      'The fingerprint for the ED25519 key sent by the remote host is',
      'SHA256:IPLhuVvlRL625G6dIwZEyGRyJTymUVmoeOnuUmVECrA.',
      'Offending ED25519 key in /tmp/kh:1',
      'Host key for [127.0.0.1]:42222 has changed and you have requested strict checking.',
      'Host key verification failed.',
    ].join('\n');
    expect(sshFailure(changed)).toEqual({
      kind: 'changed-host',
      keyType: 'ED25519',
      fingerprint: 'SHA256:IPLhuVvlRL625G6dIwZEyGRyJTymUVmoeOnuUmVECrA',
      offending: '/tmp/kh:1',
    });
    expect(
      sshFailure('root@127.0.0.1: Permission denied (publickey).\r\nfatal: Could not read from remote repository.'),
    ).toEqual({ kind: 'key-refused', methods: 'publickey' });
    expect(sshFailure('Load key "/k": invalid format\nroot@h: Permission denied (publickey).')).toEqual({
      kind: 'key-unusable',
      reason: 'invalid format',
    });
    expect(sshFailure("fatal: '/nope.git' does not appear to be a git repository")).toBeUndefined();
  });

  it('one line per refusal, word for word', () => {
    const target = { user: 'root', host: '127.0.0.1', port: 42222 };
    const offered = { type: 'ssh-ed25519', fingerprint: 'SHA256:abc' };
    expect(sshFailureMessage({ kind: 'unknown-host' }, { target, knownHosts: '/kh', offered })).toBe(
      "ssh refused host [127.0.0.1]:42222: its host key is not in /kh (the server offered ssh-ed25519 key SHA256:abc); if that is your git server's key, pin it: ssh-keyscan -p 42222 127.0.0.1 >> /kh",
    );
    expect(
      sshFailureMessage(
        { kind: 'changed-host', keyType: 'ED25519', fingerprint: 'SHA256:new', offending: '/kh:1' },
        { target, knownHosts: '/kh' },
      ),
    ).toBe(
      "ssh refused host [127.0.0.1]:42222: its host key CHANGED (the server offered ED25519 key SHA256:new, /kh:1 pins another), so the connection may be intercepted; if the server's key really changed: ssh-keygen -f /kh -R '[127.0.0.1]:42222' && ssh-keyscan -p 42222 127.0.0.1 >> /kh",
    );
    expect(
      sshFailureMessage(
        { kind: 'key-refused', methods: 'publickey' },
        { target, knownHosts: '/kh', keyFile: '/k', keyFingerprint: 'SHA256:me' },
      ),
    ).toBe(
      'ssh: root@[127.0.0.1]:42222 refused the key /k (SHA256:me): Permission denied (publickey); add its public key to the repository as a deploy key (ssh-keygen -y -f KEY prints it)',
    );
    expect(
      sshFailureMessage(
        { kind: 'key-refused', methods: 'publickey' },
        { target: { host: 'github.com', port: 22 }, knownHosts: '/kh' },
      ),
    ).toBe(
      'ssh: github.com refused every key ssh offered: Permission denied (publickey); give a deploy key with --ssh-key-file FILE',
    );
  });

  it('fingerprints a key line as ssh-keygen -l does, and picks the key ssh would be offered', async () => {
    const dir = await tmpDir();
    try {
      const line = await keygen(path.join(dir, 'k'));
      const expected = (await execa('ssh-keygen', ['-l', '-f', path.join(dir, 'k.pub')])).stdout.split(' ')[1];
      expect(fingerprint(`[127.0.0.1]:22 ${line}`)).toEqual({ type: 'ssh-ed25519', fingerprint: expected });
      const scan = `# 127.0.0.1 SSH-2.0\n127.0.0.1 ssh-rsa AAAAB3NzaC1yc2E=\n127.0.0.1 ${line.split(' ').slice(0, 2).join(' ')}\n`;
      expect(offeredKey(scan)?.type).toBe('ssh-ed25519');
      expect(offeredKey(scan, 'RSA')?.type).toBe('ssh-rsa');
    } finally {
      await fs.rm(dir, { recursive: true });
    }
  });

  it('key file permissions as ssh sees them', () => {
    expect(keyFileProblem('/k', { mode: 0o100600, uid: 5, isFile: true }, 5)).toBeUndefined();
    expect(keyFileProblem('/k', { mode: 0o100400, uid: 5, isFile: true }, 5)).toBeUndefined();
    // owned by another uid (a Secret mounted with fsGroup): group read is how we read it at all, and ssh accepts it
    expect(keyFileProblem('/k', { mode: 0o100440, uid: 0, isFile: true }, 10001)).toBeUndefined();
    expect(keyFileProblem('/k', { mode: 0o100644, uid: 5, isFile: true }, 5)).toBe(
      '--ssh-key-file must be readable by its owner only, or ssh ignores it (got "/k" with mode 0644): chmod 600 /k',
    );
    expect(keyFileProblem('/k', { mode: 0o40700, uid: 5, isFile: false }, 5)).toBe(
      '--ssh-key-file must be a private key file (got "/k": not a regular file)',
    );
  });
});

interface Keys {
  dir: string;
  hostKey: string;
  otherHostKey: string;
  deployKey: string;
  wrongKey: string;
  authorizedKeys: string;
  knownHosts: string;
}

let keys: Keys;
let sshd: Sshd;
let sb: Sandbox | undefined;
let url: string;

async function fingerprintOf(pubFile: string): Promise<string> {
  return (await execa('ssh-keygen', ['-l', '-f', pubFile])).stdout.split(' ')[1]!;
}

/** Every process's command line right now (hotpull, git, ssh and the rest). */
async function allCmdlines(): Promise<string[]> {
  const pids = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p));
  return Promise.all(
    pids.map((p) =>
      fs.readFile(`/proc/${p}/cmdline`, 'utf8').then(
        (c) => c.replaceAll('\0', ' '),
        () => '',
      ),
    ),
  );
}

describe.skipIf(missing !== undefined && !CI)(title('ssh remotes against a real sshd'), () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    await expect(fs.stat(CLI), 'npm test builds dist/ first').resolves.toBeTruthy();
    const dir = await tmpDir('hotpull-ssh-');
    keys = {
      dir,
      hostKey: path.join(dir, 'host_ed25519'),
      otherHostKey: path.join(dir, 'other_host_ed25519'),
      deployKey: path.join(dir, 'deploy_key'),
      wrongKey: path.join(dir, 'wrong_key'),
      authorizedKeys: path.join(dir, 'authorized_keys'),
      knownHosts: path.join(dir, 'known_hosts'),
    };
    await keygen(keys.hostKey);
    await keygen(keys.otherHostKey);
    await fs.writeFile(keys.authorizedKeys, `${await keygen(keys.deployKey)}\n`);
    await keygen(keys.wrongKey);
    sshd = await startSshd({ hostKeyFile: keys.hostKey, authorizedKeysFile: keys.authorizedKeys });
    await fs.writeFile(keys.knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`);
  }, 120_000);

  afterAll(async () => {
    await sshd?.stop();
    if (keys) await fs.rm(keys.dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    await sb?.cleanup();
    sb = undefined;
  });

  async function sandbox(): Promise<Sandbox> {
    sb = await makeSandbox();
    url = `ssh://root@127.0.0.1:${sshd.port}${sb.bare}`;
    await git(sb.checkout, 'remote', 'set-url', 'origin', url);
    return sb;
  }

  const pinned = () => ['--ssh-key-file', keys.deployKey, '--ssh-known-hosts-file', keys.knownHosts];

  it('deploys with a deploy key and a pinned known_hosts: ssh gets the key by path, status says which key, the key is nowhere', async () => {
    const s = await sandbox();
    const sha = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    const listen = String(await freePort());
    const child = spawnCli([
      'run',
      '--repo',
      s.checkout,
      '--interval',
      '300ms',
      '--listen',
      listen,
      '--log-level',
      'debug',
      ...pinned(),
    ]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const privateKey = (await fs.readFile(keys.deployKey, 'utf8')).split('\n').slice(1, -2).join('');
    try {
      await waitFor('the deploy over ssh', async () => (await headOf(s.checkout)) === sha, 60_000);
      // the ssh git starts names the key by path, with strict host key checking against the pinned file
      const sshLine = await waitFor(
        'an ssh process to look at',
        async () => (await allCmdlines()).find((c) => c.startsWith('ssh ') && c.includes(`-p ${sshd.port}`)),
        30_000,
      );
      expect(sshLine).toContain(
        `-i ${keys.deployKey} -o IdentitiesOnly=yes -o UserKnownHostsFile=${keys.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
      );
      const status = (await (await fetch(`http://127.0.0.1:${listen}/status`)).json()) as {
        auth?: string;
        state: string;
      };
      expect(status.auth).toBe(`ssh key ${keys.deployKey}, known hosts ${keys.knownHosts}`);
      const text = await runCli(['status', '--url', `http://127.0.0.1:${listen}`]);
      expect(text.stdout).toContain(`auth      ssh key ${keys.deployKey}, known hosts ${keys.knownHosts}`);
      const metrics = await (await fetch(`http://127.0.0.1:${listen}/metrics`)).text();
      for (const shown of [JSON.stringify(status), text.stdout, metrics, out, ...(await allCmdlines())])
        expect(shown).not.toContain(privateKey.slice(0, 40));
    } finally {
      child.kill('SIGTERM');
      expect((await child).exitCode).toBe(0);
    }
  }, 120_000);

  it('an unknown host is refused with one line naming host, offered key and the pin command, which works as written', async () => {
    const s = await sandbox();
    const empty = path.join(keys.dir, 'known_hosts.empty');
    await fs.writeFile(empty, '');
    const sha = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    const refused = await runCli(
      ['sync', '--repo', s.checkout, '--ssh-key-file', keys.deployKey, '--ssh-known-hosts-file', empty],
      { timeout: 120_000 },
    );
    expect(refused.exitCode).toBe(1);
    const pin = `ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${empty}`;
    const line = `ssh refused host [127.0.0.1]:${sshd.port}: its host key is not in ${empty} (the server offered ssh-ed25519 key ${await fingerprintOf(`${keys.hostKey}.pub`)}); if that is your git server's key, pin it: ${pin}`;
    const failed = refused.stdout.split('\n').filter((l) => l.includes('"sync failed'));
    expect(failed).toHaveLength(1);
    expect(JSON.parse(failed[0]!).err).toBe(`git ls-remote --heads -- origin refs/heads/main failed: ${line}`);
    await execa('sh', ['-c', pin]);
    const after = await runCli(
      ['sync', '--repo', s.checkout, '--ssh-key-file', keys.deployKey, '--ssh-known-hosts-file', empty],
      { timeout: 120_000 },
    );
    expect(after.exitCode, after.stdout).toBe(0);
    expect(await headOf(s.checkout)).toBe(sha);
  }, 240_000);

  it('a changed host key is refused, with the fix that works as written', async () => {
    const s = await sandbox();
    const other = path.join(keys.dir, 'known_hosts.other');
    await fs.writeFile(
      other,
      `[127.0.0.1]:${sshd.port} ${(await fs.readFile(`${keys.otherHostKey}.pub`, 'utf8')).trim()}\n`,
    );
    const sha = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    const { engine } = await makePipeline(s.checkout, { sshKeyFile: keys.deployKey, sshKnownHostsFile: other });
    const error = await engine.sync('test').then(
      () => undefined,
      (e: Error) => e,
    );
    const fix = `ssh-keygen -f ${other} -R '[127.0.0.1]:${sshd.port}' && ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${other}`;
    expect(error?.message).toBe(
      `git ls-remote --heads -- origin refs/heads/main failed: ssh refused host [127.0.0.1]:${sshd.port}: its host key CHANGED (the server offered ED25519 key ${await fingerprintOf(`${keys.hostKey}.pub`)}, ${other}:1 pins another), so the connection may be intercepted; if the server's key really changed: ${fix}`,
    );
    expect(await headOf(s.checkout)).not.toBe(sha);
    engine.close();
    await execa('sh', ['-c', fix]);
    expect((await engine.sync('test')).kind).toBe('deployed');
    expect(await headOf(s.checkout)).toBe(sha);
    engine.close();
  }, 120_000);

  it('a key the server does not know is refused clearly, naming the key and its fingerprint', async () => {
    const s = await sandbox();
    await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    const { engine } = await makePipeline(s.checkout, {
      sshKeyFile: keys.wrongKey,
      sshKnownHostsFile: keys.knownHosts,
    });
    const error = await engine.sync('test').then(
      () => undefined,
      (e: Error) => e,
    );
    engine.close();
    expect(error?.message).toBe(
      `git ls-remote --heads -- origin refs/heads/main failed: ssh: root@[127.0.0.1]:${sshd.port} refused the key ${keys.wrongKey} (${await fingerprintOf(`${keys.wrongKey}.pub`)}): Permission denied (publickey); add its public key to the repository as a deploy key (ssh-keygen -y -f KEY prints it)`,
    );
  }, 120_000);

  it('a rotated key (file replaced) is used on the next pass, without a restart', async () => {
    const s = await sandbox();
    const keyFile = path.join(keys.dir, 'rotating_key');
    await fs.copyFile(keys.deployKey, keyFile);
    await fs.chmod(keyFile, 0o600);
    const { daemon, engine } = await makeDaemon(s.checkout, {
      sshKeyFile: keyFile,
      sshKnownHostsFile: keys.knownHosts,
      interval: '200ms',
      backoffMax: '500ms',
    });
    const authorized = await fs.readFile(keys.authorizedKeys, 'utf8');
    daemon.start();
    try {
      const v2 = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
      await waitFor('v2 with the first key', async () => (await headOf(s.checkout)) === v2, 60_000);
      // the server now trusts only the new key
      const next = path.join(keys.dir, 'next_key');
      const nextPub = await keygen(next);
      await fs.writeFile(keys.authorizedKeys, `${nextPub}\n`);
      const v3 = await commitAndPush(s, { 'app.py': 'VERSION = 3\n' });
      await waitFor(
        'the old key refused',
        () => engine.status.lastError?.includes(`refused the key ${keyFile}`),
        60_000,
      );
      // replaced the way a Secret or Vault agent does it: a new file renamed over the old one
      await fs.copyFile(next, `${keyFile}.new`);
      await fs.chmod(`${keyFile}.new`, 0o600);
      await fs.rename(`${keyFile}.new`, keyFile);
      await waitFor('v3 with the rotated key', async () => (await headOf(s.checkout)) === v3, 60_000);
      await waitFor('the daemon idle again', () => engine.status.state === 'idle', 60_000);
      expect(engine.status.consecutiveFailures).toBe(0);
    } finally {
      await daemon.stop();
      await fs.writeFile(keys.authorizedKeys, authorized);
    }
  }, 180_000);

  it('a key file readable by group or others, missing or a directory is a config error (exit 2), not ssh noise', async () => {
    const s = await sandbox();
    const open = path.join(keys.dir, 'open_key');
    await fs.copyFile(keys.deployKey, open);
    await fs.chmod(open, 0o644);
    const cases: Array<[string, string]> = [
      [
        open,
        `hotpull: --ssh-key-file must be readable by its owner only, or ssh ignores it (got "${open}" with mode 0644): chmod 600 ${open}`,
      ],
      [
        path.join(keys.dir, 'nope'),
        `hotpull: --ssh-key-file must be a readable file (got "${path.join(keys.dir, 'nope')}": no such file)`,
      ],
      [keys.dir, `hotpull: --ssh-key-file must be a private key file (got "${keys.dir}": not a regular file)`],
    ];
    for (const [file, message] of cases) {
      for (const command of ['run', 'sync']) {
        const result = await runCli([command, '--repo', s.checkout, '--ssh-key-file', file]);
        expect([result.exitCode, result.stderr]).toEqual([2, message]);
      }
    }
    const https = await runCli([
      'sync',
      '--repo',
      s.checkout,
      '--remote',
      'https://git.example.com/app.git',
      '--branch',
      'main',
      '--ssh-key-file',
      keys.deployKey,
    ]);
    expect([https.exitCode, https.stderr]).toEqual([
      2,
      'hotpull: --ssh-key-file applies to ssh remotes (got the http(s) remote "https://git.example.com/app.git"; use --password-file)',
    ]);
  }, 120_000);

  it('an explicit GIT_SSH_COMMAND wins: its options come first and ssh keeps the first value', async () => {
    const s = await sandbox();
    const empty = path.join(keys.dir, 'known_hosts.unused');
    await fs.writeFile(empty, '');
    const sha = await commitAndPush(s, { 'app.py': 'VERSION = 2\n' });
    // the user's command turns host key checking off; hotpull's StrictHostKeyChecking=yes comes later and loses
    const result = await runCli(
      ['sync', '--repo', s.checkout, '--ssh-key-file', keys.deployKey, '--ssh-known-hosts-file', empty],
      {
        env: { GIT_SSH_COMMAND: 'ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR' },
        timeout: 120_000,
      },
    );
    expect(result.exitCode, result.stdout).toBe(0);
    expect(await headOf(s.checkout)).toBe(sha);
  }, 120_000);

  it('the atomic layout clones its bare repository over ssh with the key', async () => {
    const s = await sandbox();
    const root = await tmpDir('hotpull-ssh-atomic-');
    try {
      const result = await runCli(
        ['sync', '--layout', 'atomic', '--repo', root, '--remote', url, '--branch', 'main', ...pinned()],
        { timeout: 120_000 },
      );
      expect(result.exitCode, result.stdout).toBe(0);
      const sha = await headOf(s.seed);
      expect(await fs.readlink(path.join(root, 'current'))).toBe(`releases/${sha}`);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  }, 120_000);

  it('host up: the first clone into the code directory uses the key', async () => {
    const s = await sandbox();
    const code = await tmpDir('hotpull-ssh-code-');
    try {
      const state = await ensureCode(code, {
        repo: url,
        branch: 'main',
        env: process.env,
        auth: { sshKeyFile: keys.deployKey, sshKnownHostsFile: keys.knownHosts },
      });
      expect(state).toEqual({ kind: 'cloned', sha: await headOf(s.seed) });
      expect(await git(code, 'config', 'remote.origin.url')).toBe(url);
    } finally {
      await fs.rm(code, { recursive: true, force: true });
    }
  }, 120_000);
});
