/**
 * The pure pieces of the many-apps listener (src/http/apps-routing.ts): a repository's identity from any URL form,
 * the repositories a push payload names (GitHub, Gitea, GitLab), which apps a push wakes, and one /metrics for all.
 */
import { describe, expect, it } from 'vitest';
import { mergeMetrics, payloadRepos, pushNames, repoKey } from '../src/http/apps-routing.js';

describe('repoKey', () => {
  it.each([
    ['git@github.com:Org/App.git', 'github.com/org/app'],
    ['github.com:org/app', 'github.com/org/app'],
    ['ssh://git@github.com/org/app.git', 'github.com/org/app'],
    ['ssh://git@github.com:22/org/app', 'github.com/org/app'],
    ['https://github.com/Org/App', 'github.com/org/app'],
    ['https://token@github.com/org/app.git/', 'github.com/org/app'],
    ['https://user:s3cret@gitea.example:3000/org/app.git', 'gitea.example/org/app'],
    ['http://127.0.0.1:8080/git/app.git', '127.0.0.1/git/app'],
    ['git://git.example/org/app.git', 'git.example/org/app'],
    ['  https://gitlab.com/group/sub/app.git  ', 'gitlab.com/group/sub/app'],
    ['/srv/git/app.git', '/srv/git/app'],
    ['/srv/git/app.git/', '/srv/git/app'],
    ['file:///srv/git/app.git', '/srv/git/app'],
    ['./a', './a'],
  ])('%s is %s', (url, key) => {
    expect(repoKey(url)).toBe(key);
  });

  it('gives every form of one repository the same key, and never keeps the userinfo', () => {
    const forms = [
      'git@github.com:org/app.git',
      'ssh://git@github.com/org/app',
      'https://x-access-token:ghs_abc@github.com/org/app.git',
      'git://github.com/org/app',
    ];
    expect(new Set(forms.map(repoKey))).toEqual(new Set(['github.com/org/app']));
    expect(repoKey('https://x-access-token:ghs_abc@github.com/org/app.git')).not.toContain('ghs_abc');
  });
});

/** The repository part of each forge's push payload, as their documentation gives it. */
const GITHUB = {
  ref: 'refs/heads/main',
  repository: {
    full_name: 'Org/App',
    html_url: 'https://github.com/Org/App',
    clone_url: 'https://github.com/Org/App.git',
    ssh_url: 'git@github.com:Org/App.git',
    git_url: 'git://github.com/Org/App.git',
  },
};
const GITEA = {
  ref: 'refs/heads/main',
  repository: {
    full_name: 'org/app',
    html_url: 'https://gitea.example:3000/org/app',
    clone_url: 'https://gitea.example:3000/org/app.git',
    ssh_url: 'ssh://git@gitea.example:2222/org/app.git',
  },
};
const GITLAB = {
  object_kind: 'push',
  ref: 'refs/heads/main',
  project: {
    path_with_namespace: 'group/sub/app',
    web_url: 'https://gitlab.example/group/sub/app',
    git_http_url: 'https://gitlab.example/group/sub/app.git',
    git_ssh_url: 'git@gitlab.example:group/sub/app.git',
  },
  repository: { url: 'git@gitlab.example:group/sub/app.git', homepage: 'https://gitlab.example/group/sub/app' },
};

describe('payloadRepos and pushNames', () => {
  it('reads the URLs and the name of a GitHub, Gitea and GitLab push', () => {
    expect(payloadRepos(GITHUB)).toEqual({
      urls: [
        'https://github.com/Org/App.git',
        'git@github.com:Org/App.git',
        'git://github.com/Org/App.git',
        'https://github.com/Org/App',
      ],
      names: ['org/app'],
    });
    expect(new Set(payloadRepos(GITEA).urls.map(repoKey))).toEqual(new Set(['gitea.example/org/app']));
    expect(payloadRepos(GITLAB).names).toEqual(['group/sub/app']);
    expect(new Set(payloadRepos(GITLAB).urls.map(repoKey))).toEqual(new Set(['gitlab.example/group/sub/app']));
  });

  it('names nothing for a payload without a repository, garbage, or values that are not short strings', () => {
    for (const payload of [undefined, null, 'text', 42, [], {}, { ref: 'refs/heads/main' }, { repository: 'x' }])
      expect(payloadRepos(payload)).toEqual({ urls: [], names: [] });
    expect(payloadRepos({ repository: { clone_url: 7, full_name: '', ssh_url: 'x'.repeat(4096) } })).toEqual({
      urls: [],
      names: [],
    });
  });

  it('wakes the apps whose remote the push names, in any URL form, and no other', () => {
    const apps = {
      github: repoKey('ssh://git@github.com/org/app'),
      other: repoKey('git@github.com:org/other.git'),
      gitea: repoKey('https://deploy:pw@gitea.example:3000/org/app'),
      gitlab: repoKey('https://gitlab.example/group/sub/app.git'),
    };
    const woken = (payload: unknown) =>
      Object.entries(apps)
        .filter(([, key]) => pushNames(payloadRepos(payload), key))
        .map(([name]) => name);
    expect(woken(GITHUB)).toEqual(['github']);
    expect(woken(GITEA)).toEqual(['gitea']);
    expect(woken(GITLAB)).toEqual(['gitlab']);
  });

  it('a name alone matches a remote ending with it; beside URLs, only a local path (a mirror)', () => {
    const repos = payloadRepos({ repository: { full_name: 'Org/App' } });
    expect(pushNames(repos, repoKey('https://gitea.example/org/app'))).toBe(true);
    expect(pushNames(repos, repoKey('/srv/git/org/app.git'))).toBe(true);
    expect(pushNames(repos, repoKey('/srv/git/org/other.git'))).toBe(false);
    expect(pushNames(repos, repoKey('/srv/git/bigorg/app.git'))).toBe(false);
    // GitHub's payload names its URLs: the name does not reach an app on another host, but does a local mirror
    expect(pushNames(payloadRepos(GITHUB), repoKey('https://gitea.example/org/app'))).toBe(false);
    expect(pushNames(payloadRepos(GITHUB), repoKey('/srv/mirrors/org/app.git'))).toBe(true);
  });

  it('a push that names no repository asks every app to look', () => {
    expect(pushNames({ urls: [], names: [] }, 'github.com/org/app')).toBe(true);
    expect(pushNames({ urls: [], names: [] }, '/srv/git/app')).toBe(true);
  });
});

describe('mergeMetrics', () => {
  const app = (deploys: number, le: string) =>
    [
      '# HELP hotpull_deploys_total Deploys by result.',
      '# TYPE hotpull_deploys_total counter',
      `hotpull_deploys_total{result="live"} ${deploys}`,
      `hotpull_deploys_total{result="failed"} 0`,
      '# HELP hotpull_pass_seconds How long a pass took.',
      '# TYPE hotpull_pass_seconds histogram',
      `hotpull_pass_seconds_bucket{le="${le}"} 1`,
      'hotpull_pass_seconds_bucket{le="+Inf"} 1',
      'hotpull_pass_seconds_sum 0.25',
      'hotpull_pass_seconds_count 1',
      '# HELP hotpull_up Whether the daemon runs.',
      '# TYPE hotpull_up gauge',
      'hotpull_up 1',
      '',
    ].join('\n');

  it('gives each family once, every sample labelled with its app, a histogram kept together', () => {
    const text = mergeMetrics([
      ['a', app(3, '0.5')],
      ['b', app(5, '1')],
    ]);
    expect(text).toBe(
      [
        '# HELP hotpull_deploys_total Deploys by result.',
        '# TYPE hotpull_deploys_total counter',
        'hotpull_deploys_total{app="a",result="live"} 3',
        'hotpull_deploys_total{app="a",result="failed"} 0',
        'hotpull_deploys_total{app="b",result="live"} 5',
        'hotpull_deploys_total{app="b",result="failed"} 0',
        '# HELP hotpull_pass_seconds How long a pass took.',
        '# TYPE hotpull_pass_seconds histogram',
        'hotpull_pass_seconds_bucket{app="a",le="0.5"} 1',
        'hotpull_pass_seconds_bucket{app="a",le="+Inf"} 1',
        'hotpull_pass_seconds_sum{app="a"} 0.25',
        'hotpull_pass_seconds_count{app="a"} 1',
        'hotpull_pass_seconds_bucket{app="b",le="1"} 1',
        'hotpull_pass_seconds_bucket{app="b",le="+Inf"} 1',
        'hotpull_pass_seconds_sum{app="b"} 0.25',
        'hotpull_pass_seconds_count{app="b"} 1',
        '# HELP hotpull_up Whether the daemon runs.',
        '# TYPE hotpull_up gauge',
        'hotpull_up{app="a"} 1',
        'hotpull_up{app="b"} 1',
        '',
      ].join('\n'),
    );
  });

  it('keeps a family only one app has, and an empty label set becomes the app label alone', () => {
    const text = mergeMetrics([
      ['a', '# HELP x_total X.\n# TYPE x_total counter\nx_total{} 1\n'],
      ['b', '# HELP y Y.\n# TYPE y gauge\ny 2 1700000000000\n'],
    ]);
    expect(text).toBe(
      '# HELP x_total X.\n# TYPE x_total counter\nx_total{app="a"} 1\n# HELP y Y.\n# TYPE y gauge\ny{app="b"} 2 1700000000000\n',
    );
  });
});
