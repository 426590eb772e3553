/**
 * Pure pieces of a many-apps listener: which apps a push names, and one /metrics for all apps.
 */

/**
 * A repository's identity as host/path, lower case: `git@github.com:Org/App.git`, `ssh://git@github.com:22/org/app`
 * and `https://token@github.com/org/app.git/` are all `github.com/org/app`; a local path stays a path.
 */
export function repoKey(url: string): string {
  let rest = url.trim();
  const scp = /^(?:[^@/:]+@)?([^/:]+):(?!\/)(.*)$/.exec(rest);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(rest) && scp) rest = `${scp[1]}/${scp[2]}`;
  else
    rest = rest
      .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
      .replace(/^[^/@]*@/, '')
      .replace(/^([^/:]+):\d+(?=\/|$)/, '$1');
  return rest
    .replace(/\/+$/, '')
    .replace(/\.git$/i, '')
    .replace(/\/+$/, '')
    .toLowerCase();
}

/** Every repository identity a push payload gives (GitHub, Gitea, Forgejo, GitLab); none: it names no repository. */
export function payloadRepos(payload: unknown): { urls: string[]; names: string[] } {
  const object = (value: unknown) =>
    value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  const strings = (o: Record<string, unknown> | undefined, keys: string[]) =>
    o ? keys.map((k) => o[k]).filter((v): v is string => typeof v === 'string' && v.length > 0 && v.length < 2048) : [];
  const root = object(payload);
  const repository = object(root?.repository);
  const project = object(root?.project);
  return {
    urls: [
      ...strings(repository, ['clone_url', 'ssh_url', 'git_url', 'html_url', 'url', 'git_http_url', 'git_ssh_url']),
      ...strings(project, ['git_http_url', 'git_ssh_url', 'web_url', 'http_url', 'ssh_url']),
    ],
    names: [...strings(repository, ['full_name']), ...strings(project, ['path_with_namespace'])].map((n) =>
      n.toLowerCase(),
    ),
  };
}

/**
 * Whether a push that names these repositories is for an app whose remote is `appKey` (a repoKey). A name (org/app)
 * says nothing of the host: it decides only when the payload gives no URL, or the app follows a local path (a
 * mirror); otherwise a push to github.com/org/app would wake an app on gitea.example/org/app too.
 */
export function pushNames(repos: { urls: string[]; names: string[] }, appKey: string): boolean {
  if (repos.urls.length === 0 && repos.names.length === 0) return true; // names none: every app is asked to look
  if (repos.urls.some((url) => repoKey(url) === appKey)) return true;
  const local = appKey.startsWith('/') || appKey.startsWith('.');
  return (
    (repos.urls.length === 0 || local) && repos.names.some((name) => appKey === name || appKey.endsWith(`/${name}`))
  );
}

/**
 * One exposition of every app's metrics: each family once (its HELP and TYPE), every sample with an `app` label.
 * `texts` are each app's own /metrics, in Prometheus' text format.
 */
export function mergeMetrics(texts: readonly (readonly [app: string, text: string])[]): string {
  const families = new Map<string, { meta: string[]; samples: string[] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { meta: [], samples: [] }));
    return f;
  };
  for (const [app, text] of texts) {
    let current: string | undefined;
    const label = `app="${app.replace(/[\\"]/g, '\\$&')}"`;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        current = meta[2]!;
        const f = family(current);
        if (!f.meta.some((m) => m.startsWith(`# ${meta[1]} `))) f.meta.push(line);
        continue;
      }
      if (line.startsWith('#')) continue;
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
      if (!name) continue;
      const owner = current && name.startsWith(current) ? current : name;
      const rest = line.slice(name.length);
      family(owner).samples.push(
        rest.startsWith('{')
          ? `${name}{${label}${rest.startsWith('{}') ? rest.slice(1) : `,${rest.slice(1)}`}`
          : `${name}{${label}}${rest}`,
      );
    }
  }
  return [...families.values()].map((f) => [...f.meta, ...f.samples].join('\n')).join('\n') + '\n';
}
