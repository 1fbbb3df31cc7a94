import { LTMError } from '@ltm/core';

interface Waiter<C> {
  resolve(connection: C): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

export interface PoolStats {
  /** Most connections open at once. */
  size: number;
  open: number;
  inUse: number;
  waiting: number;
}

/**
 * A bounded pool: connections are opened lazily up to `size` and reused; callers beyond that wait in
 * FIFO order up to `acquireTimeoutMs`. `close()` fails waiters, lets borrowed connections come back,
 * then disposes of every connection.
 */
export class ConnectionPool<C> {
  private readonly idle: C[] = [];
  private readonly waiters: Waiter<C>[] = [];
  private open = 0;
  private inUse = 0;
  private closed = false;
  private drained: (() => void) | undefined;

  constructor(
    private readonly size: number,
    private readonly acquireTimeoutMs: number,
    private readonly create: () => Promise<C>,
    private readonly dispose: (connection: C) => void,
    private readonly closedError: () => LTMError,
  ) {}

  async acquire(): Promise<C> {
    if (this.closed) throw this.closedError();
    const idle = this.idle.pop();
    if (idle !== undefined) {
      this.inUse++;
      return idle;
    }
    if (this.open < this.size) {
      this.open++;
      this.inUse++;
      try {
        return await this.create();
      } catch (error) {
        this.open--;
        this.inUse--;
        this.handSlotToWaiter();
        this.settle();
        throw error;
      }
    }
    return new Promise<C>((resolve, reject) => {
      const waiter: Waiter<C> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(
            new LTMError(
              'connection_timeout',
              `no DuckDB connection became free within ${this.acquireTimeoutMs}ms (pool size ${this.size}, ` +
                `${this.waiters.length + 1} waiting): raise poolSize or acquireTimeoutMs, or look for a call that never finishes`,
            ),
          );
        }, this.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  release(connection: C): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      waiter.resolve(connection);
      return;
    }
    this.inUse--;
    if (this.closed) {
      this.open--;
      this.dispose(connection);
      this.settle();
    } else {
      // Last in, first out: the most recently used connection has the warmest statement cache.
      this.idle.push(connection);
    }
  }

  /** Stops lending, fails waiters, and resolves once every borrowed connection is back and disposed. */
  close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.closedError());
    }
    for (const connection of this.idle.splice(0)) {
      this.open--;
      this.dispose(connection);
    }
    return new Promise<void>((resolve) => {
      this.drained = resolve;
      this.settle();
    });
  }

  stats(): PoolStats {
    return { size: this.size, open: this.open, inUse: this.inUse, waiting: this.waiters.length };
  }

  /** A failed open frees a slot that nobody will release: let the first waiter try to open one. */
  private handSlotToWaiter(): void {
    const waiter = this.waiters.shift();
    if (waiter === undefined) return;
    clearTimeout(waiter.timer);
    this.open++;
    this.inUse++;
    this.create().then(waiter.resolve, (error: unknown) => {
      this.open--;
      this.inUse--;
      waiter.reject(error);
      this.handSlotToWaiter();
      this.settle();
    });
  }

  private settle(): void {
    if (this.closed && this.inUse === 0 && this.drained !== undefined) {
      this.drained();
      this.drained = undefined;
    }
  }
}
