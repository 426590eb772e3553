import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush, forcePush, git, gitEnv, headOf, makeSandbox, tmpDir, type Sandbox } from './helpers/git.js';
import { isPackFetch, startGitHttpServer, type GitHttpServer } from './helpers/http-git-server.js';
import { waitFor } from './helpers/hotpull.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    if (fn) await fn();
  }
});

async function sandbox(files?: Record<string, string>): Promise<Sandbox> {
  const sb = await makeSandbox(files ? { files } : {});
  cleanups.push(() => sb.cleanup());
  return sb;
}

async function server(sb: Sandbox, extra: { slowFetchMs?: number; password?: string } = {}): Promise<GitHttpServer> {
  const srv = await startGitHttpServer({
    projectRoot: sb.root,
    user: 'u',
    password: extra.password ?? 'p',
    ...(extra.slowFetchMs !== undefined ? { slowFetchMs: extra.slowFetchMs } : {}),
  });
  cleanups.push(() => srv.close());
  return srv;
}

function repoUrl(srv: GitHttpServer, user: string, password: string): string {
  return `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${srv.port}/remote.git`;
}

/** Run git without the helper (so we can see exit codes / pass env), never prompting, ignoring credential helpers. */
async function rawGit(cwd: string, args: string[], env: Record<string, string> = {}) {
  return execa('git', ['-c', 'credential.helper=', ...args], {
    cwd,
    env: gitEnv({ GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '', ...env }),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
}

function mainFromLsRemote(out: string): string | undefined {
  const line = out.split('\n').find((l) => l.endsWith('\trefs/heads/main'));
  return line?.split('\t')[0];
}

describe('git helpers', () => {
  it('makeSandbox builds bare/seed/checkout with main tracking origin/main', async () => {
    const sb = await sandbox();
    expect(basename(sb.root)).toMatch(/^hotpull-test-/);
    expect(sb.root.startsWith(tmpdir())).toBe(true);
    expect(sb.bare).toBe(join(sb.root, 'remote.git'));
    expect(sb.seed).toBe(join(sb.root, 'seed'));
    expect(sb.checkout).toBe(join(sb.root, 'checkout'));

    expect(await git(sb.bare, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(await git(sb.bare, 'symbolic-ref', 'HEAD')).toBe('refs/heads/main');
    expect(await git(sb.checkout, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
    expect(await git(sb.checkout, 'rev-parse', '--abbrev-ref', 'main@{upstream}')).toBe('origin/main');

    const remoteHead = await headOf(sb.bare, 'refs/heads/main');
    expect(remoteHead).toMatch(/^[0-9a-f]{40}$/);
    expect(await headOf(sb.seed)).toBe(remoteHead);
    expect(await headOf(sb.checkout)).toBe(remoteHead);
    expect(await readFile(join(sb.checkout, 'app.py'), 'utf8')).toBe('VERSION = 1\n');
    expect(await readFile(join(sb.checkout, 'uwsgi.ini'), 'utf8')).toBe('[uwsgi]\n');
    // identity comes from the helper, not from whatever global config exists
    expect(await git(sb.seed, 'log', '-1', '--format=%an <%ae>|%cn <%ce>')).toBe(
      'hotpull test <hotpull-test@example.invalid>|hotpull test <hotpull-test@example.invalid>',
    );
  });

  it('makeSandbox honours opts.files (nested paths)', async () => {
    const sb = await sandbox({ 'wsgi.py': 'x = 1\n', 'pkg/mod.py': 'y = 2\n' });
    expect(await git(sb.checkout, 'ls-files')).toBe('pkg/mod.py\nwsgi.py');
    expect(existsSync(join(sb.checkout, 'app.py'))).toBe(false);
  });

  it('commitAndPush writes/deletes files and moves the remote main', async () => {
    const sb = await sandbox();
    const before = await git(sb.root, 'ls-remote', sb.bare);
    const oldHead = mainFromLsRemote(before);
    expect(oldHead).toBe(await headOf(sb.checkout));

    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n', 'uwsgi.ini': null, 'lib/x.py': 'z\n' }, 'bump');
    const after = await git(sb.root, 'ls-remote', sb.bare);
    expect(after).not.toBe(before);
    expect(mainFromLsRemote(after)).toBe(sha);
    expect(await headOf(sb.bare, 'main')).toBe(sha);
    expect(await git(sb.bare, 'rev-parse', `${sha}^`)).toBe(oldHead);
    expect(await git(sb.bare, 'log', '-1', '--format=%s', sha)).toBe('bump');
    expect(await git(sb.bare, 'ls-tree', '-r', '--name-only', sha)).toBe('app.py\nlib/x.py');
    expect(await git(sb.bare, 'show', `${sha}:app.py`)).toBe('VERSION = 2');
    // the deployed checkout is untouched until it fetches
    expect(await headOf(sb.checkout)).toBe(oldHead);
    await git(sb.checkout, 'fetch', '-q', 'origin');
    expect(await headOf(sb.checkout, 'origin/main')).toBe(sha);
  });

  it('commitAndPush with no changes still creates (empty) commits', async () => {
    const sb = await sandbox();
    const a = await commitAndPush(sb, {});
    const b = await commitAndPush(sb, {});
    expect(a).not.toBe(b);
    expect(await git(sb.bare, 'rev-parse', `${b}^`)).toBe(a);
    expect(await headOf(sb.bare, 'main')).toBe(b);
  });

  it('forcePush rewrites main to a non-descendant of the previous remote head', async () => {
    const sb = await sandbox();
    const base = await headOf(sb.bare, 'main');
    const pushed = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const rewritten = await forcePush(sb, { 'app.py': 'VERSION = 3\n' });

    expect(rewritten).not.toBe(pushed);
    expect(mainFromLsRemote(await git(sb.root, 'ls-remote', sb.bare))).toBe(rewritten);
    expect(await git(sb.bare, 'rev-parse', `${rewritten}^`)).toBe(base);
    const isAncestor = await rawGit(sb.bare, ['merge-base', '--is-ancestor', pushed, rewritten]);
    expect(isAncestor.exitCode).toBe(1);
    expect(await git(sb.bare, 'show', `${rewritten}:app.py`)).toBe('VERSION = 3');
  });

  it('forcePush with identical content/message still yields a different commit', async () => {
    const sb = await sandbox();
    const pushed = await commitAndPush(sb, {}, 'same');
    const rewritten = await forcePush(sb, {}, 'same');
    expect(rewritten).not.toBe(pushed);
    const isAncestor = await rawGit(sb.bare, ['merge-base', '--is-ancestor', pushed, rewritten]);
    expect(isAncestor.exitCode).toBe(1);
  });

  it('forcePush on a single-commit history creates an unrelated root', async () => {
    const sb = await sandbox();
    const root = await headOf(sb.bare, 'main');
    const rewritten = await forcePush(sb, { 'app.py': 'VERSION = 9\n' });
    expect(await headOf(sb.bare, 'main')).toBe(rewritten);
    const mb = await rawGit(sb.bare, ['merge-base', root, rewritten]);
    expect(mb.exitCode).toBe(1); // no common ancestor
  });

  it('git() throws with stderr in the message; headOf defaults to HEAD', async () => {
    const sb = await sandbox();
    await expect(git(sb.seed, 'rev-parse', '--verify', 'no-such-ref')).rejects.toThrow(
      /no-such-ref|Needed a single revision/,
    );
    await expect(git(sb.seed, 'frobnicate')).rejects.toThrow(/not a git command/);
    expect(await headOf(sb.seed)).toBe(await headOf(sb.seed, 'main'));
    await expect(headOf(sb.seed, 'nope')).rejects.toThrow(/git rev-parse/);
  });

  it('tmpDir creates a fresh dir and cleanup removes the sandbox', async () => {
    const d = await tmpDir('hotpull-x-');
    cleanups.push(() => import('node:fs/promises').then((fs) => fs.rm(d, { recursive: true, force: true })));
    expect(basename(d)).toMatch(/^hotpull-x-/);
    expect((await stat(d)).isDirectory()).toBe(true);
    const d2 = await tmpDir();
    cleanups.push(() => import('node:fs/promises').then((fs) => fs.rm(d2, { recursive: true, force: true })));
    expect(basename(d2)).toMatch(/^hotpull-test-/);

    const sb = await makeSandbox();
    expect(existsSync(sb.bare)).toBe(true);
    await sb.cleanup();
    expect(existsSync(sb.root)).toBe(false);
  });

  it('works without any global git config', async () => {
    const home = await tmpDir('hotpull-home-');
    cleanups.push(() => import('node:fs/promises').then((fs) => fs.rm(home, { recursive: true, force: true })));
    const prev = { HOME: process.env.HOME, XDG: process.env.XDG_CONFIG_HOME };
    process.env.HOME = home;
    process.env.XDG_CONFIG_HOME = join(home, '.config');
    try {
      const sb = await makeSandbox();
      cleanups.push(() => sb.cleanup());
      expect(await git(sb.seed, 'config', '--global', '--list').catch((e: unknown) => String(e))).toMatch(
        /unable to read config file|^$/,
      );
      const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
      expect(await headOf(sb.bare, 'main')).toBe(sha);
    } finally {
      if (prev.HOME === undefined) delete process.env.HOME;
      else process.env.HOME = prev.HOME;
      if (prev.XDG === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = prev.XDG;
    }
  });
});

describe('git http server', () => {
  it('serves ls-remote with the right password and counts requests', async () => {
    const sb = await sandbox();
    const srv = await server(sb);
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/`);
    expect(srv.requests).toBe(0);

    const res = await rawGit(sb.root, ['ls-remote', repoUrl(srv, 'u', 'p')]);
    expect(res.stderr).toBe('');
    expect(res.exitCode).toBe(0);
    expect(mainFromLsRemote(res.stdout)).toBe(await headOf(sb.bare, 'main'));
    expect(srv.requests).toBeGreaterThan(0);
  });

  it('rejects a wrong password, a wrong user and no credentials', async () => {
    const sb = await sandbox();
    const srv = await server(sb);
    const wrong = await rawGit(sb.root, ['ls-remote', repoUrl(srv, 'u', 'nope')]);
    expect(wrong.exitCode).not.toBe(0);
    expect(wrong.stderr).toMatch(/Authentication failed|401/);
    expect(wrong.stdout).toBe('');

    const wrongUser = await rawGit(sb.root, ['ls-remote', repoUrl(srv, 'x', 'p')]);
    expect(wrongUser.exitCode).not.toBe(0);

    const anon = await rawGit(sb.root, ['ls-remote', `${srv.url}remote.git`]);
    expect(anon.exitCode).not.toBe(0);
    expect(anon.stdout).toBe('');

    const r = await fetch(`${srv.url}remote.git/info/refs?service=git-upload-pack`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="git"');
    await r.arrayBuffer();
  });

  it('passes Git-Protocol through (protocol v2 advertisement) and CGI headers back', async () => {
    const sb = await sandbox();
    const srv = await server(sb);
    const auth = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const v2 = await fetch(`${srv.url}remote.git/info/refs?service=git-upload-pack`, {
      headers: { Authorization: auth, 'Git-Protocol': 'version=2' },
    });
    expect(v2.status).toBe(200);
    expect(v2.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    const v2body = await v2.text();
    expect(v2body).toContain('version 2');
    expect(v2body).toContain('ls-refs');

    const v0 = await fetch(`${srv.url}remote.git/info/refs?service=git-upload-pack`, {
      headers: { Authorization: auth },
    });
    const v0body = await v0.text();
    expect(v0body).not.toContain('version 2');
    expect(v0body).toContain('refs/heads/main');

    const missing = await fetch(`${srv.url}nope.git/info/refs?service=git-upload-pack`, {
      headers: { Authorization: auth },
    });
    expect(missing.status).toBe(404); // Status: header from the CGI is honoured
    await missing.arrayBuffer();
  });

  it('git clone, fetch and push work over it', async () => {
    const sb = await sandbox();
    const srv = await server(sb);
    const dest = join(sb.root, 'http-clone');
    const clone = await rawGit(sb.root, ['clone', '-q', repoUrl(srv, 'u', 'p'), dest]);
    expect(clone.stderr).toBe('');
    expect(clone.exitCode).toBe(0);
    expect(await headOf(dest)).toBe(await headOf(sb.bare, 'main'));
    expect(await readFile(join(dest, 'app.py'), 'utf8')).toBe('VERSION = 1\n');

    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    const fetched = await rawGit(dest, ['fetch', '-q', 'origin']);
    expect(fetched.exitCode).toBe(0);
    expect(await headOf(dest, 'origin/main')).toBe(sha);

    // push via receive-pack, including a body > http.postBuffer (1 MiB) so
    // git sends it with chunked transfer encoding (no CONTENT_LENGTH).
    await git(dest, 'merge', '-q', '--ff-only', 'origin/main');
    const big = randomBytes(1536 * 1024).toString('base64');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dest, 'big.txt'), big);
    await git(dest, 'add', 'big.txt');
    await git(dest, 'commit', '-q', '-m', 'big');
    const pushed = await rawGit(dest, ['push', '-q', 'origin', 'main'], {
      GIT_TRACE_CURL: '1',
      GIT_TRACE_CURL_NO_DATA: '1',
    });
    expect(pushed.exitCode, pushed.stderr.slice(-2000)).toBe(0);
    expect(pushed.stderr).toMatch(/Transfer-Encoding: chunked/i);
    expect(await headOf(sb.bare, 'main')).toBe(await headOf(dest));
    expect(await git(sb.bare, 'show', 'main:big.txt')).toBe(big);

    const smallPush = await rawGit(dest, ['push', '-q', 'origin', 'HEAD:refs/heads/feature']);
    expect(smallPush.exitCode, smallPush.stderr).toBe(0);
    expect(await headOf(sb.bare, 'feature')).toBe(await headOf(dest));
  });

  // The delay is 3 s against git on loopback taking milliseconds: what is not delayed stays under it, whatever the load.
  it('slowFetchMs delays pack fetches but not ls-remote', async () => {
    const sb = await sandbox();
    const srv = await server(sb, { slowFetchMs: 3000 });
    const dest = join(sb.root, 'http-clone');
    expect((await rawGit(sb.root, ['clone', '-q', repoUrl(srv, 'u', 'p'), dest])).exitCode).toBe(0);

    let t0 = performance.now();
    const ls = await rawGit(sb.root, ['ls-remote', repoUrl(srv, 'u', 'p')]);
    const lsMs = performance.now() - t0;
    expect(ls.exitCode).toBe(0);
    expect(lsMs).toBeLessThan(3000);

    // nothing new to fetch: no `command=fetch` is sent, so also fast
    t0 = performance.now();
    expect((await rawGit(dest, ['fetch', '-q', 'origin'])).exitCode).toBe(0);
    expect(performance.now() - t0).toBeLessThan(3000);

    const sha = await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });
    t0 = performance.now();
    const f = await rawGit(dest, ['fetch', '-q', 'origin']);
    const fetchMs = performance.now() - t0;
    expect(f.exitCode, f.stderr).toBe(0);
    expect(await headOf(dest, 'origin/main')).toBe(sha);
    expect(fetchMs).toBeGreaterThanOrEqual(3000);
  });

  it('slowFetchMs also detects protocol v0 wants, including gzip-encoded bodies', async () => {
    const sb = await sandbox();
    const srv = await server(sb, { slowFetchMs: 1500 });
    const dest = join(sb.root, 'http-clone');
    expect((await rawGit(sb.root, ['clone', '-q', repoUrl(srv, 'u', 'p'), dest])).exitCode).toBe(0);

    // 30 branches on 30 distinct commits => 30 want lines (> 1 KiB), which
    // git's remote-curl gzips for v0 upload-pack requests.
    for (let i = 0; i < 30; i++) {
      await git(sb.seed, 'commit', '-q', '--allow-empty', '-m', `b${i}`);
      await git(sb.seed, 'branch', `b${i}`);
    }
    await git(sb.seed, 'push', '-q', 'origin', '--all');

    const t0 = performance.now();
    const f = await rawGit(dest, ['-c', 'protocol.version=0', 'fetch', '-q', 'origin'], {
      GIT_TRACE_CURL: '1',
      GIT_TRACE_CURL_NO_DATA: '1',
    });
    const ms = performance.now() - t0;
    expect(f.exitCode, f.stderr.slice(-2000)).toBe(0);
    expect(f.stderr).toMatch(/Content-Encoding: gzip/i);
    expect(f.stderr).not.toMatch(/Git-Protocol: version=2/i);
    expect(await headOf(dest, 'origin/b29')).toBe(await headOf(sb.bare, 'b29'));
    expect(ms).toBeGreaterThanOrEqual(1500);
  });

  it('isPackFetch classifies request bodies', async () => {
    const { gzipSync } = await import('node:zlib');
    const sha = 'a'.repeat(40);
    const v2fetch = Buffer.from(`0014command=fetch\n0001000dthin-pack\n0032want ${sha}\n0009done\n0000`);
    const v2ls = Buffer.from('0014command=ls-refs\n00010009peel\n000csymrefs\n0014ref-prefix HEAD\n0000');
    const v0 = Buffer.from(`0032want ${sha}\n00000009done\n`);
    expect(isPackFetch(v2fetch, undefined)).toBe(true);
    expect(isPackFetch(v2ls, undefined)).toBe(false);
    expect(isPackFetch(v0, undefined)).toBe(true);
    expect(isPackFetch(gzipSync(v0), 'gzip')).toBe(true);
    expect(isPackFetch(gzipSync(v2ls), 'gzip')).toBe(false);
  });

  it('close() terminates the server and in-flight connections', async () => {
    const sb = await sandbox();
    const srv = await startGitHttpServer({ projectRoot: sb.root, user: 'u', password: 'p', slowFetchMs: 60_000 });
    cleanups.push(() => srv.close()); // idempotent: a second close() must not throw
    // reuse the sandbox checkout (cloning over this server would itself take 10 s)
    await git(sb.checkout, 'remote', 'set-url', 'origin', repoUrl(srv, 'u', 'p'));
    await commitAndPush(sb, { 'app.py': 'VERSION = 2\n' });

    // start a fetch that will sit in the 60 s delay, then close underneath it: anything far under 60 s is the close
    const t0 = performance.now();
    const pending = rawGit(sb.checkout, ['fetch', '-q', 'origin']);
    // info/refs + ls-refs + the delayed fetch POST
    const served = await waitFor('the fetch POST in its delay', () => (srv.requests >= 3 ? srv.requests : 0), 30_000);
    const tc = performance.now();
    await srv.close();
    expect(performance.now() - tc).toBeLessThan(10_000);
    const res = await pending;
    expect(performance.now() - t0).toBeLessThan(40_000);
    expect(res.exitCode).not.toBe(0);
    // (curl retries a request whose reused keep-alive connection dies, so the
    // reported error is usually the failed reconnect; either way it fails fast)
    expect(res.stderr).toMatch(/RPC failed|connect|Empty reply|reset/i);
    expect(srv.requests).toBe(served);

    const after = await rawGit(sb.root, ['ls-remote', repoUrl(srv, 'u', 'p')]);
    expect(after.exitCode).not.toBe(0);
    expect(after.stderr).toMatch(/Failed to connect|Couldn't connect/);
  });
});
