import type { CommandContext } from './context.js';
export async function demoCommand(_context: CommandContext): Promise<number> {
  return 0;
}
