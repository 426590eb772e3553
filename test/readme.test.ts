import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIONS, type OptionSpec } from '../src/config/options.js';
import { envName, flagName } from '../src/config/names.js';
import { ROOT, runCli } from './helpers/hotpull.js';
import { loadConfig } from '../src/config/load.js';
import { tmpDir } from './helpers/git.js';
import { docFiles, readDocs } from './helpers/docs.js';

describe('README and docs/ stay true', () => {
  it('documents every option under the name the user types (README.md + docs/*.md)', async () => {
    const readme = await readDocs();
    const missing = (OPTIONS as readonly OptionSpec[])
      .map((o) =>
        o.envOnly
          ? envName(o.key)
          : o.configOnly
            ? `\`${o.key}\``
            : `--${o.negatedFlag ? 'no-' : ''}${flagName(o.key)}`,
      )
      .filter((name) => !readme.includes(name));
    expect(missing).toEqual([]);
  });

  it('shows the two quick-start commands and the test command', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('```sh\nnpm install\nnpm start\n```');
    expect(readme).toContain('```sh\nnpm test\n```');
    const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toContain('demo');
    expect(pkg.scripts.test).toContain('vitest run');
  });

  it('every YAML config in README.md and docs/*.md loads without a config error', async () => {
    const readme = await readDocs();
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const dir = await tmpDir();
      await fs.writeFile(path.join(dir, 'hotpull.config.yaml'), block);
      const config = await loadConfig({ flags: {}, env: {}, cwd: dir, isTTY: false });
      expect(config.configFile).toBe(path.join(dir, 'hotpull.config.yaml'));
      await fs.rm(dir, { recursive: true });
    }
  });

  it('the [program:hotpull] shown is what supervisor-config prints', async () => {
    const readme = await readDocs();
    const shown = /```ini\n(\[program:hotpull\]\ncommand=hotpull run --repo \/app --interval 2s\n[\s\S]*?)```/.exec(
      readme,
    )?.[1];
    expect(shown).toBeDefined();
    const printed = await runCli(['supervisor-config', '--repo', '/app', '--interval', '2s']);
    expect(printed.exitCode).toBe(0);
    const withoutComments = printed.stdout
      .split('\n')
      .filter((line) => line.trim() !== '' && !/^;\s/.test(line) && !/^; /.test(line) && line !== ';')
      .join('\n');
    for (const line of shown!.trim().split('\n')) expect(withoutComments).toContain(line);
  });

  it('README.md is at most 450 lines: the rest is in docs/', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme.split('\n').length - 1).toBeLessThanOrEqual(450);
  });

  it('every relative link in README.md and docs/*.md names a file, and a heading of it, that exist', async () => {
    const broken: string[] = [];
    for (const file of await docFiles()) {
      const text = await fs.readFile(file, 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [linked, anchor] = target!.split('#') as [string, string | undefined];
        const into = linked === '' ? file : path.resolve(path.dirname(file), linked);
        const exists = await fs.stat(into).then(
          () => true,
          () => false,
        );
        if (!exists) broken.push(`${path.relative(ROOT, file)}: ${target} (no such file)`);
        else if (anchor && into.endsWith('.md') && !headingAnchors(await fs.readFile(into, 'utf8')).has(anchor))
          broken.push(`${path.relative(ROOT, file)}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

/** The anchors GitHub gives a Markdown file's headings (code blocks left out): lower case, punctuation dropped, - for spaces. */
function headingAnchors(markdown: string): Set<string> {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return new Set(
    [...prose.matchAll(/^#+ (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}_\- ]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}
