<?php
declare(strict_types=1);

namespace Phase\Exception;

/**
 * The node could not be reached or did not answer properly: connection refused, timeout, a
 * reply that is not the node's JSON. Retried (with backoff) only where a retry is safe.
 */
final class TransportException extends PhaseException
{
    /** @param int $curlErrno curl's error number (0 when the failure was not curl's) */
    public function __construct(string $message, public readonly int $curlErrno = 0, ?\Throwable $previous = null)
    {
        parent::__construct($message, $curlErrno, $previous);
    }
}
