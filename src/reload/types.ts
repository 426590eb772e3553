/** What a reload strategy is told about the deploy it is reloading for. */
export interface ReloadContext {
  readonly sha: string;
  readonly previousSha: string;
  /** a stop (SIGTERM): a reload that runs a program ends it, with its whole process group */
  readonly signal?: AbortSignal;
  /** told the pid of a program the reload runs, so a restart after a crash can end it */
  readonly onStart?: (pid: number) => void | Promise<void>;
  /** a reload that runs a program: heartbeat lines while it runs, its last output lines when it fails */
  readonly progress?: (line: string) => void;
}

/** A way to make the app server pick up new code (touch file, uWSGI FIFO, signal, command). */
export interface Reloader {
  readonly name: string;
  /** safe to send twice (touch, FIFO, signal); a command such as `supervisorctl restart` is not */
  readonly repeatable: boolean;
  reload(context: ReloadContext): Promise<void>;
}
