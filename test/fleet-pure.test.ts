/** Issue 28: the pure parts of `hotpull fleet` and of the status fields it reads, by tables. */
import { getEventListeners } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { followedRef, revisionFields, servedSince } from '../src/http/revision.js';
import { nameOf, parsePeerSource, parsePeersFile, peerOf } from '../src/fleet/peers.js';
import { containerPeer, type PeerContainer } from '../src/fleet/docker-peers.js';
import { askPeers, cleanText, peerStatus, readAnswer, type PeerAnswer } from '../src/fleet/ask.js';
import { fleetView, formatFleet, jsonView } from '../src/fleet/view.js';
import { watchFleet, watchPrinter } from '../src/fleet/round.js';
import { discover } from '../src/fleet/discover.js';
import type { DeployRecord, Status } from '../src/sync/status.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const record = (
  result: DeployRecord['result'],
  from: string,
  to: string,
  at: string,
  extra: Partial<DeployRecord> = {},
): DeployRecord => ({
  at,
  trigger: 'poll',
  from,
  to,
  result,
  stages: { detected: at },
  durations: { detect: 0, fetch: 0, apply: 0, reload: 0, verify: 0, total: 0 },
  ...extra,
});

describe('since when the deployed revision serves', () => {
  it.each([
    ['no records', A, [], undefined],
    ['live', B, [record('live', A, B, 't2'), record('live', C, A, 't1')], 't2'],
    ['a failed deploy after it changes nothing', B, [record('failed', B, C, 't3'), record('live', A, B, 't2')], 't2'],
    [
      'a rollback restores the one before',
      A,
      [record('rolled-back', A, B, 't3', { rolledBackTo: A }), record('live', C, A, 't1')],
      't3',
    ],
    ['reloaded, unverified', B, [record('reloaded', A, B, 't2')], 't2'],
    ['changed by hand since the last record', C, [record('live', A, B, 't2')], undefined],
  ])('%s', (_what, deployedSha, deploys, since) => {
    expect(servedSince({ deployedSha, deploys })).toBe(since);
  });

  it('verified: the deployed revision is last-good; the subject asked once a sha', async () => {
    const status = {
      state: 'idle',
      remote: 'o',
      branch: 'main',
      consecutiveFailures: 0,
      deploys: [],
      deployedSha: A,
    } as Status;
    expect(await revisionFields({ ...status, lastGoodSha: A }, { ref: 'refs/heads/main' })).toEqual({
      verified: true,
      ref: 'refs/heads/main',
    });
    expect(
      await revisionFields({ ...status, lastGoodSha: B }, { ref: 'x', intervalMs: 1000, subjectOf: () => 'fix' }),
    ).toEqual({
      verified: false,
      ref: 'x',
      intervalMs: 1000,
      subject: 'fix',
    });
  });

  it.each([
    [undefined, 'refs/heads/main'],
    [{ kind: 'tag', name: 'v1' }, 'refs/tags/v1'],
    [{ kind: 'pattern', glob: 'v*' }, 'refs/tags/v*'],
    [{ kind: 'sha', sha: A }, A],
    [{ kind: 'name', name: 'stable' }, 'stable'],
  ] as const)('followed ref %j → %s', (ref, label) => {
    expect(followedRef(ref, 'main')).toBe(label);
  });
});

describe('peers', () => {
  it('URLs: /status added to the path, userinfo taken out as Basic auth, named host:port', () => {
    expect(peerOf('http://10.0.0.5:9300', '--peer')).toEqual({
      name: '10.0.0.5:9300',
      url: 'http://10.0.0.5:9300/status',
    });
    expect(peerOf('https://proxy/hotpull/', '--peer')).toEqual({
      name: 'proxy:443/hotpull',
      url: 'https://proxy/hotpull/status',
    });
    expect(peerOf('http://ops:s%40cret@h:1/status', '--peer')).toEqual({
      name: 'h:1',
      url: 'http://h:1/status',
      auth: 'ops:s@cret',
    });
    expect(nameOf('http://[::1]:9300/status')).toBe('[::1]:9300');
  });

  it.each([
    [
      '--peer',
      () => peerOf('ftp://x', '--peer'),
      '--peer must be an http:// or https:// URL like http://10.0.0.5:9300 (got "ftp://x")',
    ],
    [
      'file line',
      () => parsePeersFile('# c\nhttp://a:1\nnope\n', '/p'),
      '--peers-file /p line 3 must be an http:// or https:// URL like http://10.0.0.5:9300 (got "nope")',
    ],
    [
      'dns port',
      () => parsePeerSource('dns:app:70000'),
      '--peers must be dns:NAME:PORT (a host name and the port hotpull listens on, e.g. dns:app-headless:9300) (got "dns:app:70000")',
    ],
    [
      'docker',
      () => parsePeerSource('docker:'),
      '--peers must be docker:LABEL[=VALUE] (a container label, e.g. docker:hotpull.listen or docker:app=web) (got "docker:")',
    ],
  ])('bad input is one line naming the option, the rule and the value: %s', (_what, parse, message) => {
    expect(parse).toThrow(message);
  });

  it('sources', () => {
    expect(parsePeerSource('dns:app-headless.prod.svc.cluster.local:9300')).toMatchObject({
      kind: 'dns',
      host: 'app-headless.prod.svc.cluster.local',
      port: 9300,
    });
    expect(parsePeerSource('docker:app=web')).toMatchObject({ kind: 'docker', label: 'app', value: 'web' });
    expect(parsePeerSource('docker:hotpull.listen')).toEqual({
      kind: 'docker',
      spec: 'docker:hotpull.listen',
      label: 'hotpull.listen',
    });
  });

  const container = (labels: Record<string, string>, extra: Partial<PeerContainer> = {}): PeerContainer => ({
    Id: 'x',
    Name: '/web-1',
    Image: 'sha256:1',
    State: { Status: 'running', Running: true },
    Config: { Labels: labels },
    ...extra,
  });
  it.each([
    ['a URL', container({ 'hotpull.listen': 'http://10.1.1.1:9300' }), 'http://10.1.1.1:9300/status'],
    ['HOST:PORT', container({ 'hotpull.listen': '127.0.0.1:9301' }), 'http://127.0.0.1:9301/status'],
    [
      'a published port',
      container(
        { 'hotpull.listen': '9300' },
        { NetworkSettings: { Ports: { '9300/tcp': [{ HostIp: '0.0.0.0', HostPort: '49153' }] } } },
      ),
      'http://127.0.0.1:49153/status',
    ],
    [
      'host network',
      container({ 'hotpull.listen': '9300' }, { HostConfig: { NetworkMode: 'host' } }),
      'http://127.0.0.1:9300/status',
    ],
    [
      'a bridge address',
      container(
        { 'hotpull.listen': '9300' },
        { NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.3' } } } },
      ),
      'http://172.17.0.3:9300/status',
    ],
  ])('docker: where hotpull listens, from %s', (_what, c, url) => {
    expect(containerPeer(c)).toEqual({ name: 'web-1', url });
  });
  it('docker: a container that does not say is a failure of its own', () => {
    expect(containerPeer(container({}))).toEqual({
      name: 'web-1',
      error: 'no hotpull.listen label: say where its hotpull listens (docker run --label hotpull.listen=9300)',
    });
    expect(containerPeer(container({ 'hotpull.listen': '9300' }))).toEqual({
      name: 'web-1',
      error: 'port 9300 is neither published nor on a network with an address',
    });
  });
});

describe('answers', () => {
  it.each([
    [{ status: 200, body: '<html>' }, 'answered 200 with a body that is not JSON'],
    [{ status: 200, body: '{"ok":true}' }, 'answered 200 with JSON that is not a hotpull status (no state)'],
    [{ status: 503, body: '{}' }, 'answered 503'],
    [{ status: 200, body: 'x'.repeat(2048) }, 'answered more than 2 KiB (cut off there)'],
  ])('%j → %s', (answer, error) => {
    expect(readAnswer(answer, 2048)).toEqual({ error });
  });

  it('a peer is untrusted: fields of the wrong type dropped, escape sequences shown as ?', () => {
    expect(
      peerStatus({
        state: 'idle',
        deployedSha: 'not a sha',
        subject: 'ok\u001b[2Jboom',
        verified: 'yes',
        intervalMs: -1,
      }),
    ).toEqual({
      state: 'idle',
      subject: 'ok?[2Jboom',
    });
    expect(cleanText('x'.repeat(400))).toHaveLength(300);
  });
});

describe('the view', () => {
  const now = Date.parse('2026-12-07T20:00:00Z');
  const answer = (name: string, status: Record<string, unknown> | undefined, error?: string): PeerAnswer => ({
    peer: { name, url: `http://${name}/status` },
    ...(status ? { status: { state: 'idle', intervalMs: 1000, ...status } } : { error }),
    ms: 3,
  });
  const on = (sha: string, since: string, extra = {}) => ({
    deployedSha: sha,
    since,
    verified: true,
    subject: `commit ${sha[0]}`,
    ...extra,
  });

  it('all on one revision: exit 0, the table word for word', () => {
    const view = fleetView(
      [answer('b:1', on(A, '2026-12-07T19:59:00Z')), answer('a:1', on(A, '2026-12-07T19:58:00Z'))],
      { failures: [] },
      { now },
    );
    expect(view.exitCode).toBe(0);
    expect(formatFleet(view, now)).toBe(
      [
        '  NAME  REVISION          STATE  SINCE   VERIFIED  ERROR',
        '  a:1   aaaaaaa commit a  idle   2m ago  yes       -',
        '  b:1   aaaaaaa commit a  idle   1m ago  yes       -',
        '',
        'all 2 replicas on aaaaaaa commit a',
        '',
      ].join('\n'),
    );
  });

  it('drift: flagged once the split is older than --drift-after (default two of the longest poll period)', () => {
    const rows = [
      answer('a:1', on(A, '2026-12-07T19:59:57Z')),
      answer('b:1', on(B, '2026-12-07T19:00:00Z')),
      answer('c:1', on(A, '2026-12-07T19:59:58Z')),
    ];
    const young = fleetView(rows, { failures: [] }, { now });
    expect(young.drift).toMatchObject({ forMs: 2000, afterMs: 2000, flagged: false });
    expect(young.exitCode).toBe(0);
    expect(young.rows.map((r) => r.odd)).toEqual([false, true, false]);
    const old = fleetView(rows, { failures: [] }, { now: now + 1 });
    expect(old.exitCode).toBe(1);
    expect(
      formatFleet(old, now + 1)
        .split('\n')
        .slice(-2)[0],
    ).toBe('2 revisions for 2s (drift: longer than 2s): aaaaaaa on a:1, c:1; bbbbbbb on b:1');
    // no replica says since when: differing for an unknown time is drift
    expect(
      fleetView([answer('a:1', { deployedSha: A }), answer('b:1', { deployedSha: B })], { failures: [] }, { now })
        .drift,
    ).toMatchObject({ flagged: true });
  });

  it('a replica deploying (no record yet for what it serves) began the split just now: not drift at once', () => {
    // seen on the real stack (test/fleet-stack.test.ts): the canary reloaded onto B and verifying it has no `since`,
    // so the split was aged by the followers' old since (or unknown on a fresh fleet) and flagged from the first round
    const followers = [answer('b:1', on(A, '2026-12-07T19:00:00Z')), answer('c:1', on(A, '2026-12-07T19:00:00Z'))];
    for (const state of ['syncing', 'reloading', 'verifying']) {
      const view = fleetView([answer('a:1', { state, deployedSha: B }), ...followers], { failures: [] }, { now });
      expect(view.drift, state).toMatchObject({ since: new Date(now).toISOString(), forMs: 0, flagged: false });
      expect(view.exitCode, state).toBe(0);
    }
    // a fresh fleet: no replica has a record yet, one deploying
    const fresh = fleetView(
      [answer('a:1', { state: 'verifying', deployedSha: B }), answer('b:1', { deployedSha: A })],
      { failures: [] },
      { now },
    );
    expect(fresh.drift).toMatchObject({ forMs: 0, flagged: false });
    // idle without a record is still an unknown time, and so drift
    expect(fleetView([answer('a:1', { deployedSha: B }), ...followers], { failures: [] }, { now }).drift).toMatchObject(
      { since: '2026-12-07T19:00:00.000Z', flagged: true },
    );
  });

  it('a follower held by --after is shown with what it waits for, not as failing: a staged rollout is not a fault', () => {
    const reason = 'waiting for bbbbbbb to be live on --after http://canary:9300 for 1m (--after-bake)';
    const view = fleetView(
      [
        answer('a:1', on(A, '2026-12-07T19:59:59Z', { state: 'held', reason })),
        answer('b:1', on(A, '2026-12-07T19:59:59Z')),
      ],
      { failures: [] },
      { now },
    );
    expect(view.rows[0]).toMatchObject({ failing: false, error: reason });
    expect(view.failing).toEqual([]);
    expect(view.exitCode).toBe(0);
  });

  it('a failing replica exits 1, an unreachable one or a source without peers 3; each named with its reason', () => {
    const failing = fleetView(
      [answer('a:1', on(A, '2026-12-07T19:00:00Z', { state: 'rejected', reason: 'bbbbbbb failed verification' }))],
      { failures: [] },
      { now },
    );
    expect(failing.exitCode).toBe(1);
    expect(failing.rows[0]).toMatchObject({ failing: true, error: 'bbbbbbb failed verification' });
    const down = fleetView(
      [answer('a:1', on(A, '2026-12-07T19:00:00Z')), answer('b:1', undefined, 'ECONNREFUSED')],
      { failures: [{ name: 'dns:x:1', error: 'no A or AAAA records (ENOTFOUND)' }] },
      { now },
    );
    expect(down.exitCode).toBe(3);
    expect(formatFleet(down, now)).toContain(
      '! b:1      -                 unreachable  -       -         ECONNREFUSED\n',
    );
    expect(formatFleet(down, now)).toContain('\nunreachable: b:1, dns:x:1\n');
    const none = fleetView([], { failures: [] }, { now });
    expect(none.exitCode).toBe(3);
    expect(formatFleet(none, now)).toBe(
      ' NAME  REVISION  STATE  SINCE  VERIFIED  ERROR\n\nno replicas: the peers given list none\n',
    );
  });
});

describe('--watch output', () => {
  const now = Date.parse('2026-12-07T20:00:00Z');
  const view = (state: string) =>
    fleetView(
      [{ peer: { name: 'a:1', url: 'http://a:1/status' }, status: { state, deployedSha: A, subject: 's' }, ms: 1 }],
      { failures: [] },
      { now },
    );

  it('on a terminal: the table redrawn in place, whole, every round', () => {
    const out: string[] = [];
    const printer = watchPrinter({ write: (t: string) => out.push(t), isTTY: true }, false, 2000);
    printer.print(view('idle'));
    printer.print(view('idle'));
    expect(out).toHaveLength(2);
    expect(out[1]).toBe(
      `\u001b[H\u001b[2J${formatFleet(view('idle'), now)}\n2026-12-07T20:00:00.000Z: asked every 2s; Ctrl-C to stop\n`,
    );
  });

  it('elsewhere: a line for a row that changed, nothing for a round that changed nothing', () => {
    const out: string[] = [];
    const printer = watchPrinter({ write: (t: string) => out.push(t) }, false, 2000);
    printer.print(view('idle'));
    printer.print(view('idle'));
    printer.print(view('syncing'));
    expect(out).toEqual([
      '2026-12-07T20:00:00.000Z  a:1  aaaaaaa s  idle  no  -\n',
      '2026-12-07T20:00:00.000Z  all 1 replica on aaaaaaa s\n',
      '2026-12-07T20:00:00.000Z  a:1  aaaaaaa s  syncing  no  -\n',
    ]);
  });

  it('a long watch keeps one stop listener at most, not one a round (Node warned of a leak after 10 rounds)', async () => {
    const stop = new AbortController();
    const listeners: number[] = [];
    const round = async () => {
      listeners.push(getEventListeners(stop.signal, 'abort').length);
      if (listeners.length === 15) stop.abort();
      return view('idle');
    };
    const code = await watchFleet(
      round,
      { print: () => undefined },
      {
        first: view('idle'),
        intervalMs: 1,
        signal: stop.signal,
        onError: (error) => {
          throw error;
        },
      },
    );
    expect(code).toBe(0);
    expect(listeners).toHaveLength(15);
    expect(Math.max(...listeners)).toBeLessThanOrEqual(1);
  });
});

describe('docker: peers through the host adapter', () => {
  it('each running container with the label; one that does not say its port is a row of its own; none at all is said', async () => {
    const asked: string[] = [];
    const containers = [
      {
        Id: '1',
        Name: '/web-1',
        Image: 'i',
        State: { Status: 'running', Running: true },
        Config: { Labels: { 'hotpull.listen': '127.0.0.1:9301' } },
      },
      { Id: '2', Name: '/web-2', Image: 'i', State: { Status: 'running', Running: true }, Config: { Labels: {} } },
    ];
    const docker = () => ({
      runningWithLabel: async (label: string) => {
        asked.push(label);
        return label === 'app=web' ? containers : [];
      },
    });
    const found = await discover(
      { urls: [], sources: [parsePeerSource('docker:app=web'), parsePeerSource('docker:app=none')], timeoutMs: 1000 },
      { docker },
    );
    expect(asked).toEqual(['app=web', 'app=none']);
    expect(found.peers).toEqual([{ name: 'web-1', url: 'http://127.0.0.1:9301/status' }]);
    expect(found.failures).toEqual([
      {
        name: 'web-2',
        error: 'no hotpull.listen label: say where its hotpull listens (docker run --label hotpull.listen=9300)',
      },
      { name: 'docker:app=none', error: 'no running container has the label app=none' },
    ]);
  });
});

describe('asking peers (loopback servers)', () => {
  async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  it('at most `connections` at once, every peer answered', async () => {
    let open = 0;
    let most = 0;
    const server = await serve((_req, res) => {
      most = Math.max(most, ++open);
      setTimeout(() => {
        open -= 1;
        res.end('{"state":"idle"}');
      }, 200);
    });
    try {
      const peers = Array.from({ length: 12 }, (_, i) => peerOf(`${server.url}/r${i}/`, '--peer'));
      const answers = await askPeers(peers, { timeoutMs: 2000, connections: 4 });
      expect(answers.map((a) => a.status?.state)).toEqual(Array(12).fill('idle'));
      expect(most).toBe(4);
    } finally {
      await server.close();
    }
  });

  it("the bearer secret and a URL's userinfo are sent as headers, never shown", async () => {
    const seen: Array<string | undefined> = [];
    const server = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.end('{"state":"idle"}');
    });
    try {
      const withUser = peerOf(server.url.replace('http://', 'http://ops:pw@'), 'HOTPULL_PEER');
      await askPeers([withUser], { timeoutMs: 2000 });
      const answers = await askPeers([peerOf(server.url, '--peer')], { timeoutMs: 2000, secret: 's3cret' });
      expect(seen).toEqual([`Basic ${Buffer.from('ops:pw').toString('base64')}`, 'Bearer s3cret']);
      const shown = JSON.stringify(jsonView(fleetView(answers, { failures: [] }, { now: Date.now() })));
      expect(shown).not.toContain('s3cret');
      expect(withUser.url).not.toContain('pw');
    } finally {
      await server.close();
    }
  });

  it('--json --watch: one object a line', () => {
    const out: string[] = [];
    const view = fleetView([], { failures: [] }, { now: 0 });
    watchPrinter({ write: (t: string) => out.push(t), isTTY: true }, true, 1000).print(view);
    expect(out).toEqual([`${JSON.stringify(jsonView(view))}\n`]);
  });
});
