import path from 'node:path';
import type { ReloadSpec } from './spec.js';
import type { Reloader } from './types.js';
import { TouchReloader } from './touch.js';
import { FifoReloader } from './fifo.js';
import { SignalReloader } from './signal.js';
import { CommandReloader } from './command.js';

export interface ReloaderContext {
  /** relative paths resolve against the checkout */
  dir: string;
  commandTimeoutMs: number;
  env: Readonly<Record<string, string | undefined>>;
}

export function createReloaders(specs: readonly ReloadSpec[], context: ReloaderContext): Reloader[] {
  return specs.flatMap((spec): Reloader[] => {
    switch (spec.kind) {
      case 'touch':
        return [new TouchReloader(path.resolve(context.dir, spec.file), Date.now, context.dir)];
      case 'uwsgi-fifo':
        return [new FifoReloader(path.resolve(context.dir, spec.fifo), spec.command)];
      case 'signal':
        return [new SignalReloader(path.resolve(context.dir, spec.pidfile), spec.signal)];
      case 'command':
        return [new CommandReloader(spec.command, context.dir, context.commandTimeoutMs, context.env)];
      case 'none':
        return [];
    }
  });
}
