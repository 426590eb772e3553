import { shortSha } from '../sha.js';

/**
 * What --ref follows, and which remote ref and sha a poll's ls-remote answer points it at. Pure: the git calls
 * live in git/repo.ts, the engine wires them.
 * - branch: refs/heads/NAME (what --branch has always done)
 * - tag: refs/tags/NAME, pinned; a tag moved on the remote is handled like a force-pushed branch
 * - sha: a full commit id, pinned; it cannot move, so it is never asked for again (fetched once)
 * - pattern: the highest semver among the tags matching a glob (`v*`)
 * - name: a bare NAME, the branch when the remote has one, else the tag
 */
export type RefSpec =
  | { kind: 'branch'; name: string }
  | { kind: 'tag'; name: string }
  | { kind: 'sha'; sha: string }
  | { kind: 'pattern'; glob: string }
  | { kind: 'name'; name: string };

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** git check-ref-format's rules, the ones a typo trips over (globs are checked apart) */
const BAD_NAME = /[\s~^:\\]|\.\.|@\{|\/\/|^\/|\/$|\.lock$|^-|^\.|\/\./;

/** --ref's text → what to follow, or why it cannot be followed (one sentence, for a config error). */
export function parseRef(text: string): RefSpec | { error: string } {
  if (FULL_SHA.test(text)) return { kind: 'sha', sha: text };
  let kind: 'branch' | 'tag' | 'name' = 'name';
  let name = text;
  if (text.startsWith('refs/heads/')) [kind, name] = ['branch', text.slice('refs/heads/'.length)];
  else if (text.startsWith('refs/tags/')) [kind, name] = ['tag', text.slice('refs/tags/'.length)];
  else if (text.startsWith('refs/'))
    return { error: 'must be a branch, refs/heads/NAME, refs/tags/NAME, a tag pattern or a full sha' };
  if (name === '' || BAD_NAME.test(name))
    return { error: 'must be a valid branch or tag name, a tag pattern (v*) or a full 40-hex sha' };
  if (/[*?]/.test(name)) {
    if (kind === 'branch') return { error: 'a pattern follows tags, not branches (use refs/tags/PATTERN or PATTERN)' };
    return { kind: 'pattern', glob: name };
  }
  if (name.includes('[')) return { error: 'patterns take * and ? only' };
  return kind === 'name'
    ? { kind: 'name', name }
    : kind === 'branch'
      ? { kind: 'branch', name }
      : { kind: 'tag', name };
}

/** How a spec reads in logs and status. */
export function describeRef(spec: RefSpec): string {
  switch (spec.kind) {
    case 'branch':
    case 'name':
      return spec.name;
    case 'tag':
      return `tag ${spec.name}`;
    case 'sha':
      return `sha ${shortSha(spec.sha)}`;
    case 'pattern':
      return `tags ${spec.glob}`;
  }
}

/** The ls-remote pattern a poll asks for; undefined: nothing to ask (a pinned sha cannot move). */
export function lsRemotePattern(spec: RefSpec): string | undefined {
  switch (spec.kind) {
    case 'branch':
      return `refs/heads/${spec.name}`;
    case 'tag':
      return `refs/tags/${spec.name}`;
    case 'pattern':
      return `refs/tags/${spec.glob}`;
    case 'name':
      return spec.name;
    case 'sha':
      return undefined;
  }
}

export interface Resolved {
  /** the commit to deploy (a tag's peeled commit) */
  sha: string;
  /** the full remote ref to fetch, e.g. refs/tags/v1.10.0; undefined for a pinned sha */
  ref?: string;
  /** tags the pattern matched that are not semver, for a debug line */
  ignored?: string[];
}

interface Version {
  core: [number, number, number];
  pre: string[];
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** A tag's version: the text after the pattern's literal prefix, with an optional leading v; undefined if not semver. */
export function tagVersion(tag: string, glob = '*'): Version | undefined {
  const prefix = glob.slice(0, glob.search(/[*?]|$/));
  let text = tag.startsWith(prefix) ? tag.slice(prefix.length) : tag;
  if (/^v\d/.test(text)) text = text.slice(1);
  const m = SEMVER.exec(text);
  if (!m) return undefined;
  const core = [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number];
  if (!core.every(Number.isSafeInteger)) return undefined;
  return { core, pre: m[4] ? m[4].split('.') : [] };
}

/** Semver 2.0 precedence: numbers by value, a pre-release below its release, identifiers as §11 says. */
export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i += 1) if (a.core[i] !== b.core[i]) return a.core[i]! - b.core[i]!;
  if (a.pre.length === 0 || b.pre.length === 0) return (a.pre.length === 0 ? 1 : 0) - (b.pre.length === 0 ? 1 : 0);
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i += 1) {
    const [x, y] = [a.pre[i]!, b.pre[i]!];
    if (x === y) continue;
    const [nx, ny] = [/^\d+$/.test(x), /^\d+$/.test(y)];
    if (nx && ny) return Number(x) - Number(y);
    if (nx !== ny) return nx ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.pre.length - b.pre.length;
}

function globRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/** Whether a pushed ref (a webhook's `ref`) can move what the spec follows; a pinned sha never moves. */
export function refMoves(spec: RefSpec, ref: string): boolean {
  switch (spec.kind) {
    case 'branch':
      return ref === `refs/heads/${spec.name}`;
    case 'tag':
      return ref === `refs/tags/${spec.name}`;
    case 'name':
      return ref === `refs/heads/${spec.name}` || ref === `refs/tags/${spec.name}`;
    case 'pattern':
      return ref.startsWith('refs/tags/') && globRegExp(spec.glob).test(ref.slice('refs/tags/'.length));
    case 'sha':
      return false;
  }
}

/** ls-remote lines → ref → commit sha; an annotated tag's peeled line (`^{}`) wins over the tag object's sha. */
export function parseLsRemote(output: string): Map<string, string> {
  const refs = new Map<string, string>();
  const peeled = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [sha, ref] = line.trim().split('\t');
    if (!sha || !ref || !FULL_SHA.test(sha)) continue;
    if (ref.endsWith('^{}')) peeled.set(ref.slice(0, -3), sha);
    else refs.set(ref, sha);
  }
  for (const [ref, sha] of peeled) if (refs.has(ref)) refs.set(ref, sha);
  return refs;
}

/**
 * Which ref and commit a spec points at, given the remote's refs. One pass over them, keeping the best so far: a
 * pattern that matches thousands of tags costs a scan, not a sort. Ties (v1.0.0 and 1.0.0, or build metadata)
 * go to the greater name, so the answer does not depend on the remote's order.
 */
export function resolveRef(spec: RefSpec, refs: ReadonlyMap<string, string>): Resolved | undefined {
  const exact = (ref: string) => (refs.has(ref) ? { sha: refs.get(ref)!, ref } : undefined);
  switch (spec.kind) {
    case 'sha':
      return { sha: spec.sha };
    case 'branch':
      return exact(`refs/heads/${spec.name}`);
    case 'tag':
      return exact(`refs/tags/${spec.name}`);
    case 'name':
      return exact(`refs/heads/${spec.name}`) ?? exact(`refs/tags/${spec.name}`);
    case 'pattern': {
      const match = globRegExp(spec.glob);
      const ignored: string[] = [];
      let best: { tag: string; version: Version; sha: string } | undefined;
      for (const [ref, sha] of refs) {
        if (!ref.startsWith('refs/tags/')) continue;
        const tag = ref.slice('refs/tags/'.length);
        if (!match.test(tag)) continue;
        const version = tagVersion(tag, spec.glob);
        if (!version) {
          ignored.push(tag);
          continue;
        }
        const order = best ? compareVersions(version, best.version) || (tag > best.tag ? 1 : -1) : 1;
        if (order > 0) best = { tag, version, sha };
      }
      return best ? { sha: best.sha, ref: `refs/tags/${best.tag}`, ignored } : undefined;
    }
  }
}
