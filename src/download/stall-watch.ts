/**
 * Aborts `controller` once no byte has arrived for `ms`: `touch()` on every chunk re-arms it,
 * `stop()` ends it. `stalled` tells an abort for silence apart from the caller's own.
 */
export class StallWatch {
  stalled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly controller: AbortController,
    private readonly ms: number,
  ) {}

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort();
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
