/**
 * Every hotpull config in examples/ passes hotpull's own validation. (examples/django-uwsgi and examples/gunicorn
 * run under a real supervisord in test/e2e/supervisor.test.ts; examples/kubernetes is checked by
 * test/k8s-manifests.test.ts.) examples/docker-fleet needs a Docker host: its `hotpull …` command lines are read
 * with hotpull's own parser instead, without running them.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { defaultLoadersSync } from 'cosmiconfig';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { readCommandLine } from '../src/cli.js';
import { parsePeerSource } from '../src/fleet/peers.js';
import { EXAMPLES_DIR } from './helpers/examples.js';
import { tmpDir } from './helpers/git.js';

type Doc = Record<string, any>;

async function manifests(file: string): Promise<Doc[]> {
  const text = await fs.readFile(path.join(EXAMPLES_DIR, file), 'utf8');
  return text
    .split(/^---$/m)
    .filter((part) => part.replace(/#.*$/gm, '').trim() !== '')
    .map((part) => defaultLoadersSync['.yaml']!(file, part) as Doc);
}

async function validHotpullConfig(text: string): Promise<void> {
  const dir = await tmpDir('hotpull-example-config-');
  try {
    const file = path.join(dir, 'hotpull.config.yaml');
    await fs.writeFile(file, text);
    const config = await loadConfig({ flags: { config: file }, env: {}, cwd: dir, isTTY: false });
    expect(config.healthExpect).toBe('{short_sha}');
    expect(config.reload.length).toBeGreaterThan(0);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('the hotpull configs of the Supervisor examples', () => {
  it.each(['django-uwsgi', 'gunicorn'])('examples/%s/hotpull.config.yaml is valid', async (name) => {
    await validHotpullConfig(await fs.readFile(path.join(EXAMPLES_DIR, name, 'hotpull.config.yaml'), 'utf8'));
  });
});

// --- examples/docker-fleet: the command lines of fleet.sh -----------------------------------------------------

const FLEET_SH = path.join(EXAMPLES_DIR, 'docker-fleet/fleet.sh');
/** What fleet.sh's variables stand for here; the words are split as sh would split them (no spaces inside). */
const SHELL_VALUES: Record<string, string> = {
  '"$IMAGE"': 'hotpull-runtime',
  '"$(id -u):$(id -g)"': '1000:1000',
  '"$@"': '',
};

/** The `hotpull …` lines of a shell script, continuations joined, as argv (without the leading `hotpull`). */
function hotpullLines(script: string, dir: string): string[][] {
  return script
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .flatMap((line) => /^\s*hotpull (.*)$/.exec(line)?.[1] ?? [])
    .map((line) => {
      let text = line;
      for (const [from, to] of Object.entries(SHELL_VALUES)) text = text.split(from).join(to);
      // "$DIR/…" words: DIR is the temp dir, the quotes go (no word has a space)
      text = text.replace(/"([^"\s]*)"/g, (_, word: string) => word.split('$DIR').join(dir));
      expect(text, 'a word fleet.sh would expand that the test does not know').not.toMatch(/["'$`\\]/);
      return text.split(/\s+/).filter(Boolean);
    });
}

/** The values of a docker run option in docker run arguments (`--label A=B` → ['A=B']). */
const dockerValues = (args: readonly string[], name: string) =>
  args.flatMap((word, i) => (word === name ? [args[i + 1]!] : []));

describe('examples/docker-fleet/fleet.sh: its hotpull command lines as hotpull reads them', () => {
  it("three host up lines and the fleet lines parse; the containers' HOTPULL_* variables are valid for hotpull run; labels and --after agree", async () => {
    const dir = await tmpDir('hotpull-example-fleet-');
    try {
      const lines = hotpullLines(await fs.readFile(FLEET_SH, 'utf8'), dir);
      const read = await Promise.all(lines.map((argv) => readCommandLine(argv, {}, dir)));
      const ups = read.filter((r) => r.name === 'host' && r.args[0] === 'up');
      const fleets = read.filter((r) => r.name === 'fleet');
      expect(ups.map((u) => u.config.name)).toEqual(['fleet-canary', 'fleet-web-1', 'fleet-web-2']);
      expect(fleets.length).toBeGreaterThan(0);
      expect(read).toHaveLength(ups.length + fleets.length);

      const replicas = await Promise.all(
        ups.map(async (up) => {
          // what the container's `hotpull run --repo /app` (the image's supervisord.conf) reads from -e
          const env = Object.fromEntries(
            (up.config.env as string[]).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
          );
          const run = await readCommandLine(['run', '--repo', '/app'], env, dir);
          const labels = dockerValues(up.passthrough, '--label');
          return { name: up.config.name, run: run.config, labels, args: up.passthrough };
        }),
      );
      for (const r of replicas) {
        expect(dockerValues(r.args, '--network'), r.name).toEqual(['host']);
        // the listen label is the port the container's hotpull listens on, on this host's loopback
        expect(r.labels, r.name).toContain(`hotpull.listen=${r.run.listen!.port}`);
        expect(r.run.listen!.host, r.name).toBe('127.0.0.1');
        expect(r.run.healthExpect, r.name).toBe('{short_sha}');
      }
      const [canary, ...followers] = replicas;
      expect(canary!.run.after).toBeUndefined();
      for (const f of followers) {
        expect(f.run.after, f.name).toBe(`http://127.0.0.1:${canary!.run.listen!.port}`);
        expect(f.run.afterBake, f.name).toBeGreaterThan(0);
      }
      // each fleet line finds exactly these containers: the label it asks for is on all three
      for (const fleet of fleets) {
        const sources = (fleet.config.peers as string[]).map(parsePeerSource);
        expect(sources).toHaveLength(1);
        const source = sources[0] as { kind: string; label: string; value?: string };
        expect(source.kind).toBe('docker');
        for (const r of replicas) expect(r.labels, r.name).toContain(`${source.label}=${source.value}`);
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('the reading itself refuses what hotpull would: a misspelt flag, a flag of another command, a bad value', async () => {
    const dir = await tmpDir('hotpull-example-fleet-');
    try {
      const [up] = hotpullLines(await fs.readFile(FLEET_SH, 'utf8'), dir);
      const with_ = (from: string, to: string) => up!.map((w) => (w === from ? to : w));
      await expect(readCommandLine(with_('--health-url', '--healthurl'), {}, dir)).rejects.toThrow(
        /unknown option --healthurl/,
      );
      await expect(readCommandLine(with_('--health-url', '--after'), {}, dir)).rejects.toThrow(
        /--after is not used by host up/,
      );
      await expect(
        readCommandLine(['fleet', '--peers', 'docker:hotpull.fleet=demo', '--drift-after', 'soon'], {}, dir),
      ).rejects.toThrow(/--drift-after must be a duration/);
      await expect(
        readCommandLine(['run', '--repo', '/app'], { HOTPULL_AFTER: 'ftp://127.0.0.1:9301' }, dir),
      ).rejects.toThrow(/^HOTPULL_AFTER must be an http:\/\/ or https:\/\/ URL/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
