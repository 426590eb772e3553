/** Shutdown must finish well inside Supervisor's default stopwaitsecs (10 s), even with a command: reload running. */
export const STOP_DEADLINE_MS = 8000;

/** Waits for `stopping` up to the stop deadline: true when it finished, false when the deadline came first. */
export async function stoppedInTime(stopping: Promise<unknown>, deadlineMs = STOP_DEADLINE_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), deadlineMs).unref();
  });
  try {
    return await Promise.race([stopping.then(() => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
