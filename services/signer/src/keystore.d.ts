import { PhaseError } from '@phase-network/protocol';
import type { Logger } from '@phase-network/process';
export declare class KeyStoreError extends PhaseError {
    constructor(message: string);
}
export interface LoadedKey {
    seed: Uint8Array;
    /** The public key recorded in the file (checked by the caller against the derived one). */
    publicKey: string;
    created: boolean;
}
/** Loads the key at `path`, creating it when the file does not exist. */
export declare function loadOrCreateKey(path: string, components: {
    logger: Logger;
}): Promise<LoadedKey>;
