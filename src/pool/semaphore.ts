// A counting semaphore: MAX_CONCURRENT_TASKS across all container queues, granted in FIFO order.
export class Semaphore {
  private readonly waiting: Array<() => void> = [];
  private used = 0;

  constructor(private readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  async acquire(): Promise<() => void> {
    if (this.used < this.limit) {
      this.used++;
    } else {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next(); // The slot passes straight to the next waiter.
      else this.used--;
    };
  }
}
