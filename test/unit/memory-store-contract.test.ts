import { blobStoreContract } from '../contract/blob-store-contract.js';
import { memoryUnderTest } from '../helpers/memory-store.js';

/** The in-memory store module tests use keeps the same promises as the file-system store. */
blobStoreContract('MemoryBlobStore (module tests)', async () => memoryUnderTest());
