/** What a reload strategy is told about the deploy it is reloading for. */
export interface ReloadContext {
  readonly sha: string;
  readonly previousSha: string;
}

/** A way to make the app server pick up new code (touch file, uWSGI FIFO, signal, command). */
export interface Reloader {
  readonly name: string;
  /** safe to send twice (touch, FIFO, signal); a command such as `supervisorctl restart` is not */
  readonly repeatable: boolean;
  reload(context: ReloadContext): Promise<void>;
}
