import { deployedSha } from './code.js';
import { describeState, shortId, type ContainerInspect } from './diff.js';
import type { DockerCli } from './docker.js';
import { LABEL } from './spec.js';
import { shortSha } from '../sha.js';

export interface ManagedContainer {
  name: string;
  image: string;
  imageId: string;
  status: string;
  code?: string;
  repo?: string;
  branch?: string;
  /** HEAD of the code directory on this host; undefined when it is not a checkout here */
  sha?: string;
}

export function managedRow(container: ContainerInspect): Omit<ManagedContainer, 'sha'> {
  const labels = container.Config.Labels ?? {};
  return {
    name: container.Name.replace(/^\//, ''),
    image: container.Config.Image ?? shortId(container.Image),
    imageId: container.Image,
    status: describeState(container.State),
    code: labels[LABEL.code],
    repo: labels[LABEL.repo],
    branch: labels[LABEL.branch],
  };
}

/** The containers hotpull started (by label), sorted by name, each with the revision its code directory holds. */
export async function listManaged(
  docker: DockerCli,
  env: Readonly<Record<string, string | undefined>>,
): Promise<ManagedContainer[]> {
  const containers = await docker.containers(await docker.withLabel(LABEL.configHash));
  const rows = await Promise.all(
    containers.map(async (c) => {
      const row = managedRow(c);
      return { ...row, sha: row.code ? await deployedSha(row.code, env) : undefined };
    }),
  );
  return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function formatTable(rows: readonly ManagedContainer[]): string {
  if (rows.length === 0) return `no containers managed by hotpull (none has the ${LABEL.configHash} label)\n`;
  const table = [
    ['NAME', 'IMAGE', 'STATUS', 'SHA', 'BRANCH', 'CODE'],
    ...rows.map((r) => [r.name, r.image, r.status, shortSha(r.sha) ?? '-', r.branch ?? '-', r.code ?? '-']),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return (
    table
      .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
      .join('\n') + '\n'
  );
}
