import type { NodeSpec } from '../topology/types.js';
import type { FileEntry } from './records.js';

/** A file passes a node's `accept` filter when it has no label of that kind or the label is listed. */
export function accepts(node: NodeSpec, file: FileEntry): boolean {
  const { platforms, languages } = node.accept;
  if (platforms && file.platform !== undefined && !platforms.includes(file.platform)) return false;
  if (languages && file.language !== undefined && !languages.includes(file.language)) return false;
  return true;
}
