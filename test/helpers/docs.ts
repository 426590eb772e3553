import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ROOT } from './hotpull.js';

/** The user-facing documentation: README.md, then docs/*.md in name order (docs/ may not exist yet). */
export async function docFiles(): Promise<string[]> {
  const names = await fs.readdir(path.join(ROOT, 'docs')).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return [
    path.join(ROOT, 'README.md'),
    ...names
      .filter((name) => name.endsWith('.md'))
      .sort()
      .map((name) => path.join(ROOT, 'docs', name)),
  ];
}

/** README.md and docs/*.md as one text, a file after the other (what the options, examples and recipes are looked for in). */
export async function readDocs(): Promise<string> {
  const texts = await Promise.all((await docFiles()).map((file) => fs.readFile(file, 'utf8')));
  return texts.join('\n');
}
