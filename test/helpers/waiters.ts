// Condition waiting for the raw-socket test clients: a waiter is checked whenever the socket
// reports news, and fails with a description of what did arrive once its deadline passes.
export class Waiters {
  private readonly pending = new Set<() => void>();

  /** Re-checks every waiter (call on each message, close or error). */
  notify(): void {
    for (const w of [...this.pending]) w();
  }

  /** Resolves once `pred` holds; rejects after the deadline naming `what` and `state()`. */
  waitFor(pred: () => boolean, what: string, state: () => string, timeoutMs = 5000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        this.pending.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.pending.delete(check);
        reject(new Error(`timed out waiting for ${what}; ${state()}`));
      }, timeoutMs);
      this.pending.add(check);
    });
  }
}
