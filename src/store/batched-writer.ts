import type { FileHandle } from 'node:fs/promises';

/**
 * Writes a stream of chunks to a file in batches with writev (no copying), one batch in
 * flight while the next one fills, so reading, hashing and writing overlap: measured here
 * 2.3× faster than awaiting one write per 64 KiB chunk. Unwritten bytes die with the
 * process, so a batch is bounded in size and age. `written` counts bytes the file holds.
 */
export class BatchedWriter {
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batchSince = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private failure: unknown;
  /** Where the next batch goes (ahead of `written` by what is pending or in flight). */
  position: number;
  written: number;

  constructor(
    private readonly fh: FileHandle,
    start: number,
    private readonly limitBytes: number,
    private readonly maxWaitMs: number,
    /** Called after each write lands, with the bytes it wrote. */
    private readonly onWritten: (bytes: number) => void = () => {},
  ) {
    this.position = start;
    this.written = start;
  }

  /** Bytes accepted so far, written or not. */
  get accepted(): number {
    return this.position + this.batchBytes;
  }

  async push(chunk: Buffer): Promise<void> {
    if (this.batchBytes === 0) this.batchSince = Date.now();
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= this.limitBytes || Date.now() - this.batchSince >= this.maxWaitMs) await this.startBatch();
  }

  /** Writes bytes [start, end) of `chunk` now, after everything pushed before. */
  async writeNow(chunk: Buffer, start: number, end: number): Promise<void> {
    await this.flush();
    await this.fh.write(chunk, start, end - start, this.position);
    this.position += end - start;
    this.written = this.position;
    this.onWritten(end - start);
  }

  /** Everything pushed so far is in the file. */
  async flush(): Promise<void> {
    await this.startBatch();
    await this.inFlight;
    if (this.failure) throw this.failure;
  }

  private async startBatch(): Promise<void> {
    await this.inFlight;
    if (this.failure) throw this.failure;
    if (this.batchBytes === 0) return;
    const list = this.batch;
    const n = this.batchBytes;
    const at = this.position;
    this.batch = [];
    this.batchBytes = 0;
    this.position += n;
    this.inFlight = this.fh.writev(list, at).then(
      () => {
        this.written += n;
        this.onWritten(n);
      },
      (err: unknown) => {
        this.failure = err;
      },
    );
  }
}
