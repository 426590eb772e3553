import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIONS, envName, flagName, type OptionSpec } from '../src/config/options.js';
import { ROOT } from './helpers/hotpull.js';

describe('README stays true', () => {
  it('documents every option under the name the user types', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    const missing = (OPTIONS as readonly OptionSpec[])
      .map((o) => (o.envOnly ? envName(o.key) : o.configOnly ? `\`${o.key}\`` : `--${o.negatedFlag ? 'no-' : ''}${flagName(o.key)}`))
      .filter((name) => !readme.includes(name));
    expect(missing).toEqual([]);
  });

  it('shows the two quick-start commands and the test command', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('```sh\nnpm install\nnpm start\n```');
    expect(readme).toContain('```sh\nnpm test\n```');
    const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain('demo');
    expect(pkg.scripts.test).toContain('vitest run');
  });
});
