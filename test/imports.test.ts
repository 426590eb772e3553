import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The import graph of src/, read from the sources (no build): no cycle between files, no import from a lower
// layer to a higher one. The layers are those of reviews/2026-12-07-the-deploy-pass.md §2: a folder of src/ (or a
// root file) is a module; a module may import its own files and the modules below it, never one above.

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Lowest first. A module may import modules of its own layer or below; cycles are caught file by file. */
const LAYERS: readonly (readonly string[])[] = [
  // helpers with no project imports but each other; config/names.ts is the flag and env spelling, used everywhere
  [
    'builtins',
    'cgroup',
    'config/names',
    'duration',
    'early',
    'errors',
    'glob',
    'lazy-crypto',
    'log',
    'redact',
    'sha',
    'suggest',
    'version',
  ],
  ['proc'], // running commands and finding them again after a crash
  ['git', 'reload', 'traffic'], // traffic/: sources and verdicts on a deploy's traffic, adapters on node: only
  ['config', 'watch'],
  // child-env withholds every option's variable from a child, so it reads the options table: above config/
  ['net', 'proc/child-env'],
  ['deploy'],
  ['sync', 'host', 'supervisor', 'demo'],
  // fleet/ asks the listeners of other replicas (net/), reads their status shape (sync/) and docker's (host/)
  ['http', 'fleet'],
  ['notify'],
  ['commands'],
  ['cli', 'bin'],
];

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** file (relative to src/, e.g. `sync/engine.ts`) → the src files it imports, relative too. */
function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    const rel = path.relative(root, file);
    const targets = [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) =>
      path.relative(root, path.join(path.dirname(file), m[1] ?? m[2]!)).replace(/\.js$/, '.ts'),
    );
    graph.set(rel, [...new Set(targets)]);
  }
  return graph;
}

/** Each strongly connected set of more than one file (or a file importing itself), as a path that closes. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)!.includes(v)) found.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The module a file belongs to: its first folder, a root file's own name, or a file named in LAYERS. */
function moduleOf(file: string): string {
  const bare = file.replace(/\.ts$/, '');
  if (LAYERS.some((layer) => layer.includes(bare))) return bare;
  return bare.split('/')[0]!;
}

function layerOf(module: string): number {
  const at = LAYERS.findIndex((layer) => layer.includes(module));
  if (at < 0) throw new Error(`src module ${module} has no layer in test/imports.test.ts: add it to LAYERS`);
  return at;
}

/** Every import that points from a module to one on a higher layer, as `from -> to`. */
function upward(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const wrong: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      if (layerOf(moduleOf(file)) < layerOf(moduleOf(target))) wrong.push(`${file} -> ${target}`);
    }
  }
  return wrong;
}

describe('import graph of src/', () => {
  const graph = importGraph(SRC);

  it('reads the imports it checks (multi-line, type-only, re-exports, dynamic)', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('cli.ts')).toContain('errors.ts');
    expect(graph.get('bin.ts')).toEqual(expect.arrayContaining(['early.ts', 'cli.ts']));
    const edges = [...graph.values()].reduce((n, t) => n + t.length, 0);
    expect(edges).toBeGreaterThan(300);
  });

  it('finds a cycle and an upward import when there is one', () => {
    const bad = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['config/load.ts', ['sync/engine.ts']],
      ['sync/engine.ts', []],
    ]);
    expect(cycles(bad)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(() => upward(new Map([['nowhere/x.ts', ['errors.ts']]]))).toThrow(/nowhere has no layer/);
    expect(upward(new Map([...bad].filter(([f]) => f.includes('/'))))).toEqual(['config/load.ts -> sync/engine.ts']);
  });

  it('has no cycle between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('has no import from a lower layer to a higher one', () => {
    expect(upward(graph)).toEqual([]);
  });

  it('keeps the rules the layers stand for', () => {
    const into = (from: (f: string) => boolean, to: string) =>
      [...graph].flatMap(([f, ts]) => (from(f) ? ts.filter((t) => t.startsWith(to)).map((t) => `${f} -> ${t}`) : []));
    expect(into((f) => !f.startsWith('commands/') && f !== 'cli.ts' && f !== 'bin.ts', 'commands/')).toEqual([]);
    for (const higher of ['sync/', 'deploy/', 'http/', 'commands/']) {
      expect(into((f) => f.startsWith('config/'), higher)).toEqual([]);
    }
    expect(into((f) => f.startsWith('proc/'), 'sync/')).toEqual([]);
  });
});
