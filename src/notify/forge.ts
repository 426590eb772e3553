/**
 * A link to a commit on the forge that hosts the remote, when it is one we know the URL shape of: pure. Only the
 * host and the repository path are kept, never the userinfo (the remote may carry a token).
 */
const FORGES: Record<string, (repo: string, sha: string) => string> = {
  'github.com': (repo, sha) => `https://github.com/${repo}/commit/${sha}`,
  'gitlab.com': (repo, sha) => `https://gitlab.com/${repo}/-/commit/${sha}`,
  'bitbucket.org': (repo, sha) => `https://bitbucket.org/${repo}/commits/${sha}`,
  'codeberg.org': (repo, sha) => `https://codeberg.org/${repo}/commit/${sha}`,
};

/** `git@github.com:acme/app.git`, `ssh://git@github.com/acme/app`, `https://tok@github.com/acme/app.git` → host and path. */
function hostAndPath(remote: string): { host: string; path: string } | undefined {
  const scheme = /^(?:https?|ssh|git\+ssh):\/\/(?:[^@/]*@)?([^/:]+)(?::\d+)?\/(.+)$/i.exec(remote);
  if (scheme) return { host: scheme[1]!.toLowerCase(), path: scheme[2]! };
  const scp = /^(?:[^@/:]+@)?([^/:]+):(?!\/)(.+)$/.exec(remote);
  if (scp) return { host: scp[1]!.toLowerCase(), path: scp[2]! };
  return undefined;
}

export function commitUrl(remote: string, sha: string | undefined): string | undefined {
  if (!sha || !/^[0-9a-f]{7,64}$/i.test(sha)) return undefined;
  const parts = hostAndPath(remote.trim());
  if (!parts) return undefined;
  const link = FORGES[parts.host.replace(/^www\./, '')];
  const repo = parts.path.replace(/\/+$/, '').replace(/\.git$/, '');
  // owner/name (GitLab: group/subgroup/name); anything odd in it is not linked
  if (!link || !/^[\w.-]+(\/[\w.-]+)+$/.test(repo)) return undefined;
  return link(repo, sha);
}
