import { SluiceError } from '../errors.js';

/**
 * A deadline for one request, on a native timer. undici's own headersTimeout/bodyTimeout
 * above a second run on its shared 500 ms tick, which keeps running while any such request
 * is open: a node holding its 30 s catalog long-poll woke twice a second, idle, for nothing.
 * `signal` aborts at the deadline or when `parent` aborts; `expired` tells which; call
 * `answered` when the headers are in and `clear` when the answer is read.
 */
export function requestDeadline(ms: number, parent: AbortSignal | undefined, what: string) {
  const controller = new AbortController();
  let expired = false;
  const onParent = () => controller.abort(parent!.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  const arm = (after: number, phase: string) =>
    setTimeout(() => {
      expired = true;
      controller.abort(new SluiceError('UPSTREAM_UNREACHABLE', `${what}: ${phase} within ${Math.round(after / 1000)} s`));
    }, after);
  let timer = arm(ms, 'no answer');
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    /** The answer has begun: its body gets `bodyMs` from now. */
    answered(bodyMs: number) {
      clearTimeout(timer);
      timer = arm(bodyMs, 'the answer did not complete');
    },
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}
