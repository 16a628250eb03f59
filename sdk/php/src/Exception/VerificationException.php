<?php
declare(strict_types=1);

namespace Phase\Exception;

/**
 * A receipt (or capability record) did not verify. `$check` names the check that failed, with
 * the same names as the TypeScript verifier and test/vectors/receipts.v1.json: format, key,
 * peer_id, signature, job_id, nonce, module_hash, inputs_hash, stdout_hash, stderr_hash,
 * outputs (and expired, for a capability record).
 */
final class VerificationException extends PhaseException
{
    public function __construct(public readonly string $check, public readonly string $reason)
    {
        parent::__construct("{$check} check failed: {$reason}");
    }
}
