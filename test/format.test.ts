/** The tree stays formatted (prettier, .prettierrc.json): `npm run format` fixes what this finds. */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/hotpull.js';

describe('formatting', () => {
  it('src, test and bench are as prettier writes them', { timeout: 120_000 }, async () => {
    const result = await execa('npm', ['run', '--silent', 'format:check'], { cwd: ROOT, reject: false, all: true });
    expect(result.exitCode, result.all).toBe(0);
  });
});
