import { processStartTime } from '../../proc/procfs.js';
import { Journal, type JournalEntry, type JournalStage } from '../journal.js';

type Entry = Omit<JournalEntry, 'at'>;

/**
 * The pass's place in the deploy, written down before each step a crash or a stop could interrupt (journal.ts says
 * what each step means). One entry, in memory and on disk; writes are serialized so a late one never overtakes a
 * newer one, and a command's pid is added to the entry it runs under.
 */
export class Cursor {
  private journal?: Journal;
  private current?: Entry;
  private writes: Promise<unknown> = Promise.resolve();
  /** read from disk at start and still owed: finished first at the next pass, before anything else */
  interrupted = false;

  get entry(): Readonly<Entry> | undefined {
    return this.current;
  }

  /** An apply that neither finished nor was undone (a full disk refused both): settled before the next pass. */
  get unsettled(): boolean {
    return this.current?.stage === 'apply';
  }

  /** The deploy on disk at `local` that has not reached a verdict (its hooks, reload or verification are owed). */
  owed(local: string | undefined): Readonly<Entry & { stage: 'hooks' | 'reload' }> | undefined {
    const entry = this.current;
    return entry && entry.stage !== 'apply' && entry.to === local ? (entry as Entry & { stage: 'hooks' }) : undefined;
  }

  /** What the last process left in `file`, read once at start. */
  async open(file: string): Promise<void> {
    this.journal = new Journal(file);
    this.interrupted = false;
    this.current = await this.journal.read();
  }

  /** Enters `stage` of the deploy `d`; `durable` fsyncs before a step that touches the tree. */
  enter(
    d: Pick<Entry, 'from' | 'to' | 'trigger' | 'rollback' | 'hooksDone'>,
    stage: JournalStage,
    extra: Partial<Entry> = {},
    durable = false,
  ): Promise<void> {
    const rollback = d.rollback ? { rollback: true } : {};
    const hooksDone = stage === 'hooks' && d.hooksDone ? { hooksDone: d.hooksDone } : {};
    return this.write(
      { from: d.from, to: d.to, stage, trigger: d.trigger, ...rollback, ...hooksDone, ...extra },
      durable,
    );
  }

  /**
   * Replaces the entry (undefined: the deploy reached a verdict). The memory holds where the deploy is, even when the
   * disk refuses the write (a full disk); but an `apply` entry is written before its step, so when it cannot be
   * written the step never happens and the memory goes back to where it was.
   */
  write(entry: Entry | undefined, durable = false): Promise<void> {
    const journal = this.journal!;
    const previous = this.current;
    this.current = entry;
    const write = this.writes
      .then(() => (entry ? journal.write(entry, durable) : journal.clear()))
      .catch((error: unknown) => {
        if (entry?.stage === 'apply' && this.current === entry) this.current = previous;
        throw error;
      });
    this.writes = write.catch(() => undefined);
    return write;
  }

  clear(): Promise<void> {
    return this.write(undefined);
  }

  /** A run hook finished: a restart after a crash does not run it again (unwritten, a full disk: it runs again then). */
  hookDone(command: string, to: string): Promise<void> {
    const entry = this.current;
    if (entry?.stage !== 'hooks' || entry.to !== to) return Promise.resolve();
    return this.write({ ...entry, hooksDone: [...(entry.hooksDone ?? []), command] }).catch(() => undefined);
  }

  /**
   * A hook or command reload started: written down so a start after a crash can end what it left running. The command
   * waits for this before it starts (runShell's gate); when the write fails (a full disk), it does not start and the
   * deploy fails with the reason, as when a stage cannot be written down.
   */
  readonly onChild = (pid: number): Promise<void> => {
    const entry = this.current;
    if (!entry) return Promise.resolve();
    const journal = this.journal!;
    const write = this.writes
      .then(() => processStartTime(pid))
      // only if no newer entry was written meanwhile (the command may have finished already)
      .then((start) => (this.current === entry ? journal.write({ ...entry, child: { pid, start } }) : undefined));
    this.writes = write.catch(() => undefined);
    return write;
  };
}
