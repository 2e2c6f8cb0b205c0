import type { PushRefusal } from '../domain/labels.js';
import { SluiceError } from '../errors.js';

/** A status or report push refused by the subtree rule (403), with the reason it is counted under. */
export class PushRefused extends SluiceError {
  constructor(
    readonly reason: PushRefusal,
    message: string,
  ) {
    super('FORBIDDEN', message);
  }
}
