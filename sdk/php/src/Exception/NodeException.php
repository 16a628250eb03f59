<?php
declare(strict_types=1);

namespace Phase\Exception;

/**
 * The node refused the request with a typed error: `$errorCode` is the node's stable code
 * (invalid_manifest, hash_mismatch, module_not_cached, limit_exceeded, replayed_job, queue_full,
 * unavailable, unauthenticated, verification_failed, ...) and `getCode()` the HTTP status.
 */
final class NodeException extends PhaseException
{
    public function __construct(
        public readonly string $errorCode,
        string $message,
        public readonly int $httpStatus,
    ) {
        parent::__construct("{$errorCode}: {$message}", $httpStatus);
    }

    /** True for answers that a later attempt may not get (429 queue_full, 503 unavailable). */
    public function isRetryable(): bool
    {
        return $this->httpStatus === 429 || $this->httpStatus === 503;
    }
}
