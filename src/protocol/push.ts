import type { PushRefusal } from '../domain/labels.js';
import { SluiceError } from '../errors.js';

/**
 * A status or report push refused, with the reason it is counted under: by the subtree rule
 * (403 FORBIDDEN), or for an entry of the wrong shape or size (400 PUSH_INVALID).
 */
export class PushRefused extends SluiceError {
  constructor(
    readonly reason: PushRefusal,
    message: string,
  ) {
    super(reason === 'invalid_entry' || reason === 'entry_too_large' ? 'PUSH_INVALID' : 'FORBIDDEN', message);
  }
}
